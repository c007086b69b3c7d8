import type { DockerConnection } from './docker-connection.js';
import { asHostError } from './docker-exec-session.js';
import { dockerMessage, isDockerNotFound } from './map-docker-error.js';

/** What `HEAD /containers/{id}/archive` says of a path (its `X-Docker-Container-Path-Stat` header). */
export interface ContainerPathStat {
  readonly size: number;
  readonly mode: number;
}

/**
 * Whether `path` exists in the container, through `HEAD /containers/{id}/archive` (a stat; no exec,
 * works on stopped containers and images without a shell). A container that is gone throws
 * `HostLostError`.
 */
export async function containerPathExists(
  connection: DockerConnection,
  containerId: string,
  path: string,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  return (await containerPathStat(connection, containerId, path, signal)) !== undefined;
}

/** `containerPathExists` with the size and mode; `undefined` when the path does not exist. */
export async function containerPathStat(
  connection: DockerConnection,
  containerId: string,
  path: string,
  signal: AbortSignal | undefined,
): Promise<ContainerPathStat | undefined> {
  return connection
    .call(
      `check ${path} in container ${containerId.slice(0, 12)}`,
      { signal, hostId: containerId },
      (docker, abortSignal) =>
        docker.getContainer(containerId).infoArchive({ path, ...(abortSignal ? { abortSignal } : {}) }),
    )
    .then(
      (response: unknown) => {
        const answer = response as {
          resume?: () => void;
          headers?: Record<string, string | undefined>;
        } | null;
        // A HEAD answered as a stream: drain it, or its socket never returns to the (unref'd) pool and
        // keeps the Node process alive.
        answer?.resume?.();
        return parseStat(answer?.headers?.['x-docker-container-path-stat']);
      },
      (error: unknown) => {
        if (
          isDockerNotFound(error) &&
          !/no such container/i.test(dockerMessage((error as Error).cause ?? error))
        )
          return undefined;
        throw asHostError(error, containerId);
      },
    );
}

function parseStat(header: string | undefined): ContainerPathStat {
  try {
    const stat = JSON.parse(Buffer.from(header ?? '', 'base64').toString('utf8')) as {
      size?: unknown;
      mode?: unknown;
    };
    return { size: Number(stat.size ?? -1), mode: Number(stat.mode ?? 0) };
  } catch {
    return { size: -1, mode: 0 }; // exists, but the daemon did not say more
  }
}
