import type { OneShotResultV1, OneShotRunOptionsV1 } from '@berth/core';
import { AbortedError, CapabilityUnsupportedError, InvalidOptionsError, throwIfAborted } from '@berth/core';
import type { NomadClient } from './client/nomad-client.js';
import { markedCommand } from './reap-raw-exec-sessions.js';

/**
 * Runs `argv` once through a fresh exec session (no shell), feeding `stdin` then EOF, and collects
 * output up to `maxOutputBytes` per stream. `env` is applied with `env K=V argv…` (the exec API has
 * no environment parameter), so it needs an `env` binary in the task; `cwd` is not supported by the
 * exec API at all.
 */
export async function runOneShot(
  client: NomadClient,
  allocationId: string,
  task: string,
  argv: readonly string[],
  options: OneShotRunOptionsV1 = {},
  /** Start it under `env BERTH_SESSION=1` so the raw_exec reaper can find what it leaves behind. */
  mark = false,
): Promise<OneShotResultV1> {
  if (argv.length === 0 || argv.some((part) => typeof part !== 'string')) {
    throw new InvalidOptionsError('argv', 'expected a non-empty array of strings.');
  }
  if (options.cwd !== undefined) {
    throw new CapabilityUnsupportedError(
      'nomad',
      'run({ cwd })',
      "Nomad's exec API has no working-directory parameter; use absolute paths, or the shell channel.",
    );
  }
  throwIfAborted(options.signal, `Running ${argv[0]}`);
  const envPairs = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
  const command = mark
    ? markedCommand(argv, options.env)
    : envPairs.length > 0
      ? ['env', ...envPairs, ...argv]
      : [...argv];
  const session = await client.exec(allocationId, { task, command, signal: options.signal });

  const limit = options.maxOutputBytes ?? Number.POSITIVE_INFINITY;
  let truncated = false;
  const collect = (stream: NodeJS.ReadableStream) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      const room = limit - size;
      if (room <= 0) {
        truncated = true;
        return;
      }
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
      if (kept.length < chunk.length) truncated = true;
      chunks.push(kept);
      size += kept.length;
    });
    return new Promise<Uint8Array>((resolve) =>
      stream.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks)))),
    );
  };
  const stdout = collect(session.stdout);
  const stderr = collect(session.stderr);

  const onAbort = () => session.close();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.stdin && options.stdin.length > 0) session.stdin.write(Buffer.from(options.stdin));
    session.stdin.end();
    const [exit, out, err] = await Promise.all([session.exited, stdout, stderr]);
    if (options.signal?.aborted)
      throw new AbortedError(`Running ${argv[0]} was aborted.`, { cause: options.signal.reason });
    if (exit.exitCode === undefined)
      throw exit.error ?? new Error('the exec session ended without an exit code');
    return { exitCode: exit.exitCode, stdout: out, stderr: err, truncated };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    session.close();
  }
}
