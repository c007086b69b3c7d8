import { BerthError } from '@berth/core';
import { expect } from 'vitest';
import { type ConformanceContext, eventually, expectCode, sleep } from './conformance-context.js';

/** Host loss, close, drain/resume, execBatch. */
export function registerPoolContract<Spec>(context: ConformanceContext<Spec>): void {
  const test = context.test.bind(context);

  const lossScenario = (whileRunning: boolean) => async () => {
    const pool = await context.openPool({ minHosts: 1, maxHosts: 2 });
    const lost: string[] = [];
    const created: string[] = [];
    pool.on('host:lost', (event) => lost.push(event.hostId));
    pool.on('host:created', (event) => created.push(event.hostId));
    try {
      const victim = await pool.acquire();
      const helper = await pool.acquire();
      expect(helper.hostId).toBe(victim.hostId);
      const hostId = victim.hostId;
      let running: Promise<unknown> | undefined;
      if (whileRunning) {
        running = victim.exec('echo started; sleep 4325; echo never', { timeoutMs: context.timeoutMs });
        running.catch(() => undefined);
        await sleep(300);
      }
      await context.options.loseHost?.(hostId);
      if (running) {
        const error = await running.then(
          (result) => new Error(`exec resolved instead of failing: ${JSON.stringify(result)}`),
          (caught: unknown) => caught,
        );
        expect(BerthError.hasCode(error, 'HOST_LOST'), `expected HOST_LOST, got ${String(error)}`).toBe(true);
      } else {
        expect(await eventually(async () => lost.includes(hostId), context.timeoutMs / 2)).toBe(true);
        await expectCode(() => victim.exec('true'), 'HOST_LOST');
      }
      expect(await eventually(async () => lost.includes(hostId), context.timeoutMs / 2)).toBe(true);
      await victim.release().catch(() => undefined);
      await helper.release().catch(() => undefined);
      // The pool holds minHosts with a replacement.
      expect(
        await eventually(
          async () => created.some((id) => id !== hostId) && pool.stats().hosts >= 1,
          context.timeoutMs / 2,
        ),
      ).toBe(true);
      const fresh = await pool.acquire();
      try {
        expect(fresh.hostId).not.toBe(hostId);
        expect((await fresh.exec('echo alive')).stdout).toBe('alive\n');
      } finally {
        await fresh.release();
      }
    } finally {
      await context.closePool(pool);
    }
  };

  const noLoseHost = context.options.loseHost
    ? undefined
    : 'no `loseHost` option: pass one that kills a host from outside the SDK (`docker kill`, `nomad job stop`)';
  test(
    'hostLoss',
    'a host killed while a slot is leased: HOST_LOST, replaced, acquire works',
    lossScenario(false),
    noLoseHost,
  );
  test(
    'hostLoss',
    'a host killed while a command runs: the exec rejects with HOST_LOST',
    lossScenario(true),
    noLoseHost,
  );

  test(
    'close',
    'close({ forceRemove: true }) leaves zero hosts; acquire afterwards throws POOL_CLOSED',
    async () => {
      const pool = await context.openPool({ minHosts: 1, maxHosts: 2 });
      const poolId = pool.options.poolId;
      const slot = await pool.acquire();
      await slot.exec('echo x > file.txt');
      await slot.release();
      await context.closePool(pool, true);
      await pool.close({ forceRemove: true });
      expect(pool.closed).toBe(true);
      await expectCode(pool.acquire(), 'POOL_CLOSED');
      if (context.canCountHosts) expect(await context.countHosts(poolId)).toBe(0);
    },
  );

  test(
    'drain',
    "drain({ mode: 'fail' }) rejects acquires with POOL_DRAINING; resume() undoes it",
    async () => {
      const pool = await context.sharedPool();
      await pool.drain({ mode: 'fail' });
      try {
        expect(pool.stats().draining).toBe(true);
        await expectCode(pool.acquire(), 'POOL_DRAINING');
      } finally {
        pool.resume();
      }
      await context.withSlot(async (slot) => {
        expect((await slot.exec('echo resumed')).stdout).toBe('resumed\n');
      });
    },
  );

  test(
    'drain',
    'drain waits for an in-flight lease; a waiting acquire is served after resume()',
    async () => {
      const pool = await context.sharedPool();
      const slot = await pool.acquire();
      let drained = false;
      const draining = pool.drain({ mode: 'wait' }).then(() => {
        drained = true;
      });
      try {
        const running = slot.exec('sleep 0.3; echo finished');
        await sleep(500);
        expect(drained).toBe(false);
        expect((await running).stdout).toBe('finished\n');
        let served = false;
        const waiting = pool.acquire({ timeoutMs: 20_000 }).then((next) => {
          served = true;
          return next;
        });
        await slot.release();
        await draining;
        expect(drained).toBe(true);
        await sleep(300);
        expect(served).toBe(false);
        pool.resume();
        const next = await waiting;
        await next.release();
      } finally {
        pool.resume();
        await slot.release().catch(() => undefined);
      }
    },
  );

  test('execBatch', 'execBatch returns one outcome per item, in order, failures included', async () => {
    const pool = await context.sharedPool();
    const outcomes = await pool.execBatch<unknown>(
      [
        { command: 'echo one' },
        { command: 'echo two >&2; exit 7' },
        async () => {
          throw new Error('boom');
        },
        async (slot) => (await slot.exec('echo four')).stdout,
        { command: ['printf', '%s', 'five'] },
      ],
      { concurrency: 2 },
    );
    expect(outcomes).toHaveLength(5);
    const [one, two, three, four, five] = outcomes;
    expect(one).toMatchObject({ ok: true, value: { exitCode: 0, stdout: 'one\n' } });
    expect(two).toMatchObject({ ok: true, value: { exitCode: 7, stderr: 'two\n' } });
    expect(three?.ok).toBe(false);
    expect(three && !three.ok && three.error.message).toBe('boom');
    expect(four).toEqual({ ok: true, value: 'four\n' });
    expect(five).toMatchObject({ ok: true, value: { stdout: 'five' } });
    expect(pool.stats().slots.available).toBe(context.slotsPerHost);
  });
}
