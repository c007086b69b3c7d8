import { EventEmitter } from 'eventemitter3';
import type { DrainMode, DrainSource } from '../drain/drain-requests.js';
import { defaultDrainMarkerStore, describeProcess, PoolDrainControl } from '../drain/pool-drain-control.js';
import {
  AbortedError,
  BerthError,
  InvalidOptionsError,
  PoolClosedError,
  type PoolDrainingError,
  SlotStateError,
  throwIfAborted,
} from '../errors/index.js';
import type { ManagedHost } from '../host/managed-host.js';
import { observePool } from '../observability/observe-pool.js';
import { LeasedSlot, type LeaseOwner } from '../slot/leased-slot.js';
import type { SlotRecord } from '../slot/slot-record.js';
import type { SlotState } from '../slot/slot-states.js';
import type { ExecResult, ReleaseOptions, Slot } from '../slot/slot-types.js';
import { isForever, timeoutSignal, timerMs } from '../waits/timer-ms.js';
import { AcquireQueue } from './acquire-queue.js';
import { adoptAndReap } from './adopt-hosts.js';
import { type BatchItem, type BatchOptions, type BatchOutcome, runBatch } from './exec-batch.js';
import { registerForExit } from './exit-cleanup.js';
import { HostFleet } from './host-fleet.js';
import { LatencyWindow } from './latency-window.js';
import type { PoolEvents } from './pool-events.js';
import { listPoolHosts, type PoolHost } from './pool-hosts.js';
import { type PoolOptions, type ResolvedPoolOptions, resolvePoolOptions } from './pool-options.js';
import { collectStats, type PoolStats } from './pool-stats.js';

export interface AcquireOptions {
  profile?: string;
  /** Recorded on the slot and in events, to trace a trajectory through logs. */
  trajectoryId?: string;
  signal?: AbortSignal;
  /** Overall deadline for this acquire. Default: the pool's `acquireTimeoutMs`. */
  timeoutMs?: number;
}

export interface CloseOptions {
  /** Stop and remove every host, even in persist mode. */
  forceRemove?: boolean;
  /**
   * How long to wait for leased slots to be released before closing anyway, and the bound on
   * letting the hosts go after that. Default: the pool's `closeTimeoutMs`; `Infinity` waits for ever.
   */
  timeoutMs?: number;
  /** Aborting stops waiting for leased slots: the pool closes at once (hosts still let go, bounded). */
  signal?: AbortSignal;
}

export interface DrainOptions {
  /** `wait`: new acquires queue until resume(); `fail`: they throw POOL_DRAINING. */
  mode?: 'wait' | 'fail';
  signal?: AbortSignal;
}

/**
 * Hosts of one or more profiles, handing out slots. Create it with `createPool()`, which adopts
 * or reaps the pool's existing hosts and pre-warms `minHosts` before it resolves.
 */
export class SlotPool<Spec = unknown> extends EventEmitter<PoolEvents> implements AsyncDisposable {
  readonly options: ResolvedPoolOptions<Spec>;
  private readonly queue = new AcquireQueue<Slot>();
  private readonly fleet: HostFleet;
  private readonly waits = new LatencyWindow();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly idleListeners = new Set<() => void>();
  /** In-process `drain()` and the external marker (docs/architecture.md §13), composed: drained while either asks. */
  private readonly drainControl: PoolDrainControl;
  private readonly startedAt = new Date().toISOString();
  private closing: Promise<void> | undefined;
  /** Past the wait for leases: the hosts are being let go and leased slots say POOL_CLOSED. */
  private tornDown = false;
  private unregisterExit: (() => void) | undefined;
  private readonly leaseOwner: LeaseOwner;
  private acquiredTotal = 0;

