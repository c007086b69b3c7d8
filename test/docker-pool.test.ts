/**
 * Pool-level tests of the Docker backend against the real dockerd (issue 3): cross-process reuse and
 * cleanup, label scoping, spec changes, host loss, an unreachable daemon, hardening, a nosh image,
 * and 500 trajectories × 5 commands. Every pool id is unique to this run; afterAll proves that no
 * container with any of them is left.
 */
import { createDockerBackend } from '@berth/backend-docker';
import { BerthError, createPool, type PoolOptions, type SlotPool } from '@berth/core';
import { countProcessesScript } from '@berth/testkit';
import { afterAll, afterEach, describe, expect, it, onTestFinished } from 'vitest';
import {
  BUSYBOX,
  BUSYBOX_HOST,
  containersOf,
  DEBIAN,
  docker,
  NOSH,
  removeContainers,
  startChild,
  uniquePoolId,
} from './fixtures/docker-pool-helpers.js';

const usedPoolIds = new Set<string>();
const openPools = new Set<SlotPool>();
const foreign = new Set<string>();

function poolId(name: string): string {
  const id = uniquePoolId(name);
  usedPoolIds.add(id);
  return id;
}

async function pool(id: string, options: Partial<PoolOptions> = {}): Promise<SlotPool> {
  const created = await createPool({
    backend: createDockerBackend(),
    poolId: id,
    handleSignals: false,
    ...(options.profiles ? {} : { host: BUSYBOX_HOST }),
    ...options,
  } as PoolOptions);
  openPools.add(created);
  return created;
}

async function closeForce(target: SlotPool): Promise<void> {
  await target.close({ forceRemove: true });
  openPools.delete(target);
}

afterEach(async () => {
  for (const open of openPools) await open.close({ forceRemove: true }).catch(() => undefined);
  openPools.clear();
});

afterAll(async () => {
  const left: string[] = [];
  for (const id of usedPoolIds) left.push(...(await containersOf(id)));
  await removeContainers([...left, ...foreign]);
  expect(left, 'containers left behind by the pool tests').toEqual([]);
});

