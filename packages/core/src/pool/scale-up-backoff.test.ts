import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BACKEND_SPECIFICATION_V1, type BackendV1 } from '../backend/v1/types.js';
import { CapacityError, InternalError } from '../errors/index.js';
import { MIN_RETRY_MS, retryDelayMs } from './host-fleet.js';
import { SlotPool } from './slot-pool.js';

/** A backend whose every create fails with `failure()`; it only counts the attempts. */
function refusingBackend(failure: () => Error): BackendV1 & { attempts: number } {
  const backend = {
    specificationVersion: BACKEND_SPECIFICATION_V1,
    backendId: 'refusing',
    capabilities: {
      persistence: false,
      archive: false,
      oneShotExec: false,
      hostLossEvents: false,
      stopStart: false,
    },
    attempts: 0,
    resolveHostSpec: (input: unknown) => input ?? {},
    async createHost() {
      backend.attempts += 1;
      throw failure();
    },
  };
  return backend;
}

describe('scale-up backoff', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits exactly CapacityError.retryAfterMs before the next creation, however long that is', async () => {
    const backend = refusingBackend(() => new CapacityError('rate limited', 10_000));
    const pool = await new SlotPool({ backend, handleSignals: false, persist: false }).start();
    const waiting = pool.acquire({ timeoutMs: Number.POSITIVE_INFINITY });
    waiting.catch(() => undefined);
    await vi.advanceTimersByTimeAsync(0);
    expect(backend.attempts).toBe(1);
    // Exponential backoff alone would have retried several times by now.
    await vi.advanceTimersByTimeAsync(9_999);
    expect(backend.attempts).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(backend.attempts).toBe(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(backend.attempts).toBe(3);
    const closing = pool.close({ timeoutMs: 1_000 });
    await vi.advanceTimersByTimeAsync(1_000);
    await closing;
    await expect(waiting).rejects.toMatchObject({ code: 'POOL_CLOSED' });
  });

  it('a short retryAfterMs is honoured too, instead of a longer exponential delay', () => {
    expect(retryDelayMs(new CapacityError('busy', 150), 7)).toBe(150);
  });

  it('never retries at once: retryAfterMs 0 would loop without yielding to the event loop', () => {
    expect(retryDelayMs(new CapacityError('busy', 0), 3)).toBe(MIN_RETRY_MS);
    expect(retryDelayMs(new CapacityError('busy', 50), 3)).toBe(MIN_RETRY_MS);
    expect(MIN_RETRY_MS).toBeGreaterThan(0);
  });

  it('without retryAfterMs (or for other errors) the delay is exponential, capped at 30 s', () => {
    expect(retryDelayMs(new CapacityError('busy'), 1)).toBe(500);
    expect(retryDelayMs(new InternalError('flaky'), 2)).toBe(1_000);
    expect(retryDelayMs(new InternalError('flaky'), 20)).toBe(30_000);
  });
});