  constructor(options: PoolOptions<Spec>) {
    super();
    this.options = resolvePoolOptions(options);
    // Before anything can happen: `start()` emits the sweep's `host:adopted` / `host:reaped`.
    for (const [name, listener] of Object.entries(options.on ?? {}))
      this.on(name as keyof PoolEvents, listener as (...args: unknown[]) => void);
    this.fleet = new HostFleet(this.options as ResolvedPoolOptions, this, {
      capacityChanged: (profile) => this.dispatch(profile),
      createFailedPermanently: (profile, error) => {
        // Retrying will not fix a missing image or a bad token: tell the waiters now.
        if (this.fleet.profile(profile).hosts.length === 0) this.queue.rejectAll(() => error, profile);
      },
      slotState: (slot, from, to) => this.onSlotState(slot, from, to),
    });
    this.drainControl = this.createDrainControl();
    const pool = this;
    this.leaseOwner = {
      get closed() {
        return pool.tornDown;
      },
      execDefaults: {
        timeoutMs: this.options.execTimeoutMs,
        maxOutputBytes: this.options.maxOutputBytes,
        killGraceMs: this.options.killGraceMs,
      },
      release: (slot, token, releaseOptions) => this.releaseSlot(slot, token, releaseOptions),
      confirmHeld: (slot) => this.fleet.confirmHeldIfStale(slot.host),
      onExecEnd: (slot, result, error, elapsedMs) =>
        this.emit('exec:end', {
          slotId: slot.id,
          hostId: slot.host.id,
          profile: slot.host.profile,
          trajectoryId: slot.trajectoryId,
          exitCode: result?.exitCode,
          durationMs: result?.durationMs ?? elapsedMs,
          ...(result?.timedOut ? { timedOut: true } : {}),
          ...(result?.aborted ? { aborted: true } : {}),
          ...(error instanceof Error ? { error } : {}),
        }),
    };
  }

