import { randomBytes } from 'node:crypto';
import {
  BACKEND_SPECIFICATION_V1,
  type BackendCapabilitiesV1,
  type BackendV1,
  type CreateHostRequestV1,
  containerUserIsolationGap,
  type HostDescriptorV1,
  type HostStateV1,
  InvalidOptionsError,
  type LabelSelectorV1,
  throwIfAborted,
  type WaitOptions,
} from '@berth/core';
import type { AgentBinary } from '@berth/host-agent';
import type Dockerode from 'dockerode';
import { containerName, DOCKER_LABEL } from './build-container-options.js';
import { createDockerContainer } from './create-docker-container.js';
import type { DockerShellTransportMode } from './docker-agent-link.js';
import { DockerConnection } from './docker-connection.js';
import { DockerEventsWatcher } from './docker-events-watcher.js';
import { DockerHost, type DockerHostTimeouts } from './docker-host.js';
import { DEFAULT_WORKSPACE_ROOT, type DockerHostSpec } from './docker-host-spec.js';
import { removeDockerContainer } from './remove-docker-container.js';
import { type DockerConnectionOptions, resolveDockerEndpoints } from './resolve-docker-endpoints.js';
import { resolveHostSpec } from './resolve-host-spec.js';
import { startDockerContainer } from './start-docker-container.js';
import { expectNumber } from './validate.js';

export interface DockerBackendOptions extends DockerConnectionOptions {
  /** Bound on probing each candidate address with `ping`. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Bound on each ordinary API call (create, start, inspect, …). Default 60000. */
  readonly requestTimeoutMs?: number;
  /** Bound on starting a shell channel or one-shot exec and its readiness check. Default 30000. */
  readonly channelOpenTimeoutMs?: number;
  /** Bound on one `putArchive` upload. Default 300000. */
  readonly archiveTimeoutMs?: number;
  /** Bound on `destroy()` / `removeHost()` as a whole. Default 30000. */
  readonly destroyTimeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL for a non-forced destroy. Default 5. */
  readonly stopTimeoutSeconds?: number;
  /**
   * berth-agent kills every process it started and exits when this client sends no heartbeat for
   * this long (a crashed or frozen client leaves nothing running). 0 turns the watchdog off.
   * Default 30000.
   */
  readonly agentHeartbeatTimeoutMs?: number;
  /**
   * How slot shells reach a container. `auto` (default): all of a host's shells share one
   * `docker exec` running berth-agent, falling back to one exec per shell where the agent cannot
   * run; `agent`: the agent or an error; `exec`: one exec per shell. See the README.
   */
  readonly shellTransport?: DockerShellTransportMode;
  /** Registry credentials for pulls (never logged, never put in labels). */
  readonly registryAuth?: Dockerode.AuthConfig;
}

/** The Docker backend: a `BackendV1` whose hosts are containers. */
export interface DockerBackend extends BackendV1<DockerHostSpec> {
  readonly backendId: 'docker';
  createHost(request: CreateHostRequestV1<DockerHostSpec>, options?: WaitOptions): Promise<DockerHost>;
  listHosts(selector: LabelSelectorV1, options?: WaitOptions): Promise<HostDescriptorV1[]>;
  attachHost(descriptor: HostDescriptorV1, options?: WaitOptions): Promise<DockerHost>;
  removeHost(descriptor: HostDescriptorV1, options?: WaitOptions): Promise<void>;
  dispose(): Promise<void>;
  /** The daemon address in use once connected (`unix:///var/run/docker.sock`), else undefined. */
  readonly address: string | undefined;
}

const CAPABILITIES: BackendCapabilitiesV1 = Object.freeze({
  persistence: true,
  archive: true,
  oneShotExec: true,
  hostLossEvents: true,
  stopStart: true,
});

/**
 * Creates the Docker backend. Synchronous and without I/O: the daemon is found on first use.
 * Throws `InvalidOptionsError` for bad options or a malformed `DOCKER_HOST`.
 */
