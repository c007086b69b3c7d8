/**
 * Issue 9, "waits that always end" and "errors that say the truth", against real child processes
 * through the local backend (no mocks): abort and deadline at every stage of a command, stream
 * `break` and result-only streams, `Infinity` deadlines, release during a command, close cut
 * short, typed file-transfer and staging errors, and POOL_CLOSED for a slot of a closed pool.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BerthError,
  CapacityError,
  createLocalBackend,
  type HostV1,
  NotFoundError,
  type PoolOptions,
  SlotPool,
} from '@berth/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

const baseDirectories: string[] = [];
const openPools = new Set<SlotPool>();

function tempBase(): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'berth-core-waits-'));
  baseDirectories.push(directory);
  return directory;
}

let poolCounter = 0;
async function startedPool(options: Partial<PoolOptions> = {}): Promise<SlotPool> {
  poolCounter += 1;
  const pool = new SlotPool({
    backend: createLocalBackend({ baseDirectory: tempBase() }),
    poolId: `waits-${process.pid}-${poolCounter}`,
    persist: false,
    handleSignals: false,
    ...options,
  } as PoolOptions);
  openPools.add(pool);
  return pool.start();
}

async function errorOf(work: Promise<unknown>): Promise<BerthError> {
  try {
    await work;
  } catch (error) {
    if (!BerthError.isInstance(error))
      throw new Error(`expected a BerthError, got ${String(error)}`, { cause: error });
    return error;
  }
  throw new Error('expected the operation to fail');
}

/** True when `promise` has not settled `ms` after the call (a wait, not a timed assertion). */
async function stillPending(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setTimeout(resolve, ms));
  return !settled;
}

const TWENTY_MB = Buffer.alloc(20 * 1024 * 1024, 0x61);

afterEach(async () => {
  // Tests leave slots leased on purpose: do not wait for them.
  await Promise.allSettled(
    [...openPools].map((pool) =>
      pool.close({ forceRemove: true, timeoutMs: 5_000, signal: AbortSignal.abort() }),
    ),
  );
  openPools.clear();
});

afterAll(() => {
  for (const directory of baseDirectories) rmSync(directory, { recursive: true, force: true });
});

describe('waits end: abort and deadline at every stage', () => {
  it('an abort while the shell opens: the command never runs, the result says aborted (130)', async () => {
    const pool = await startedPool();
    const slot = await pool.acquire();
    const controller = new AbortController();
    // The slot's shell is not open yet: the abort lands while it opens.
    const running = slot.exec('echo ran > ran.txt', { signal: controller.signal });
    controller.abort();
    const result = await running;
    expect(result.aborted).toBe(true);
    expect(result.exitCode).toBe(130);
    expect(existsSync(path.join(slot.workspace, 'ran.txt'))).toBe(false);
    // The slot is fine afterwards.
    expect((await slot.exec('echo ok')).stdout).toBe('ok\n');
  });

  it('an abort while a 20 MB stdin is staged: the command never runs (it used to run to exit 0)', async () => {
    const pool = await startedPool();
    const slot = await pool.acquire();
    await slot.exec('true'); // the shell is open: the abort lands in staging
    const controller = new AbortController();
    const running = slot.exec('cat > got.bin; echo ran > ran.txt', {
      stdin: TWENTY_MB,
      signal: controller.signal,
    });
    setImmediate(() => controller.abort());
    const result = await running;
    expect(result.aborted).toBe(true);
    expect(result.exitCode).toBe(130);
    expect(existsSync(path.join(slot.workspace, 'ran.txt'))).toBe(false);
    // The shell that was cut mid-transfer is replaced; stdin works again on the same slot.
    const again = await slot.exec('wc -c', { stdin: 'hello' });
    expect(again.stdout.trim()).toBe('5');
  });

  it('the deadline starts before staging: a 1 ms timeout with a 20 MB stdin times out without running', async () => {
    const pool = await startedPool();
    const slot = await pool.acquire();
    await slot.exec('true');
    const result = await slot.exec('echo ran > ran.txt; cat > /dev/null', { stdin: TWENTY_MB, timeoutMs: 1 });
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBe(124);
    expect(existsSync(path.join(slot.workspace, 'ran.txt'))).toBe(false);
    expect((await slot.exec('echo ok')).exitCode).toBe(0);
  });
});

