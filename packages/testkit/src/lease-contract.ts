import { expect } from 'vitest';
import { type ConformanceContext, expectCode, withSameSlot } from './conformance-context.js';

/** Lease fencing, one command at a time, no double hand-out, release reset. */
export function registerLeaseContract<Spec>(context: ConformanceContext<Spec>): void {
  const test = context.test.bind(context);

  test('leases', 'a released handle throws SLOT_STATE; release is idempotent', async () => {
    const pool = await context.sharedPool();
    const slot = await pool.acquire();
    expect((await slot.exec('echo hi')).stdout).toBe('hi\n');
    await slot.release();
    await slot.release();
    await expectCode(() => slot.exec('true'), 'SLOT_STATE');
    await expectCode(() => slot.readFile('x'), 'SLOT_STATE');
  });

  test('leases', 'a second concurrent exec on one slot throws SLOT_STATE', async () => {
    await context.withSlot(async (slot) => {
      const first = slot.exec('sleep 1; echo first');
      await expectCode(() => slot.exec('echo second'), 'SLOT_STATE');
      expect((await first).stdout).toBe('first\n');
      expect((await slot.exec('echo after')).stdout).toBe('after\n');
    });
  });

  test('leases', '20 concurrent acquires on 2 hosts never hand one slot to two holders', async () => {
    const pool = await context.openPool({ minHosts: 2, maxHosts: 2 });
    try {
      const holders = new Map<string, number>();
      const violations: string[] = [];
      const served = new Set<string>();
      const hosts = new Set<string>();
      const work = Array.from({ length: 20 }, async (_, index) => {
        const slot = await pool.acquire({ trajectoryId: `t-${index}` });
        try {
          if (holders.has(slot.id))
            violations.push(`${slot.id} held by t-${holders.get(slot.id)} and t-${index}`);
          holders.set(slot.id, index);
          served.add(slot.id);
          hosts.add(slot.hostId);
          expect(slot.trajectoryId).toBe(`t-${index}`);
          const result = await slot.exec(
            `echo ${index} > owner.txt; sleep 0.${(index % 3) + 1}; cat owner.txt`,
          );
          expect(result.stdout).toBe(`${index}\n`);
        } finally {
          if (holders.get(slot.id) === index) holders.delete(slot.id);
          await slot.release();
        }
        return index;
      });
      const done = await Promise.all(work);
      expect(done).toHaveLength(20);
      expect(violations).toEqual([]);
      expect(hosts.size).toBeLessThanOrEqual(2);
      expect(served.size).toBeLessThanOrEqual(2 * context.slotsPerHost);
      expect(pool.stats().queueDepth).toBe(0);
    } finally {
      await context.closePool(pool);
    }
  });

  test(
    'releaseReset',
    'resetOnRelease: the next lease of the same slot sees an empty workspace',
    async () => {
      const pool = await context.sharedPool();
      const first = await pool.acquire();
      const slotId = first.id;
      await first.exec('echo x > leftover.txt; mkdir -p dir/sub; touch .hidden');
      await first.release();
      await withSameSlot(pool.acquire.bind(pool), context.slotsPerHost, slotId, async (again) => {
        expect((await again.exec('ls -A')).stdout).toBe('');
        await again.exec('echo kept > kept.txt');
        await again.release({ reset: false });
      });
      await withSameSlot(pool.acquire.bind(pool), context.slotsPerHost, slotId, async (third) => {
        expect((await third.exec('cat kept.txt')).stdout).toBe('kept\n');
      });
    },
  );

  test(
    'releaseReset',
    'releasing every slot of a host at once: each workspace empty, no host:error (no false "could not be deleted")',
    async () => {
      const pool = await context.openPool({ minHosts: 1, maxHosts: 1 });
      const errors: string[] = [];
      pool.on('host:error', (event) => errors.push(event.error.message));
      try {
        // Trees large enough that one slot's background delete is still running while the others reset.
        const fill =
          'mkdir -p tree && cd tree && i=0; while [ $i -lt 1500 ]; do echo x > f$i; i=$((i+1)); done';
        for (let round = 0; round < 3; round += 1) {
          const slots = await Promise.all(Array.from({ length: context.slotsPerHost }, () => pool.acquire()));
          expect(new Set(slots.map((slot) => slot.hostId)).size).toBe(1);
          await Promise.all(slots.map((slot) => slot.exec(fill, { timeoutMs: context.timeoutMs })));
          await Promise.all(slots.map((slot) => slot.release()));
        }
        const slots = await Promise.all(Array.from({ length: context.slotsPerHost }, () => pool.acquire()));
        for (const slot of slots) expect((await slot.exec('ls -A')).stdout).toBe('');
        await Promise.all(slots.map((slot) => slot.release()));
        expect(errors).toEqual([]);
      } finally {
        await context.closePool(pool);
      }
    },
  );
}
