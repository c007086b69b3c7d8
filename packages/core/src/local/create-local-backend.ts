import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type {
  BackendV1,
  CreateHostRequestV1,
  HostDescriptorV1,
  LabelSelectorV1,
  WaitOptions,
} from '../backend/v1/types.js';
import { BACKEND_SPECIFICATION_V1 } from '../backend/v1/types.js';
import { InvalidOptionsError, NotFoundError, throwIfAborted } from '../errors/index.js';
import { LocalHost } from './local-host.js';
import { type ResolvedLocalHostSpec, resolveLocalHostSpec } from './local-host-spec.js';

export interface LocalBackendOptions {
  /** Where host directories live. Default: `$BERTH_LOCAL_DIR` or `<tmpdir>/berth-local`. */
  baseDirectory?: string;
  /**
   * Where shells' base variables (`LOCAL_BASE_ENV`: PATH, HOME, LANG, …) and a profile's
   * `forwardEnv` are read from. Default: `process.env`. Nothing else of it reaches a shell.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

const MARKER_FILE = 'berth-host.json';

interface Marker {
  id: string;
  labels: Record<string, string>;
  createdAtMs: number;
  spec: ResolvedLocalHostSpec;
}

/**
 * The built-in backend: each host is a directory tree on this machine and each shell a child
 * process. No isolation beyond directories; it is the embedded default for development, the
 * quickstart and the reference the conformance suite is checked against.
 */
export function createLocalBackend(options: LocalBackendOptions = {}): BackendV1<ResolvedLocalHostSpec> {
  const baseDirectory =
    options.baseDirectory ?? process.env.BERTH_LOCAL_DIR ?? path.join(os.tmpdir(), 'berth-local');
  const env = options.env ?? process.env;

  const readMarker = async (directory: string): Promise<Marker | undefined> => {
    try {
      return JSON.parse(await readFile(path.join(directory, MARKER_FILE), 'utf8')) as Marker;
    } catch {
      return undefined;
    }
  };

  return {
    specificationVersion: BACKEND_SPECIFICATION_V1,
    backendId: 'local',
    capabilities: {
      persistence: true,
      archive: true,
      oneShotExec: true,
      hostLossEvents: false,
      stopStart: false,
    },

    resolveHostSpec: resolveLocalHostSpec,

    userIsolationUnsupported: (_spec, profile) => {
      if (process.getuid?.() !== 0)
        return `this process runs as uid ${process.getuid?.() ?? '?'}, and only root can run each slot as its own user`;
      // Local hosts share this machine's uids and processes: slot i of two hosts would be one user,
      // able to read the other's workspace, and a release's sweep would kill the other's commands.
      if (profile && profile.maxHosts > 1)
        return `local hosts share this machine's slot uids, so a user-isolated profile may have one host: set maxHosts: 1 (maxHosts is ${profile.maxHosts}), and run one user-isolated pool per machine`;
      return undefined;
    },

    async createHost(request: CreateHostRequestV1<ResolvedLocalHostSpec>, wait: WaitOptions = {}) {
      throwIfAborted(wait.signal);
      for (const name of request.spec.forwardEnv ?? []) {
        if (env[name] === undefined) {
          throw new InvalidOptionsError(
            'forwardEnv',
            `\`${name}\` is listed in forwardEnv but is not set in this process's environment. Set it, or remove it from forwardEnv.`,
          );
        }
      }
      const id = `local-${randomBytes(6).toString('hex')}`;
      const directory = path.join(baseDirectory, id);
      try {
        await mkdir(path.join(directory, 'workspace'), { recursive: true });
        const marker: Marker = {
          id,
          labels: { ...request.labels },
          createdAtMs: Date.now(),
          spec: request.spec,
        };
        await writeFile(path.join(directory, MARKER_FILE), JSON.stringify(marker));
        throwIfAborted(wait.signal);
      } catch (error) {
        await rm(directory, { recursive: true, force: true });
        throw error;
      }
      return new LocalHost(id, directory, request.labels, request.spec, env);
    },

    async listHosts(selector: LabelSelectorV1): Promise<HostDescriptorV1[]> {
      let entries: string[];
      try {
        entries = await readdir(baseDirectory);
      } catch {
        return [];
      }
      const found: HostDescriptorV1[] = [];
      for (const entry of entries) {
        const marker = await readMarker(path.join(baseDirectory, entry));
        if (!marker) continue;
        const matches = Object.entries(selector).every(([key, value]) => marker.labels[key] === value);
        if (matches) {
          found.push({
            id: marker.id,
            labels: marker.labels,
            state: 'running',
            createdAtMs: marker.createdAtMs,
          });
        }
      }
      return found;
    },

    async attachHost(descriptor: HostDescriptorV1) {
      const directory = path.join(baseDirectory, descriptor.id);
      const marker = await readMarker(directory);
      if (!marker)
        throw new NotFoundError(`Local host ${descriptor.id} no longer exists in ${baseDirectory}.`);
      return new LocalHost(marker.id, directory, marker.labels, marker.spec, env);
    },

    async removeHost(descriptor: HostDescriptorV1) {
      await rm(path.join(baseDirectory, descriptor.id), { recursive: true, force: true });
    },
  };
}
