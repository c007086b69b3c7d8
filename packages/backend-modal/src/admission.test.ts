import { describe, expect, it, vi } from 'vitest';
import { CreateAdmission } from './admission.js';

describe('CreateAdmission', () => {
  it('spaces turns so no one-second window holds more than the rate', async () => {
    vi.useFakeTimers();
    try {
      const admission = new CreateAdmission(4, 100, () => Date.now());
      const admittedAt: number[] = [];
      const start = Date.now();
      const all = Array.from({ length: 10 }, () =>
        admission.turn(undefined).then(() => {
          admittedAt.push(Date.now() - start);
        }),
      );
      await vi.advanceTimersByTimeAsync(10_000);
      await Promise.all(all);
      for (const at of admittedAt) {
        expect(admittedAt.filter((other) => other >= at && other < at + 1000).length).toBeLessThanOrEqual(4);
      }
      expect(admittedAt).toHaveLength(10);
    } finally {
      vi.useRealTimers();
    }
  });

  it('caps sandboxes starting at once and admits the next when one is released', async () => {
    const admission = new CreateAdmission(Number.POSITIVE_INFINITY, 2);
    const first = await admission.admit(undefined);
    await admission.admit(undefined);
    let third = false;
    const waiting = admission.admit(undefined).then((release) => {
      third = true;
      return release;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(third).toBe(false);
    expect(admission.starting).toBe(2);
    first();
    first(); // idempotent
    (await waiting)();
    expect(third).toBe(true);
    expect(admission.starting).toBe(1);
  });

  it('an aborted wait rejects with ABORTED and takes no slot', async () => {
    const admission = new CreateAdmission(Number.POSITIVE_INFINITY, 1);
    const held = await admission.admit(undefined);
    const controller = new AbortController();
    const waiting = admission.admit(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
    held();
    expect(admission.starting).toBe(0);
  });
});
