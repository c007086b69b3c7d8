import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { AbortedError, BackendUnavailableError, BerthError, HostLostError } from '@berth/core';
import type Dockerode from 'dockerode';
import type { DockerConnection } from './docker-connection.js';

/** What `docker exec` needs to know about the command it starts. */
export interface ExecSpec {
  readonly argv: readonly string[];
  readonly attachStdin: boolean;
  readonly env?: Readonly<Record<string, string>> | undefined;
  readonly cwd?: string | undefined;
}

export interface ExecSession {
  readonly exec: Dockerode.Exec;
  /** The hijacked connection: writes go to the process's stdin, reads are the multiplexed output. */
  readonly socket: Duplex;
}

export interface StartExecOptions {
  readonly connection: DockerConnection;
  readonly containerId: string;
  readonly spec: ExecSpec;
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs: number;
}

/**
 * Creates and starts an exec with a hijacked (raw, bidirectional) connection. The start request is
 * given no abort signal — aborting it after the upgrade would cut the live channel — so the caller's
 * signal and the deadline are raced here instead, and a socket that arrives too late is destroyed.
 */
export async function startExecSession(options: StartExecOptions): Promise<ExecSession> {
  const { connection, containerId, spec, signal, timeoutMs } = options;
  const exec = await connection
    .call('create an exec', { signal, hostId: containerId }, (docker, abortSignal) =>
      docker.getContainer(containerId).exec({
        Cmd: [...spec.argv],
        AttachStdin: spec.attachStdin,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        ...(spec.env ? { Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`) } : {}),
        ...(spec.cwd ? { WorkingDir: spec.cwd } : {}),
        ...(abortSignal ? { abortSignal } : {}),
      }),
    )
    .catch((error: unknown) => {
      throw asHostError(error, containerId);
    });

  const started = connection.call(
    'start an exec',
    { timeoutMs: false, hostId: containerId },
    () => exec.start({ hijack: true, stdin: true }) as Promise<Duplex>,
  );
  const socket = await raceDeadline(started, signal, timeoutMs, 'Starting an exec').catch(
    (error: unknown) => {
      started.then(
        (late) => late.destroy(),
        () => undefined,
      );
      throw asHostError(error, containerId);
    },
  );
  // Over TCP: no Nagle delay for small shell writes, and keep-alive probes so a dead peer is noticed.
  const tcp = socket as Partial<Socket>;
  tcp.setNoDelay?.(true);
  tcp.setKeepAlive?.(true, 30_000);
  return { exec, socket };
}

/** A missing container is a lost host; everything else keeps its mapping. */
export function asHostError(error: unknown, containerId: string): unknown {
  if (BerthError.hasCode(error, 'NOT_FOUND'))
    return new HostLostError(containerId, 'the container no longer exists', { cause: error });
  return error;
}

/**
 * The exec's exit code. Docker closes the stream slightly before it records the exit code, so poll
 * briefly (bounded) until the exec is no longer running.
 */
export async function waitExecExitCode(exec: Dockerode.Exec, waitMs = 5_000): Promise<number | undefined> {
  const deadline = Date.now() + waitMs;
  let delay = 5;
  for (;;) {
    const info = await exec.inspect({ abortSignal: AbortSignal.timeout(5_000) });
    if (!info.Running && typeof info.ExitCode === 'number') return info.ExitCode;
    if (Date.now() + delay > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 200);
  }
}

/** `promise`, unless `signal` fires (AbortedError) or `timeoutMs` passes (BackendUnavailableError) first. */
export function raceDeadline<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError(`${what} was aborted.`, { cause: signal.reason }));
      return;
    }
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      cleanup();
      reject(new AbortedError(`${what} was aborted.`, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new BackendUnavailableError(
          `${what} took longer than ${timeoutMs} ms; Docker may be overloaded. Retry, or raise the timeout.`,
          [],
        ),
      );
    }, timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}
