import { randomBytes } from 'node:crypto';
import {
  BerthError,
  type BerthErrorCode,
  type PoolOptions,
  poolSelector,
  type Slot,
  SlotPool,
} from '@berth/core';
import { expect, it } from 'vitest';
import type { ConformanceFeature, ConformanceOptions } from './conformance-options.js';

type Body = () => Promise<void>;

/** Shared state of one suite run: pool ids used, pools to close, feature gating. */
export class ConformanceContext<Spec> {
  readonly slotsPerHost: number;
  readonly timeoutMs: number;
  readonly basePoolId: string;
  /** Every pool id a test used; `afterAll` checks each has no host left. */
  readonly usedPoolIds = new Set<string>();
  private readonly openPools = new Set<SlotPool<Spec>>();
  private counter = 0;
  private shared: Promise<SlotPool<Spec>> | undefined;
  private readonly probe: { persistence: boolean; listHosts: boolean };

  constructor(readonly options: ConformanceOptions<Spec>) {
    this.slotsPerHost = options.slotsPerHost ?? 2;
    if (!Number.isInteger(this.slotsPerHost) || this.slotsPerHost < 2) {
      throw new TypeError(
        `Expected \`slotsPerHost\` to be a whole number ≥ 2, got ${String(options.slotsPerHost)}.`,
      );
    }
    this.timeoutMs = options.timeoutMs ?? 60_000;
    const random = randomBytes(3).toString('hex');
    const name = options.name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '');
    this.basePoolId = options.poolId ?? `conf-${name.slice(0, 40)}-${random}`;
    // Synchronous factory, no I/O: inspecting a throwaway instance is free.
    const backend = options.createBackend();
    this.probe = {
      persistence: backend.capabilities.persistence,
      listHosts: typeof backend.listHosts === 'function',
    };
  }

  /** The host spec of the `isolation: 'user'` tests. */
  get userIsolationHost(): unknown {
    return this.options.userIsolationHost ?? this.options.host;
  }

  /** Why the backend refuses `isolation: 'user'` for that spec, or `undefined` when it supports it. */
  userIsolationGap(): string | undefined {
    const backend = this.options.createBackend();
    if (!backend.userIsolationUnsupported) return 'the backend has no userIsolationUnsupported()';
    return backend.userIsolationUnsupported(backend.resolveHostSpec(this.userIsolationHost, 'host'));
  }

  get hasPersistence(): boolean {
    return this.probe.persistence;
  }

  get canCountHosts(): boolean {
    return this.options.countHosts !== undefined || this.probe.listHosts;
  }

  /** A fresh pool id derived from the base one, recorded for the final leak check. */
  newPoolId(): string {
    this.counter += 1;
    const id = `${this.basePoolId.slice(0, 58)}-${this.counter}`;
    this.usedPoolIds.add(id);
    return id;
  }

  poolOptions(overrides: Partial<PoolOptions<Spec>> = {}): PoolOptions<Spec> {
    const poolId = overrides.poolId ?? this.newPoolId();
    this.usedPoolIds.add(poolId);
    return {
      backend: this.options.createBackend(),
      poolId,
      persist: false,
      minHosts: 1,
      maxHosts: 1,
      slotsPerHost: this.slotsPerHost,
      host: this.options.host,
      handleSignals: false,
      healthCheckIntervalMs: 1_000,
      acquireTimeoutMs: Math.max(10_000, this.timeoutMs - 5_000),
      ...overrides,
    };
  }

  /**
   * Creates and starts a pool; `before` runs between construction and start so a test can
   * subscribe to start-up events (`host:adopted`, `host:reaped`). Closed in `afterAll` if the test did not.
   */
  async openPool(
    overrides: Partial<PoolOptions<Spec>> = {},
    before?: (pool: SlotPool<Spec>) => void,
  ): Promise<SlotPool<Spec>> {
    const pool = new SlotPool(this.poolOptions(overrides));
    this.openPools.add(pool);
    before?.(pool);
    await pool.start();
    return pool;
  }

  /** Closes a pool (force remove by default) and forgets it. */
  async closePool(pool: SlotPool<Spec>, forceRemove = true): Promise<void> {
    this.openPools.delete(pool);
    await pool.close({ forceRemove });
  }

  /** One pool (1 host × slotsPerHost) shared by the exec/files/lease tests, created on first use. */
  sharedPool(): Promise<SlotPool<Spec>> {
    this.shared ??= this.openPool({ poolId: this.basePoolId });
    return this.shared;
  }

  async closeEverything(): Promise<void> {
    const pools = [...this.openPools];
    this.openPools.clear();
    await Promise.allSettled(pools.map((pool) => pool.close({ forceRemove: true })));
  }

  async countHosts(poolId: string): Promise<number> {
    if (this.options.countHosts) return this.options.countHosts(poolId);
    const backend = this.options.createBackend();
    try {
      if (!backend.listHosts) throw new Error('countHosts needs backend.listHosts or the countHosts option.');
      return (await backend.listHosts(poolSelector(poolId))).length;
    } finally {
      await backend.dispose?.();
    }
  }

  /**
   * Registers one contract test, or a skipped one whose name carries the reason (also printed).
   * `unmet` is a reason the backend cannot run it (a missing capability).
   */
  test(feature: ConformanceFeature, title: string, body: Body, unmet?: string): void {
    const reason = this.options.skip?.[feature] ?? unmet;
    if (reason !== undefined) {
      console.info(`[berth conformance ${this.options.name}] skipping ${feature} / ${title}: ${reason}`);
      it.skipIf(true)(`${title} [skipped: ${reason}]`, body);
      return;
    }
    it(title, body, this.timeoutMs);
  }

  /** Runs `body` with a slot of the shared pool, releasing it afterwards. */
  async withSlot(body: (slot: Slot, pool: SlotPool<Spec>) => Promise<void>): Promise<void> {
    const pool = await this.sharedPool();
    const slot = await pool.acquire();
    try {
      await body(slot, pool);
    } finally {
      await slot.release().catch(() => undefined);
    }
  }

  /** Two slots of the shared pool's one host, released afterwards. */
  async twoSlots(body: (slot: Slot, observer: Slot) => Promise<void>): Promise<void> {
    const pool = await this.sharedPool();
    const slot = await pool.acquire();
    const observer = await pool.acquire();
    try {
      expect(observer.hostId).toBe(slot.hostId);
      await body(slot, observer);
    } finally {
      await slot.release().catch(() => undefined);
      await observer.release().catch(() => undefined);
    }
  }

  /** Asserts from inside the host (through `observer`) that no process has `marker` in its command line. */
  async noProcessLeft(observer: Slot, marker: string): Promise<void> {
    const gone = await eventually(async () => {
      const result = await observer.exec(countProcessesScript(marker));
      return result.stdout.trim() === '0';
    }, 10_000);
    const last = await observer.exec(countProcessesScript(marker));
    expect(
      gone,
      `a process with '${marker}' in its command line is still running: ${last.stdout.trim()}`,
    ).toBe(true);
  }
}

