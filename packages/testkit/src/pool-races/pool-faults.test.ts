import { AuthenticationError, BerthError, CapacityError, type PoolEvents } from '@berth/core';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultWorld } from './test-support/fault-world.js';

type HostErrorEvent = Parameters<PoolEvents['host:error']>[0];

let world: FaultWorld;
afterEach(async () => {
  await world?.dispose();
}, 60_000);

async function rejection(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

describe('SlotPool and its fleet under backend faults', () => {
  it('a failed create (CAPACITY with retryAfterMs) is reported, retried, and the waiter served', async () => {
    world = new FaultWorld();
    const backend = world.backend();
    backend.faults.fail('createHost', () => new CapacityError('engine quota reached', 20));
    const pool = world.pool({ backend });
    const errors: HostErrorEvent[] = [];
    pool.on('host:error', (event) => errors.push(event));
    await pool.start();
    const slot = await pool.acquire();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ operation: 'create', durationMs: expect.any(Number) });
    expect(BerthError.hasCode(errors[0]!.error, 'CAPACITY')).toBe(true);
    expect((errors[0]!.error as CapacityError).retryAfterMs).toBe(20);
    expect(backend.faults.callsOf('createHost')).toHaveLength(2);
    expect((await slot.exec('echo ok')).stdout).toBe('ok\n');
    await slot.release();
    expect(world.hostIds()).toHaveLength(1);
  }, 30_000);

  it('a create that fails for good (AUTHENTICATION) fails the waiting acquire with that error', async () => {
    world = new FaultWorld();
    const backend = world.backend();
    backend.faults.fail('createHost', () => new AuthenticationError('bad token'), { times: Infinity });
    const pool = world.pool({ backend });
    await pool.start();
    const error = await rejection(pool.acquire());
    expect(BerthError.hasCode(error, 'AUTHENTICATION')).toBe(true);
    expect(world.hostIds()).toEqual([]);
  }, 30_000);

  it('a host whose shell cannot be opened while it is set up is removed, then replaced', async () => {
    world = new FaultWorld();
    const backend = world.backend();
    backend.faults.fail('openChannel', new Error('exec refused'));
    const pool = world.pool({ backend });
    await pool.start();
    const slot = await pool.acquire();
    const [first, second] = backend.faults.callsOf('createHost', { phase: 'after' });
    expect(second?.hostId).toBe(slot.hostId);
    expect(backend.faults.callsOf('destroy', { hostId: first!.hostId! })).toHaveLength(1);
    expect(world.hostIds()).toEqual([slot.hostId]);
    await slot.release();
  }, 30_000);

  it('a host that vanishes while it is being created is removed and replaced; the waiter is served', async () => {
    world = new FaultWorld();
    const backend = world.backend();
    const creating = backend.faults.hold('createHost', { phase: 'after' });
    const pool = world.pool({ backend });
    const errors: HostErrorEvent[] = [];
    pool.on('host:error', (event) => errors.push(event));
    await pool.start();
    const acquiring = pool.acquire();
    const [call] = await creating.reached();
    await backend.faults.vanish(call!.hostId!);
    creating.release();
    const slot = await acquiring;
    expect(slot.hostId).not.toBe(call!.hostId);
    expect(errors.length).toBeGreaterThan(0);
    expect((await slot.exec('echo ok')).stdout).toBe('ok\n');
    expect(world.hostIds()).toEqual([slot.hostId]);
    await slot.release();
  }, 30_000);

  it('close() while a create is held leaves no host behind', async () => {
    world = new FaultWorld();
    const backend = world.backend();
    const creating = backend.faults.hold('createHost', { phase: 'after' });
    const pool = world.pool({ backend, persist: true });
    await pool.start();
    const acquiring = rejection(pool.acquire());
    await creating.reached();
    expect(world.hostIds()).toHaveLength(1);
    await pool.close();
    expect(BerthError.hasCode(await acquiring, 'POOL_CLOSED')).toBe(true);
    expect(world.hostIds()).toEqual([]);
  }, 30_000);

  it('a host that vanishes while leased: HOST_LOST for its lease, a replacement for the next', async () => {
    world = new FaultWorld();
    const backend = world.backend();
    const pool = world.pool({ backend, minHosts: 1 });
    await pool.start();
    const slot = await pool.acquire();
    const lost = new Promise<string>((resolve) => pool.once('host:lost', (event) => resolve(event.hostId)));
    await backend.faults.vanish(slot.hostId, 'the node was drained');
    expect(await lost).toBe(slot.hostId);
    const error = await rejection(slot.exec('true'));
    expect(BerthError.hasCode(error, 'HOST_LOST')).toBe(true);
    expect(String(error)).toMatch(/the node was drained/);
    await slot.release();
    const next = await pool.acquire();
    expect(next.hostId).not.toBe(slot.hostId);
    expect((await next.exec('echo ok')).stdout).toBe('ok\n');
    await next.release();
  }, 30_000);
});

