import { Writable } from 'node:stream';
import {
  AbortedError,
  InvalidOptionsError,
  type OneShotResultV1,
  type OneShotRunOptionsV1,
} from '@berth/core';
import { demuxDockerStream } from './demux-docker-stream.js';
import type { DockerConnection } from './docker-connection.js';
import { startExecSession, waitExecExitCode } from './docker-exec-session.js';

export interface RunExecOptions extends OneShotRunOptionsV1 {
  readonly connection: DockerConnection;
  readonly containerId: string;
  readonly startTimeoutMs: number;
}

const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * One `docker exec` of an argv, no shell: for images without `sh`. Output beyond `maxOutputBytes`
 * per stream is read and dropped (so the process never blocks on a full pipe) and `truncated` is set.
 *
 * Abort closes the connection and rejects with `AbortedError`. Docker has no API to kill an exec
 * (moby#9098), so the process itself may keep running in the container until it finishes.
 */
export async function runDockerExec(
  argv: readonly string[],
  options: RunExecOptions,
): Promise<OneShotResultV1> {
  if (argv.length === 0 || argv.some((item) => typeof item !== 'string')) {
    throw new InvalidOptionsError(
      'argv',
      "expected a non-empty array of strings, e.g. ['/bin/busybox', 'echo', 'hi'].",
    );
  }
  const { connection, containerId, signal } = options;
  const limit = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const { exec, socket } = await startExecSession({
    connection,
    containerId,
    spec: { argv, attachStdin: options.stdin !== undefined, env: options.env, cwd: options.cwd },
    signal,
    timeoutMs: options.startTimeoutMs,
  });

  const stdout = new CappedSink(limit);
  const stderr = new CappedSink(limit);
  const ended = new Promise<Error | undefined>((resolve) => {
    let failure: Error | undefined;
    socket.on('error', (error: Error) => {
      failure ??= error;
    });
    socket.once('close', () => resolve(failure));
  });
  demuxDockerStream(socket, stdout, stderr);
  if (options.stdin !== undefined) socket.write(options.stdin);
  socket.end();

  const onAbort = () => socket.destroy();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const failure = await ended;
    if (signal?.aborted) {
      throw new AbortedError('The one-shot exec was aborted; the process may still run in the container.', {
        cause: signal.reason,
      });
    }
    const exitCode = await waitExecExitCode(exec).catch((error: unknown) => {
      throw connection.mapError(error, { action: 'read an exec exit code', hostId: containerId });
    });
    if (exitCode === undefined) {
      throw connection.mapError(failure ?? new Error('Docker did not report the exit code'), {
        action: 'read an exec exit code',
        hostId: containerId,
      });
    }
    return {
      exitCode,
      stdout: stdout.bytes(),
      stderr: stderr.bytes(),
      truncated: stdout.truncated || stderr.truncated,
    };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Keeps the first `limit` bytes written, counts and drops the rest. */
class CappedSink extends Writable {
  #chunks: Buffer[] = [];
  #kept = 0;
  truncated = false;

  constructor(private readonly limit: number) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const room = this.limit - this.#kept;
    if (room <= 0) {
      this.truncated = true;
    } else if (chunk.length > room) {
      this.#chunks.push(chunk.subarray(0, room));
      this.#kept += room;
      this.truncated = true;
    } else {
      this.#chunks.push(chunk);
      this.#kept += chunk.length;
    }
    callback();
  }

  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.#chunks));
  }
}
