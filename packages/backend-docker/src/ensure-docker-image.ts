import type { Readable } from 'node:stream';
import { AbortedError, BerthError, type HostProgressV1, NotFoundError, throwIfAborted } from '@berth/core';
import type Dockerode from 'dockerode';
import type { DockerConnection } from './docker-connection.js';
import type { DockerPullPolicy } from './docker-host-spec.js';
import { dockerMessage, isDockerNotFound } from './map-docker-error.js';
import { PullProgress } from './pull-progress.js';

export interface EnsureImageOptions {
  readonly image: string;
  readonly pull: DockerPullPolicy;
  readonly registryAuth?: Dockerode.AuthConfig | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((progress: HostProgressV1) => void) | undefined;
}

/** The facts about a local image that host creation needs. */
export interface LocalImage {
  readonly id: string;
  readonly os: string;
  readonly architecture: string;
}

/** Makes sure `image` is present locally, pulling it when the policy allows, with progress. */
export async function ensureDockerImage(
  connection: DockerConnection,
  options: EnsureImageOptions,
): Promise<LocalImage> {
  const { image, pull, signal } = options;
  if (pull !== 'always') {
    const present = await inspectLocalImage(connection, image, signal);
    if (present) return present;
    if (pull === 'never') throw missingImage(image, 'pull is `never`');
  }
  try {
    await pullImage(connection, options);
    const pulled = await inspectLocalImage(connection, image, signal);
    if (!pulled) throw missingImage(image, 'it was gone again right after the pull');
    return pulled;
  } catch (error) {
    if (BerthError.hasCode(error, 'ABORTED') || BerthError.hasCode(error, 'BACKEND_UNAVAILABLE')) throw error;
    if (pull === 'always' && BerthError.hasCode(error, 'AUTHENTICATION')) throw error;
    // Pulling failed (no registry reachable, unknown repository, denied): the useful news is that the
    // image is not here, and how to get it here.
    const reason = (BerthError.isInstance(error) ? error.message : dockerMessage(error)).replace(/\.+$/, '');
    throw missingImage(image, `pulling it failed: ${reason}`, error);
  }
}

/** `undefined` when the daemon has no such image. */
export async function inspectLocalImage(
  connection: DockerConnection,
  image: string,
  signal: AbortSignal | undefined,
): Promise<LocalImage | undefined> {
  return connection
    .call(`inspect image ${image}`, { signal }, (docker, abortSignal) =>
      docker
        .getImage(image)
        .inspect({ ...(abortSignal ? { abortSignal } : {}) } as Parameters<Dockerode.Image['inspect']>[0] &
          object),
    )
    .then(
      (info) => ({ id: info.Id, os: info.Os ?? 'linux', architecture: info.Architecture ?? '' }),
      (error: unknown) => {
        if (isDockerNotFound(error)) return undefined;
        throw error;
      },
    );
}

function missingImage(image: string, why: string, cause?: unknown): NotFoundError {
  return new NotFoundError(
    `Docker image \`${image}\` is not available locally and ${why}. Build it (\`docker build -t ${image} .\`), ` +
      `load it (\`docker load -i image.tar\`), or fix the \`image\` / \`pull\` options of the profile.`,
    cause === undefined ? undefined : { cause },
  );
}

async function pullImage(connection: DockerConnection, options: EnsureImageOptions): Promise<void> {
  const { image, signal, onProgress } = options;
  throwIfAborted(signal, `Pulling ${image}`);
  onProgress?.({ phase: 'pull', message: `Pulling ${image}`, fraction: 0 });
  const stream = await connection.call(
    `pull image ${image}`,
    { signal, timeoutMs: false },
    (docker, abortSignal) =>
      docker.pull(image, {
        ...(options.registryAuth ? { authconfig: options.registryAuth } : {}),
        ...(abortSignal ? { abortSignal } : {}),
      }) as Promise<Readable>,
  );
  const tracker = new PullProgress(image);
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    let failure: Error | undefined;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      const reason = error ?? failure ?? (tracker.error ? new Error(tracker.error) : undefined);
      if (reason) reject(reason);
      else resolve();
    };
    const onAbort = () => {
      stream.destroy();
      settle(new AbortedError(`Pulling ${image} was aborted.`, { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      for (const update of tracker.push(text)) onProgress?.(update);
    });
    stream.once('end', () => settle());
    stream.once('close', () => settle());
    stream.once('error', (error) => {
      failure ??= error;
      settle();
    });
  });
  onProgress?.({ phase: 'pull', message: `Pulled ${image}`, fraction: 1 });
}
