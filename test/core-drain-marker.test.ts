/**
 * External drain control (§13) in one real pool (local backend, real processes, the file store):
 * the marker drains and resumes a running pool, in-flight work finishes, a marker left from before
 * is honoured at start, a corrupt one drains, and close wins over a removal.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createLocalBackend,
  createPool,
  FileDrainMarkerStore,
  newDrainMarker,
  type PoolEvents,
  type PoolOptions,
  type SlotPool,
} from '@berth/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'berth-drain-marker-'));
const store = new FileDrainMarkerStore(path.join(scratch, 'home'));
const openPools = new Set<SlotPool>();
let counter = 0;

async function open(options: Partial<PoolOptions> = {}): Promise<SlotPool> {
  counter += 1;
  const pool = await createPool({
    backend: createLocalBackend({ baseDirectory: path.join(scratch, 'hosts') }),
    poolId: `drain-${process.pid}-${counter}`,
    handleSignals: false,
    persist: false,
    minHosts: 1,
    maxHosts: 1,
    slotsPerHost: 2,
    drainMarker: store,
    drainMarkerIntervalMs: 100,
    ...options,
  });
  openPools.add(pool);
  return pool;
}

afterEach(async () => {
  for (const pool of openPools) await pool.close({ forceRemove: true }).catch(() => undefined);
  openPools.clear();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function nextEvent<Name extends keyof PoolEvents>(
  pool: SlotPool,
  name: Name,
): Promise<Parameters<PoolEvents[Name]>[0]> {
  return new Promise((resolve) =>
    pool.once(name, ((event: Parameters<PoolEvents[Name]>[0]) => resolve(event)) as never),
  );
}

describe('drain marker (local backend, file store)', () => {
  it('drains a running pool (in-flight commands finish), then resumes when the marker goes', async () => {
    const pool = await open();
    const id = pool.options.poolId;
    const busy = await pool.acquire();
    const running = busy.exec('sleep 0.5; echo finished');
    const requested = nextEvent(pool, 'pool:drain-requested');
    await store.write(id, newDrainMarker('fail', 'ops@test'));
    expect(await requested).toMatchObject({ source: 'marker', mode: 'fail', principal: 'ops@test' });
    await expect(pool.acquire({ timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'POOL_DRAINING' });
    const result = await running;
    expect(result).toMatchObject({ exitCode: 0, stdout: 'finished\n' });
    await busy.release();

    const [process] = await store.listProcesses(id);
    expect(process).toMatchObject({ owner: pool.owner, draining: 'fail', drainedBy: ['marker'] });
    expect(process?.markerSeen).toBeTypeOf('string');

    const resumed = nextEvent(pool, 'pool:resumed');
    expect(await store.remove(id)).toBe(true);
    expect(await resumed).toEqual({ source: 'marker' });
    await using slot = await pool.acquire({ timeoutMs: 5_000 });
    expect((await slot.exec('echo ok')).stdout).toBe('ok\n');
  });

  it('mode wait: acquires queue while drained and are served on resume', async () => {
    const pool = await open();
    const id = pool.options.poolId;
    await store.write(id, newDrainMarker('wait'));
    await nextEvent(pool, 'pool:drain-requested');
    let served = false;
    const waiting = pool.acquire({ timeoutMs: 10_000 }).then((slot) => {
      served = true;
      return slot;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(served).toBe(false);
    await store.remove(id);
    await using slot = await waiting;
    expect((await slot.exec('echo served')).stdout).toBe('served\n');
  });

  it('a marker left from before the pool started is honoured before createPool resolves', async () => {
    counter += 1;
    const id = `drain-${process.pid}-restart-${counter}`;
    await store.write(id, newDrainMarker('fail'));
    const pool = await open({ poolId: id });
    expect(pool.stats().draining).toBe(true);
    await expect(pool.acquire()).rejects.toMatchObject({ code: 'POOL_DRAINING' });
    await store.remove(id);
  });

  it('a corrupt marker drains (fail safe), in the pool drainMode', async () => {
    const pool = await open({ drainMode: 'fail' });
    const file = store.markerPath(pool.options.poolId);
    mkdirSync(path.dirname(file), { recursive: true });
    const requested = nextEvent(pool, 'pool:drain-requested');
    writeFileSync(file, 'not json at all');
    expect(await requested).toMatchObject({ source: 'marker', mode: 'fail' });
    await expect(pool.acquire()).rejects.toMatchObject({ code: 'POOL_DRAINING' });
    rmSync(file);
  });

  it('in-process drain() and the marker compose: drained while either asks', async () => {
    const pool = await open();
    const id = pool.options.poolId;
    await pool.drain({ mode: 'fail' });
    await store.write(id, newDrainMarker('fail'));
    await nextEvent(pool, 'pool:drain-requested');
    pool.resume();
    await expect(pool.acquire()).rejects.toMatchObject({ code: 'POOL_DRAINING' });
    const resumed = nextEvent(pool, 'pool:resumed');
    await store.remove(id);
    expect(await resumed).toEqual({ source: 'marker' });
    await using slot = await pool.acquire({ timeoutMs: 5_000 });
    expect(slot.id).toBeTypeOf('string');
  });

  it('close wins: removing the marker while the pool closes never resumes it', async () => {
    const pool = await open();
    const id = pool.options.poolId;
    const busy = await pool.acquire();
    await store.write(id, newDrainMarker('wait'));
    await nextEvent(pool, 'pool:drain-requested');
    let resumed = false;
    pool.on('pool:resumed', () => (resumed = true));
    const closing = pool.close({ forceRemove: true });
    await store.remove(id);
    await new Promise((resolve) => setTimeout(resolve, 400)); // several reconcile intervals
    expect(resumed).toBe(false);
    await expect(pool.acquire()).rejects.toMatchObject({ code: 'POOL_CLOSED' });
    await busy.release();
    await closing;
    expect(await store.listProcesses(id)).toEqual([]);
  });
});
