/**
 * Reliability and bad-input tests of core (SlotPool, Slot, ShellSession) against real child
 * processes through the built-in local backend: no mocks. The generic backend contract lives in
 * @berth/testkit; this file covers what is core's own: queue fairness under load, host loss,
 * output bounds, drain/close semantics, idle scale-down, and cross-process adoption and reaping.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  type BatchItem,
  BerthError,
  createLocalBackend,
  type ExecResult,
  type PoolOptions,
  type Slot,
  SlotPool,
} from '@berth/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHILD = path.join(ROOT, 'test/fixtures/core-pool-child.ts');

const baseDirectories: string[] = [];
const openPools = new Set<SlotPool>();
const children = new Set<ChildProcess>();

function tempBase(): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'berth-core-rel-'));
  baseDirectories.push(directory);
  return directory;
}

let poolCounter = 0;
function uniquePoolId(name: string): string {
  poolCounter += 1;
  return `rel-${name}-${process.pid}-${poolCounter}`;
}

/** A pool not yet started, so listeners can be attached before adoption and pre-warming. */
function newPool(baseDirectory: string, options: Partial<PoolOptions> = {}): SlotPool {
  const pool = new SlotPool({
    backend: createLocalBackend({ baseDirectory }),
    poolId: uniquePoolId('p'),
    persist: false,
    handleSignals: false,
    ...options,
  } as PoolOptions);
  openPools.add(pool);
  return pool;
}

async function startedPool(baseDirectory: string, options: Partial<PoolOptions> = {}): Promise<SlotPool> {
  return newPool(baseDirectory, options).start();
}

