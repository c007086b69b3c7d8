import {
  BerthError,
  CapabilityUnsupportedError,
  type CreateHostRequestV1,
  InvalidOptionsError,
  raceAbort,
  throwIfAborted,
} from '@berth/core';
import type { AgentBinary } from '@berth/host-agent';
import type Dockerode from 'dockerode';
import { buildContainerOptions } from './build-container-options.js';
import type { DockerShellTransportMode } from './docker-agent-link.js';
import { ensureAgentVolume } from './docker-agent-volume.js';
import type { DockerConnection } from './docker-connection.js';
import type { DockerHostTimeouts } from './docker-host.js';
import type { DockerHostSpec } from './docker-host-spec.js';
import { ensureDockerImage } from './ensure-docker-image.js';
import { ensureWorkspaceRoot } from './ensure-workspace-root.js';
import { dockerMessage } from './map-docker-error.js';
import { removeDockerContainer } from './remove-docker-container.js';
import { startDockerContainer } from './start-docker-container.js';

export interface CreateContainerInput {
  readonly connection: DockerConnection;
  readonly name: string;
  readonly request: CreateHostRequestV1<DockerHostSpec>;
  readonly hostEnv: Readonly<Record<string, string | undefined>>;
  readonly registryAuth?: Dockerode.AuthConfig | undefined;
  readonly timeouts: DockerHostTimeouts;
  /** Mount the shared agent volume (unless `exec`: shells will not use the agent). */
  readonly shellTransport: DockerShellTransportMode;
  readonly signal?: AbortSignal | undefined;
}

/** What the daemon can enforce, from `docker info` (asked once per connection). */
interface DaemonFeatures {
  readonly memoryLimit: boolean;
  readonly cpuQuota: boolean;
  readonly pidsLimit: boolean;
  readonly storageDriver: string;
}

const featureCache = new WeakMap<DockerConnection, Promise<DaemonFeatures>>();

/**
 * Pulls (if allowed), creates, starts and prepares one container. ANY failure after the create call
 * — including an abort — force-removes the half-made container before the error is rethrown.
 */
export async function createDockerContainer(
  input: CreateContainerInput,
): Promise<{ id: string; labels: Record<string, string>; agent: AgentBinary | undefined }> {
  const { connection, name, request, signal, timeouts } = input;
  const { spec } = request;
  const progress = request.onProgress;
  const features = await daemonFeatures(connection, signal);
  if (spec.memoryMiB !== undefined && !features.memoryLimit)
    throw unsupportedLimit('memoryMiB', 'memory', 'MemoryLimit');
  if (spec.cpus !== undefined && !features.cpuQuota) throw unsupportedLimit('cpus', 'cpu', 'CPUCfsQuota');
  const omitPidsLimit = spec.hardening?.pidsLimit != null && !features.pidsLimit;
  // Builds (and validates forwardEnv) before anything is pulled or created.
  const body = buildContainerOptions({
    name,
    spec,
    labels: request.labels,
    hostEnv: input.hostEnv,
    omitPidsLimit,
  });

  const image = await ensureDockerImage(connection, {
    image: spec.image,
    pull: spec.pull,
    registryAuth: input.registryAuth,
    signal,
    onProgress: progress,
  });
  throwIfAborted(signal, 'Creating a Docker host');
  const agentVolume =
    input.shellTransport === 'exec' ? undefined : await ensureAgentVolume(connection, image, signal);
  const agent = agentVolume && 'mount' in agentVolume ? agentVolume.mount : undefined;
  if (agent) {
    body.HostConfig = { ...body.HostConfig, Mounts: [...(body.HostConfig?.Mounts ?? []), agent.mount] };
  } else if (agentVolume && 'reason' in agentVolume) {
    progress?.({
      phase: 'create',
      message: `berth-agent: ${agentVolume.reason}; the agent will be uploaded into the container, or shells fall back to one docker exec each.`,
    });
  }
  if (omitPidsLimit) {
    progress?.({
      phase: 'create',
      message: 'This Docker daemon cannot enforce a pids limit (no pids cgroup); starting without one.',
    });
  }

  progress?.({ phase: 'create', message: `Creating container ${name}` });
  let id: string | undefined;
  try {
    // No abort signal on the create call itself: an aborted request may still create the container
    // server-side after our cleanup ran. It is short and bounded by requestTimeoutMs; abort is checked after.
    const container = await connection.call('create a container', { field: 'spec' }, (docker, abortSignal) =>
      docker.createContainer({ ...body, ...(abortSignal ? { abortSignal } : {}) }),
    );
    id = container.id;
    throwIfAborted(signal, 'Creating a Docker host');
    progress?.({ phase: 'start', message: `Starting container ${name}` });
    await startDockerContainer({ connection, containerId: id, timeouts, signal });
    await ensureWorkspaceRoot({
      connection,
      containerId: id,
      workspaceRoot: spec.workspaceRoot,
      user: spec.user,
      signal,
    });
    throwIfAborted(signal, 'Creating a Docker host');
    return { id, labels: body.Labels ?? {}, agent: agent?.binary };
  } catch (error) {
    // Never with the caller's signal: an aborted create must still clean up.
    await removeDockerContainer(connection, id ?? name, {
      force: true,
      stopTimeoutSeconds: 0,
      timeoutMs: timeouts.destroyTimeoutMs,
    }).catch(() => undefined); // labelled, so the orphan reaper gets it if this fails too
    throw explainCreateError(error, spec, features);
  }
}

