import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import {
  BACKEND_SPECIFICATION_V1,
  type BackendCapabilitiesV1,
  BackendUnavailableError,
  type BackendV1,
  BerthError,
  CapacityError,
  type CreateHostRequestV1,
  type HostDescriptorV1,
  InvalidOptionsError,
  type LabelSelectorV1,
  NotFoundError,
  shellQuote,
  throwIfAborted,
  type WaitOptions,
} from '@berth/core';
import { ConnectionRegistry } from './connection-registry.js';
import { sshUserIsolationGap } from './login-user.js';
import { assertSafeNativeCrypto } from './native-crypto-guard.js';
import { listMarkers, type Marker, Placement } from './placement.js';
import { loadSshConfig, MachineResolver } from './resolve-machines.js';
import { LABELS_FILE, removeHostOn, SshHost } from './ssh-host.js';
import { SshMachine } from './ssh-machine.js';
import { resolveTimeouts, type SshBackendOptions } from './ssh-options.js';

/** The label naming the inventory machine a host lives on. */
export const SSH_MACHINE_LABEL = 'berth.ssh.machine';

/** SSH hosts take no per-profile settings: the machine is the environment. */
export type SshHostSpec = Record<string, never>;

export interface SshBackend extends BackendV1<SshHostSpec> {
  readonly backendId: 'ssh';
  createHost(request: CreateHostRequestV1<SshHostSpec>, options?: WaitOptions): Promise<SshHost>;
  listHosts(selector: LabelSelectorV1, options?: WaitOptions): Promise<HostDescriptorV1[]>;
  attachHost(descriptor: HostDescriptorV1, options?: WaitOptions): Promise<SshHost>;
  removeHost(descriptor: HostDescriptorV1, options?: WaitOptions): Promise<void>;
  /** Hosts per machine name as last placed (this process's view, for tests and stats). */
  machineLoads(): Promise<Record<string, number>>;
  dispose(): Promise<void>;
}

const CAPABILITIES: BackendCapabilitiesV1 = Object.freeze({
  persistence: true,
  archive: true,
  oneShotExec: false,
  hostLossEvents: true,
  stopStart: false,
});

