import { AbortedError, AcquireTimeoutError } from '../errors/index.js';
import { setDeadline } from '../waits/timer-ms.js';

export interface Waiter<T> {
  readonly profile: string;
  readonly trajectoryId: string | undefined;
  readonly enqueuedAt: number;
  resolve(value: T): void;
  reject(error: Error): void;
}

/**
 * FIFO waiters with an overall deadline and AbortSignal. A waiter leaves the queue exactly once:
 * served, timed out, aborted, or rejected by drain/close.
 */
export class AcquireQueue<T> {
  private readonly waiters: Waiter<T>[] = [];

  get length(): number {
    return this.waiters.length;
  }

  lengthFor(profile: string): number {
    let total = 0;
    for (const waiter of this.waiters) if (waiter.profile === profile) total += 1;
    return total;
  }

  enqueue(
    profile: string,
    trajectoryId: string | undefined,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    describeTimeout: () => string,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.waiters.indexOf(waiter);
        if (index !== -1) this.waiters.splice(index, 1);
      };
      const waiter: Waiter<T> = {
        profile,
        trajectoryId,
        enqueuedAt: performance.now(),
        resolve: (value) => {
          settle();
          resolve(value);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const onAbort = () =>
        waiter.reject(
          new AbortedError('acquire() was aborted while waiting for a slot.', { cause: signal?.reason }),
        );
      // Infinity (or ≥ 2^31 ms) waits for ever instead of overflowing Node's timer into 1 ms.
      timer = setDeadline(timeoutMs, () => waiter.reject(new AcquireTimeoutError(describeTimeout())));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** The oldest waiter for `profile`, still queued. */
  first(profile: string): Waiter<T> | undefined {
    return this.waiters.find((waiter) => waiter.profile === profile);
  }

  rejectAll(error: () => Error, profile?: string): void {
    for (const waiter of [...this.waiters]) {
      if (profile === undefined || waiter.profile === profile) waiter.reject(error());
    }
  }
}
