import type { PoolEvents } from '@berth/core';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultWorld, reaperPasses } from './test-support/fault-world.js';

type Removal = Parameters<PoolEvents['host:reaped']>[0];

let world: FaultWorld;
afterEach(async () => {
  await world?.dispose();
}, 60_000);

type Removals = Removal[] & {
  /** `work`, or a failure as soon as the pool removes a host (instead of waiting forever for it). */
  unlessRemoved<T>(work: Promise<T>): Promise<T>;
};

function recordRemovals(pool: {
  on: (name: 'host:reaped' | 'host:replaced', listener: (event: Removal) => void) => unknown;
}): Removals {
  let fail: (error: Error) => void = () => {};
  const removal = new Promise<never>((_, reject) => (fail = reject));
  removal.catch(() => undefined);
  const removed = [] as Removal[] as Removals;
  Object.defineProperty(removed, 'unlessRemoved', {
    enumerable: false,
    value: <T>(work: Promise<T>) => Promise.race([work, removal]),
  });
  const record = (event: Removal) => {
    removed.push(event);
    fail(new Error(`host ${event.hostId} was removed: ${event.reason}`));
  };
  pool.on('host:reaped', record);
  pool.on('host:replaced', record);
  return removed;
}

const TEST_TIMEOUT_MS = 30_000;

describe('the reaper and the hosts of its own pool (issue 9)', () => {
  it.each([false, true])(
    'persist: %s — a 5 ms reaper never touches the 8 hosts its pool is creating, then holds',
    async (persist) => {
      world = new FaultWorld();
      const backend = world.backend();
      // Every creation stops right after the engine made the host: it exists and is listed, but the
      // pool has not laid out its workspaces nor written its claim — the window the reaper hit.
      const created = backend.faults.hold('createHost', { phase: 'after', times: 8 });
      const pool = world.pool({
        backend,
        persist,
        maxHosts: 8,
        maxConcurrentCreates: 8,
        reapIntervalMs: 5,
      });
      const removed = recordRemovals(pool);
      await pool.start();
      const acquiring = Array.from({ length: 8 }, () => pool.acquire());
      const held = await created.reached(8);
      const hostIds = held.map((call) => call.hostId!).sort();
      expect(world.hostIds()).toEqual(hostIds);
      await removed.unlessRemoved(reaperPasses(backend, 3));

      created.release();
      const slots = await removed.unlessRemoved(Promise.all(acquiring));
      await removed.unlessRemoved(reaperPasses(backend, 3));
      for (const slot of slots) {
        const result = await slot.exec('pwd && touch alive');
        expect(result.exitCode, result.stderr).toBe(0);
      }
      await removed.unlessRemoved(reaperPasses(backend, 3));
      for (const slot of slots) expect((await slot.exec('ls')).stdout).toBe('alive\n');

      expect(removed).toEqual([]);
      expect(backend.faults.callsOf('attachHost'), 'the reaper never even attached them').toEqual([]);
      expect(backend.faults.callsOf('destroy')).toEqual([]);
      expect(world.hostIds()).toEqual(hostIds);
      expect(pool.stats().hosts).toBe(8);
      for (const slot of slots) await slot.release();
    },
    TEST_TIMEOUT_MS,
  );
});

describe('two processes of one pool id (issue 9)', () => {
  it.each([false, true])(
    'persist: %s — X never reaps a host Y is creating or holds',
    async (persist) => {
      world = new FaultWorld();
      const backendX = world.backend();
      const backendY = world.backend();
      const x = world.pool({ backend: backendX, persist, minHosts: 1, maxHosts: 2, reapIntervalMs: 5 });
      const removedByX = recordRemovals(x);
      await x.start();
      const xHost = x.hostsOf()[0]!.id;

      const yCreate = backendY.faults.hold('createHost', { phase: 'after' });
      const y = world.pool({ backend: backendY, persist, minHosts: 1, maxHosts: 2 });
      const yStarted = y.start();
      const [creation] = await yCreate.reached();
      const yHost = creation!.hostId!;
      await removedByX.unlessRemoved(reaperPasses(backendX, 3)); // X looks at Y's host while Y is still creating it

      yCreate.release();
      await removedByX.unlessRemoved(yStarted);
      const slot = await y.acquire();
      await slot.exec('echo mine > file');
      await removedByX.unlessRemoved(reaperPasses(backendX, 3)); // …and while Y holds it
      expect((await slot.exec('cat file')).stdout).toBe('mine\n');
      await slot.release();

      expect(removedByX).toEqual([]);
      expect(backendX.faults.callsOf('destroy', { hostId: yHost })).toEqual([]);
      expect(backendX.faults.callsOf('removeHost')).toEqual([]);
      expect(world.hostIds()).toEqual([xHost, yHost].sort());
      expect(y.hostsOf().map((host) => host.id)).toEqual([yHost]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'persist: X (maxHosts 2, holding 1) keeps the warm host Y just created and closed; the next process adopts it',
    async () => {
      world = new FaultWorld();
      const backendX = world.backend();
      const x = world.pool({ backend: backendX, persist: true, minHosts: 1, maxHosts: 2, reapIntervalMs: 5 });
      const removedByX = recordRemovals(x);
      await x.start();
      const xHost = x.hostsOf()[0]!.id;

      const y = world.pool({ backend: world.backend(), persist: true, minHosts: 1, maxHosts: 2 });
      await y.start();
      const yHost = y.hostsOf()[0]!.id;
      await y.close();
      expect(world.claimText(yHost)).toMatch(/ released$/);
      await removedByX.unlessRemoved(reaperPasses(backendX, 5));

      expect(removedByX).toEqual([]);
      expect(backendX.faults.callsOf('destroy')).toEqual([]);
      expect(world.hostIds()).toEqual([xHost, yHost].sort());

      const adopted: string[] = [];
      const z = world.pool({ backend: world.backend(), persist: true, minHosts: 1, maxHosts: 1 });
      z.on('host:adopted', (event) => adopted.push(event.hostId));
      await z.start();
      expect(adopted).toEqual([yHost]);
      expect(x.hostsOf().map((host) => host.id)).toEqual([xHost]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'persist: a released host nobody claims for longer than idleTimeoutMs is reaped at last',
    async () => {
      world = new FaultWorld();
      const x = world.pool({
        backend: world.backend(),
        persist: true,
        minHosts: 1,
        maxHosts: 1,
        idleTimeoutMs: 50,
        reapIntervalMs: 5,
      });
      const reaped = new Promise<Removal>((resolve) => x.on('host:reaped', resolve));
      await x.start();
      const xHost = x.hostsOf()[0]!.id;

      const y = world.pool({ backend: world.backend(), persist: true, minHosts: 1, maxHosts: 2 });
      await y.start();
      const yHost = y.hostsOf()[0]!.id;
      await y.close();

      expect(await reaped).toMatchObject({ hostId: yHost, reason: 'unclaimed longer than idleTimeoutMs' });
      expect(world.hostIds()).toEqual([xHost]);
    },
    TEST_TIMEOUT_MS,
  );
});
