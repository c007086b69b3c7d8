import { Readable, Writable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { AgentTransport } from '@berth/host-agent';
import type { ContainerProcess, Sandbox } from 'modal';
import { mapSandboxError } from './sandbox-end.js';

export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/** One `sb.exec` in binary mode, started: errors name the sandbox (HOST_LOST once it is seen finished). */
export async function startExec(
  sb: Sandbox,
  argv: readonly string[],
  operation: string,
): Promise<ContainerProcess> {
  try {
    return await sb.exec([...argv], { mode: 'binary' });
  } catch (error) {
    throw await mapSandboxError(sb, error, operation);
  }
}

function nodeReadable(stream: unknown): Readable {
  return Readable.fromWeb(stream as WebReadableStream<Uint8Array>);
}

async function collect(stream: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of nodeReadable(stream)) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Runs `argv` to completion (optional stdin bytes), collecting its output. */
export async function runExec(
  sb: Sandbox,
  argv: readonly string[],
  options: { stdin?: Uint8Array; operation: string },
): Promise<ExecResult> {
  const proc = await startExec(sb, argv, options.operation);
  try {
    const writer = proc.stdin.getWriter();
    if (options.stdin && options.stdin.length > 0) await writer.write(options.stdin as never);
    await writer.close();
    const [stdout, stderr, exitCode] = await Promise.all([
      collect(proc.stdout),
      collect(proc.stderr),
      proc.wait(),
    ]);
    return { exitCode, stdout, stderr };
  } catch (error) {
    throw await mapSandboxError(sb, error, options.operation);
  }
}

/** Bytes queued for stdin beyond which writers wait (backpressure). */
const STDIN_HIGH_WATER_BYTES = 4 * 1024 * 1024;

/**
 * A Node `Writable` over a process's stdin. Every write to Modal is one network call, so writes
 * are coalesced: those made in the same tick (an HTTP/2 request's frames) and those made while a
 * call is in flight go out together as one call.
 */
export function batchedStdin(proc: ContainerProcess): { writable: Writable; close(): Promise<void> } {
  const writer = proc.stdin.getWriter();
  let queue: Buffer[] = [];
  let queued = 0;
  let inFlight = false;
  let scheduled = false;
  let failed: Error | undefined;
  let waiters: (() => void)[] = [];
  let idle: (() => void)[] = [];
  let closing: Promise<void> | undefined;
  const settleWaiters = () => {
    if (queued >= STDIN_HIGH_WATER_BYTES && !failed) return;
    const ready = waiters;
    waiters = [];
    for (const wake of ready) wake();
  };
  const flush = () => {
    scheduled = false;
    if (inFlight) return;
    // After a failed call nothing more goes out; close() must still settle, not wait forever.
    if (queue.length === 0 || failed) {
      const done = idle;
      idle = [];
      for (const wake of done) wake();
      return;
    }
    const data = queue.length === 1 ? (queue[0] as Buffer) : Buffer.concat(queue);
    queue = [];
    queued = 0;
    inFlight = true;
    settleWaiters();
    writer.write(data as never).then(
      () => {
        inFlight = false;
        schedule();
      },
      (error: unknown) => {
        inFlight = false;
        failed = error instanceof Error ? error : new Error(String(error));
        settleWaiters();
        writable.destroy(failed);
      },
    );
  };
  const schedule = () => {
    if (scheduled || inFlight) return;
    scheduled = true;
    setImmediate(flush);
  };
  const drained = () =>
    new Promise<void>((resolve) => {
      idle.push(resolve);
      schedule();
    });
  const close = () => {
    closing ??= drained()
      .then(() => writer.close())
      .catch(() => undefined);
    return closing;
  };
  const writable = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (failed) return callback(failed);
      queue.push(chunk);
      queued += chunk.length;
      schedule();
      if (queued < STDIN_HIGH_WATER_BYTES) callback();
      else waiters.push(() => callback(failed ?? null));
    },
    final(callback) {
      void close().then(() => callback());
    },
  });
  writable.on('error', () => undefined);
  return { writable, close };
}

/** berth-agent's stdio over one exec: every slot of the sandbox shares it. */
export async function agentTransport(sb: Sandbox, argv: readonly string[]): Promise<AgentTransport> {
  const proc = await startExec(sb, argv, `start the host agent in sandbox ${sb.sandboxId}`);
  const stdin = batchedStdin(proc);
  const readable = nodeReadable(proc.stdout);
  const stderr = nodeReadable(proc.stderr);
  let diagnostics = '';
  stderr.on('data', (chunk: Buffer) => {
    if (diagnostics.length < 4096) diagnostics += Buffer.from(chunk).toString('utf8');
  });
  readable.on('error', () => undefined);
  stderr.on('error', () => undefined);
  const ended = (stream: Readable) =>
    new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
    });
  const drained = Promise.all([ended(readable), ended(stderr)]).then(() => undefined);
  let destroyed = false;
  return {
    readable,
    writable: stdin.writable,
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      // Modal has no kill: EOF on its stdin makes the agent kill what it started and exit.
      void stdin.close();
      stdin.writable.destroy();
      readable.destroy();
      stderr.destroy();
    },
    diagnostics: () => diagnostics,
    drained,
  };
}