/** Acquires every slot of a single-host pool, runs `body` on the one with `slotId`, releases all. */
export async function withSameSlot(
  acquire: () => Promise<Slot>,
  slots: number,
  slotId: string,
  body: (slot: Slot) => Promise<void>,
): Promise<void> {
  const held: Slot[] = [];
  try {
    for (let index = 0; index < slots; index += 1) held.push(await acquire());
    const target = held.find((slot) => slot.id === slotId);
    expect(target, `slot ${slotId} among ${held.map((slot) => slot.id).join(', ')}`).toBeDefined();
    await body(target as Slot);
  } finally {
    for (const slot of held) await slot.release().catch(() => undefined);
    await sleep(0);
  }
}

export async function expectCode(
  work: Promise<unknown> | (() => unknown),
  code: BerthErrorCode,
): Promise<BerthError> {
  let caught: unknown;
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a BerthError with code ${code}`).toBeDefined();
  if (!BerthError.hasCode(caught, code)) {
    const got = BerthError.isInstance(caught) ? caught.code : String(caught);
    throw new Error(`Expected a BerthError with code ${code}, got ${got}`, { cause: caught });
  }
  return caught;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true or `timeoutMs` passes; returns the last verdict. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/**
 * A shell line run in another slot of the same host: how many live processes have `marker` in
 * their command line. `/proc/*\/cmdline` works on busybox too (its `ps` lacks `-o args` on some builds).
 * The marker is split with `[ ]` so the scanning pipeline never matches itself.
 */
export function countProcessesScript(marker: string): string {
  const pattern = `${marker.slice(0, -1)}[${marker.slice(-1)}]`;
  return `for f in /proc/[0-9]*/cmdline; do tr '\\000' ' ' < "$f" 2>/dev/null; echo; done | grep -c -- '${pattern}' || true`;
}
