import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import {
  CapabilityUnsupportedError,
  type ChannelCloseInfoV1,
  channelStdin,
  type HostChannelV1,
  HostLostError,
  InternalError,
} from '@berth/core';
import { demuxDockerStream } from './demux-docker-stream.js';
import type { DockerConnection } from './docker-connection.js';
import { raceDeadline, startExecSession, waitExecExitCode } from './docker-exec-session.js';

export interface OpenChannelOptions {
  readonly connection: DockerConnection;
  readonly containerId: string;
  readonly signal?: AbortSignal | undefined;
  /** Bound on exec start + the readiness handshake. */
  readonly timeoutMs: number;
}

const NO_SHELL = /executable file not found|no such file or directory|not found in \$PATH/i;

/**
 * Starts `sh` in the container over a hijacked `docker exec` and confirms it answers (an `echo` of a
 * random marker, consumed here) before handing the channel over. An image without `sh` fails fast
 * with `CapabilityUnsupportedError`, so core can fall back to one-shot `run`.
 */
export async function openDockerChannel(options: OpenChannelOptions): Promise<HostChannelV1> {
  const { connection, containerId, signal, timeoutMs } = options;
  const { exec, socket } = await startExecSession({
    connection,
    containerId,
    spec: { argv: ['sh'], attachStdin: true },
    signal,
    timeoutMs,
  });

  let transportError: Error | undefined;
  socket.on('error', (error: Error) => {
    transportError ??= error;
  });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  demuxDockerStream(socket, stdout, stderr);
  let closedByClient = false;
  const closed = new Promise<ChannelCloseInfoV1>((resolve) => {
    socket.once('close', () => {
      // After close() the shell may outlive the transport (a command still running): ask once, don't wait.
      waitExecExitCode(exec, closedByClient ? 0 : 2_000).then(
        (exitCode) => resolve(closeInfo(exitCode, transportError)),
        (error: unknown) => resolve({ error: transportError ?? (error as Error) }),
      );
    });
  });

  const marker = `berth-ready-${randomUUID()}`;
  socket.write(`echo ${marker}\n`);
  try {
    await raceDeadline(awaitMarker(stdout, marker), signal, timeoutMs, 'Opening a shell channel');
  } catch (error) {
    socket.destroy();
    if (error instanceof ShellEndedError) throw await explainEarlyExit(containerId, error.output, closed);
    throw error;
  }

  // Half-close on end: Docker closes the exec's stdin, `sh` reads EOF and exits; output still flows.
  const stdin = channelStdin(socket);
  return {
    stdin,
    stdout,
    stderr,
    closed,
    close: () => {
      if (socket.destroyed) return;
      closedByClient = true;
      socket.destroy();
    },
  };
}

class ShellEndedError extends Error {
  constructor(readonly output: string) {
    super('the shell ended before it answered');
  }
}

/** Reads `stdout` up to and including the marker line; whatever follows is put back for the caller. */
function awaitMarker(stdout: PassThrough, marker: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let seen = Buffer.alloc(0);
    const onReadable = () => {
      for (
        let chunk = stdout.read() as Buffer | null;
        chunk !== null;
        chunk = stdout.read() as Buffer | null
      ) {
        seen = Buffer.concat([seen, chunk]);
        const line = Buffer.from(`${marker}\n`);
        const at = seen.indexOf(line);
        if (at >= 0) {
          done();
          const rest = seen.subarray(at + line.length);
          if (rest.length > 0) stdout.unshift(rest);
          resolve();
          return;
        }
        if (seen.length > 64 * 1024) seen = seen.subarray(seen.length - 64 * 1024);
      }
    };
    const onEnd = () => {
      done();
      reject(new ShellEndedError(seen.toString('utf8')));
    };
    const done = () => {
      stdout.off('readable', onReadable);
      stdout.off('end', onEnd);
    };
    stdout.on('readable', onReadable);
    stdout.on('end', onEnd);
  });
}

async function explainEarlyExit(
  containerId: string,
  output: string,
  closed: Promise<ChannelCloseInfoV1>,
): Promise<Error> {
  const info = await closed;
  const said = output.trim();
  if (info.exitCode === 126 || info.exitCode === 127 || NO_SHELL.test(said)) {
    return new CapabilityUnsupportedError(
      'docker',
      'shell',
      `The image has no /bin/sh (docker exec said: ${said || `exit code ${String(info.exitCode)}`}); ` +
        'pass argv arrays to use one-shot exec, or use an image with a POSIX shell.',
    );
  }
  if (/is not running|is paused|is restarting/i.test(said)) {
    return new HostLostError(containerId, 'the container stopped while a shell was starting');
  }
  return new InternalError(
    `sh in container ${containerId.slice(0, 12)} exited before answering (exit code ${String(info.exitCode)}${said ? `: ${said}` : ''}). ` +
      "Check that the image's `sh` works: `docker exec -i <container> sh`.",
    info.error ? { cause: info.error } : undefined,
  );
}

function closeInfo(exitCode: number | undefined, error: Error | undefined): ChannelCloseInfoV1 {
  if (exitCode === undefined && error === undefined) return {};
  if (exitCode === undefined) return { error: error as Error };
  return error ? { exitCode, error } : { exitCode };
}
