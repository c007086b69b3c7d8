import { randomBytes } from 'node:crypto';
import type { ChannelCloseInfoV1, HostChannelV1 } from '@berth/core';
import { BackendUnavailableError, BerthError, HostLostError, throwIfAborted } from '@berth/core';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadExecExit, NomadExecSession } from './client/nomad-exec-session.js';

export interface OpenShellChannelOptions {
  readonly signal?: AbortSignal;
  /** Sessions tried before giving up. Default 3. */
  readonly attempts?: number;
  /** Deadline for `sh` to answer the readiness marker. Default 15000. */
  readonly readyTimeoutMs?: number;
  /** argv of the shell. Default `['sh']`. */
  readonly command?: readonly string[];
  /**
   * Asked when the websocket closes without an exit frame: why the host is gone, or undefined when
   * it still runs (or Nomad cannot tell). A gone host means the shell died with it (no
   * `transportDropped`); otherwise only the transport dropped and core reopens between commands.
   */
  readonly hostGoneReason?: () => Promise<string | undefined>;
}

/**
 * Opens an exec session running `sh` and proves it is live before handing it over: it sends
 * `echo <random marker>` and reads stdout up to the marker. Nomad's docker driver sometimes reports
 * a fresh exec as exited (code 0, no output) before it started (it inspects the exec once before
 * Docker has marked it running); such a session is discarded and another one opened.
 */
export async function openShellChannel(
  client: NomadClient,
  allocationId: string,
  task: string,
  options: OpenShellChannelOptions = {},
): Promise<{ channel: HostChannelV1; session: NomadExecSession }> {
  const attempts = options.attempts ?? 3;
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    throwIfAborted(options.signal, `Opening a shell in allocation ${allocationId}`);
    const command = options.command ?? ['sh'];
    const session = await client.exec(allocationId, { task, command, signal: options.signal });
    try {
      await awaitReady(session, options.readyTimeoutMs ?? 15_000, options.signal);
      const closed = session.exited.then((exit) =>
        channelCloseInfo(exit, allocationId, options.hostGoneReason),
      );
      const channel: HostChannelV1 = {
        stdin: session.stdin,
        stdout: session.stdout,
        stderr: session.stderr,
        closed,
        close: () => session.close(),
      };
      return { channel, session };
    } catch (error) {
      session.close();
      if (BerthError.hasCode(error, 'ABORTED') || BerthError.hasCode(error, 'AUTHENTICATION')) throw error;
      if (BerthError.hasCode(error, 'NOT_FOUND')) throw error;
      lastError = error as Error;
    }
  }
  throw new BackendUnavailableError(
    `Could not start a shell in allocation ${allocationId} after ${attempts} attempts: ${lastError?.message}. ` +
      'Check that the image has /bin/sh and the task is running (`nomad alloc status`).',
    [client.config.address],
    { cause: lastError },
  );
}

/**
 * What core learns when a shell channel closes. An exit frame means the shell itself ended. A close
 * we asked for, or one Nomad refused (auth, unknown allocation/task), is a plain error. Any other
 * close without an exit frame (socket reset, heartbeat timeout, agent restart, code 1006) is a
 * dropped transport — unless the allocation is gone, in which case the shell died with it.
 */
export async function channelCloseInfo(
  exit: NomadExecExit,
  hostId: string,
  hostGoneReason: (() => Promise<string | undefined>) | undefined,
): Promise<ChannelCloseInfoV1> {
  if (exit.exitCode !== undefined) return { exitCode: exit.exitCode };
  const error = exit.error;
  if (
    BerthError.hasCode(error, 'ABORTED') ||
    BerthError.hasCode(error, 'AUTHENTICATION') ||
    BerthError.hasCode(error, 'NOT_FOUND')
  ) {
    return { error };
  }
  const gone = await hostGoneReason?.().catch(() => undefined);
  if (gone !== undefined) {
    return { error: new HostLostError(hostId, gone, { cause: error }) };
  }
  return { error, transportDropped: true };
}

/** Sends the marker and consumes stdout up to and including its line; leaves later bytes unread. */
function awaitReady(
  session: NomadExecSession,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const marker = `berth-ready-${randomBytes(8).toString('hex')}`;
  const { stdout } = session;
  return new Promise<void>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const cleanup = () => {
      clearTimeout(timer);
      stdout.off('readable', onReadable);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onAbort = () => {
      try {
        throwIfAborted(signal, 'Opening a shell');
      } catch (error) {
        fail(error as Error);
      }
    };
    const onReadable = () => {
      for (
        let chunk = stdout.read() as Buffer | null;
        chunk !== null;
        chunk = stdout.read() as Buffer | null
      ) {
        buffered = Buffer.concat([buffered, chunk]);
      }
      const at = buffered.indexOf(`${marker}\n`);
      if (at >= 0) {
        cleanup();
        const rest = buffered.subarray(at + marker.length + 1);
        if (rest.length > 0) stdout.unshift(rest);
        resolve();
      }
    };
    const timer = setTimeout(() => fail(new Error(`sh did not answer within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    stdout.on('readable', onReadable);
    void session.exited.then((exit) => {
      fail(
        exit.error ??
          new Error(
            `sh exited with code ${exit.exitCode} before answering (a Nomad docker-driver exec race)`,
          ),
      );
    });
    session.stdin.write(`echo ${marker}\n`);
  });
}
