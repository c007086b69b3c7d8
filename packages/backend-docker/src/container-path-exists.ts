import type { DockerConnection } from './docker-connection.js';
import { asHostError } from './docker-exec-session.js';
import { dockerMessage, isDockerNotFound } from './map-docker-error.js';

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
  return connection
    .call(
      `check ${path} in container ${containerId.slice(0, 12)}`,
      { signal, hostId: containerId },
      (docker, abortSignal) =>
        docker.getContainer(containerId).infoArchive({ path, ...(abortSignal ? { abortSignal } : {}) }),
    )
    .then(
      (response: unknown) => {
        // A HEAD answered as a stream: drain it, or its socket never returns to the (unref'd) pool and
        // keeps the Node process alive.
        (response as { resume?: () => void } | null)?.resume?.();
        return true;
      },
      (error: unknown) => {
        if (
          isDockerNotFound(error) &&
          !/no such container/i.test(dockerMessage((error as Error).cause ?? error))
        )
          return false;
        throw asHostError(error, containerId);
      },
    );
}
