import { AbortedError } from '../errors/index.js';

/**
 * Settles with `work`, or rejects with `AbortedError` as soon as `signal` aborts. The work itself
 * goes on (its result is dropped, its rejection swallowed): use it for waits that cannot be
 * cancelled themselves but must not hold the caller, with the caller cleaning up behind them.
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(new AbortedError(`${what} was aborted.`, { cause: signal.reason }));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => undefined);
      reject(new AbortedError(`${what} was aborted.`, { cause: signal.reason }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