describe('cross-process lifecycle', () => {
  it('persist: a second process adopts the first one’s containers warm (same ids, no create)', async () => {
    const id = poolId('persist');
    const { report } = await startChild(id, true, 'exit');
    expect(report.hostIds).toHaveLength(2);
    expect(report.created).toBe(2);
    expect(await containersOf(id, 'running')).toEqual(report.hostIds);

    const events = { creating: 0, adopted: [] as string[] };
    const started = performance.now();
    const second = await pool(id, { persist: true, minHosts: 2, maxHosts: 2, slotsPerHost: 2 });
    const adoptMs = performance.now() - started;
    second.on('host:creating', () => (events.creating += 1));
    expect(
      second
        .hostsOf()
        .map((host) => host.id)
        .sort(),
    ).toEqual(report.hostIds);
    expect(second.hostsOf().every((host) => host.adopted)).toBe(true);
    const slots = await Promise.all([0, 1, 2, 3].map(() => second.acquire()));
    for (const slot of slots) expect((await slot.exec('echo warm')).stdout).toBe('warm\n');
    await Promise.all(slots.map((slot) => slot.release()));
    expect(events.creating).toBe(0);
    expect(await containersOf(id)).toEqual(report.hostIds);
    expect(adoptMs).toBeLessThan(10_000);
    await closeForce(second);
    expect(await containersOf(id)).toEqual([]);
  });

  it('persist: false: a child that exits normally leaves nothing', async () => {
    const id = poolId('ephemeral');
    const { report } = await startChild(id, false, 'exit');
    expect(report.hostIds).toHaveLength(2);
    expect(await containersOf(id)).toEqual([]);
  });

  it('persist: the next process adopts the containers of a SIGKILLed one', async () => {
    const id = poolId('killed-persist');
    const child = await startChild(id, true, 'hang');
    await child.kill();
    expect(await containersOf(id, 'running')).toEqual(child.report.hostIds);

    let creating = 0;
    const next = await pool(id, { persist: true, minHosts: 2, maxHosts: 2, slotsPerHost: 2 });
    next.on('host:creating', () => (creating += 1));
    expect(
      next
        .hostsOf()
        .map((host) => host.id)
        .sort(),
    ).toEqual(child.report.hostIds);
    await using slot = await next.acquire();
    expect((await slot.exec('echo adopted')).stdout).toBe('adopted\n');
    await slot.release();
    expect(creating).toBe(0);
    await closeForce(next);
    expect(await containersOf(id)).toEqual([]);
  });

  for (const transport of ['agent', 'exec'] as const) {
    it(`persist: an owner SIGKILLed mid-command leaves the adopter clean slots, nothing of its leases running (${transport})`, async () => {
      const id = poolId(`killed-running-${transport}`);
      const child = await startChild(id, true, 'crash-running', 1, {
        BERTH_CHILD_SHELL_TRANSPORT: transport,
      });
      await child.kill();
      const next = await pool(id, { persist: true, minHosts: 1, maxHosts: 1, slotsPerHost: 2 });
      expect(next.hostsOf().map((host) => host.id)).toEqual(child.report.hostIds);
      const slots = [await next.acquire(), await next.acquire()];
      for (const slot of slots) {
        expect((await slot.exec('ls -A')).stdout, `${slot.id} starts empty`).toBe('');
      }
      const [observer] = slots;
      const count = (marker: string) =>
        observer!.exec(countProcessesScript(marker)).then((result) => result.stdout.trim());
      expect(await count('sleep 4341'), "the dead owner's setsid escapees").toBe('0');
      expect(await count('inflight.lo'), "the dead owner's in-flight commands").toBe('0');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await observer!.exec('ls -A')).stdout, 'nothing writes into the adopted slot').toBe('');
      for (const slot of slots) await slot.release();
      await closeForce(next);
    });
  }

  it('persist: false: the reaper removes the containers of a SIGKILLed one', async () => {
    const id = poolId('killed-ephemeral');
    const child = await startChild(id, false, 'hang');
    await child.kill();
    expect(await containersOf(id, 'running')).toEqual(child.report.hostIds);

    const reaped: string[] = [];
    const next = new (await import('@berth/core')).SlotPool({
      backend: createDockerBackend(),
      poolId: id,
      persist: false,
      handleSignals: false,
      minHosts: 0,
      maxHosts: 2,
      slotsPerHost: 2,
      host: BUSYBOX_HOST,
    });
    openPools.add(next);
    next.on('host:reaped', (event) => reaped.push(event.hostId));
    await next.start();
    expect(reaped.sort()).toEqual(child.report.hostIds);
    expect(await containersOf(id)).toEqual([]);
    await closeForce(next);
  });
});

describe('label scoping', () => {
  it('a container from another tool and one from another pool id survive every reap and close', async () => {
    const id = poolId('scoped');
    const other = poolId('other');
    // Another tool, named like ours (a name-prefix sweep would kill it) and even labelled with our pool id
    // but not made by the Berth Docker backend.
    const toolId = await docker(
      'run',
      '-d',
      '--network',
      'none',
      '--name',
      `berth-${id}-default-foreign`,
      '--label',
      `berth.test-foreign=${id}`,
      BUSYBOX,
      'sleep',
      '600',
    );
    foreign.add(toolId);
    // Another pool id, left running by a dead process (its owner is provably dead: a wrongly scoped reaper would take it).
    const otherChild = await startChild(other, true, 'hang', 1);
    await otherChild.kill();
    const otherIds = otherChild.report.hostIds;

    for (const persist of [false, true]) {
      const first = await pool(id, { persist, minHosts: 1, maxHosts: 2, reapIntervalMs: 250 });
      await using slot = await first.acquire();
      await slot.exec('true');
      await slot.release();
      await new Promise((resolve) => setTimeout(resolve, 600)); // let the interval reaper run
      await first.close();
      openPools.delete(first);
      const again = await pool(id, { persist, minHosts: 0, maxHosts: 1 });
      await closeForce(again);
    }
    expect(await containersOf(id)).toEqual([]);
    const alive = await docker('ps', '-q', '--no-trunc', '--filter', `id=${toolId}`);
    expect(alive).toBe(toolId);
    expect(await containersOf(other, 'running')).toEqual(otherIds);
    // The other pool is adoptable by its own id, and only then removed.
    const owner = await pool(other, { persist: true, minHosts: 1, maxHosts: 1, slotsPerHost: 2 });
    expect(owner.hostsOf().map((host) => host.id)).toEqual(otherIds);
    await closeForce(owner);
  });
});

