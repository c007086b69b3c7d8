import { Readable, Writable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { AgentTransport } from '@berth/host-agent';
import type { ContainerProcess, Sandbox } from 'modal';
import { mapModalError } from './map-modal-error.js';

export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/** One `sb.exec` in binary mode, started: Modal mapped errors name the sandbox (HOST_LOST when gone). */
export async function startExec(
  sb: Sandbox,
  argv: readonly string[],
  operation: string,
): Promise<ContainerProcess> {
  try {
    return await sb.exec([...argv], { mode: 'binary' });
  } catch (error) {
    throw mapModalError(error, { operation, sandboxId: sb.sandboxId });
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
    throw mapModalError(error, { operation: options.operation, sandboxId: sb.sandboxId });
  }
}

/**
 * A Node `Writable` over a process's stdin. Every write is one network call, so while one is in
 * flight Node buffers the next ones and `writev` sends them together as one.
 */
export function batchedStdin(proc: ContainerProcess): { writable: Writable; close(): Promise<void> } {
  const writer = proc.stdin.getWriter();
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= writer.close().catch(() => undefined);
    return closing;
  };
  const send = (bytes: Uint8Array, callback: (error?: Error | null) => void) => {
    writer.write(bytes as never).then(
      () => callback(),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    );
  };
  const writable = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      send(chunk, callback);
    },
    writev(chunks, callback) {
      send(Buffer.concat(chunks.map(({ chunk }) => chunk as Buffer)), callback);
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
