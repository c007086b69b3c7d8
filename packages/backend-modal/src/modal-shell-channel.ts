import { PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ChannelCloseInfoV1, HostChannelV1 } from '@berth/core';
import type { Sandbox } from 'modal';
import { batchedStdin, runExec, startExec } from './sandbox-exec.js';

/**
 * The fallback where berth-agent cannot run: one `sh` per exec. Modal has no signal API, so the
 * shell first reports its pid (first stderr line, not passed on) and `close()` kills it through a
 * second exec.
 */
export async function openModalShellChannel(sb: Sandbox): Promise<HostChannelV1> {
  const proc = await startExec(
    sb,
    ['sh', '-c', 'echo "$$" >&2; exec sh'],
    `open a shell in sandbox ${sb.sandboxId}`,
  );
  const stdin = batchedStdin(proc);
  const stdout = Readable.fromWeb(proc.stdout as unknown as WebReadableStream<Uint8Array>);
  const rawStderr = Readable.fromWeb(proc.stderr as unknown as WebReadableStream<Uint8Array>);
  const stderr = new PassThrough();
  let pid: number | undefined;
  let head = Buffer.alloc(0);
  rawStderr.on('data', (chunk: Uint8Array) => {
    if (pid !== undefined) {
      stderr.write(chunk);
      return;
    }
    head = Buffer.concat([head, Buffer.from(chunk)]);
    const newline = head.indexOf(10);
    if (newline < 0) return;
    pid = Number(head.subarray(0, newline).toString('utf8'));
    if (newline + 1 < head.length) stderr.write(head.subarray(newline + 1));
  });
  rawStderr.on('end', () => stderr.end());
  rawStderr.on('error', () => stderr.end());
  stdout.on('error', () => undefined);
  const closed: Promise<ChannelCloseInfoV1> = proc.wait().then(
    (exitCode) => ({ exitCode }),
    (error: unknown) => ({
      error: error instanceof Error ? error : new Error(String(error)),
      transportDropped: true,
    }),
  );
  let closing = false;
  return {
    stdin: stdin.writable,
    stdout,
    stderr,
    closed,
    close() {
      if (closing) return;
      closing = true;
      void stdin.close();
      if (pid !== undefined && Number.isInteger(pid) && pid > 1) {
        const target = String(pid);
        void runExec(sb, ['sh', '-c', 'kill -KILL -- "-$1" 2>/dev/null || kill -KILL "$1"', 'sh', target], {
          operation: `stop a shell in sandbox ${sb.sandboxId}`,
        }).catch(() => undefined);
      }
      stdout.destroy();
      rawStderr.destroy();
    },
  };
}
