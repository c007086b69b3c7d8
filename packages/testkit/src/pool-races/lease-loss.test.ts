import { BerthError, type PoolEvents } from '@berth/core';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultWorld, until } from './test-support/fault-world.js';

type Lost = Parameters<PoolEvents['host:lost']>[0];

let world: FaultWorld;
afterEach(async () => {
  await world?.dispose();
}, 60_000);

/** True once the host's claim (held, not released) has lapsed by more than `graceMs`. */
function claimLapsed(hostId: string, graceMs: number): boolean {
  const [, expires, state] = world.claimText(hostId).split(' ');
  return state === undefined && Number(expires) + graceMs < Date.now();
}

/**
 * Process A holds a host with a short lease, then is "paused" (its channels stop moving: nothing it
 * sends reaches the host, so it renews nothing). Its claim lapses; process B starts and adopts the host.
 */
async function pausedPastTheTtlWhileAnotherAdopts() {
  world = new FaultWorld();
  const backendA = world.backend();
  const backendB = world.backend();
  const a = world.pool({
    backend: backendA,
    persist: true,
    minHosts: 1,
    leaseTtlMs: 40,
    reapGraceMs: 1,
    reapIntervalMs: 3_600_000,
  });
  const lostOnA: Lost[] = [];
  a.on('host:lost', (event) => lostOnA.push(event));
  await a.start();
  const hostId = a.hostsOf()[0]!.id;
  const slotA = await a.acquire();
  expect((await slotA.exec('echo a')).stdout).toBe('a\n');

  backendA.faults.pause(hostId);
  await until(() => claimLapsed(hostId, 1));

  const b = world.pool({ backend: backendB, persist: true, minHosts: 1, reapGraceMs: 1 });
  const adoptedByB: string[] = [];
  b.on('host:adopted', (event) => adoptedByB.push(event.hostId));
  await b.start();
  expect(adoptedByB).toEqual([hostId]);
  expect(world.claimText(hostId)).toMatch(/^\S+ \d+$/);
  return { a, b, backendA, backendB, hostId, slotA, lostOnA };
}

describe('a lost claim (issue 9)', () => {
  it('A, resumed, drops the host (its lease fails with HOST_LOST) and never destroys what B adopted', async () => {
    const { a, b, backendA, hostId, slotA, lostOnA } = await pausedPastTheTtlWhileAnotherAdopts();
    const lost = new Promise<Lost>((resolve) => a.once('host:lost', resolve));
    backendA.faults.resume(hostId);
    // A's next renewal finds B's claim.
    const event = await lost;
    expect(event.hostId).toBe(hostId);
    expect(event.reason).toMatch(/took it over after this pool's claim lapsed/);
    expect(lostOnA).toHaveLength(1);

    const error = await slotA.exec('echo again').then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(BerthError.hasCode(error, 'HOST_LOST'), String(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(/took it over/);
    expect(backendA.faults.callsOf('destroy', { hostId })).toEqual([]);
    expect(world.hostIds()).toContain(hostId);

    // B's lease works on the host it adopted.
    const slotB = await b.acquire();
    expect(slotB.hostId).toBe(hostId);
    expect((await slotB.exec('echo b')).stdout).toBe('b\n');
    await slotB.release();
    expect(a.hostsOf().map((host) => host.id)).not.toContain(hostId);
  }, 30_000);

  it('A woken mid-lease neither resets the workspace B now uses nor removes the host at close({ forceRemove })', async () => {
    const { a, b, backendA, hostId, slotA } = await pausedPastTheTtlWhileAnotherAdopts();
    const slotB = await b.acquire();
    expect(slotB.workspace).toBe(slotA.workspace);
    await slotB.exec('echo b > b-was-here');
    // A releases (reset: true, the default) and closes right as it wakes, before its next renewal.
    const releasing = slotA.release().catch(() => undefined);
    backendA.faults.resume(hostId);
    await releasing;
    await a.close({ forceRemove: true });

    expect(backendA.faults.callsOf('destroy', { hostId })).toEqual([]);
    expect(world.hostIds()).toContain(hostId);
    expect((await slotB.exec('cat b-was-here')).stdout).toBe('b\n');
    await slotB.release();
  }, 30_000);

  it('A woken mid-lease: its next command fails with HOST_LOST instead of running in the workspace B now uses', async () => {
    const { b, backendA, hostId, slotA } = await pausedPastTheTtlWhileAnotherAdopts();
    const slotB = await b.acquire();
    await slotB.exec('echo b > b-was-here');
    backendA.faults.resume(hostId);
    // Right after waking, before A's renewal timer: the command confirms the claim first.
    const error = await slotA.exec('rm -f b-was-here').then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(BerthError.hasCode(error, 'HOST_LOST'), String(error)).toBe(true);
    expect((await slotB.exec('cat b-was-here')).stdout).toBe('b\n');
    await slotB.release();
  }, 30_000);
});
