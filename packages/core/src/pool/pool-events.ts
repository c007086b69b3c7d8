import type { SlotState } from '../slot/slot-states.js';

/** Typed pool events (`noun:verb`). Subscribe with `pool.on('host:lost', …)`. */
export interface PoolEvents {
  'host:creating': (event: { profile: string }) => void;
  'host:created': (event: { hostId: string; profile: string; coldStartMs: number }) => void;
  'host:progress': (event: { profile: string; phase: string; message: string; fraction?: number }) => void;
  'host:adopted': (event: { hostId: string; profile: string }) => void;
  /** A host of this pool was not reused (spec changed, too old) and was removed. */
  'host:replaced': (event: { hostId: string; profile: string; reason: string; durationMs?: number }) => void;
  /** The orphan reaper removed a host whose owner is gone. */
  'host:reaped': (event: { hostId: string; profile: string; reason: string; durationMs?: number }) => void;
  'host:lost': (event: { hostId: string; profile: string; reason: string }) => void;
  /** The backend retired a host (its machine drains or stopped answering): no new leases, replaced, removed once idle. */
  'host:retiring': (event: { hostId: string; profile: string; reason: string }) => void;
  /** A host this pool held was removed (`durationMs`: how long the removal took). */
  'host:removed': (event: { hostId: string; profile: string; reason: string; durationMs?: number }) => void;
  'host:error': (event: HostErrorEvent) => void;
  'slot:state': (event: { slotId: string; hostId: string; from: SlotState; to: SlotState }) => void;
  'slot:acquired': (event: { slotId: string; trajectoryId: string | undefined; waitMs: number }) => void;
  'slot:released': (event: { slotId: string }) => void;
  'exec:end': (event: ExecEndEvent) => void;
  'pool:scaled': (event: { profile: string; hosts: number; direction: 'up' | 'down' }) => void;
  'pool:drained': () => void;
  /**
   * A source asked the pool to drain: `api` (`drain()`) or `marker` (`berth drain`, docs/architecture.md §13). With a
   * marker: who asked and when, or why it could not be read (a corrupt marker drains all the same).
   */
  'pool:drain-requested': (event: {
    source: 'api' | 'marker';
    mode: 'wait' | 'fail';
    principal?: string;
    requestedAt?: string;
    corrupt?: string;
  }) => void;
  /** The pool serves acquires again: the last source asking it to drain (`source`) stopped asking. */
  'pool:resumed': (event: { source: 'api' | 'marker' }) => void;
  'pool:closed': () => void;
}

/** A command (or file operation's command) ended: with a result, or with `error`. */
export interface ExecEndEvent {
  slotId: string;
  hostId: string;
  profile: string;
  /** The lease's `acquire({ trajectoryId })`. */
  trajectoryId: string | undefined;
  /** `undefined` when the command threw (`error` says why). */
  exitCode: number | undefined;
  /** From `exec()` to its end; measured by the pool when the command threw. */
  durationMs: number | undefined;
  /** The deadline ended the command (exit 124). */
  timedOut?: boolean;
  /** A signal or `release()` ended the command (exit 130). */
  aborted?: boolean;
  error?: Error;
}

/** Something failed on or for a host; which host, slot and trajectory when there is one. */
export interface HostErrorEvent {
  profile: string;
  /**
   * What failed: `create` a new host (scale-up retries it after a backoff, unless the error is
   * permanent), `adopt` or `remove` one in the start sweep / reaper, `release` (a slot's clean-up;
   * the slot is quarantined), `warning` (nothing was lost, e.g. undeletable files in the trash).
   */
  operation: 'create' | 'adopt' | 'remove' | 'release' | 'warning';
  hostId?: string;
  slotId?: string;
  trajectoryId?: string;
  /** How long the failed operation ran (`create`). */
  durationMs?: number;
  error: Error;
}

/** Listeners by event name, attached before the pool starts: `createPool({ …, on: { 'host:adopted': fn } })`. */
export type PoolListeners = { [Name in keyof PoolEvents]?: PoolEvents[Name] };

/** Every event name, for validating `on` (a `Record` so a new event cannot be forgotten here). */
const EVENT_NAMES: Record<keyof PoolEvents, true> = {
  'host:creating': true,
  'host:created': true,
  'host:progress': true,
  'host:adopted': true,
  'host:replaced': true,
  'host:reaped': true,
  'host:lost': true,
  'host:retiring': true,
  'host:removed': true,
  'host:error': true,
  'slot:state': true,
  'slot:acquired': true,
  'slot:released': true,
  'exec:end': true,
  'pool:scaled': true,
  'pool:drained': true,
  'pool:drain-requested': true,
  'pool:resumed': true,
  'pool:closed': true,
};

export const POOL_EVENT_NAMES = Object.keys(EVENT_NAMES) as readonly (keyof PoolEvents)[];