function explainCreateError(error: unknown, spec: DockerHostSpec, features: DaemonFeatures): unknown {
  if (!BerthError.isInstance(error)) return error;
  const said = dockerMessage(error.cause ?? error);
  if (
    spec.diskMiB !== undefined &&
    /storage-?opt|storage opt|quota|size.*not supported|not supported.*size/i.test(said)
  ) {
    const unsupported = new CapabilityUnsupportedError(
      'docker',
      'diskMiB',
      `The daemon's storage driver (${features.storageDriver}) cannot limit a container's disk size (Docker said: ${said}). ` +
        'It needs overlay2 on xfs mounted with pquota, btrfs, or zfs. Remove `diskMiB` from the profile, or reconfigure dockerd.',
    );
    return unsupported;
  }
  if (BerthError.hasCode(error, 'INVALID_OPTIONS')) return error;
  const network = /network (\S+) not found/i.exec(said);
  if (network && spec.networkMode !== undefined) {
    return new InvalidOptionsError(
      'networkMode',
      `Docker network \`${network[1]}\` does not exist. Create it (\`docker network create ${network[1]}\`) or fix \`networkMode\`.`,
      { cause: error },
    );
  }
  if (/executable file not found|no such file or directory/i.test(said) && /exec|start|runtime/i.test(said)) {
    return new InvalidOptionsError(
      'keepAliveCommand',
      `the image ${spec.image} has no \`${spec.keepAliveCommand[0]}\` (Docker said: ${said}). Set \`keepAliveCommand\` to a long-running program the image has, e.g. ['/bin/busybox', 'sleep', '2147483647'].`,
      { cause: error },
    );
  }
  return error;
}

function unsupportedLimit(field: string, controller: string, infoKey: string): CapabilityUnsupportedError {
  return new CapabilityUnsupportedError(
    'docker',
    field,
    `The daemon reports no ${controller} cgroup controller (docker info: ${infoKey}=false), so the limit would be silently ignored. ` +
      `Enable the ${controller} controller on the Docker host, or remove \`${field}\` from the profile.`,
  );
}

function daemonFeatures(
  connection: DockerConnection,
  signal: AbortSignal | undefined,
): Promise<DaemonFeatures> {
  let cached = featureCache.get(connection);
  if (!cached) {
    cached = connection
      .call('read daemon info', {}, (docker, abortSignal) => {
        const info = docker.info as unknown as (options: {
          abortSignal?: AbortSignal;
        }) => Promise<Record<string, unknown>>;
        return info.call(docker, abortSignal ? { abortSignal } : {});
      })
      .then((info) => ({
        // Absent fields (Podman, older daemons) count as supported: only an explicit `false` disables.
        memoryLimit: info.MemoryLimit !== false,
        cpuQuota: info.CPUCfsQuota !== false,
        pidsLimit: info.PidsLimit !== false,
        storageDriver: typeof info.Driver === 'string' ? info.Driver : 'unknown',
      }));
    featureCache.set(connection, cached);
    cached.catch(() => featureCache.delete(connection));
  }
  return signal ? raceAbort(cached, signal, 'Creating a Docker host') : cached;
}