describe('runCommand under backend faults', () => {
  it('a host vanishing mid-command rejects the exec with HOST_LOST', async () => {
    world = new FaultWorld();
    const backend = world.backend();
    const pool = world.pool({ backend, minHosts: 1 });
    await pool.start();
    const slot = await pool.acquire();
    const stream = slot.execStream('echo started; sleep 30');
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    await backend.faults.vanish(slot.hostId);
    const error = await rejection(stream.result);
    expect(BerthError.hasCode(error, 'HOST_LOST')).toBe(true);
    await slot.release();
  }, 30_000);

  it('a transport dropped between commands is reopened: the next command on the slot runs', async () => {
    world = new FaultWorld();
    const backend = world.backend();
    const pool = world.pool({ backend, minHosts: 1 });
    const lost: string[] = [];
    pool.on('host:lost', (event) => lost.push(event.hostId));
    await pool.start();
    const slot = await pool.acquire();
    expect((await slot.exec('echo one')).stdout).toBe('one\n');
    const opened = backend.faults.callsOf('openChannel').length;
    await backend.faults.dropTransport(slot.hostId);
    expect((await slot.exec('echo two')).stdout).toBe('two\n');
    expect(backend.faults.callsOf('openChannel').length).toBeGreaterThan(opened);
    expect(lost).toEqual([]);
    await slot.release();
  }, 30_000);

  it('a transport dropped mid-command fails that command with a retryable error; the slot goes on', async () => {
    world = new FaultWorld();
    const backend = world.backend();
    const pool = world.pool({ backend, minHosts: 1 });
    const lost: string[] = [];
    pool.on('host:lost', (event) => lost.push(event.hostId));
    await pool.start();
    const slot = await pool.acquire();
    const stream = slot.execStream('echo started; sleep 30');
    await stream[Symbol.asyncIterator]().next();
    await backend.faults.dropTransport(slot.hostId);
    const error = await rejection(stream.result);
    expect(BerthError.isInstance(error) && error.retryable, String(error)).toBe(true);
    expect(BerthError.hasCode(error, 'HOST_LOST'), 'the host is fine').toBe(false);
    expect((await slot.exec('echo again')).stdout).toBe('again\n');
    expect(lost).toEqual([]);
    await slot.release();
  }, 30_000);
});

describe('adoption under backend faults', () => {
  it('two processes starting at once over one released host: exactly one adopts it', async () => {
    world = new FaultWorld();
    const seed = world.pool({ backend: world.backend(), persist: true, minHosts: 1 });
    await seed.start();
    const warm = seed.hostsOf()[0]!.id;
    await seed.close();

    const backendA = world.backend();
    const backendB = world.backend();
    // B reaches the host first but is held after attaching, until A has adopted it.
    const bAttached = backendB.faults.hold('attachHost', { phase: 'after' });
    const a = world.pool({ backend: backendA, persist: true, minHosts: 1 });
    const b = world.pool({ backend: backendB, persist: true, minHosts: 1 });
    const adopted: Record<string, string[]> = { a: [], b: [] };
    a.on('host:adopted', (event) => adopted.a!.push(event.hostId));
    b.on('host:adopted', (event) => adopted.b!.push(event.hostId));
    const bStarted = b.start();
    await bAttached.reached();
    await a.start();
    bAttached.release();
    await bStarted;

    expect(adopted).toEqual({ a: [warm], b: [] });
    expect(a.hostsOf().map((host) => host.id)).toEqual([warm]);
    const [bHost] = b.hostsOf().map((host) => host.id);
    expect(bHost).toBeDefined();
    expect(bHost).not.toBe(warm);
    expect(backendB.faults.callsOf('destroy', { hostId: warm })).toEqual([]);
    expect(world.hostIds()).toEqual([warm, bHost!].sort());
  }, 30_000);

  it('a host vanishing while it is being adopted is skipped; the pool creates its own', async () => {
    world = new FaultWorld();
    const seed = world.pool({ backend: world.backend(), persist: true, minHosts: 1 });
    await seed.start();
    const warm = seed.hostsOf()[0]!.id;
    await seed.close();

    const backend = world.backend();
    const attached = backend.faults.hold('attachHost', { phase: 'after' });
    const pool = world.pool({ backend, persist: true, minHosts: 1 });
    const errors: HostErrorEvent[] = [];
    pool.on('host:error', (event) => errors.push(event));
    const started = pool.start();
    await attached.reached();
    await backend.faults.vanish(warm);
    attached.release();
    await started;

    expect(pool.hostsOf().map((host) => host.id)).not.toContain(warm);
    expect(pool.hostsOf()).toHaveLength(1);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ operation: 'adopt', hostId: warm });
    const slot = await pool.acquire();
    expect((await slot.exec('echo ok')).stdout).toBe('ok\n');
    await slot.release();
  }, 30_000);
});
