import {
  HostLostError,
  InternalError,
  InvalidOptionsError,
  NotFoundError,
  throwIfAborted,
} from '@berth/core';
import type Dockerode from 'dockerode';
import type { DockerConnection } from './docker-connection.js';
import type { DockerHostTimeouts } from './docker-host.js';
import { dockerStatusCode } from './map-docker-error.js';

export interface StartContainerOptions {
  readonly connection: DockerConnection;
  readonly containerId: string;
  readonly timeouts: DockerHostTimeouts;
  readonly signal?: AbortSignal | undefined;
  /** Unpause a paused container too (attach); a fresh container is never paused. */
  readonly resume?: boolean;
}

/**
 * Starts a container unless it already runs, then confirms it is running. A keep-alive command that
 * exits at once is reported with its exit code and the last lines of its output.
 */
export async function startDockerContainer(
  options: StartContainerOptions,
): Promise<Dockerode.ContainerInspectInfo> {
  const { connection, containerId, signal } = options;
  const inspect = () =>
    connection.call(
      `inspect container ${containerId}`,
      { signal, hostId: containerId },
      (docker, abortSignal) => docker.getContainer(containerId).inspect(abortSignal ? { abortSignal } : {}),
    );
  let info = await inspect().catch((error: unknown) => {
    if (error instanceof NotFoundError)
      throw new NotFoundError(`Container ${containerId} no longer exists; list hosts again.`, {
        cause: error,
      });
    throw error;
  });
  if (info.State.Paused && options.resume) {
    await connection.call(
      `unpause container ${containerId}`,
      { signal, hostId: containerId },
      (docker, abortSignal) => docker.getContainer(containerId).unpause(abortSignal ? { abortSignal } : {}),
    );
    info = await inspect();
  }
  if (info.State.Running) return info;

  await connection
    .call(
      `start container ${containerId.slice(0, 12)}`,
      { signal, hostId: containerId, field: 'spec' },
      (docker, abortSignal) => docker.getContainer(containerId).start(abortSignal ? { abortSignal } : {}),
    )
    .catch((error: unknown) => {
      if (dockerStatusCode((error as { cause?: unknown }).cause) === 304) return; // started meanwhile
      throw error;
    });
  // `start` returns once the process is spawned; give a keep-alive that exits at once the chance to show it.
  const deadline = Date.now() + Math.min(options.timeouts.requestTimeoutMs, 10_000);
  for (let attempt = 0; ; attempt += 1) {
    throwIfAborted(signal, 'Starting a container');
    info = await inspect();
    if (info.State.Running && attempt >= 1) return info;
    if (!info.State.Running && !info.State.Restarting && info.State.Status !== 'created') {
      const output = await lastOutput(connection, containerId);
      const code = info.State.ExitCode;
      const hint =
        code === 127 || code === 126 || /not found|no such file/i.test(output)
          ? ' The keep-alive command is missing from the image: set `keepAliveCommand` to a program it has.'
          : " The keep-alive command must run until the container is removed (e.g. ['sleep', '2147483647']).";
      const what = `the container exited right after start (exit code ${code}${info.State.OOMKilled ? ', OOM-killed' : ''}${output ? `; output: ${output}` : ''}).`;
      // A fresh container that cannot stay up is a spec problem (retrying will not help); an adopted one is lost.
      throw options.resume
        ? new HostLostError(containerId, what + hint)
        : new InvalidOptionsError('keepAliveCommand', what + hint);
    }
    if (Date.now() > deadline) {
      if (info.State.Running) return info;
      throw new InternalError(
        `Container ${containerId.slice(0, 12)} did not reach running state (status ${info.State.Status}).`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function lastOutput(connection: DockerConnection, containerId: string): Promise<string> {
  try {
    const logs = (await connection.call('read container logs', {}, (docker, abortSignal) =>
      docker.getContainer(containerId).logs({
        stdout: true,
        stderr: true,
        tail: 10,
        follow: false,
        ...(abortSignal ? { abortSignal } : {}),
      }),
    )) as unknown as Buffer;
    return stripMultiplexHeaders(Buffer.isBuffer(logs) ? logs : Buffer.from(String(logs)))
      .trim()
      .slice(-500);
  } catch {
    return '';
  }
}

/** Container logs of a non-TTY container come framed like attach streams; keep only the payloads. */
function stripMultiplexHeaders(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length && buffer[offset]! <= 2 && buffer.readUIntBE(offset + 1, 3) === 0) {
    const length = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + length));
    offset += 8 + length;
  }
  return (offset === 0 ? buffer : Buffer.concat(parts)).toString('utf8');
}
