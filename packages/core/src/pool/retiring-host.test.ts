import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackendV1, HostV1 } from '../backend/v1/types.js';
import { createLocalBackend } from '../local/create-local-backend.js';
import { SlotPool } from './slot-pool.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'berth-retire-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** The local backend, with a way for the test to retire a host as a backend would (a node drains). */
function retirableBackend() {
  const local = createLocalBackend({ baseDirectory: base }) as BackendV1;
  const retire = new Map<string, (reason: string) => void>();
  const backend: BackendV1 = {
    ...local,
    async createHost(request, options) {
      const host = await local.createHost(request, options);
      const listeners = new Set<(reason: string) => void>();
      retire.set(host.id, (reason) => {
        for (const listener of listeners) listener(reason);
      });
      return Object.assign(Object.create(host) as HostV1, {
        onRetire(listener: (reason: string) => void) {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      });
    },
  };
  return { backend, retire };
}

describe('a host its backend retires (node drain, node unreachable)', () => {
  it('takes no new lease, stops counting toward maxHosts, is replaced, keeps its leases running, and goes once idle', async () => {
    const { backend, retire } = retirableBackend();
    const pool = await new SlotPool({
      backend,
      handleSignals: false,
      persist: false,
      profiles: { default: { slotsPerHost: 2, minHosts: 1, maxHosts: 1 } },
      acquireTimeoutMs: 20_000,
    }).start();
    const events: string[] = [];
    pool.on('host:retiring', (event) => events.push(`retiring ${event.hostId}: ${event.reason}`));
    pool.on('host:removed', (event) => events.push(`removed ${event.hostId}: ${event.reason}`));
    try {
      const leased = await pool.acquire();
      const first = leased.hostId;
      retire.get(first)!('its node n1 is draining');
      expect(events).toEqual([`retiring ${first}: its node n1 is draining`]);

      // The second slot of the retired host is free, but the next lease lands on its replacement,
      // although maxHosts is 1: a retired host does not count.
      const next = await pool.acquire();
      expect(next.hostId).not.toBe(first);

      // Its lease still shows, in stats and in hosts(), marked as retiring.
      const stats = pool.stats();
      expect(stats.slots.acquired).toBe(2);
      expect(stats.profiles.default).toMatchObject({ hosts: 1, retiring: 1 });
      expect(pool.hosts().find((host) => host.id === first)?.retiring).toBe('its node n1 is draining');
      expect(pool.hosts().find((host) => host.id === next.hostId)?.retiring).toBeUndefined();

      // The lease on the retired host still runs commands.
      const result = await leased.exec('echo still-here');
      expect(result.stdout.trim()).toBe('still-here');
      expect(events.some((event) => event.startsWith('removed'))).toBe(false);

      await leased.release();
      await waitUntil(() => events.some((event) => event.startsWith(`removed ${first}`)));
      expect(events.find((event) => event.startsWith('removed'))).toBe(
        `removed ${first}: retired: its node n1 is draining`,
      );
      expect(pool.hosts().map((host) => host.id)).toEqual([next.hostId]);
      await next.release();
    } finally {
      await pool.close({ forceRemove: true, timeoutMs: 10_000 });
    }
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 200 && !condition(); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  expect(condition()).toBe(true);
}
