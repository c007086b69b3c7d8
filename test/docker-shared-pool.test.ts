/**
 * Issue 9 on the real dockerd: two processes of one pool id. Pool X (persist, maxHosts 2, holding one
 * container, reaper every 50 ms) used to reap the warm container process Y had just created and
 * closed ("more hosts than maxHosts"), and any container Y was still creating. X's backend is wrapped
 * in the testkit's fault backend only to count its reaper's passes and hold Y's creation.
 */
import { createDockerBackend } from '@berth/backend-docker';
import { buildHostLabels, type PoolEvents, SlotPool } from '@berth/core';
import { createFaultBackend } from '@berth/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  BUSYBOX,
  BUSYBOX_HOST,
  containersOf,
  docker,
  removeContainers,
  startChild,
  uniquePoolId,
} from './fixtures/docker-pool-helpers.js';

type Removal = Parameters<PoolEvents['host:reaped']>[0];
type DockerFaultBackend = ReturnType<typeof faultDocker>;

const usedPoolIds = new Set<string>();
const openPools = new Set<SlotPool>();

function faultDocker() {
  return createFaultBackend(createDockerBackend());
}

/** slotsPerHost 2: the same spec as the child fixture's pools, so their containers are ours to judge. */
async function openPool(poolId: string, backend: DockerFaultBackend, options: Record<string, unknown>) {
  usedPoolIds.add(poolId);
  const pool = new SlotPool({
    backend,
    poolId,
    handleSignals: false,
    persist: true,
    slotsPerHost: 2,
    host: BUSYBOX_HOST,
    ...options,
  });
  openPools.add(pool as SlotPool);
  const removed: Removal[] = [];
  pool.on('host:reaped', (event) => removed.push(event));
  pool.on('host:replaced', (event) => removed.push(event));
  await pool.start();
  return { pool, removed };
}

async function reaperPasses(backend: DockerFaultBackend, count: number): Promise<void> {
  const done = backend.faults.callsOf('listHosts', { phase: 'after' }).length;
  await backend.faults.waitFor('listHosts', done + count + 1, { phase: 'after' });
}

afterEach(async () => {
  for (const pool of openPools) await pool.close({ forceRemove: true }).catch(() => undefined);
  openPools.clear();
});

afterAll(async () => {
  const left: string[] = [];
  for (const id of usedPoolIds) left.push(...(await containersOf(id)));
  await removeContainers(left);
  expect(left, 'containers left behind').toEqual([]);
});

describe('two processes of one pool id on Docker (issue 9)', () => {
  it('X (maxHosts 2, holding 1) keeps the warm container a child process just created and closed; the next process adopts it', async () => {
    const poolId = uniquePoolId('shared');
    const backendX = faultDocker();
    const x = await openPool(poolId, backendX, { minHosts: 1, maxHosts: 2, reapIntervalMs: 50 });
    const xHost = x.pool.hostsOf()[0]!.id;

    const child = await startChild(poolId, true, 'exit', 1);
    expect(child.exitCode).toBe(0);
    const [yHost] = child.report.hostIds;
    expect(yHost).toBeDefined();
    expect(yHost).not.toBe(xHost);
    await reaperPasses(backendX, 5);

    expect(x.removed).toEqual([]);
    expect(backendX.faults.callsOf('destroy', { hostId: yHost! })).toEqual([]);
    expect(await containersOf(poolId, 'running')).toEqual([xHost, yHost!].sort());

    const z = await openPool(poolId, faultDocker(), { minHosts: 1, maxHosts: 1 });
    expect(z.pool.hostsOf().map((host) => host.id)).toEqual([yHost]);
    const slot = await z.pool.acquire();
    expect((await slot.exec('echo warm')).stdout).toBe('warm\n');
    await slot.release();
  }, 120_000);

  it('X never reaps the container another pool of the id is creating, then holds', async () => {
    const poolId = uniquePoolId('shared-live');
    const backendX = faultDocker();
    const x = await openPool(poolId, backendX, { minHosts: 1, maxHosts: 2, reapIntervalMs: 50 });

    const backendY = faultDocker();
    const creating = backendY.faults.hold('createHost', { phase: 'after' });
    const yStarting = openPool(poolId, backendY, { minHosts: 1, maxHosts: 2 });
    const [call] = await creating.reached();
    const yHost = call!.hostId!;
    await reaperPasses(backendX, 3);
    creating.release();
    const y = await yStarting;
    const slot = await y.pool.acquire();
    await slot.exec('echo mine > file');
    await reaperPasses(backendX, 3);
    expect((await slot.exec('cat file')).stdout).toBe('mine\n');
    await slot.release();

    expect(x.removed).toEqual([]);
    expect(backendX.faults.callsOf('attachHost', { hostId: yHost }).length).toBeGreaterThan(0);
    expect(backendX.faults.callsOf('destroy', { hostId: yHost })).toEqual([]);
    expect(await containersOf(poolId, 'running')).toContain(yHost);
  }, 120_000);

  it('a container another live pool of the id is creating (Docker state `created`) is not replaced for its other spec', async () => {
    const poolId = uniquePoolId('shared-created');
    const backendX = faultDocker();
    const x = await openPool(poolId, backendX, { minHosts: 1, maxHosts: 2, reapIntervalMs: 50 });
    // A live pool of another configuration (say, the next deploy) mid-create: labelled, not started.
    const other = await openPool(poolId, faultDocker(), { minHosts: 1, maxHosts: 2, slotsPerHost: 3 });
    const otherHost = other.pool.hostsOf()[0]!.id;
    const otherOwner = await docker('inspect', '-f', '{{index .Config.Labels "berth.owner"}}', otherHost);
    expect(otherOwner).toMatch(/^\S+\.\d+\.\d+\.\d+$/);
    const labels = buildHostLabels({
      poolId,
      profile: 'default',
      specHash: 'another-spec',
      owner: otherOwner,
    });
    const labelArgs = Object.entries({ ...labels, 'berth.backend': 'docker' }).flatMap(([key, value]) => [
      '--label',
      `${key}=${value}`,
    ]);
    const creating = await docker('create', '--network', 'none', ...labelArgs, BUSYBOX, 'sleep', '600');
    await reaperPasses(backendX, 3);
    expect(x.removed).toEqual([]);
    expect(await containersOf(poolId)).toEqual([x.pool.hostsOf()[0]!.id, otherHost, creating].sort());
    await removeContainers([creating]);
  }, 120_000);
});
