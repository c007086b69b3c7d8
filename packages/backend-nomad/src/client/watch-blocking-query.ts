import { throwIfAborted } from '@berth/core';
import type { NomadQueryResult } from './nomad-http-transport.js';
import { sleep } from './retry-with-backoff.js';

export interface BlockingQueryOptions {
  /** Return when the data's index passes this one (0: at once). */
  index?: number;
  /** How long the agent may hold the query open (Nomad caps it at 10 min). Default 60000. */
  waitMs?: number;
  signal?: AbortSignal;
}

/** One blocking read: `index`, `waitMs` and `signal` in, data and its new index out. */
export type BlockingQuery<T> = (
  options: Required<Pick<BlockingQueryOptions, 'index' | 'waitMs'>> & {
    signal?: AbortSignal;
  },
) => Promise<NomadQueryResult<T>>;

export interface WatchOptions {
  signal?: AbortSignal;
  /** Per-query wait. Default 60000. */
  waitMs?: number;
  /** Start from this index instead of reading the current state first. */
  initialIndex?: number;
  /** Smallest pause between two queries, so a misbehaving index never spins. Default 50. */
  minIntervalMs?: number;
}

/**
 * Yields the current result, then every result whose `X-Nomad-Index` changed, following Nomad's
 * blocking-query rules: feed the last index back; if it goes backwards (a server restored a
 * snapshot, a leader changed), reset to 0 and yield a fresh read; never block on index 0.
 * Ends when `signal` fires (rejecting with `AbortedError`) or the consumer stops iterating.
 * Errors of a query (after the transport's retries) are thrown to the consumer.
 */
export async function* watchBlockingQuery<T>(
  query: BlockingQuery<T>,
  options: WatchOptions = {},
): AsyncGenerator<NomadQueryResult<T>, void, undefined> {
  const waitMs = options.waitMs ?? 60_000;
  const minIntervalMs = options.minIntervalMs ?? 50;
  let index = options.initialIndex ?? 0;
  let first = options.initialIndex === undefined;
  for (;;) {
    throwIfAborted(options.signal, 'Watching Nomad');
    const startedAt = Date.now();
    const result = await query({ index, waitMs, signal: options.signal });
    const next = nextIndex(index, result.index);
    if (next.reset) {
      // Re-read non-blocking and yield that, rather than trusting an answer from the past.
      index = 0;
      first = true;
    } else {
      const changed = first || result.index > index;
      first = false;
      index = next.index;
      if (changed) yield result;
    }
    const elapsed = Date.now() - startedAt;
    if (elapsed < minIntervalMs) await sleep(minIntervalMs - elapsed, options.signal);
  }
}

/** The index to send next, given the one sent and the one received. */
export function nextIndex(sent: number, received: number): { index: number; reset: boolean } {
  if (received > 0 && received < sent) return { index: 0, reset: true };
  // An index of 0 would return at once forever; Nomad's own clients clamp to 1.
  return { index: Math.max(1, received), reset: false };
}