describe('spec changes', () => {
  it.each([
    ['memory', { ...BUSYBOX_HOST, memoryMiB: 128 }, { ...BUSYBOX_HOST, memoryMiB: 256 }],
    ['image', BUSYBOX_HOST, { ...BUSYBOX_HOST, image: DEBIAN }],
  ] as const)('a different %s is not reused: the old container is replaced', async (_what, before, after) => {
    if (after.image === DEBIAN && (await docker('images', '-q', DEBIAN)) === '') return; // optional image
    const id = poolId('spec');
    const first = await pool(id, { persist: true, minHosts: 1, maxHosts: 1, host: before });
    const oldIds = first.hostsOf().map((host) => host.id);
    await first.close();
    openPools.delete(first);
    expect(await containersOf(id, 'running')).toEqual(oldIds);

    const replaced: string[] = [];
    const adopted: string[] = [];
    const second = new (await import('@berth/core')).SlotPool({
      backend: createDockerBackend(),
      poolId: id,
      handleSignals: false,
      persist: true,
      minHosts: 1,
      maxHosts: 1,
      host: after,
    });
    openPools.add(second);
    second.on('host:replaced', (event) => replaced.push(event.hostId));
    second.on('host:adopted', (event) => adopted.push(event.hostId));
    await second.start();
    expect(replaced).toEqual(oldIds);
    expect(adopted).toEqual([]);
    const newIds = second.hostsOf().map((host) => host.id);
    expect(newIds).toHaveLength(1);
    expect(newIds).not.toEqual(oldIds);
    expect(await containersOf(id)).toEqual(newIds);
    if ('memoryMiB' in after) {
      expect(Number(await docker('inspect', '-f', '{{.HostConfig.Memory}}', newIds[0]!))).toBe(
        after.memoryMiB * 1024 * 1024,
      );
    } else {
      expect(await docker('inspect', '-f', '{{.Config.Image}}', newIds[0]!)).toBe(DEBIAN);
    }
    await closeForce(second);
  });
});

describe('host loss and engine failures', () => {
  it('docker kill mid-command: HostLostError, a replacement, minHosts held', async () => {
    const id = poolId('lost');
    const target = await pool(id, { persist: false, minHosts: 1, maxHosts: 1, slotsPerHost: 2 });
    const [victim] = target.hostsOf().map((host) => host.id);
    const replacement = new Promise<string>((resolve) =>
      target.on('host:created', (event) => resolve(event.hostId)),
    );
    const slot = await target.acquire();
    const running = slot.exec('echo started; sleep 60').catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killedAt = performance.now();
    await docker('kill', victim!);
    const error = await running;
    expect(error).toBeInstanceOf(BerthError);
    expect((error as BerthError).code).toBe('HOST_LOST');
    expect(performance.now() - killedAt).toBeLessThan(10_000);
    await slot.release().catch(() => undefined);
    const newId = await replacement;
    expect(newId).not.toBe(victim);
    expect(target.hostsOf().map((host) => host.id)).toEqual([newId]);
    await using fresh = await target.acquire({ timeoutMs: 30_000 });
    expect((await fresh.exec('echo again')).stdout).toBe('again\n');
    await fresh.release();
    await closeForce(target);
    expect(await containersOf(id)).toEqual([]);
  });

  it.each([
    ['a socket nobody listens on', { socketPath: '/tmp/berth-no-such-docker.sock' }],
    ['a refused TCP port', { host: '127.0.0.1', port: 1 }],
    ['a port that accepts but never answers', { host: '127.0.0.1', port: 0, connectTimeoutMs: 1_000 }],
  ] as const)('daemon unreachable (%s): BACKEND_UNAVAILABLE within bounded time', async (_what, given) => {
    let connection: Record<string, unknown> = given;
    let silent: import('node:net').Server | undefined;
    if ('port' in given && given.port === 0) {
      // A black hole: accepts the connection, never says a word.
      silent = (await import('node:net')).createServer(() => undefined);
      await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
      connection = { ...given, port: (silent.address() as import('node:net').AddressInfo).port };
    }
    onTestFinished(() => void silent?.close());
    const started = performance.now();
    const error = await createPool({
      backend: createDockerBackend(connection),
      poolId: poolId('unreachable'),
      handleSignals: false,
      minHosts: 1,
      host: BUSYBOX_HOST,
    }).catch((caught: unknown) => caught);
    const elapsedMs = performance.now() - started;
    expect(error).toBeInstanceOf(BerthError);
    expect((error as BerthError).code).toBe('BACKEND_UNAVAILABLE');
    expect(String((error as Error).message)).toMatch(/127\.0\.0\.1|berth-no-such-docker/);
    expect(elapsedMs).toBeLessThan(8_000);
  });
});

