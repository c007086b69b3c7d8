import {
  AbortedError,
  BACKEND_SPECIFICATION_V1,
  type BackendCapabilitiesV1,
  type BackendV1,
  type CreateHostRequestV1,
  type HostDescriptorV1,
  InvalidOptionsError,
  type LabelSelectorV1,
  throwIfAborted,
  type WaitOptions,
} from '@berth/core';
import type { ModalClient, Sandbox } from 'modal';
import { CreateAdmission } from './admission.js';
import { mapModalError } from './map-modal-error.js';
import { createModalClient } from './modal-client-loader.js';
import {
  ModalHost,
  type ModalHostTimeouts,
  type ModalShellTransportMode,
  probePlatform,
} from './modal-host.js';
import { DEFAULT_WORKSPACE_ROOT, type ModalHostSpec, resolveModalHostSpec } from './modal-host-spec.js';
import { ModalResources, sandboxParams } from './modal-resources.js';
import { rememberClient } from './sandbox-end.js';

export interface ModalBackendOptions {
  /** The Modal app sandboxes belong to (created if missing). Default `berth`. */
  readonly appName?: string;
  /** Modal environment. Default: MODAL_ENVIRONMENT, ~/.modal.toml, else the workspace default. */
  readonly environment?: string;
  /** Credentials; default MODAL_TOKEN_ID / MODAL_TOKEN_SECRET or ~/.modal.toml. Never logged or labelled. */
  readonly tokenId?: string;
  readonly tokenSecret?: string;
  /** A ready client (custom middleware, logger); the backend then never closes it. */
  readonly client?: ModalClient;
  /** Sandbox creates per second at most (Modal enforces 5/s). Default 4. */
  readonly creationRatePerSecond?: number;
  /** Sandboxes starting (created, not yet running a command) at once at most. Default 8. */
  readonly maxConcurrentStarts?: number;
  /**
   * How long the SDK may wait out Modal's throttling of one call before it becomes CAPACITY (the
   * SDK alone waits as long as Modal asks). Default 30000. With `client`, that client's own
   * `maxThrottleWaitSecs` applies instead.
   */
  readonly maxThrottleWaitMs?: number;
  /**
   * Bound on starting a shell or the agent, and on a new sandbox running its first command: one
   * Modal has not scheduled by then is terminated and the create fails CAPACITY. Default 60000.
   */
  readonly channelOpenTimeoutMs?: number;
  /**
   * berth-agent kills what it started and exits when no heartbeat came for this long, so a crashed
   * client does not keep the sandbox "active" (and billed) until its lifetime ends. 0: off. Default 30000.
   */
  readonly agentHeartbeatTimeoutMs?: number;
  /** `auto` (default): berth-agent over one exec per sandbox, else one `sh` exec per shell. */
  readonly shellTransport?: ModalShellTransportMode;
}

export interface ModalBackend extends BackendV1<ModalHostSpec> {
  readonly backendId: 'modal';
  createHost(request: CreateHostRequestV1<ModalHostSpec>, options?: WaitOptions): Promise<ModalHost>;
  listHosts(selector: LabelSelectorV1, options?: WaitOptions): Promise<HostDescriptorV1[]>;
  attachHost(descriptor: HostDescriptorV1, options?: WaitOptions): Promise<ModalHost>;
  removeHost(descriptor: HostDescriptorV1, options?: WaitOptions): Promise<void>;
  dispose(): Promise<void>;
}

/** Tags Berth adds beside the pool's labels. */
export const MODAL_TAG = {
  backend: 'berth.backend',
  /** Epoch ms: Modal's list results carry no creation time. */
  created: 'berth.created',
  workspaceRoot: 'berth.workspace',
} as const;

const CAPABILITIES: BackendCapabilitiesV1 = Object.freeze({
  persistence: true,
  archive: true,
  oneShotExec: true,
  hostLossEvents: false,
  stopStart: false,
});

