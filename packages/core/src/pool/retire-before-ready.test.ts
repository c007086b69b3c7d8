import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackendV1, HostV1 } from '../backend/v1/types.js';
import { poolSelector } from '../host/labels.js';
import { createLocalBackend } from '../local/create-local-backend.js';
import { SlotPool } from './slot-pool.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'berth-retire-early-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/**
 * A host whose backend retires it the moment core subscribes — before `prepare`, the claim or the
 * adoption scrub finish — as a node watch does with a node it already knows is draining.
 */
function retiredOnSubscribe(host: HostV1, reason: string): HostV1 {
  return Object.assign(Object.create(host) as HostV1, {
    onRetire(listener: (why: string) => void) {
      listener(reason);
      return () => undefined;
    },
  });
}

/** The local backend; hosts it creates (`retireCreated`) or attaches (`retireAttached`) come retired. */
function backendRetiring(options: { retireCreated: boolean; retireAttached: boolean }): BackendV1 {
  const local = createLocalBackend({ baseDirectory: base }) as BackendV1;
  return {
    ...local,
    async createHost(request, callOptions) {
      const host = await local.createHost(request, callOptions);
      return options.retireCreated ? retiredOnSubscribe(host, 'its node n1 is draining') : host;
    },
    async attachHost(descriptor, callOptions) {
      const host = await local.attachHost!(descriptor, callOptions);
      return options.retireAttached ? retiredOnSubscribe(host, 'its node n2 is draining') : host;
    },
  };
}

function events(pool: SlotPool): string[] {
  const seen: string[] = [];
  pool.on('host:retiring', (event) => seen.push(`retiring ${event.hostId}: ${event.reason}`));
  pool.on('host:removed', (event) => seen.push(`removed ${event.hostId}: ${event.reason}`));
  return seen;
}

describe('a host retired before it joined the pool', () => {
  it('is retired (not leased, replaced, removed) when the retirement came during creation', async () => {
    let created = 0;
    const backend = backendRetiring({ retireCreated: false, retireAttached: false });
    const wrapped: BackendV1 = {
      ...backend,
      async createHost(request, callOptions) {
        created += 1;
        const host = await backend.createHost(request, callOptions);
        return created === 1 ? retiredOnSubscribe(host, 'its node n1 is draining') : host;
      },
    };
    const pool = new SlotPool({
      backend: wrapped,
      handleSignals: false,
      persist: false,
      profiles: { default: { slotsPerHost: 1, minHosts: 1, maxHosts: 1 } },
      acquireTimeoutMs: 20_000,
    });
    const seen = events(pool);
    await pool.start();
    try {
      const lease = await pool.acquire();
      // The lease is on a second host: the first was retired while it was prepared, so it did not
      // count toward maxHosts 1 and was removed, idle.
      expect(created).toBe(2);
      const retired = seen.find((event) => event.startsWith('retiring'));
      expect(retired).toMatch(/: its node n1 is draining$/);
      expect(retired).not.toContain(lease.hostId);
      await waitUntil(() => seen.some((event) => event.startsWith('removed')));
      expect(pool.hosts().map((host) => host.id)).toEqual([lease.hostId]);
      await lease.release();
    } finally {
      await pool.close({ forceRemove: true, timeoutMs: 10_000 });
    }
  }, 30_000);

  it('is retired when the retirement came while it was adopted', async () => {
    const profiles = { default: { slotsPerHost: 1, minHosts: 1, maxHosts: 1 } };
    const poolId = 'retire-adopt';
    const before = await new SlotPool({
      backend: backendRetiring({ retireCreated: false, retireAttached: false }),
      poolId,
      handleSignals: false,
      persist: true,
      profiles,
    }).start();
    const persisted = before.hosts().map((host) => host.id);
    expect(persisted).toHaveLength(1);
    await before.close({ timeoutMs: 10_000 });

    const backend = backendRetiring({ retireCreated: false, retireAttached: true });
    const after = new SlotPool({ backend, poolId, handleSignals: false, persist: true, profiles });
    const seen = events(after);
    await after.start();
    try {
      // Adopted, then retired at once (its node drains): a fresh host replaces it.
      await waitUntil(() => seen.some((event) => event.startsWith(`removed ${persisted[0]}`)));
      expect(seen).toContain(`retiring ${persisted[0]}: its node n2 is draining`);
      await waitUntil(() => after.hosts().length === 1);
      expect(after.hosts()[0]?.id).not.toBe(persisted[0]);
    } finally {
      await after.close({ forceRemove: true, timeoutMs: 10_000 });
    }
    expect((await backend.listHosts!(poolSelector(poolId))).map((host) => host.id)).toEqual([]);
  }, 30_000);

  it('is removed, not kept, when a persisting pool closes', async () => {
    const poolId = 'retire-persist-close';
    const listeners = new Set<(reason: string) => void>();
    const local = createLocalBackend({ baseDirectory: base }) as BackendV1;
    const backend: BackendV1 = {
      ...local,
      async createHost(request, callOptions) {
        const host = await local.createHost(request, callOptions);
        return Object.assign(Object.create(host) as HostV1, {
          onRetire(listener: (reason: string) => void) {
            listeners.add(listener);
            return () => listeners.delete(listener);
          },
        });
      },
    };
    const pool = await new SlotPool({
      backend,
      poolId,
      handleSignals: false,
      persist: true,
      profiles: { default: { slotsPerHost: 1, minHosts: 0, maxHosts: 2 } },
    }).start();
    const seen = events(pool);
    const lease = await pool.acquire();
    for (const listener of listeners) listener('its node n1 is unreachable');
    expect(seen).toEqual([`retiring ${lease.hostId}: its node n1 is unreachable`]);
    // Still leased when the pool closes: persisting must not keep it for the next process.
    await pool.close({ timeoutMs: 0 });
    expect((await backend.listHosts!(poolSelector(poolId))).map((host) => host.id)).not.toContain(
      lease.hostId,
    );
  }, 30_000);
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 400 && !condition(); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  expect(condition()).toBe(true);
}