  /** Adopts or reaps existing hosts, pre-warms `minHosts`, starts upkeep timers. */
  async start(signal?: AbortSignal): Promise<this> {
    throwIfAborted(signal);
    if (this.options.handleSignals) this.unregisterExit = registerForExit(this);
    const aborted = signal ?? new AbortController().signal;
    // A marker that survived a restart is honoured before the pool serves its first acquire: read
    // while adopting and pre-warming, awaited before start() resolves.
    const markerRead = this.drainControl.start();
    try {
      // Debug log and OpenTelemetry (when installed) subscribe before the start sweep emits anything.
      await observePool(this);
      await adoptAndReap(this.options as ResolvedPoolOptions, this.fleet, this, true, aborted);
      this.fleet.ensureMinimum();
      await this.waitForMinimum(signal);
      await markerRead;
    } catch (error) {
      // A pool that failed to start must not leave exit handlers, hosts or clients behind.
      await this.close({ forceRemove: !this.options.persist });
      throw error;
    }
    const every = (ms: number, work: () => Promise<void>) => {
      if (isForever(ms)) return; // an interval of Infinity: never
      let running = false;
      const timer = setInterval(() => {
        if (running || this.closing) return;
        running = true;
        work().finally(() => (running = false));
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    const idleCheckMs = Math.max(250, Math.min(5_000, this.options.idleTimeoutMs / 2));
    every(idleCheckMs, async () => {
      await this.fleet.tick();
      this.fleet.ensureMinimum();
    });
    every(this.options.healthCheckIntervalMs, () => this.fleet.checkHealth());
    every(Math.max(1_000, this.options.leaseTtlMs / 3), () => this.fleet.renewLeases());
    every(this.options.reapIntervalMs, () =>
      adoptAndReap(
        this.options as ResolvedPoolOptions,
        this.fleet,
        this,
        false,
        AbortSignal.timeout(60_000),
      ).catch(() => undefined),
    );
    return this;
  }

  /** Leases a slot: FIFO among waiters, with a deadline and AbortSignal. Dispose it to release. */
  async acquire(options: AcquireOptions = {}): Promise<Slot> {
    throwIfAborted(options.signal, 'acquire()');
    if (this.closing) throw new PoolClosedError();
    if (this.draining === 'fail') throw this.drainingError();
    const profile = options.profile ?? this.options.defaultProfile;
    if (!this.options.profiles.has(profile)) {
      throw new InvalidOptionsError(
        'profile',
        `unknown profile '${profile}'; this pool has: ${[...this.options.profiles.keys()].join(', ')}.`,
      );
    }
    if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) {
      throw new InvalidOptionsError(
        'timeoutMs',
        `expected a positive number of milliseconds, got ${options.timeoutMs}.`,
      );
    }
    // Fast path: nobody is waiting ahead of us and a slot is free.
    if (!this.draining && this.queue.lengthFor(profile) === 0) {
      const free = this.findFreeSlot(profile);
      if (free) return this.lease(free, options.trajectoryId, 0);
    }
    const timeoutMs = options.timeoutMs ?? this.options.acquireTimeoutMs;
    const waiting = this.queue.enqueue(profile, options.trajectoryId, timeoutMs, options.signal, () =>
      this.describeTimeout(profile, timeoutMs),
    );
    this.dispatch(profile);
    return waiting;
  }

  /** Runs every item on its own slot, `concurrency` at a time; one outcome per item, never all-or-nothing. */
  execBatch<T = ExecResult>(
    items: readonly BatchItem<T>[],
    options: BatchOptions = {},
  ): Promise<BatchOutcome<T>[]> {
    return runBatch(this, items, options);
  }

  /** Quiesces the pool: in-flight work finishes; resolves once no slot is leased. Undo with resume(). */
  async drain(options: DrainOptions = {}): Promise<void> {
    const mode = options.mode ?? this.options.drainMode;
    this.drainControl.request('api', mode);
    await this.whenNoLeases(options.signal);
    this.emit('pool:drained');
  }

  /**
   * Undoes `drain()`. The pool serves again unless a drain marker (`berth drain`) still asks it to
   * drain: then it resumes once the marker is removed too.
   */
  resume(): void {
    if (this.closing) throw new PoolClosedError();
    this.drainControl.lift('api');
  }

  /**
   * Closes the pool (idempotent). Persist mode (default): hosts keep running, claims released, for
   * the next process to adopt. `forceRemove: true` or `persist: false`: hosts are removed.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.closing) return this.closing;
    const timeoutMs = options.timeoutMs ?? this.options.closeTimeoutMs;
    if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(
        new InvalidOptionsError(
          'timeoutMs',
          `expected a number of milliseconds ≥ 0, got ${String(timeoutMs)}.`,
        ),
      );
    }
    this.closing = (async () => {
      this.queue.rejectAll(() => new PoolClosedError());
      for (const timer of this.timers) clearInterval(timer);
      const deadline = timeoutSignal(timeoutMs);
      await this.whenNoLeases(options.signal ? AbortSignal.any([deadline, options.signal]) : deadline).catch(
        () => undefined,
      );
      this.tornDown = true;
      const destroy = options.forceRemove === true || !this.options.persist;
      // `timeoutMs` bounds the wait for leases only: tearing hosts down (removal, sweeps, released
      // claims) keeps `closeTimeoutMs`, so `close({ timeoutMs: 0 })` still leaves nothing running.
      await this.fleet.closeAll(destroy, timerMs(this.options.closeTimeoutMs));
      await this.drainControl.stop();
      await this.options.backend.dispose?.();
      this.unregisterExit?.();
      this.emit('pool:closed');
    })();
    return this.closing;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  stats(): PoolStats {
    return collectStats(this.fleet, {
      queueDepth: this.queue.length,
      waits: this.waits,
      acquiredTotal: this.acquiredTotal,
      draining: this.draining !== undefined,
      closed: this.closed,
    });
  }

  /**
   * This pool as an owner (`<machine>.<pid>.<start>.<n>`): what its hosts' `berth.owner` labels
   * and in-host claims name, so another process can tell whose a host is.
   */
  get owner(): string {
    return this.fleet.owner;
  }

  /** The hosts this pool holds now, with labels, owner, age and the state of every slot. */
  hosts(): PoolHost[] {
    return listPoolHosts(this.fleet);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Effective drain mode: in-process `drain()` and the marker composed (`undefined`: serving). */
  private get draining(): 'wait' | 'fail' | undefined {
    return this.drainControl.effective;
  }

  private createDrainControl(): PoolDrainControl {
    const { drainMarker, backend } = this.options;
    const store = drainMarker === false ? undefined : (drainMarker ?? defaultDrainMarkerStore(backend));
    const pool = this;
    return new PoolDrainControl(
      {
        poolId: this.options.poolId,
        defaultMode: this.options.drainMode,
        events: this,
        get closing() {
          return pool.closing !== undefined;
        },
        changed: (before, after, source) => this.drainChanged(before, after, source),
        describe: () =>
          describeProcess({
            owner: this.owner,
            poolId: this.options.poolId,
            backendId: backend.backendId,
            startedAt: this.startedAt,
            leasedSlots: this.leasedTotal(),
            hosts: this.hosts(),
          }),
      },
      store,
      this.options.drainMarkerIntervalMs,
    );
  }

  private drainingError(): PoolDrainingError {
    return this.drainControl.drainingError();
  }

  private drainChanged(
    before: DrainMode | undefined,
    after: DrainMode | undefined,
    source: DrainSource,
  ): void {
    if (after === 'fail' && before !== 'fail') this.queue.rejectAll(() => this.drainingError());
    if (after === undefined && before !== undefined) {
      this.emit('pool:resumed', { source });
      for (const profile of this.options.profiles.keys()) this.dispatch(profile);
    }
    if (after !== undefined && source === 'marker' && before === undefined)
      void this.whenNoLeases().then(() => {
        if (this.draining !== undefined && !this.closing) this.emit('pool:drained');
      });
  }

  private dispatch(profile: string): void {
    if (this.closing || this.draining) return;
    for (let waiter = this.queue.first(profile); waiter; waiter = this.queue.first(profile)) {
      const free = this.findFreeSlot(profile);
      if (!free) break;
      waiter.resolve(this.lease(free, waiter.trajectoryId, performance.now() - waiter.enqueuedAt));
    }
    const waiting = this.queue.lengthFor(profile);
    if (waiting > 0) this.fleet.scaleFor(profile, waiting);
  }

  private findFreeSlot(profile: string): SlotRecord | undefined {
    for (const host of this.fleet.profile(profile).hosts) {
      // A host with a slot in `error` takes no new lease: once idle it is replaced (capacity returns).
      if (host.status !== 'ready' || host.hasErrorSlot) continue;
      for (const slot of host.slots) if (slot.state === 'available') return slot;
    }
    return undefined;
  }

  private lease(slot: SlotRecord, trajectoryId: string | undefined, waitMs: number): Slot {
    slot.moveTo('acquired');
    slot.beginLease();
    slot.trajectoryId = trajectoryId;
    this.acquiredTotal += 1;
    this.waits.add(waitMs);
    const handle = new LeasedSlot(slot, this.leaseOwner);
    if (this.listenerCount('slot:acquired') > 0)
      this.emit('slot:acquired', { slotId: slot.id, trajectoryId, waitMs });
    return handle;
  }

  private async releaseSlot(slot: SlotRecord, token: object, options: ReleaseOptions): Promise<void> {
    if (slot.token !== token) return;
    if (slot.state === 'executing') {
      throw new SlotStateError(`Slot ${slot.id} is still running a command; await it before releasing.`);
    }
    slot.token = undefined;
    const host = slot.host;
    // A process paused past its claim must not reset a workspace another process adopted meanwhile.
    const confirming = slot.state === 'acquired' ? this.fleet.confirmHeldIfStale(host) : undefined;
    if (confirming) await confirming;
    if (slot.state === 'acquired' && host.status === 'ready') {
      slot.moveTo('releasing');
      try {
        if (slot.dirty) await host.cleanSlot(slot, options.reset ?? this.options.resetOnRelease);
        slot.dirty = false;
        slot.moveTo('available');
      } catch (error) {
        if ((slot.state as SlotState) === 'releasing') slot.moveTo('error');
        this.emit('host:error', {
          profile: host.profile,
          operation: 'release',
          hostId: host.id,
          slotId: slot.id,
          ...(slot.trajectoryId === undefined ? {} : { trajectoryId: slot.trajectoryId }),
          error: error instanceof Error ? error : new Error(String(error)),
        });
      }
    }
    if (host.leasedCount === 0) host.idleSinceMs = Date.now();
    if (this.listenerCount('slot:released') > 0) this.emit('slot:released', { slotId: slot.id });
    this.fleet.replaceIfDegraded(host);
    this.dispatch(host.profile);
    if (this.idleListeners.size > 0 && this.leasedTotal() === 0)
      for (const notify of this.idleListeners) notify();
  }

  private onSlotState(slot: SlotRecord, from: SlotState, to: SlotState): void {
    this.drainControl.touched(); // `berth hosts` shows slot states from the process record
    if (this.listenerCount('slot:state') > 0)
      this.emit('slot:state', { slotId: slot.id, hostId: slot.host.id, from, to });
  }

  private leasedTotal(): number {
    let total = 0;
    for (const host of this.fleet.allHosts()) total += host.status === 'ready' ? host.leasedCount : 0;
    return total;
  }

  private whenNoLeases(signal?: AbortSignal): Promise<void> {
    if (this.leasedTotal() === 0) return Promise.resolve();
    if (signal?.aborted)
      return Promise.reject(new AbortedError('Waiting for leased slots to be released was aborted.'));
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.idleListeners.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.idleListeners.delete(done);
        reject(new AbortedError('Waiting for leased slots to be released was aborted.'));
      };
      this.idleListeners.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async waitForMinimum(signal?: AbortSignal): Promise<void> {
    const missing = () =>
      [...this.options.profiles.values()].some((profile) => {
        const fleet = this.fleet.profile(profile.name);
        return (
          fleet.hosts.length < profile.minHosts && (fleet.creating > 0 || fleet.consecutiveFailures === 0)
        );
      });
    while (missing()) {
      throwIfAborted(signal, 'Pre-warming the pool');
      // The abort ends this wait at once; the creations go on and are removed by the close that follows.
      await new Promise<void>((resolve) => {
        const settle = () => {
          this.off('host:created', settle);
          this.off('host:error', settle);
          signal?.removeEventListener('abort', settle);
          resolve();
        };
        this.on('host:created', settle);
        this.on('host:error', settle);
        signal?.addEventListener('abort', settle, { once: true });
      });
    }
    const failed = [...this.options.profiles.values()].find(
      (profile) => this.fleet.profile(profile.name).hosts.length < profile.minHosts,
    );
    const lastError = failed && this.fleet.lastError(failed.name);
    if (lastError) {
      await this.close();
      throw lastError;
    }
  }

  private describeTimeout(profile: string, timeoutMs: number): string {
    const fleet = this.fleet.profile(profile);
    const last = fleet.lastError;
    const hosts = `${fleet.hosts.length}/${fleet.options.maxHosts} hosts, ${fleet.creating} being created`;
    const why = last
      ? ` Last host creation failed: ${BerthError.isInstance(last) ? `[${last.code}] ` : ''}${last.message}`
      : fleet.creating > 0 && fleet.lastProgress
        ? ` A host is still being created: ${fleet.lastProgress}.`
        : '';
    return `No slot of profile '${profile}' became free within ${timeoutMs} ms (${hosts}, ${this.queue.lengthFor(profile)} waiting).${why} Raise maxHosts or acquireTimeoutMs, or release slots sooner.`;
  }

  /** @internal for tests and stats: the managed hosts of a profile. */
  hostsOf(profile = this.options.defaultProfile): readonly ManagedHost[] {
    return this.fleet.profile(profile).hosts;
  }
}

/** Creates a pool and waits until it is ready (existing hosts adopted or reaped, `minHosts` warm). */
export async function createPool<Spec>(
  options: PoolOptions<Spec>,
  signal?: AbortSignal,
): Promise<SlotPool<Spec>> {
  return new SlotPool(options).start(signal);
}