function positive(value: number | undefined, field: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) {
    throw new InvalidOptionsError(field, `must be a number ≥ ${min}, got ${String(value)}.`);
  }
  return value;
}

/** The Modal backend. Synchronous and without I/O: the SDK is loaded and the app looked up on first use. */
export function createModalBackend(options: ModalBackendOptions = {}): ModalBackend {
  const appName = options.appName ?? 'berth';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(appName)) {
    throw new InvalidOptionsError('appName', 'must be 1–64 letters, digits, `.`, `_` or `-`.');
  }
  const shellTransport = options.shellTransport ?? 'auto';
  if (!['auto', 'agent', 'exec'].includes(shellTransport)) {
    throw new InvalidOptionsError('shellTransport', "must be 'auto', 'agent' or 'exec'.");
  }
  const admission = new CreateAdmission(
    positive(options.creationRatePerSecond, 'creationRatePerSecond', 4, 0.01),
    Math.floor(positive(options.maxConcurrentStarts, 'maxConcurrentStarts', 8)),
  );
  const maxThrottleWaitMs = positive(options.maxThrottleWaitMs, 'maxThrottleWaitMs', 30_000, 0);
  const timeouts: ModalHostTimeouts = {
    channelOpenTimeoutMs: positive(options.channelOpenTimeoutMs, 'channelOpenTimeoutMs', 60_000),
    agentHeartbeatTimeoutMs: positive(options.agentHeartbeatTimeoutMs, 'agentHeartbeatTimeoutMs', 30_000, 0),
  };
  let client: Promise<ModalClient> | undefined;
  const getClient = () => {
    client ??= options.client
      ? Promise.resolve(options.client)
      : createModalClient({
          ...(options.tokenId ? { tokenId: options.tokenId } : {}),
          ...(options.tokenSecret ? { tokenSecret: options.tokenSecret } : {}),
          ...(options.environment ? { environment: options.environment } : {}),
          // The SDK would otherwise wait out Modal's throttling for as long as Modal asks.
          maxThrottleWaitSecs: Math.max(1, Math.ceil(maxThrottleWaitMs / 1000)),
        });
    return client;
  };
  const resources = new ModalResources(getClient, appName, options.environment);
  const call = async <T>(operation: string, run: () => Promise<T>, sandboxId?: string): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw mapModalError(error, { operation, ...(sandboxId ? { sandboxId } : {}) });
    }
  };
  const terminateQuietly = (sb: Sandbox) => sb.terminate().catch(() => undefined);

  const hostOf = (sb: Sandbox, labels: Record<string, string>, platform?: { os: string; arch: string }) =>
    new ModalHost({
      sandbox: sb,
      labels,
      workspaceRoot: labels[MODAL_TAG.workspaceRoot] ?? DEFAULT_WORKSPACE_ROOT,
      timeouts,
      shellTransport,
      platform,
    });

  return {
    specificationVersion: BACKEND_SPECIFICATION_V1,
    backendId: 'modal',
    capabilities: CAPABILITIES,
    resolveHostSpec: resolveModalHostSpec,
    // Sandboxes run as root with the capabilities switching users needs.
    userIsolationUnsupported: () => undefined,

    async createHost(request, waitOptions = {}) {
      const { signal } = waitOptions;
      throwIfAborted(signal, 'Creating a Modal sandbox');
      const release = await admission.admit(signal);
      let created: Promise<Sandbox>;
      let labels: Record<string, string>;
      try {
        const { app, image, params } = await call('prepare a Modal sandbox', async () => {
          const resolved = await resources.forSpec(request.spec);
          return { ...resolved, params: sandboxParams(request.spec, request.hostLifetimeMs, resolved) };
        });
        labels = {
          ...request.labels,
          [MODAL_TAG.backend]: 'modal',
          [MODAL_TAG.created]: String(Date.now()),
          [MODAL_TAG.workspaceRoot]: request.spec.workspaceRoot,
        };
        // The rate turn comes after the (possibly long, shared) image build, right before the
        // create itself: waited for earlier, creates queued behind one build would fire at once.
        await admission.turn(signal);
        throwIfAborted(signal, 'Creating a Modal sandbox');
        request.onProgress?.({ phase: 'create', message: `creating a sandbox in app ${appName}` });
        created = resources.createSandbox(app, image, { ...params, tags: labels });
      } catch (error) {
        release();
        throw mapModalError(error, { operation: 'create a Modal sandbox' });
      }
      // Modal cannot cancel a create: an abort lets it finish, then terminates what it made. The
      // start slot is held until the sandbox ran its first command, failed, was aborted, or did
      // not run one within channelOpenTimeoutMs (then it is terminated).
      const finish = async (): Promise<ModalHost> => {
        try {
          const sb = rememberClient(await call('create a Modal sandbox', () => created), await getClient());
          try {
            request.onProgress?.({
              phase: 'start',
              message: `waiting for sandbox ${sb.sandboxId} to run commands`,
            });
            const platform = await probePlatform(sb, { signal, timeoutMs: timeouts.channelOpenTimeoutMs });
            return hostOf(sb, labels, platform);
          } catch (error) {
            await terminateQuietly(sb);
            throw error;
          }
        } finally {
          release();
        }
      };
      const host = finish();
      if (!signal) return host;
      return new Promise<ModalHost>((resolve, reject) => {
        const onAbort = () => {
          reject(new AbortedError('Creating a Modal sandbox was aborted.', { cause: signal.reason }));
          void host.then(
            (late) => late.destroy({ force: true }).catch(() => undefined),
            () => undefined,
          );
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        host.then(
          (value) => {
            signal.removeEventListener('abort', onAbort);
            if (signal.aborted) return;
            resolve(value);
          },
          (error: unknown) => {
            signal.removeEventListener('abort', onAbort);
            reject(error);
          },
        );
      });
    },

    async listHosts(selector, waitOptions = {}) {
      throwIfAborted(waitOptions.signal, 'Listing Modal sandboxes');
      return call('list Modal sandboxes', async () => {
        const modal = await getClient();
        const app = await resources.app();
        const found: HostDescriptorV1[] = [];
        for await (const sb of modal.sandboxes.list({
          appId: app.appId,
          tags: { ...selector, [MODAL_TAG.backend]: 'modal' },
        })) {
          throwIfAborted(waitOptions.signal, 'Listing Modal sandboxes');
          const tags = await sb.getTags();
          found.push({
            id: sb.sandboxId,
            labels: tags,
            state: 'running',
            createdAtMs: Number(tags[MODAL_TAG.created]) || 0,
          });
        }
        return found;
      });
    },

    async attachHost(descriptor, waitOptions = {}) {
      throwIfAborted(waitOptions.signal, 'Attaching a Modal sandbox');
      const operation = `attach sandbox ${descriptor.id}`;
      return call(
        operation,
        async () => {
          const modal = await getClient();
          const sb = rememberClient(await modal.sandboxes.fromId(descriptor.id), modal);
          const tags = await sb.getTags();
          if (tags[MODAL_TAG.backend] !== 'modal') {
            throw new InvalidOptionsError(
              'descriptor',
              `sandbox ${descriptor.id} was not created by the Berth Modal backend (no ${MODAL_TAG.backend}=modal tag); refusing to adopt it.`,
            );
          }
          return hostOf(sb, tags);
        },
        descriptor.id,
      );
    },

    async removeHost(descriptor, waitOptions = {}) {
      throwIfAborted(waitOptions.signal, 'Terminating a Modal sandbox');
      const sb = await call('terminate a sandbox', async () => {
        const modal = await getClient();
        return rememberClient(await modal.sandboxes.fromId(descriptor.id), modal);
      });
      await hostOf(sb, {}).destroy({
        force: true,
        ...(waitOptions.signal ? { signal: waitOptions.signal } : {}),
      });
    },

    async dispose() {
      if (!options.client && client) (await client.catch(() => undefined))?.close();
      client = undefined;
    },
  };
}
