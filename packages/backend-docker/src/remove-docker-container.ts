import { BackendUnavailableError, BerthError, throwIfAborted } from '@berth/core';
import type { DockerConnection } from './docker-connection.js';
import { dockerStatusCode, isDockerNotFound } from './map-docker-error.js';

export interface RemoveContainerOptions {
  /** Kill right away instead of `docker stop` (SIGTERM, then SIGKILL after `stopTimeoutSeconds`). */
  readonly force: boolean;
  readonly stopTimeoutSeconds: number;
  /** Overall bound: the removal either finishes or fails within it. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Stops and removes a container with its anonymous volumes. Idempotent: a container that is
 * already gone (404) counts as removed, and a removal already in progress (409) is waited for.
 */
export async function removeDockerContainer(
  connection: DockerConnection,
  idOrName: string,
  options: RemoveContainerOptions,
): Promise<void> {
  const { signal } = options;
  throwIfAborted(signal, 'Removing a container');
  const deadline = Date.now() + options.timeoutMs;
  const remaining = () => Math.max(1_000, deadline - Date.now());
  const ignoreGone = (error: unknown) => {
    // 404: already gone. 304: already stopped.
    if (isDockerNotFound(error) || dockerStatusCode(error) === 304 || BerthError.hasCode(error, 'HOST_LOST'))
      return;
    if (BerthError.isInstance(error) && dockerStatusCode(error.cause) === 304) return;
    throw error;
  };

  if (!options.force) {
    await connection
      .call(
        `stop container ${idOrName}`,
        { signal, timeoutMs: Math.min(remaining(), (options.stopTimeoutSeconds + 10) * 1_000) },
        (docker, abortSignal) =>
          docker
            .getContainer(idOrName)
            .stop({ t: options.stopTimeoutSeconds, ...(abortSignal ? { abortSignal } : {}) }),
      )
      .catch(ignoreGone);
  }
  try {
    await connection.call(
      `remove container ${idOrName}`,
      { signal, timeoutMs: remaining() },
      (docker, abortSignal) =>
        docker
          .getContainer(idOrName)
          .remove({ force: true, v: true, ...(abortSignal ? { abortSignal } : {}) }),
    );
    return;
  } catch (error) {
    if (isDockerNotFound(error)) return;
    if (!/already in progress/i.test(String((error as Error).message))) throw error;
  }
  // Someone else is removing it: wait until it is gone.
  let delay = 50;
  while (Date.now() < deadline) {
    throwIfAborted(signal, 'Removing a container');
    const gone = await connection
      .call(`inspect container ${idOrName}`, { signal, timeoutMs: remaining() }, (docker, abortSignal) =>
        docker.getContainer(idOrName).inspect(abortSignal ? { abortSignal } : {}),
      )
      .then(
        () => false,
        (error: unknown) => {
          if (isDockerNotFound(error)) return true;
          throw error;
        },
      );
    if (gone) return;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 1_000);
  }
  throw new BackendUnavailableError(
    `Container ${idOrName} was still being removed after ${options.timeoutMs} ms. Check \`docker ps -a\`; the orphan reaper will retry.`,
    connection.address ? [connection.address] : [],
  );
}
