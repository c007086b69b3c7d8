import { AbortedError, throwIfAborted } from '@berth/core';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  readonly retries: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
}

export interface RetryDecision {
  /** Whether this failure may be retried at all. */
  readonly retry: boolean;
  /** A delay the server asked for (`Retry-After`), used instead of the backoff when longer. */
  readonly delayMs?: number;
}

/**
 * Exponential backoff with "equal jitter": attempt n waits between half and all of
 * `min(maxDelayMs, minDelayMs · 2ⁿ)`, so concurrent clients spread out but never retry instantly.
 */
export function backoffDelayMs(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Runs `operation` until it succeeds, `classify` says no, retries run out, or `signal` fires. */
export async function retryWithBackoff<T>(
  operation: (attempt: number) => Promise<T>,
  classify: (error: unknown) => RetryDecision,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await operation(attempt);
    } catch (error) {
      const decision = classify(error);
      if (!decision.retry || attempt >= policy.retries || signal?.aborted) throw error;
      const delayMs = Math.max(
        backoffDelayMs(attempt, policy),
        Math.min(decision.delayMs ?? 0, policy.maxDelayMs),
      );
      await sleep(delayMs, signal);
    }
  }
}

/**
 * Resolves after `ms`, rejects with `AbortedError` when `signal` fires. With `unref`, the timer does
 * not hold the process open (for background loops such as host-loss watches).
 */
export function sleep(ms: number, signal?: AbortSignal, unref = false): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (unref) timer.unref?.();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal): Error {
  try {
    throwIfAborted(signal);
  } catch (error) {
    return error as Error;
  }
  return new AbortedError();
}