async function errorOf(work: Promise<unknown>): Promise<BerthError> {
  try {
    await work;
  } catch (error) {
    if (!BerthError.isInstance(error)) throw error;
    return error;
  }
  throw new Error('expected the operation to fail');
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(async () => {
  await Promise.allSettled([...openPools].map((pool) => pool.close({ forceRemove: true, timeoutMs: 5_000 })));
  openPools.clear();
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});

afterAll(() => {
  for (const directory of baseDirectories) rmSync(directory, { recursive: true, force: true });
});

describe('core reliability (local backend, real processes)', () => {
  it('10,000 acquires from 200 callers on 50 slots: no double lease, every waiter served, strict FIFO', async () => {
    const pool = await startedPool(tempBase(), {
      minHosts: 5,
      maxHosts: 5,
      slotsPerHost: 10,
      acquireTimeoutMs: 60_000,
    });
    expect(pool.stats().hosts).toBe(5);
    expect(pool.stats().slots.available).toBe(50);

    const ledger = new Map<string, number>();
    const grantOrder: number[] = [];
    pool.on('slot:acquired', (event) => grantOrder.push(Number(event.trajectoryId)));
    let callIndex = 0;
    let doubleLeases = 0;
    let maxHeld = 0;
    let saturatedCalls = 0;

    const once = async (timeoutMs?: number): Promise<Slot> => {
      const index = callIndex++;
      if (pool.stats().slots.available === 0) saturatedCalls += 1;
      if (index === 5_000) cohort = launchCohort();
      return pool.acquire({ trajectoryId: String(index), timeoutMs });
    };
    const hold = async (slot: Slot, holder: number) => {
      if (ledger.has(slot.id)) doubleLeases += 1;
      ledger.set(slot.id, holder);
      maxHeld = Math.max(maxHeld, ledger.size);
      // Hold across a microtask, a macrotask or a short timer, so waiters really queue behind held
      // slots; while the cohort below waits, every holder holds for a timer so the cohort's deadline
      // passes first (else a microtask cascade of releases can serve the whole queue at once).
      if (performance.now() < stallUntil) await sleep(10);
      else if (holder % 10 === 0) await sleep(1);
      else if (holder % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
      else await Promise.resolve();
      if (ledger.get(slot.id) !== holder) doubleLeases += 1;
      ledger.delete(slot.id);
      await slot.release();
    };

    // A short-deadline cohort that joins half-way, while the pool is saturated: each must time out
    // (ACQUIRE_TIMEOUT) or be served, and a timed-out waiter must never later hold a slot.
    const timeouts: number[] = [];
    let cohort: Promise<Array<'served' | 'timeout'>> | undefined;
    let stallUntil = 0;
    const launchCohort = () => {
      expect(pool.stats().queueDepth).toBeGreaterThan(100);
      stallUntil = performance.now() + 30;
      return Promise.all(
        Array.from({ length: 20 }, async (_, member) => {
          const index = callIndex;
          try {
            const slot = await once(1);
            await hold(slot, 1_000 + member);
            return 'served' as const;
          } catch (error) {
            expect(BerthError.hasCode(error, 'ACQUIRE_TIMEOUT'), String(error)).toBe(true);
            timeouts.push(index);
            return 'timeout' as const;
          }
        }),
      );
    };

    const started = performance.now();
    const PER_CALLER = 50;
    await Promise.all(
      Array.from({ length: 200 }, async (_, holder) => {
        for (let round = 0; round < PER_CALLER; round += 1) await hold(await once(), holder);
      }),
    );
    expect(cohort).toBeDefined();
    const cohortOutcomes = await cohort!;
    const elapsedMs = performance.now() - started;
    console.log(
      `[10k acquire] ${callIndex} acquires in ${elapsedMs.toFixed(0)} ms; cohort: ${cohortOutcomes.filter((o) => o === 'timeout').length} timed out; ` +
        `saturated calls: ${saturatedCalls}; wait p50/p99 ${pool.stats().waitMs.p50?.toFixed(2)}/${pool.stats().waitMs.p99?.toFixed(2)} ms`,
    );

    expect(doubleLeases).toBe(0);
    expect(maxHeld).toBeLessThanOrEqual(50);
    expect(maxHeld).toBe(50);
    const served = cohortOutcomes.filter((outcome) => outcome === 'served').length;
    expect(timeouts.length + served).toBe(20);
    expect(timeouts.length).toBe(20);
    expect(grantOrder.length).toBe(10_000 + served);
    expect(callIndex).toBe(10_020);
    expect(pool.stats().acquiredTotal).toBe(10_000 + served);
    for (const index of timeouts) expect(grantOrder).not.toContain(index);
    // FIFO: a call either takes a free slot at once (nobody queued) or queues; either way slots are
    // granted in call order, so the call indices in grant order are strictly increasing.
    let outOfOrder = 0;
    for (let at = 1; at < grantOrder.length; at += 1)
      if (grantOrder[at]! <= grantOrder[at - 1]!) outOfOrder += 1;
    expect(outOfOrder).toBe(0);
    expect(saturatedCalls).toBeGreaterThan(5_000);
    const stats = pool.stats();
    expect(stats.queueDepth).toBe(0);
    expect(stats.slots.available).toBe(50);
  });

  it('pre-warms minHosts beyond maxConcurrentCreates (createPool used to hang forever)', async () => {
    const pool = newPool(tempBase(), { minHosts: 3, maxHosts: 3, maxConcurrentCreates: 1 });
    await Promise.race([
      pool.start(),
      sleep(15_000).then(() => {
        throw new Error('createPool() did not resolve: pre-warm stalled at maxConcurrentCreates');
      }),
    ]);
    expect(pool.stats().hosts).toBe(3);
  });

  it('a killed slot shell is a slot event: the slot reopens it, the host is not lost (docs/lessons.md #19)', async () => {
    const pool = newPool(tempBase(), { minHosts: 2, maxHosts: 2, slotsPerHost: 2 });
    const events: string[] = [];
    pool.on('host:lost', (event) => events.push(`lost:${event.hostId}`));
    pool.on('host:created', (event) => events.push(`created:${event.hostId}`));
    await pool.start();
    expect(pool.stats().hosts).toBe(2);
    events.length = 0;

    const slot = await pool.acquire();
    // Each command is its own `sh -c`, started by the slot shell: `$PPID` is the slot shell, not Node.
    const shellPid = Number((await slot.exec('echo $PPID')).stdout.trim());
    expect(shellPid).toBeGreaterThan(1);
    expect(shellPid).not.toBe(process.pid);
    expect(readFileSync(`/proc/${shellPid}/cmdline`, 'latin1').split('\0')[0]).toMatch(/sh$/);
    const hostId = slot.hostId;

    process.kill(shellPid, 'SIGKILL');
    // Either the slot noticed first and reopens its shell, or the command met the dead shell and
    // failed with the retryable slot-level error: never HOST_LOST.
    const first = await slot.exec('echo still here').catch((error: unknown) => error);
    if (first instanceof Error) expect((first as BerthError).code).toBe('SLOT_RUNTIME_LOST');
    else expect((first as ExecResult).stdout).toBe('still here\n');
    expect((await slot.exec('echo again')).stdout).toBe('again\n');
    expect(slot.hostId).toBe(hostId);
    await slot.release();
    expect(events).toEqual([]);
    expect(pool.stats().hosts).toBe(2);
    expect(pool.hostsOf().map((host) => host.id)).toContain(hostId);
    expect(pool.stats().slots.error).toBe(0);
  });

  it('a command printing 2 GB keeps client memory bounded and reports every byte', async () => {
    const pool = await startedPool(tempBase(), { minHosts: 1, maxHosts: 1 });
    const slot = await pool.acquire();
    await slot.exec('true'); // open the slot shell first
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const started = performance.now();
    let result: Awaited<ReturnType<Slot['exec']>>;
    try {
      result = await slot.exec('head -c 2000000000 /dev/zero; echo done >&2', { timeoutMs: 90_000 });
    } finally {
      clearInterval(sampler);
    }
    const durationMs = performance.now() - started;
    peak = Math.max(peak, process.memoryUsage().rss);
    const growthMiB = (peak - before) / 2 ** 20;
    console.log(
      `[2 GB] ${durationMs.toFixed(0)} ms, rss before ${(before / 2 ** 20).toFixed(0)} MiB, peak growth ${growthMiB.toFixed(1)} MiB`,
    );

    expect(result.exitCode).toBe(0);
    expect(result.truncated).toBe(true);
    expect(result.stdoutBytes).toBe(2_000_000_000);
    expect(result.stdout.length).toBe(pool.options.maxOutputBytes);
    expect(result.stderr).toBe('done\n');
    expect(growthMiB).toBeLessThan(200);
    // The slot is still usable, and the framing is intact after 2 GB.
    expect((await slot.exec('echo after')).stdout).toBe('after\n');
    await slot.release();
  }, 120_000);

  describe('drain, resume, close, abort, timeout', () => {
    it('drain (wait mode) queues new acquires until resume()', async () => {
      const pool = await startedPool(tempBase(), { minHosts: 1, maxHosts: 1 });
      const held = await pool.acquire();
      let drained = false;
      const draining = pool.drain({ mode: 'wait' }).then(() => (drained = true));
      const waiting = pool.acquire({ timeoutMs: 10_000 });
      let served = false;
      void waiting.then(
        () => (served = true),
        () => undefined,
      );
      await sleep(50);
      expect(drained).toBe(false);
      expect(pool.stats().draining).toBe(true);
      expect(pool.stats().queueDepth).toBe(1);
      await held.release();
      await draining;
      expect(drained).toBe(true);
      await sleep(50);
      expect(served).toBe(false); // still draining: the free slot is not handed out
      pool.resume();
      const slot = await waiting;
      expect((await slot.exec('echo resumed')).stdout).toBe('resumed\n');
      await slot.release();
      expect(pool.stats().draining).toBe(false);
    });

    it('drain (fail mode) rejects queued and new acquires with POOL_DRAINING; resume serves again', async () => {
      const pool = await startedPool(tempBase(), { minHosts: 1, maxHosts: 1 });
      const held = await pool.acquire();
      const queued = pool.acquire({ timeoutMs: 10_000 });
      await sleep(10);
      const draining = pool.drain({ mode: 'fail' });
      expect((await errorOf(queued)).code).toBe('POOL_DRAINING');
      const error = await errorOf(pool.acquire());
      expect(error.code).toBe('POOL_DRAINING');
      expect(error.message).toContain('resume()');
      await held.release();
      await draining;
      pool.resume();
      const slot = await pool.acquire({ timeoutMs: 5_000 });
      await slot.release();
    });

    it('close() rejects a queued waiter with POOL_CLOSED, is idempotent, and later acquires fail', async () => {
      const pool = await startedPool(tempBase(), { minHosts: 1, maxHosts: 1 });
      const held = await pool.acquire();
      const queued = pool.acquire({ timeoutMs: 10_000 });
      await sleep(10);
      const closing = pool.close();
      expect(pool.close()).toBe(closing);
      expect((await errorOf(queued)).code).toBe('POOL_CLOSED');
      await held.release();
      await closing;
      await pool.close();
      await pool.close({ forceRemove: true });
      expect((await errorOf(pool.acquire())).code).toBe('POOL_CLOSED');
      expect(() => pool.resume()).toThrow(/closed/);
      expect(pool.stats().closed).toBe(true);
    });

    it('an AbortSignal aborted mid-wait rejects with ABORTED and leaves the queue', async () => {
      const pool = await startedPool(tempBase(), { minHosts: 1, maxHosts: 1 });
      const held = await pool.acquire();
      const controller = new AbortController();
      const waiting = pool.acquire({ signal: controller.signal, timeoutMs: 10_000 });
      await sleep(20);
      expect(pool.stats().queueDepth).toBe(1);
      controller.abort(new Error('user gave up'));
      const error = await errorOf(waiting);
      expect(error.code).toBe('ABORTED');
      expect(pool.stats().queueDepth).toBe(0);
      await held.release();
      // The aborted waiter never got the slot: it is free for the next caller.
      expect(pool.stats().slots.available).toBe(1);
    });

    it('an acquire timeout says which profile and what to do', async () => {
      const pool = await startedPool(tempBase(), { profiles: { small: { minHosts: 1, maxHosts: 1 } } });
      const held = await pool.acquire({ profile: 'small' });
      const started = performance.now();
      const error = await errorOf(pool.acquire({ profile: 'small', timeoutMs: 200 }));
      expect(performance.now() - started).toBeGreaterThanOrEqual(190);
      expect(error.code).toBe('ACQUIRE_TIMEOUT');
      expect(error.retryable).toBe(true);
      expect(error.message).toContain("'small'");
      expect(error.message).toContain('200 ms');
      expect(error.message).toContain('1/1 hosts');
      expect(error.message).toMatch(/Raise maxHosts or acquireTimeoutMs/);
      expect(pool.stats().queueDepth).toBe(0);
      await held.release();
    });
  });

  it('idle scale-down: up to maxHosts under demand, back to minHosts, never a host with a leased slot', async () => {
    const pool = newPool(tempBase(), { minHosts: 1, maxHosts: 3, slotsPerHost: 1, idleTimeoutMs: 500 });
    const removed: string[] = [];
    pool.on('host:removed', (event) => removed.push(event.hostId));
    await pool.start();
    const first = pool.hostsOf()[0]!.id;
    expect(pool.stats().hosts).toBe(1);

    const slots = await Promise.all([0, 1, 2].map(() => pool.acquire({ timeoutMs: 20_000 })));
    expect(pool.stats().hosts).toBe(3);
    expect(new Set(slots.map((slot) => slot.hostId)).size).toBe(3);
    for (const slot of slots) await slot.exec('echo busy > marker');

    // Keep the two non-first hosts leased; free only the first one.
    const keep = slots.filter((slot) => slot.hostId !== first);
    expect(keep).toHaveLength(2);
    await slots.find((slot) => slot.hostId === first)!.release();
    // Stats drop as removal starts; `host:removed` follows once the engine confirms it is gone.
    await until(() => pool.stats().hosts === 2 && removed.length > 0, 5_000, 'the idle first host to go');
    expect(removed).toEqual([first]);
    // Well past idleTimeoutMs: the leased hosts stay, although there are more than minHosts.
    await sleep(2_000);
    expect(
      pool
        .hostsOf()
        .map((host) => host.id)
        .sort(),
    ).toEqual(keep.map((slot) => slot.hostId).sort());
    for (const slot of keep) expect((await slot.exec('cat marker')).stdout).toBe('busy\n');

    for (const slot of keep) await slot.release();
    await until(() => pool.stats().hosts === 1 && removed.length === 2, 5_000, 'minHosts after release');
    await sleep(1_000);
    expect(pool.stats().hosts).toBe(1);
    expect(removed).toHaveLength(2);
    const again = await pool.acquire({ timeoutMs: 5_000 });
    expect((await again.exec('echo ok')).stdout).toBe('ok\n');
    await again.release();
  });

  describe('across processes (local backend persistence)', () => {
    interface ChildReport {
      kind: string;
      pid: number;
      hostId: string;
      adopted: string[];
      created: string[];
    }

    function startChild(baseDirectory: string, poolId: string, mode: 'exit' | 'hang' | 'hold') {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, baseDirectory, poolId, mode], {
        cwd: ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.add(child);
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const lines = createInterface({ input: child.stdout! });
      const reports: ChildReport[] = [];
      const listeners = new Set<() => void>();
      lines.on('line', (line) => {
        reports.push(JSON.parse(line) as ChildReport);
        for (const listener of listeners) listener();
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const report = (kind: string, timeoutMs = 30_000) =>
        new Promise<ChildReport>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`child sent no '${kind}' within ${timeoutMs} ms; stderr: ${stderr}`)),
            timeoutMs,
          );
          const check = () => {
            const found = reports.find((each) => each.kind === kind);
            if (found) {
              clearTimeout(timer);
              listeners.delete(check);
              resolve(found);
            }
          };
          listeners.add(check);
          void exited.then(() =>
            setTimeout(() => {
              if (!reports.some((each) => each.kind === kind)) {
                clearTimeout(timer);
                reject(new Error(`child exited without '${kind}'; stderr: ${stderr}`));
              }
            }, 50),
          );
          check();
        });
      return { child, report, exited, stderr: () => stderr };
    }

    it('a later process adopts the host a normally exited process left (same id, no create)', async () => {
      const base = tempBase();
      const poolId = uniquePoolId('adopt');
      const first = startChild(base, poolId, 'exit');
      const ready = await first.report('ready');
      expect(ready.created).toEqual([ready.hostId]);
      expect(await first.exited).toBe(0);
      expect(readdirSync(base)).toEqual([ready.hostId]);

      const pool = newPool(base, { poolId, persist: true, minHosts: 1, maxHosts: 1 });
      const adopted: string[] = [];
      const created: string[] = [];
      pool.on('host:adopted', (event) => adopted.push(event.hostId));
      pool.on('host:created', (event) => created.push(event.hostId));
      await pool.start();
      expect(adopted).toEqual([ready.hostId]);
      expect(created).toEqual([]);
      const slot = await pool.acquire();
      expect(slot.hostId).toBe(ready.hostId);
      expect((await slot.exec('echo warm')).stdout).toBe('warm\n');
      await slot.release();
      await pool.close({ forceRemove: true });
      expect(readdirSync(base)).toEqual([]);
    });

    it('after SIGKILL, a persist:false pool with the same id reaps the host (owner provably dead)', async () => {
      const base = tempBase();
      const poolId = uniquePoolId('reap');
      const victim = startChild(base, poolId, 'hang');
      const ready = await victim.report('ready');
      victim.child.kill('SIGKILL');
      await victim.exited;
      expect(readdirSync(base)).toEqual([ready.hostId]);

      const pool = newPool(base, { poolId, persist: false, minHosts: 0, maxHosts: 1 });
      const reaped: Array<{ hostId: string; reason: string }> = [];
      const adopted: string[] = [];
      pool.on('host:reaped', (event) => reaped.push(event));
      pool.on('host:adopted', (event) => adopted.push(event.hostId));
      await pool.start();
      expect(adopted).toEqual([]);
      expect(reaped.map((event) => event.hostId)).toEqual([ready.hostId]);
      expect(reaped[0]!.reason).toMatch(/owner/);
      expect(pool.stats().hosts).toBe(0);
      expect(readdirSync(base)).toEqual([]);
      await pool.close();
      expect(readdirSync(base)).toEqual([]);
    });

    it('two processes starting at once: exactly one adopts the released host', async () => {
      const base = tempBase();
      const poolId = uniquePoolId('race');
      const seed = startChild(base, poolId, 'exit');
      const seeded = await seed.report('ready');
      expect(await seed.exited).toBe(0);

      const racers = [startChild(base, poolId, 'hold'), startChild(base, poolId, 'hold')];
      const reports = await Promise.all(racers.map((racer) => racer.report('ready', 60_000)));
      const adopters = reports.filter((report) => report.adopted.includes(seeded.hostId));
      expect(adopters).toHaveLength(1);
      const other = reports.find((report) => report !== adopters[0])!;
      expect(other.adopted).toEqual([]);
      expect(other.created).toHaveLength(1);
      expect(other.hostId).not.toBe(seeded.hostId);
      expect(adopters[0]!.hostId).toBe(seeded.hostId);

      for (const racer of racers) racer.child.stdin!.end();
      expect(await Promise.all(racers.map((racer) => racer.exited))).toEqual([0, 0]);
      expect(readdirSync(base).sort()).toEqual([seeded.hostId, other.hostId].sort());

      // Clean up through the pool itself: released hosts of a persist:false pool are removed.
      const sweeper = newPool(base, { poolId, persist: false, minHosts: 0, maxHosts: 2 });
      await sweeper.start();
      await sweeper.close();
      expect(readdirSync(base)).toEqual([]);
    }, 120_000);
  });

  it('execBatch: 100 items, concurrency 10, failures isolated, outcomes in order', async () => {
    const pool = await startedPool(tempBase(), { minHosts: 2, maxHosts: 2, slotsPerHost: 8 });
    let leased = 0;
    let maxLeased = 0;
    pool.on('slot:acquired', () => (maxLeased = Math.max(maxLeased, ++leased)));
    pool.on('slot:released', () => (leased -= 1));

    type Item = BatchItem<ExecResult>;
    const items: Item[] = Array.from({ length: 100 }, (_, index): Item => {
      if (index % 10 === 3) {
        return async () => {
          throw new Error(`boom ${index}`);
        };
      }
      if (index % 10 === 7) return { command: 'echo never', cwd: '../escape' };
      if (index % 10 === 5) return { command: `echo partial ${index}; exit 5` };
      return { command: ['sh', '-c', 'echo "item $1"', 'sh', String(index)] };
    });
    const started = performance.now();
    const outcomes = await pool.execBatch<ExecResult>(items, { concurrency: 10 });
    console.log(
      `[execBatch] 100 items in ${(performance.now() - started).toFixed(0)} ms, max leased ${maxLeased}`,
    );

    expect(outcomes).toHaveLength(100);
    outcomes.forEach((outcome, index) => {
      if (index % 10 === 3) {
        expect(outcome.ok).toBe(false);
        if (!outcome.ok) expect(outcome.error.message).toBe(`boom ${index}`);
      } else if (index % 10 === 7) {
        expect(outcome.ok).toBe(false);
        if (!outcome.ok) expect(BerthError.hasCode(outcome.error, 'INVALID_OPTIONS')).toBe(true);
      } else if (index % 10 === 5) {
        expect(outcome.ok && outcome.value.exitCode).toBe(5);
        expect(outcome.ok && outcome.value.stdout).toBe(`partial ${index}\n`);
      } else {
        expect(outcome.ok && outcome.value.exitCode).toBe(0);
        expect(outcome.ok && outcome.value.stdout).toBe(`item ${index}\n`);
      }
    });
    expect(maxLeased).toBeLessThanOrEqual(10);
    expect(maxLeased).toBeGreaterThan(1);
    const stats = pool.stats();
    expect(stats.slots.available).toBe(16);
    expect(stats.slots.error).toBe(0);
    expect(stats.queueDepth).toBe(0);
  });
});