/** Creates the SSH backend. Synchronous, no I/O: machines are resolved and reached on first use. */
export function createSshBackend(options: SshBackendOptions): SshBackend {
  assertSafeNativeCrypto();
  if (!Array.isArray(options?.machines) || options.machines.length === 0) {
    throw new InvalidOptionsError(
      'machines',
      'must list at least one machine (`user@host:port`, an ssh config name or an object).',
    );
  }
  const timeouts = resolveTimeouts(options);
  const env = options.env ?? process.env;
  const policy = options.hostKeyPolicy ?? 'strict';
  if (!['strict', 'accept-new', 'insecure-accept-any'].includes(policy)) {
    throw new InvalidOptionsError(
      'hostKeyPolicy',
      "must be 'strict', 'accept-new' or 'insecure-accept-any'.",
    );
  }
  const transport = options.transport ?? 'auto';
  if (!['auto', 'agent', 'sh'].includes(transport))
    throw new InvalidOptionsError('transport', "must be 'auto', 'agent' or 'sh'.");
  const home = env.HOME ?? os.homedir();
  const registry = new ConnectionRegistry(timeouts, {
    policy,
    acceptNewPath: options.acceptNewKnownHostsPath ?? path.join(home, '.config', 'berth', 'known_hosts'),
    warn: (message) => console.warn(message),
  });

  let machinesPromise: Promise<SshMachine[]> | undefined;
  const machines = () => {
    machinesPromise ??= (async () => {
      const resolver = new MachineResolver(options, await loadSshConfig(options, env), env);
      const resolved = await Promise.all(
        options.machines.map((entry, index) => resolver.machine(entry, index)),
      );
      const names = new Set<string>();
      for (const machine of resolved) {
        if (names.has(machine.name))
          throw new InvalidOptionsError(
            'machines',
            `'${machine.name}' is listed twice; give each machine a distinct name.`,
          );
        names.add(machine.name);
      }
      return resolved.map((machine) => new SshMachine(machine, registry, timeouts, transport));
    })();
    machinesPromise.catch(() => {
      machinesPromise = undefined;
    });
    return machinesPromise;
  };
  const machineNamed = async (name: string | undefined) => {
    const found = (await machines()).find((machine) => machine.spec.name === name);
    if (!found)
      throw new NotFoundError(
        `No machine named '${name}' in this backend's inventory; the host was created by another inventory.`,
      );
    return found;
  };

  const markersOn = (machine: SshMachine, signal?: AbortSignal) => listMarkers(machine, signal);
  const placement = new Placement(machines, timeouts);
  const inFlight = placement.inFlight;
  const createdAt = placement.createdAt;

  const makeHost = (machine: SshMachine, marker: Marker) =>
    new SshHost(marker.id, marker.labels, hostDirectory(machine, marker.labels, marker.id), machine);

  return {
    specificationVersion: BACKEND_SPECIFICATION_V1,
    backendId: 'ssh',
    capabilities: CAPABILITIES,

    resolveHostSpec(input, field) {
      if (
        input !== undefined &&
        (typeof input !== 'object' || input === null || Object.keys(input).length > 0)
      ) {
        throw new InvalidOptionsError(
          field,
          'SSH hosts take no settings (the machine is the environment); pass {} or nothing.',
        );
      }
      return {};
    },

    // Fails closed at createPool: per-slot uids need a root login on every machine.
    userIsolationUnsupported: () => sshUserIsolationGap(options, env),

    async createHost(request, waitOptions = {}) {
      const { signal } = waitOptions;
      throwIfAborted(signal, 'Creating an SSH host');
      const { result, tried, failures: failed, chosen } = await placement.loads(signal, true);
      if (!chosen) {
        if ([...result.values()].every((count) => count === undefined)) {
          // Fail closed on a configuration error rather than calling it an outage.
          const fatal = failed.find(
            (error) =>
              BerthError.hasCode(error, 'AUTHENTICATION') || BerthError.hasCode(error, 'INVALID_OPTIONS'),
          );
          if (fatal) throw fatal;
          throw new BackendUnavailableError(
            'No machine of the SSH inventory is reachable; see `tried`, and check addresses, sshd and keys.',
            tried,
          );
        }
        throw new CapacityError(
          `Every reachable machine carries its maxHostsPerMachine hosts; add machines or raise the cap.`,
          5_000,
        );
      }
      const machine = chosen;
      request.onProgress?.({ phase: 'placement', message: `placing on machine ${machine.spec.name}` });
      const id = `ssh-${randomBytes(6).toString('hex')}`;
      const labels = { ...request.labels, [SSH_MACHINE_LABEL]: machine.spec.name };
      const marker: Marker = { id, labels, createdAtMs: Date.now() };
      const directory = hostDirectory(machine, labels, id);
      try {
        const written = await machine.run(
          `mkdir -p ${shellQuote(path.posix.dirname(directory))} && mkdir -p ${shellQuote(directory)} && cat > ${shellQuote(`${directory}/${LABELS_FILE}`)}`,
          Buffer.from(JSON.stringify(marker)),
          signal,
        );
        if (written.exitCode !== 0) {
          throw new BackendUnavailableError(
            `Could not create ${directory} on machine ${machine.spec.name}: ${written.stderr.trim() || `exit ${written.exitCode}`}. Check that the user can write under root ${machine.spec.root}.`,
            [machine.spec.target.description],
            { retryable: false },
          );
        }
        createdAt.push({ machine, at: Date.now() });
        if (createdAt.length > 1_000) createdAt.splice(0, 500);
        throwIfAborted(signal, 'Creating an SSH host');
        return makeHost(machine, marker);
      } catch (error) {
        await machine.run(`rm -rf -- ${shellQuote(directory)}`).catch(() => undefined);
        throw error;
      } finally {
        inFlight.set(machine, (inFlight.get(machine) ?? 1) - 1);
      }
    },

    async listHosts(selector, waitOptions = {}) {
      const list = await machines();
      const tried: string[] = [];
      let reached = 0;
      const found = await Promise.all(
        list.map(async (machine) => {
          try {
            const markers = await markersOn(machine, waitOptions.signal);
            reached++;
            return markers
              .filter((marker) => marker.labels[SSH_MACHINE_LABEL] === machine.spec.name)
              .filter((marker) =>
                Object.entries(selector).every(([key, value]) => marker.labels[key] === value),
              );
          } catch (error) {
            if (BerthError.hasCode(error, 'AUTHENTICATION') || BerthError.hasCode(error, 'INVALID_OPTIONS'))
              throw error;
            tried.push(`${machine.spec.target.description} (${(error as Error).message})`);
            return [];
          }
        }),
      );
      if (reached === 0)
        throw new BackendUnavailableError('No machine of the SSH inventory answered a host listing.', tried);
      return found.flat().map((marker) => ({
        id: marker.id,
        labels: marker.labels,
        state: 'running' as const,
        createdAtMs: marker.createdAtMs,
      }));
    },

    async attachHost(descriptor, waitOptions = {}) {
      const machine = await machineNamed(descriptor.labels[SSH_MACHINE_LABEL]);
      const directory = hostDirectory(machine, descriptor.labels, descriptor.id);
      const result = await machine.run(
        `cat ${shellQuote(`${directory}/${LABELS_FILE}`)}`,
        undefined,
        waitOptions.signal,
      );
      if (result.exitCode !== 0)
        throw new NotFoundError(
          `SSH host ${descriptor.id} no longer exists on machine ${machine.spec.name} (${directory}).`,
        );
      return makeHost(machine, JSON.parse(result.stdout) as Marker);
    },

    async removeHost(descriptor, waitOptions = {}) {
      const machine = await machineNamed(descriptor.labels[SSH_MACHINE_LABEL]);
      await removeHostOn(
        machine,
        descriptor.id,
        hostDirectory(machine, descriptor.labels, descriptor.id),
        waitOptions.signal,
      );
    },

    async machineLoads() {
      const { result } = await placement.loads();
      return Object.fromEntries([...result].map(([machine, count]) => [machine.spec.name, count ?? -1]));
    },

    async dispose() {
      const list = await machinesPromise?.catch(() => []);
      for (const machine of list ?? []) machine.close();
      registry.dispose();
    },
  };
}

/** `<root>/<pool>/<host id>`: labels are sanitised (`[A-Za-z0-9_.-]`); ids are ours. */
function hostDirectory(machine: SshMachine, labels: Readonly<Record<string, string>>, id: string): string {
  const pool = (labels['berth.pool'] ?? 'default').replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+$/, '_');
  if (!/^[A-Za-z0-9_-]+$/.test(id))
    throw new InvalidOptionsError('descriptor.id', `'${id}' is not an SSH host id.`);
  return `${machine.spec.root}/${pool}/${id}`;
}
