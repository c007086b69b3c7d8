import PQueue from 'p-queue';
import { InvalidOptionsError } from '../errors/index.js';
import type { ExecOptions, ExecResult, Slot } from '../slot/slot-types.js';
import type { AcquireOptions } from './slot-pool.js';

/** A command to run on a fresh slot, or a function given a slot (a whole trajectory). */
export type BatchItem<T = ExecResult> =
  | (ExecOptions & { command: string | readonly string[]; profile?: string; trajectoryId?: string })
  | ((slot: Slot) => Promise<T>);

export type BatchOutcome<T> = { ok: true; value: T } | { ok: false; error: Error };

export interface BatchOptions {
  /** Items in flight at once. Default 16. */
  concurrency?: number;
  /** Profile for function items. */
  profile?: string;
  signal?: AbortSignal;
  /** Reset the workspace when each item releases its slot. Default: the pool's `resetOnRelease`. */
  reset?: boolean;
}

interface Acquirer {
  acquire(options: AcquireOptions): Promise<Slot>;
}

/** One outcome per item, in item order: a failure in one never cancels the others. */
export async function runBatch<T>(
  pool: Acquirer,
  items: readonly BatchItem<T>[],
  options: BatchOptions,
): Promise<BatchOutcome<T>[]> {
  const concurrency = options.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidOptionsError('concurrency', `expected a whole number ≥ 1, got ${concurrency}.`);
  }
  const queue = new PQueue({ concurrency });
  const outcomes = items.map((item, index) =>
    queue.add(async (): Promise<BatchOutcome<T>> => {
      try {
        const isFunction = typeof item === 'function';
        const slot = await pool.acquire({
          profile: isFunction ? options.profile : (item.profile ?? options.profile),
          trajectoryId: isFunction ? `batch-${index}` : (item.trajectoryId ?? `batch-${index}`),
          signal: options.signal,
        });
        try {
          const value = isFunction
            ? await item(slot)
            : ((await slot.exec(item.command, { ...item, signal: item.signal ?? options.signal })) as T);
          return { ok: true, value };
        } finally {
          await slot.release({ reset: options.reset });
        }
      } catch (error) {
        return { ok: false, error: error instanceof Error ? error : new Error(String(error)) };
      }
    }),
  );
  return Promise.all(outcomes) as Promise<BatchOutcome<T>[]>;
}
