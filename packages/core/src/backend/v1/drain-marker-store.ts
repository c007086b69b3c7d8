/**
 * External drain control (docs/architecture.md §13): a durable, presence-based marker per pool id that
 * every running process of the pool watches. A backend whose engine keeps shared state (Nomad
 * Variables) can supply a store, so pools on several machines drain together; core always keeps
 * one in a Berth home directory too.
 */
import type { WaitOptions } from './types.js';

/** What `berth drain` writes, atomically. */
export interface DrainMarkerV1 {
  readonly action: 'drain';
  /** `wait`: new acquires queue until the marker goes; `fail`: they throw POOL_DRAINING. */
  readonly mode: 'wait' | 'fail';
  /** ISO 8601: when it was asked for. Identifies one request (a process has seen *this* one). */
  readonly requestedAt: string;
  /** Who asked (`user@machine`), for `berth status` and the `pool:drain-requested` event. */
  readonly principal: string;
}

/**
 * One read of the marker. `corrupt`: something is there that cannot be read or parsed; it counts
 * as present (fail safe toward quiescing). `unknown`: the store could not be asked at all (its
 * server is unreachable), so the pool keeps what it last knew. `unknown` with `forbidden`: the
 * store refuses this process (no permission, 401/403): asking again will not help, so a combined
 * store warns once and stops asking it instead of keeping a drain for ever.
 */
export type DrainMarkerReadingV1 =
  | { readonly state: 'absent' }
  | { readonly state: 'present'; readonly marker: DrainMarkerV1 }
  | { readonly state: 'corrupt'; readonly reason: string }
  | { readonly state: 'unknown'; readonly reason: string; readonly forbidden?: boolean };

/** What one live process of a pool reports about itself, so `berth status` can list it. */
export interface DrainProcessRecordV1 {
  /** The pool's owner identity (`pool.owner`): `<machine>.<pid>.<start>.<n>`. */
  readonly owner: string;
  readonly poolId: string;
  readonly pid: number;
  readonly hostname: string;
  readonly backendId: string;
  readonly startedAt: string;
  /** Refreshed every few seconds while the pool runs: a record far older than that is stale. */
  readonly updatedAt: string;
  /** The pool's effective drain: `undefined` when it serves acquires. */
  readonly draining: 'wait' | 'fail' | undefined;
  /** Who asks it to drain now: the in-process API, the marker, or both. */
  readonly drainedBy: readonly ('api' | 'marker')[];
  /** The marker this process has seen and applied: its `requestedAt`, `corrupt`, or none. */
  readonly markerSeen: string | undefined;
  /** Slots leased now. */
  readonly leasedSlots: number;
  /** The hosts it holds, with each slot's state (what `berth hosts` shows as slot states). */
  readonly hosts: readonly {
    readonly id: string;
    readonly profile: string;
    readonly slots: readonly string[];
  }[];
}

/** Where drain markers and process records of pools live. Reading never throws. */
export interface DrainMarkerStoreV1 {
  /** Where it keeps them, for messages (`file:/root/.berth`, `nomad-variables:berth/drain`). */
  readonly description: string;
  /** Never throws: see `DrainMarkerReadingV1`. */
  read(poolId: string, options?: WaitOptions): Promise<DrainMarkerReadingV1>;
  /** Atomic: a reader sees the old marker, none, or the whole new one. */
  write(poolId: string, marker: DrainMarkerV1, options?: WaitOptions): Promise<void>;
  /** Idempotent; resolves true when a marker was there. */
  remove(poolId: string, options?: WaitOptions): Promise<boolean>;
  recordProcess(record: DrainProcessRecordV1, options?: WaitOptions): Promise<void>;
  forgetProcess(poolId: string, owner: string, options?: WaitOptions): Promise<void>;
  /** Every record of the pool, live or not (the caller judges liveness). */
  listProcesses(poolId: string, options?: WaitOptions): Promise<DrainProcessRecordV1[]>;
}
