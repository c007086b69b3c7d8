import { BerthError } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, retryWithBackoff, sleep } from './retry-with-backoff.js';

const policy = { retries: 3, minDelayMs: 1, maxDelayMs: 4 };

describe('backoffDelayMs', () => {
  it('doubles up to the cap, with jitter between half and all of it', () => {
    const p = { retries: 5, minDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelayMs(0, p, () => 0)).toBe(50);
    expect(backoffDelayMs(0, p, () => 1)).toBe(100);
    expect(backoffDelayMs(3, p, () => 1)).toBe(800);
    expect(backoffDelayMs(10, p, () => 1)).toBe(1000);
    expect(backoffDelayMs(10, p, () => 0)).toBe(500);
  });
});

describe('retryWithBackoff', () => {
  it('retries retryable failures until success', async () => {
    let calls = 0;
    const result = await retryWithBackoff(
      async () => {
        calls += 1;
        if (calls < 3) throw new Error('flaky');
        return 'ok';
      },
      () => ({ retry: true }),
      policy,
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
  });

  it('stops after the retry budget and rethrows the last failure', async () => {
    let calls = 0;
    await expect(
      retryWithBackoff(
        async () => {
          calls += 1;
          throw new Error(`fail ${calls}`);
        },
        () => ({ retry: true }),
        policy,
      ),
    ).rejects.toThrow('fail 4');
    expect(calls).toBe(4);
  });

  it('does not retry what the classifier refuses', async () => {
    let calls = 0;
    await expect(
      retryWithBackoff(
        async () => {
          calls += 1;
          throw new Error('fatal');
        },
        () => ({ retry: false }),
        policy,
      ),
    ).rejects.toThrow('fatal');
    expect(calls).toBe(1);
  });

  it('stops waiting when aborted', async () => {
    const controller = new AbortController();
    const pending = retryWithBackoff(
      async () => {
        throw new Error('down');
      },
      () => ({ retry: true, delayMs: 60_000 }),
      { retries: 5, minDelayMs: 10_000, maxDelayMs: 60_000 },
      controller.signal,
    );
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toSatisfy((error) => BerthError.hasCode(error, 'ABORTED'));
  });
});

describe('sleep', () => {
  it('rejects at once for an aborted signal', async () => {
    await expect(sleep(10_000, AbortSignal.abort())).rejects.toSatisfy((error) =>
      BerthError.hasCode(error, 'ABORTED'),
    );
  });
});
