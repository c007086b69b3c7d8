import { spawnSync } from 'node:child_process';
import {
  BACKEND_SPECIFICATION_V1,
  buildHostLabels,
  CURRENT_OWNER,
  type HostV1,
  hashSpec,
  type PoolEvents,
  type SlotPool,
} from '@berth/core';
import { expect } from 'vitest';
import type { ConformanceContext } from './conformance-context.js';

type Recorded = { [K in keyof PoolEvents]?: Parameters<PoolEvents[K]>[0][] };

/** Subscribes to the start-up events a lifecycle test asserts on. */
function recorder<Spec>(): { events: Recorded; attach: (pool: SlotPool<Spec>) => void } {
  const events: Recorded = {};
  const names = [
    'host:created',
    'host:adopted',
    'host:replaced',
    'host:reaped',
    'host:lost',
    'host:error',
  ] as const;
  return {
    events,
    attach: (pool) => {
      for (const name of names) {
        // biome-ignore lint/suspicious/noExplicitAny: one recorder for every event shape
        pool.on(name, (event: any) => {
          const byName = events as Record<string, unknown[]>;
          byName[name] = [...(byName[name] ?? []), event];
        });
      }
    },
  };
}

/** Backend spec, persistence (adopt, replace, reap). */
export function registerLifecycleContract<Spec>(context: ConformanceContext<Spec>): void {
  const test = context.test.bind(context);
  const noPersistence = context.hasPersistence
    ? undefined
    : 'backend capabilities.persistence is false (no listHosts/attachHost)';

  /** Creates a host straight through the backend, labelled as core would for `poolId`. */
  const createRawHost = async (poolId: string, owner: string): Promise<HostV1> => {
    const backend = context.options.createBackend();
    const spec = backend.resolveHostSpec(context.options.host, 'host');
    return backend.createHost({
      profile: 'default',
      spec,
      slotCount: context.slotsPerHost,
      labels: buildHostLabels({
        poolId,
        profile: 'default',
        specHash: hashSpec(spec, context.slotsPerHost),
        owner,
      }),
    });
  };

  test(
    'backendSpec',
    "specificationVersion is 'berth-backend-v1'; destroy and disconnect are idempotent",
    async () => {
      const backend = context.options.createBackend();
      expect(backend.specificationVersion).toBe(BACKEND_SPECIFICATION_V1);
      expect(typeof backend.backendId).toBe('string');
      for (const flag of ['persistence', 'archive', 'oneShotExec', 'hostLossEvents', 'stopStart'] as const) {
        expect(typeof backend.capabilities[flag]).toBe('boolean');
      }
      const poolId = context.newPoolId();
      const host = await createRawHost(poolId, CURRENT_OWNER);
      try {
        expect(host.id).toBeTruthy();
        expect(host.workspaceRoot.startsWith('/')).toBe(true);
        expect((await host.health()).alive).toBe(true);
        await host.disconnect();
        await host.disconnect();
        if (context.canCountHosts) expect(await context.countHosts(poolId)).toBe(1);
      } finally {
        await host.destroy({ force: true });
        await host.destroy({ force: true });
      }
      const after = await host.health().catch(() => ({ alive: false }));
      expect(after.alive).toBe(false);
      if (context.canCountHosts) expect(await context.countHosts(poolId)).toBe(0);
      await backend.dispose?.();
      await backend.dispose?.();
    },
  );

  test(
    'persistence',
    'a restarted pool with the same id and spec adopts the host',
    async () => {
      const poolId = context.newPoolId();
      const first = await context.openPool({ poolId, persist: true, minHosts: 1 });
      const hostId = await first.acquire().then(async (slot) => {
        await slot.exec('echo warm > warm.txt');
        await slot.release({ reset: false });
        return slot.hostId;
      });
      await context.closePool(first, false);
      expect(await context.countHosts(poolId)).toBe(1);

      const { events, attach } = recorder<Spec>();
      const second = await context.openPool({ poolId, persist: true, minHosts: 1 }, attach);
      try {
        expect(events['host:adopted']?.map((event) => event.hostId)).toEqual([hostId]);
        expect(events['host:created'] ?? []).toEqual([]);
        const slot = await second.acquire();
        expect(slot.hostId).toBe(hostId);
        expect((await slot.exec('echo ok')).stdout).toBe('ok\n');
        await slot.release();
      } finally {
        await context.closePool(second, true);
      }
      expect(await context.countHosts(poolId)).toBe(0);
    },
    noPersistence,
  );

  test(
    'specChange',
    'a restarted pool with a different spec replaces the host instead of adopting it',
    async () => {
      const poolId = context.newPoolId();
      const first = await context.openPool({ poolId, persist: true, minHosts: 1 });
      const oldHostId = first.hostsOf()[0]?.id;
      expect(oldHostId).toBeDefined();
      await context.closePool(first, false);

      const { events, attach } = recorder<Spec>();
      const second = await context.openPool(
        { poolId, persist: true, minHosts: 1, slotsPerHost: context.slotsPerHost + 1 },
        attach,
      );
      try {
        expect(events['host:adopted'] ?? []).toEqual([]);
        expect(events['host:replaced']?.map((event) => event.hostId)).toEqual([oldHostId]);
        expect(events['host:created']).toHaveLength(1);
        const slot = await second.acquire();
        expect(slot.hostId).not.toBe(oldHostId);
        await slot.release();
        expect(await context.countHosts(poolId)).toBe(1);
      } finally {
        await context.closePool(second, true);
      }
      expect(await context.countHosts(poolId)).toBe(0);
    },
    noPersistence,
  );

  test(
    'reaping',
    'a persist: false pool reaps released and orphaned hosts of its pool id at start',
    async () => {
      const poolId = context.newPoolId();
      // A host released by a pool that closed normally (persist mode)…
      const first = await context.openPool({ poolId, persist: true, minHosts: 1 });
      const releasedHostId = first.hostsOf()[0]?.id;
      await context.closePool(first, false);
      // …and one left by a process that died without any cleanup.
      const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
      const deadOwner = `${CURRENT_OWNER.split('.')[0]}.${deadPid}.1`;
      const orphan = await createRawHost(poolId, deadOwner);
      await orphan.disconnect();
      expect(await context.countHosts(poolId)).toBe(2);

      const { events, attach } = recorder<Spec>();
      const reaper = await context.openPool({ poolId, persist: false, minHosts: 0 }, attach);
      try {
        expect(events['host:reaped']?.map((event) => event.hostId).sort()).toEqual(
          [releasedHostId, orphan.id].sort(),
        );
        expect(events['host:adopted'] ?? []).toEqual([]);
        expect(await context.countHosts(poolId)).toBe(0);
      } finally {
        await context.closePool(reaper, true);
      }
    },
    noPersistence,
  );
}