describe('waits end: streams', () => {
  it('`break` out of execStream kills the command and frees the slot', async () => {
    const pool = await startedPool();
    const slot = await pool.acquire();
    const stream = slot.execStream('while :; do echo tick; sleep 0.01; done; echo never > after.txt');
    for await (const chunk of stream) {
      expect(Buffer.from(chunk.data).toString()).toContain('tick');
      break;
    }
    const result = await stream.result;
    expect(result.aborted).toBe(true);
    expect(slot.state).toBe('acquired');
    expect((await slot.exec('echo next')).stdout).toBe('next\n');
    await slot.release();
    expect(pool.stats().slots.available).toBe(1);
  });

  it('awaiting only `.result` of a stream printing 3 MiB never deadlocks on backpressure', async () => {
    const pool = await startedPool();
    const slot = await pool.acquire();
    const bytes = 3 * 1024 * 1024;
    const result = await slot.execStream(`head -c ${bytes} /dev/zero`, { timeoutMs: 60_000 }).result;
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(0);
    expect(result.stdoutBytes).toBe(bytes);
  });

  it('a stream iterated to the end still delivers every byte with backpressure', async () => {
    const pool = await startedPool();
    const slot = await pool.acquire();
    const bytes = 3 * 1024 * 1024;
    const stream = slot.execStream(`head -c ${bytes} /dev/zero`);
    let seen = 0;
    for await (const chunk of stream) {
      seen += chunk.data.byteLength;
      if (seen < 64 * 1024) await new Promise((resolve) => setTimeout(resolve, 5)); // a slow consumer
    }
    expect(seen).toBe(bytes);
    expect((await stream.result).exitCode).toBe(0);
  });
});

describe('waits end: Infinity deadlines', () => {
  it('acquire({ timeoutMs: Infinity }) and ≥ 2^31 wait instead of failing at once', async () => {
    const pool = await startedPool({ maxHosts: 1 });
    for (const timeoutMs of [Number.POSITIVE_INFINITY, 2 ** 31, 2 ** 40]) {
      const held = await pool.acquire();
      const waiting = pool.acquire({ timeoutMs });
      // Node would fire an overflowing timer after 1 ms: the waiter must still be queued.
      expect(await stillPending(waiting, 50), `acquire({ timeoutMs: ${timeoutMs} })`).toBe(true);
      await held.release();
      const slot = await waiting;
      expect(slot.state).toBe('acquired');
      await slot.release();
    }
  });

  it('Infinity is accepted for every deadline and interval option that can mean "never"', async () => {
    const pool = await startedPool({
      acquireTimeoutMs: Number.POSITIVE_INFINITY,
      execTimeoutMs: Number.POSITIVE_INFINITY,
      idleTimeoutMs: Number.POSITIVE_INFINITY,
      healthCheckIntervalMs: Number.POSITIVE_INFINITY,
      reapIntervalMs: Number.POSITIVE_INFINITY,
      hostLifetimeMs: Number.POSITIVE_INFINITY,
      createTimeoutMs: Number.POSITIVE_INFINITY,
      shellStartTimeoutMs: Number.POSITIVE_INFINITY,
      controlTimeoutMs: Number.POSITIVE_INFINITY,
      closeTimeoutMs: Number.POSITIVE_INFINITY,
    });
    const slot = await pool.acquire();
    const result = await slot.exec('sleep 0.2; echo done', {
      timeoutMs: Number.POSITIVE_INFINITY,
      noOutputTimeoutMs: Number.POSITIVE_INFINITY,
    });
    expect(result).toMatchObject({ exitCode: 0, timedOut: false, stdout: 'done\n' });
    const big = await slot.exec('sleep 0.2; echo done', { timeoutMs: 2 ** 33, noOutputTimeoutMs: 2 ** 31 });
    expect(big).toMatchObject({ exitCode: 0, timedOut: false });
    await slot.release();
  });

  it('deadlines that cannot mean "never" still reject Infinity with a precise message', async () => {
    const error = await errorOf(startedPool({ leaseTtlMs: Number.POSITIVE_INFINITY }));
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.message).toContain('leaseTtlMs');
  });
});

describe('waits end: release and close', () => {
  it('release() during a running command aborts it (TERM, KILL after killGraceMs) and releases', async () => {
    const pool = await startedPool({ killGraceMs: 200 });
    const slot = await pool.acquire();
    // TERM is ignored and the sleep outlasts the test's timeout: only the KILL after killGraceMs ends it.
    const running = slot.exec("trap '' TERM; sleep 600; echo finished > after.txt");
    while (slot.state !== 'executing') await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 100)); // the command has started
    await slot.release();
    const result = await running;
    expect(result.aborted).toBe(true);
    expect(pool.stats().slots.available).toBe(1);
    const next = await pool.acquire();
    expect(existsSync(path.join(next.workspace, 'after.txt'))).toBe(false);
    await next.release();
  });

  it('close({ signal }) with a slot still leased is cut short by the signal (closeTimeoutMs: Infinity)', async () => {
    const pool = await startedPool({ closeTimeoutMs: Number.POSITIVE_INFINITY });
    const slot = await pool.acquire();
    const controller = new AbortController();
    const closing = pool.close({ signal: controller.signal });
    expect(await stillPending(closing, 50)).toBe(true);
    controller.abort();
    await closing; // would never settle without the signal
    expect(pool.closed).toBe(true);
    // A slot of the closed pool says so.
    const error = await errorOf(slot.exec('true'));
    expect(error.code).toBe('POOL_CLOSED');
    await slot.release();
  });

  it('close({ timeoutMs }) bounds the wait for a leased slot; then its slot says POOL_CLOSED', async () => {
    const pool = await startedPool();
    const slot = await pool.acquire();
    await pool.close({ timeoutMs: 10 });
    for (const use of [
      () => slot.exec('true'),
      () => slot.writeFile('a.txt', 'x'),
      () => slot.readFile('a.txt'),
    ]) {
      const error = await errorOf(use());
      expect(error.code, error.message).toBe('POOL_CLOSED');
      expect(error.message).toMatch(/create a new pool/);
    }
  });
});