describe('containers as created by the pool', () => {
  it("isolation 'user' where nothing can switch users (busybox, one exec per shell) fails closed, naming the fix", async () => {
    const id = poolId('isolation-nosetpriv');
    const target = await createPool({
      backend: createDockerBackend({ shellTransport: 'exec' }),
      poolId: id,
      handleSignals: false,
      persist: false,
      host: BUSYBOX_HOST,
      isolation: 'user',
      acquireTimeoutMs: 30_000,
    });
    openPools.add(target);
    const error = await target.acquire().catch((caught: unknown) => caught);
    expect(BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/setpriv.*isolation 'directory'/);
    await closeForce(target);
    expect(await containersOf(id)).toEqual([]);
  });

  it("isolation 'user' is refused at createPool for a container that runs as another user", async () => {
    const error = await createPool({
      backend: createDockerBackend(),
      poolId: poolId('isolation-nonroot'),
      handleSignals: false,
      host: { ...BUSYBOX_HOST, user: '1000' },
      isolation: 'user',
    }).catch((caught: unknown) => caught);
    expect(BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/runs as `1000`/);
  });

  it('are hardened and labelled (docker inspect)', async () => {
    const id = poolId('hardening');
    const target = await pool(id, {
      persist: false,
      minHosts: 1,
      maxHosts: 1,
      host: { ...BUSYBOX_HOST, memoryMiB: 256, cpus: 1 },
    });
    const [hostId] = target.hostsOf().map((host) => host.id);
    const [info] = JSON.parse(await docker('inspect', hostId!)) as [
      { HostConfig: Record<string, unknown>; Config: { Labels: Record<string, string> } },
    ];
    const hostConfig = info.HostConfig;
    expect(hostConfig.CapDrop).toEqual(['ALL']);
    expect([...(hostConfig.CapAdd as string[])].sort()).toEqual(
      ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID'].sort(),
    );
    expect(hostConfig.SecurityOpt).toContain('no-new-privileges:true');
    expect(hostConfig.Init).toBe(true);
    expect(hostConfig.PidsLimit).toBe(1024);
    expect(hostConfig.Tmpfs).toEqual({ '/tmp': 'size=256m' });
    expect(hostConfig.Memory).toBe(256 * 1024 * 1024);
    expect(hostConfig.NanoCpus).toBe(1e9);
    expect(hostConfig.NetworkMode).toBe('none');
    expect(hostConfig.Privileged).toBe(false);
    expect(info.Config.Labels).toMatchObject({
      'berth.managed': '1',
      'berth.pool': id,
      'berth.profile': 'default',
      'berth.backend': 'docker',
    });
    expect(info.Config.Labels['berth.spec']).toMatch(/^[0-9a-f]{16}$/);
    expect(info.Config.Labels['berth.owner']).toContain(`.${process.pid}.`);
    // And inside: capabilities really dropped (no NET_RAW), no-new-privs set.
    await using slot = await target.acquire();
    const status = await slot.exec('grep -E "^(CapEff|NoNewPrivs)" /proc/self/status');
    expect(status.stdout).toMatch(/NoNewPrivs:\s+1/);
    const capEff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(status.stdout)![1]}`);
    expect(capEff & (1n << 13n)).toBe(0n); // CAP_NET_RAW
    expect(capEff & (1n << 21n)).toBe(0n); // CAP_SYS_ADMIN
    await slot.release();
    await closeForce(target);
  });

  it('a shell-less image (nosh) runs argv commands by one-shot exec and rejects shell strings', async () => {
    const id = poolId('nosh');
    const target = await pool(id, {
      persist: false,
      minHosts: 1,
      maxHosts: 1,
      host: {
        image: NOSH,
        networkMode: 'none',
        pull: 'never',
        keepAliveCommand: ['/bin/busybox', 'sleep', '2147483647'],
      },
    });
    await using slot = await target.acquire();
    const result = await slot.exec(['/bin/busybox', 'echo', 'no', 'shell']);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'no shell\n' });
    const failing = await slot.exec(['/bin/busybox', 'false']);
    expect(failing.exitCode).toBe(1);
    const error = await slot.exec('echo hi').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BerthError);
    expect((error as BerthError).code).toBe('CAPABILITY_UNSUPPORTED');
    await slot.release();
    await closeForce(target);
    expect(await containersOf(id)).toEqual([]);
  });
});

describe('load', () => {
  it('500 trajectories × 5 commands on 8 containers × 10 slots: all correct, no double lease, no leak', async () => {
    const id = poolId('load');
    const target = await pool(id, {
      persist: false,
      minHosts: 8,
      maxHosts: 8,
      slotsPerHost: 10,
      maxConcurrentCreates: 8,
      acquireTimeoutMs: 120_000,
    });
    expect(target.hostsOf()).toHaveLength(8);
    // Independent ledger: events on one side, the trajectories' own view on the other.
    const leased = new Set<string>();
    let doubleLeases = 0;
    let acquiredEvents = 0;
    let maxInUse = 0;
    target.on('slot:acquired', (event) => {
      acquiredEvents += 1;
      if (leased.has(event.slotId)) doubleLeases += 1;
      leased.add(event.slotId);
      maxInUse = Math.max(maxInUse, leased.size);
    });
    target.on('slot:released', (event) => {
      if (!leased.delete(event.slotId)) doubleLeases += 1;
    });
    const holders = new Map<string, number>();
    let overlaps = 0;

    const trajectories = Array.from(
      { length: 500 },
      (_, index) => async (slot: import('@berth/core').Slot) => {
        if (holders.has(slot.id)) overlaps += 1;
        holders.set(slot.id, index);
        try {
          const outputs: string[] = [];
          outputs.push((await slot.exec(`ls -A | wc -l`)).stdout.trim()); // fresh workspace: empty
          await slot.exec(`echo ${index} > mine && echo step2 >> mine`);
          outputs.push((await slot.exec('cat mine')).stdout);
          outputs.push((await slot.exec(['sh', '-c', 'echo "$0:$1"', 'argv', String(index)])).stdout);
          const final = await slot.exec(`test "$(head -n1 mine)" = ${index} && echo ok-${index}`);
          outputs.push(final.stdout);
          return { index, slotId: slot.id, outputs, exit: final.exitCode };
        } finally {
          if (holders.get(slot.id) === index) holders.delete(slot.id);
        }
      },
    );
    const started = performance.now();
    const outcomes = await target.execBatch(trajectories, { concurrency: 80 });
    const elapsedMs = performance.now() - started;

    const wrong = outcomes.filter((outcome, index) => {
      if (!outcome.ok) return true;
      const { outputs, exit } = outcome.value;
      return !(
        exit === 0 &&
        outputs[0] === '0' &&
        outputs[1] === `${index}\nstep2\n` &&
        outputs[2] === `argv:${index}\n` &&
        outputs[3] === `ok-${index}\n`
      );
    });
    expect(wrong.slice(0, 3)).toEqual([]);
    expect(doubleLeases).toBe(0);
    expect(overlaps).toBe(0);
    expect(acquiredEvents).toBe(500);
    expect(leased.size).toBe(0);
    expect(maxInUse).toBeLessThanOrEqual(80);
    expect(
      new Set(outcomes.map((outcome) => (outcome.ok ? outcome.value.slotId : ''))).size,
    ).toBeLessThanOrEqual(80);
    expect(target.hostsOf()).toHaveLength(8);
    console.info(
      `500×5 on 8×10 slots: ${(elapsedMs / 1000).toFixed(1)} s, ${Math.round(2500 / (elapsedMs / 1000))} commands/s`,
    );
    await closeForce(target);
    expect(await containersOf(id)).toEqual([]);
  }, 300_000);
});
