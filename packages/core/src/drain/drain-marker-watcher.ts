import type {
  DrainMarkerReadingV1,
  DrainMarkerStoreV1,
  DrainProcessRecordV1,
} from '../backend/v1/drain-marker-store.js';
import { isOwnerProvablyDead } from '../host/owner-identity.js';
import { timerMs } from '../waits/timer-ms.js';
import { safeRead } from './combined-drain-marker-store.js';
import type { DrainMode } from './drain-requests.js';

/** What the marker asks of the pool now. `seen` names the request (`requestedAt`, or `corrupt`). */
export interface MarkerDrain {
  readonly mode: DrainMode;
  readonly seen: string;
  readonly principal?: string;
  readonly requestedAt?: string;
  /** Why the marker could not be read: it drains all the same (fail safe). */
  readonly corrupt?: string;
}

/**
 * The rules of docs/architecture.md §13 for one reading, as a pure function: absent → no drain; present → drain in its
 * mode; corrupt or unreadable → drain in the pool's default mode; the store could not be asked
 * (unknown) → keep what was last known.
 */
export function decideMarkerDrain(
  previous: MarkerDrain | undefined,
  reading: DrainMarkerReadingV1,
  defaultMode: DrainMode,
): MarkerDrain | undefined {
  switch (reading.state) {
    case 'absent':
      return undefined;
    case 'present':
      return {
        mode: reading.marker.mode,
        seen: reading.marker.requestedAt,
        principal: reading.marker.principal,
        requestedAt: reading.marker.requestedAt,
      };
    case 'corrupt':
      return { mode: defaultMode, seen: 'corrupt', corrupt: reading.reason };
    case 'unknown':
      return previous;
  }
}

export function sameMarkerDrain(a: MarkerDrain | undefined, b: MarkerDrain | undefined): boolean {
  return a?.mode === b?.mode && a?.seen === b?.seen && a?.corrupt === b?.corrupt;
}

export interface DrainWatcherTarget {
  readonly poolId: string;
  readonly defaultMode: DrainMode;
  /** Once the pool closes nothing the marker says changes it (close wins over a resume). */
  readonly closing: boolean;
  /** The marker's request changed: drain (a request) or lift the marker's drain (`undefined`). */
  applyMarker(drain: MarkerDrain | undefined): void;
  /** This process as `berth status` lists it (the watcher fills in `markerSeen` and `updatedAt`). */
  describe(): Omit<DrainProcessRecordV1, 'markerSeen' | 'updatedAt'>;
}

export interface DrainWatcherOptions {
  intervalMs: number;
  /** How often the process record is refreshed when nothing changed. */
  recordEveryMs?: number;
}

/** Bound on one read of the store, so a hung server cannot stall reconciling for ever. */
const READ_TIMEOUT_MS = 5_000;

/**
 * Reconciles a pool with its drain marker about once per `intervalMs`, and keeps the process
 * record `berth status` reads. Never throws; ticks never overlap.
 */
export class DrainMarkerWatcher {
  private current: MarkerDrain | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private recordedAtMs = 0;
  private everRecorded = false;
  /** The start sweep of process records (stop waits for it, so nothing runs after close). */
  private sweeping: Promise<void> | undefined;
  /** Ends a read in flight at stop(): a closing pool never waits on a slow shared store. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly store: DrainMarkerStoreV1,
    private readonly target: DrainWatcherTarget,
    private readonly options: DrainWatcherOptions,
  ) {}

  /** What the marker asks for now, as last read. */
  get markerDrain(): MarkerDrain | undefined {
    return this.current;
  }

  /** Reads once (a marker that survived a restart is honoured before the pool serves), then polls. */
  async start(): Promise<void> {
    await this.tick();
    if (this.stopped) return;
    void this.forgetDeadRecords();
    this.timer = setInterval(() => void this.tick(), timerMs(this.options.intervalMs));
    this.timer.unref();
  }

  /** One reconcile. Concurrent calls share the tick in flight. */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.reconcile()
      .catch(() => undefined) // a listener that threw must not end reconciling
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops watching and forgets this process's record. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.stopping.abort();
    await this.running;
    await this.sweeping;
    if (!this.everRecorded) return; // nothing to forget (a pool that failed to start)
    const { poolId, owner } = this.target.describe();
    await this.store
      .forgetProcess(poolId, owner, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) })
      .catch(() => undefined);
  }

  /**
   * A SIGKILLed process never forgets its record: each pool forgets the provably dead ones of its
   * own pool id at start (others' machines are left to their own pools and `berth reap`).
   */
  forgetDeadRecords(): Promise<void> {
    this.sweeping ??= (async () => {
      const { poolId, owner: self } = this.target.describe();
      const signal = AbortSignal.any([AbortSignal.timeout(READ_TIMEOUT_MS), this.stopping.signal]);
      const records = await this.store.listProcesses(poolId, { signal });
      for (const { owner } of records)
        if (owner !== self && isOwnerProvablyDead(owner))
          await this.store.forgetProcess(poolId, owner, { signal }).catch(() => undefined);
    })().catch(() => undefined);
    return this.sweeping;
  }

  /** Write the process record at the next tick even if nothing changed (a lease came or went). */
  markDirty(): void {
    this.recordedAtMs = 0;
  }

  private async reconcile(): Promise<void> {
    const reading = await safeRead(this.store, this.target.poolId, {
      signal: AbortSignal.any([AbortSignal.timeout(READ_TIMEOUT_MS), this.stopping.signal]),
    });
    if (this.stopped || this.target.closing) return;
    const next = decideMarkerDrain(this.current, reading, this.target.defaultMode);
    const changed = !sameMarkerDrain(this.current, next);
    if (changed) {
      this.current = next;
      this.target.applyMarker(next);
    }
    const recordEveryMs = this.options.recordEveryMs ?? 5_000;
    if (changed || Date.now() - this.recordedAtMs >= recordEveryMs) await this.record();
  }

  private async record(): Promise<void> {
    const record: DrainProcessRecordV1 = {
      ...this.target.describe(),
      markerSeen: this.current?.seen,
      updatedAt: new Date().toISOString(),
    };
    try {
      this.everRecorded = true; // even a failed write may have landed: forget it at stop
      await this.store.recordProcess(record, {
        signal: AbortSignal.any([AbortSignal.timeout(READ_TIMEOUT_MS), this.stopping.signal]),
      });
      this.recordedAtMs = Date.now();
    } catch {
      // The next tick tries again; draining never depends on the record being written.
    }
  }
}
