import { AbortedError } from '@berth/core';

function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError(`${what} was aborted.`, { cause: signal.reason }));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError(`${what} was aborted.`, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Client-side admission for sandbox creation (Modal enforces 5 creates/s per workspace and stalls
 * bursts): creates are spaced at least `1000 / perSecond` ms apart, so no one-second window holds
 * more than `perSecond` of them, and at most `maxStarting` sandboxes are starting at once.
 * Engine-independent: unit-tested with fake clocks.
 */
export class CreateAdmission {
  readonly #spacingMs: number;
  readonly #maxStarting: number;
  #nextAtMs = 0;
  #starting = 0;
  readonly #waiters: (() => void)[] = [];

  constructor(
    perSecond: number,
    maxStarting: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    // 10% margin: requests sent apart can arrive closer together (event-loop and network jitter).
    this.#spacingMs = perSecond === Number.POSITIVE_INFINITY ? 0 : (1000 / perSecond) * 1.1;
    this.#maxStarting = maxStarting;
  }

  get starting(): number {
    return this.#starting;
  }

  /**
   * Waits for a start slot; `release()` when the sandbox is up (or failed). Call `turn()` right
   * before the create request itself, after any slow preparation (an image build), so the spacing
   * holds where creates reach Modal.
   */
  async admit(signal: AbortSignal | undefined): Promise<() => void> {
    await this.#acquireStart(signal);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#starting--;
      this.#waiters.shift()?.();
    };
  }

  /** Waits for this create's turn under the rate limit: call immediately before sending it. */
  async turn(signal: AbortSignal | undefined): Promise<void> {
    const at = Math.max(this.now(), this.#nextAtMs);
    this.#nextAtMs = at + this.#spacingMs;
    const waitMs = at - this.now();
    if (waitMs > 0) await sleep(waitMs, signal, 'Waiting for a Modal sandbox creation slot');
  }

  async #acquireStart(signal: AbortSignal | undefined): Promise<void> {
    while (this.#starting >= this.#maxStarting) {
      if (signal?.aborted) throw new AbortedError('Waiting for a Modal sandbox start slot was aborted.');
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const index = this.#waiters.indexOf(wake);
          if (index >= 0) this.#waiters.splice(index, 1);
          reject(
            new AbortedError('Waiting for a Modal sandbox start slot was aborted.', {
              cause: signal?.reason,
            }),
          );
        };
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        this.#waiters.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    this.#starting++;
  }
}