export function createDockerBackend(options: DockerBackendOptions = {}): DockerBackend {
  const number = (key: keyof DockerBackendOptions, fallback: number, min: number) =>
    options[key] === undefined
      ? fallback
      : expectNumber(options[key], key, { min, integer: true, unit: key.endsWith('Seconds') ? 's' : 'ms' });
  const connectTimeoutMs = number('connectTimeoutMs', 5_000, 1);
  const requestTimeoutMs = number('requestTimeoutMs', 60_000, 1);
  const timeouts: DockerHostTimeouts = {
    requestTimeoutMs,
    channelOpenTimeoutMs: number('channelOpenTimeoutMs', 30_000, 1),
    archiveTimeoutMs: number('archiveTimeoutMs', 300_000, 1),
    destroyTimeoutMs: number('destroyTimeoutMs', 30_000, 1),
    stopTimeoutSeconds: number('stopTimeoutSeconds', 5, 0),
    agentHeartbeatTimeoutMs: number('agentHeartbeatTimeoutMs', 30_000, 0),
  };
  const connection = new DockerConnection(
    resolveDockerEndpoints(options),
    connectTimeoutMs,
    requestTimeoutMs,
  );
  const watcher = new DockerEventsWatcher(connection);
  const hostEnv = options.env ?? process.env;
  const shellTransport = options.shellTransport ?? 'auto';
  if (!['auto', 'agent', 'exec'].includes(shellTransport)) {
    throw new InvalidOptionsError('shellTransport', "must be 'auto', 'agent' or 'exec'.");
  }

  const makeHost = (
    id: string,
    name: string,
    labels: Readonly<Record<string, string>>,
    workspaceRoot: string,
    installedAgent?: AgentBinary,
  ) =>
    new DockerHost({
      id,
      name,
      labels,
      workspaceRoot,
      connection,
      watcher,
      timeouts,
      shellTransport,
      installedAgent,
    });

  /** When a stopped container exited (epoch ms); undefined when it never ran or cannot be inspected. */
  const finishedAtMs = async (id: string): Promise<number | undefined> => {
    const info = await connection
      .call(`inspect container ${id.slice(0, 12)}`, {}, (docker) => docker.getContainer(id).inspect())
      .catch(() => undefined);
    const finished = Date.parse(info?.State.FinishedAt ?? '');
    return Number.isFinite(finished) && finished > 0 ? finished : undefined;
  };

  return {
    specificationVersion: BACKEND_SPECIFICATION_V1,
    backendId: 'docker',
    capabilities: CAPABILITIES,
    get address() {
      return connection.address;
    },

    resolveHostSpec,

    userIsolationUnsupported: (spec) =>
      containerUserIsolationGap({
        capDrop: spec.hardening?.capDrop ?? [],
        capAdd: [...(spec.hardening?.capAdd ?? []), ...(spec.hostConfig.CapAdd ?? [])],
        user: spec.user,
      }),

    async createHost(request, waitOptions = {}) {
      const { signal } = waitOptions;
      throwIfAborted(signal, 'Creating a Docker host');
      const name = containerName(request.labels, request.profile, randomBytes(5).toString('hex'));
      const created = await createDockerContainer({
        connection,
        name,
        request,
        hostEnv,
        registryAuth: options.registryAuth,
        timeouts,
        shellTransport,
        signal,
      });
      return makeHost(created.id, name, created.labels, request.spec.workspaceRoot, created.agent);
    },

    async listHosts(selector, waitOptions = {}) {
      const label = Object.entries({ ...selector, [DOCKER_LABEL.backend]: 'docker' }).map(
        ([key, value]) => `${key}=${value}`,
      );
      const containers = await connection.call(
        'list containers',
        { signal: waitOptions.signal },
        (docker, abortSignal) =>
          docker.listContainers({ all: true, filters: { label }, ...(abortSignal ? { abortSignal } : {}) }),
      );
      return Promise.all(
        containers.map(async (container) => {
          const state = hostState(container.State);
          // The reaper ages an exited host from its exit; the list only says when it was created.
          const exitedAtMs = state === 'stopped' ? await finishedAtMs(container.Id) : undefined;
          return {
            id: container.Id,
            labels: { ...container.Labels },
            state,
            createdAtMs: container.Created * 1_000,
            ...(exitedAtMs === undefined ? {} : { exitedAtMs }),
          };
        }),
      );
    },

    async attachHost(descriptor, waitOptions = {}) {
      const { signal } = waitOptions;
      const info = await startDockerContainer({
        connection,
        containerId: descriptor.id,
        signal,
        timeouts,
        resume: true,
      });
      const labels = info.Config.Labels ?? {};
      if (labels[DOCKER_LABEL.backend] !== 'docker') {
        throw new InvalidOptionsError(
          'descriptor',
          `container ${info.Name.replace(/^\//, '')} was not created by the Berth Docker backend (no ${DOCKER_LABEL.backend}=docker label); refusing to adopt it.`,
        );
      }
      return makeHost(
        info.Id,
        info.Name.replace(/^\//, ''),
        labels,
        labels[DOCKER_LABEL.workspaceRoot] ?? DEFAULT_WORKSPACE_ROOT,
      );
    },

    async removeHost(descriptor, waitOptions = {}) {
      await removeDockerContainer(connection, descriptor.id, {
        force: true,
        stopTimeoutSeconds: timeouts.stopTimeoutSeconds,
        timeoutMs: timeouts.destroyTimeoutMs,
        signal: waitOptions.signal,
      });
    },

    async dispose() {
      watcher.close();
      await connection.dispose();
    },
  };
}

/** Docker's container states, folded into the spec's four. */
export function hostState(state: string | undefined): HostStateV1 {
  switch (state) {
    case 'running':
      return 'running';
    case 'created':
    case 'exited':
      return 'stopped';
    case 'restarting':
      return 'starting';
    default:
      return 'unknown'; // paused, removing, dead
  }
}
