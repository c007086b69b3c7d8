import { poolFromEnv, poolOptionsFromEnv, type SlotPool } from '@berth/core';
import type { Env } from '../cli-environment.js';
import { CliError, EXIT } from '../exit-codes.js';
import { PoolProgress } from '../progress.js';
import { refuseSpecMismatch, specMismatches } from '../spec-check.js';

export interface ExecFlags {
  pool: string;
  profile?: string;
  trajectory?: string;
  timeoutMs?: number;
  acquireTimeoutMs?: number;
  quiet?: boolean;
  /** Start even when the pool's hosts were made from another spec (they are replaced). */
  replace?: boolean;
}

/**
 * Acquires a slot of the pool, runs `argv` there (no shell: `-- sh -c '…'` for one), streams its
 * output as it comes, releases the slot and returns the command's exit code. Ctrl-C kills the
 * remote command (exit 130) and still releases.
 */
export async function execCommand(
  env: Env,
  flags: ExecFlags,
  argv: readonly string[],
  signal: AbortSignal,
): Promise<number> {
  if (argv.length === 0)
    throw new CliError(
      'no command given: berth exec --pool ID -- CMD [ARGS…]',
      'INVALID_OPTIONS',
      EXIT.usage,
    );
  // A spinner needs a terminal with a width (a pty without a size, as `script` gives, has none).
  const spinner = process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0;
  const progress = new PoolProgress(spinner, flags.quiet === true);
  let pool: SlotPool | undefined;
  try {
    const options = await poolOptionsFromEnv(env, { from: import.meta.url });
    try {
      if (!flags.replace) refuseSpecMismatch(flags.pool, await specMismatches(options, flags.pool, signal));
    } catch (error) {
      await options.backend.dispose?.().catch(() => undefined);
      throw error;
    }
    pool = await poolFromEnv(
      {
        // The backend configured above (its engine checked once), with the host spec from env.
        backend: options.backend,
        host: options.host,
        poolId: flags.pool,
        from: import.meta.url,
        // The first Ctrl-C while the pool starts (sweep, host creation) aborts the start cleanly.
        signal,
        // The CLI handles Ctrl-C itself: the command is killed, the slot released, then the pool closed.
        handleSignals: false,
        on: progress.listeners,
      },
      env,
    );
    const slot = await pool.acquire({
      profile: flags.profile,
      trajectoryId: flags.trajectory,
      signal,
      ...(flags.acquireTimeoutMs !== undefined ? { timeoutMs: flags.acquireTimeoutMs } : {}),
    });
    progress.stop();
    try {
      const stream = slot.execStream([...argv], {
        signal,
        ...(flags.timeoutMs !== undefined ? { timeoutMs: flags.timeoutMs } : {}),
      });
      for await (const chunk of stream) {
        const target = chunk.stream === 'stdout' ? process.stdout : process.stderr;
        if (!target.write(chunk.data)) await new Promise((resolve) => target.once('drain', resolve));
      }
      const result = await stream.result;
      if (result.timedOut)
        process.stderr.write('berth: the command timed out and was killed [EXEC_TIMEOUT]\n');
      return result.aborted ? EXIT.interrupted : result.exitCode;
    } finally {
      await slot.release().catch(() => undefined);
    }
  } finally {
    progress.stop();
    await pool?.close();
  }
}