describe('errors say the truth: files and staging', () => {
  it('a file transfer aborted midway (by its signal, or by release()) throws ABORTED, not a raw AbortError', async () => {
    const pool = await startedPool();
    const slot = await pool.acquire();
    const big = Buffer.alloc(64 * 1024 * 1024, 0x62);
    const controller = new AbortController();
    const writing = slot.writeFile('big.bin', big, { signal: controller.signal });
    setImmediate(() => controller.abort());
    const aborted = await errorOf(writing);
    expect(aborted.code, aborted.message).toBe('ABORTED');

    const released = slot.writeFile('big2.bin', big);
    setImmediate(() => void slot.release());
    const stopped = await errorOf(released);
    expect(stopped.code, stopped.message).toBe('ABORTED');
    while (pool.stats().slots.available !== 1) await new Promise((resolve) => setTimeout(resolve, 10));
  });

  it("upload('/nonexistent') throws NOT_FOUND with the Node error as cause, not a raw ENOENT", async () => {
    const pool = await startedPool();
    const slot = await pool.acquire();
    const missing = path.join(tempBase(), 'does-not-exist');
    const error = await errorOf(slot.upload(missing));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain(missing);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('a missing file is NOT_FOUND; any other archive failure keeps its own code and reason', async () => {
    const pool = await startedPool({
      backend: withFailingArchive(createLocalBackend({ baseDirectory: tempBase() })),
    });
    const slot = await pool.acquire();
    const missing = await errorOf(slot.readFile('missing.txt'));
    expect(missing.code).toBe('NOT_FOUND');

    await slot.writeFile('capacity.txt', 'x');
    const capacity = await errorOf(slot.readFile('capacity.txt'));
    expect(capacity.code).toBe('CAPACITY');
    expect(capacity.message).toContain('disk full');

    await slot.writeFile('raw.txt', 'x');
    const raw = await errorOf(slot.download('raw.txt', tempBase()));
    expect(raw.code).toBe('INTERNAL');
    expect(raw.message).toContain('EIO: i/o error');
    expect((raw.cause as Error).message).toContain('EIO');
  });

  it('a stdin-staging failure keeps its real reason instead of "needs base64"', async () => {
    const pool = await startedPool();
    const slot = await pool.acquire();
    await slot.exec('true');
    // Core stages stdin under <workspace root>/.berth/tmp: make that a file, so staging cannot write.
    const tmp = path.join(path.dirname(slot.workspace), '.berth', 'tmp');
    rmSync(tmp, { recursive: true, force: true });
    writeFileSync(tmp, 'not a directory');
    try {
      const error = await errorOf(slot.exec('cat', { stdin: 'hello' }));
      expect(error.code).not.toBe('CAPABILITY_UNSUPPORTED');
      expect(error.message).not.toMatch(/needs `base64`/);
      expect(error.message).toMatch(/directory/i);
    } finally {
      rmSync(tmp, { force: true });
      mkdirSync(tmp, { recursive: true });
    }
    expect((await slot.exec('cat', { stdin: 'hello' })).stdout).toBe('hello');
  });
});

/** The local backend, with hosts whose archive reads fail the way a sick engine's would. */
function withFailingArchive(backend: ReturnType<typeof createLocalBackend>): typeof backend {
  const wrap = (host: HostV1): HostV1 => {
    const getArchive = host.getArchive?.bind(host);
    return Object.assign(Object.create(host) as HostV1, {
      // The archive route, not the in-host runtime: make sure file reads take it.
      readFile: undefined,
      writeFile: undefined,
      async getArchive(target: string, options?: { signal?: AbortSignal }) {
        if (target.endsWith('capacity.txt')) throw new CapacityError('the engine said: disk full', 1_000);
        if (target.endsWith('raw.txt'))
          throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
        if (!getArchive) throw new NotFoundError('no archive');
        return getArchive(target, options);
      },
    });
  };
  return {
    ...backend,
    createHost: async (request, options) => wrap(await backend.createHost(request, options)),
    attachHost: async (descriptor, options) => {
      if (!backend.attachHost) throw new Error('local backend has attachHost');
      return wrap(await backend.attachHost(descriptor, options));
    },
  };
}

describe('no raw engine error leaves createPool', () => {
  it('a backend failing with a plain Node error (ENOTDIR) rejects with INTERNAL, the error as cause', async () => {
    const base = tempBase();
    writeFileSync(path.join(base, 'file'), 'not a directory');
    const error = await errorOf(
      startedPool({
        backend: createLocalBackend({ baseDirectory: path.join(base, 'file', 'hosts') }),
        minHosts: 1,
        maxHosts: 1,
      }),
    );
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toMatch(/ENOTDIR|not a directory/);
    expect((error.cause as NodeJS.ErrnoException | undefined)?.code).toBe('ENOTDIR');
  });
});
