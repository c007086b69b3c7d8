import type { SlotState } from '../slot/slot-states.js';

/** Typed pool events (`noun:verb`). Subscribe with `pool.on('host:lost', …)`. */
export interface PoolEvents {
  'host:creating': (event: { profile: string }) => void;
  'host:created': (event: { hostId: string; profile: string; coldStartMs: number }) => void;
  'host:progress': (event: { profile: string; phase: string; message: string; fraction?: number }) => void;
  'host:adopted': (event: { hostId: string; profile: string }) => void;
  /** A host of this pool was not reused (spec changed, too old) and was removed. */
  'host:replaced': (event: { hostId: string; profile: string; reason: string }) => void;
  /** The orphan reaper removed a host whose owner is gone. */
  'host:reaped': (event: { hostId: string; profile: string; reason: string }) => void;
  'host:lost': (event: { hostId: string; profile: string; reason: string }) => void;
  /** The backend retired a host (its machine drains or stopped answering): no new leases, replaced, removed once idle. */
  'host:retiring': (event: { hostId: string; profile: string; reason: string }) => void;
  'host:removed': (event: { hostId: string; profile: string; reason: string }) => void;
  'host:error': (event: { profile: string; error: Error }) => void;
  'slot:state': (event: { slotId: string; hostId: string; from: SlotState; to: SlotState }) => void;
  'slot:acquired': (event: { slotId: string; trajectoryId: string | undefined; waitMs: number }) => void;
  'slot:released': (event: { slotId: string }) => void;
  'exec:end': (event: {
    slotId: string;
    exitCode: number | undefined;
    durationMs: number | undefined;
    error?: Error;
  }) => void;
  'pool:scaled': (event: { profile: string; hosts: number; direction: 'up' | 'down' }) => void;
  'pool:drained': () => void;
  'pool:closed': () => void;
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
  'pool:closed': true,
};

export const POOL_EVENT_NAMES = Object.keys(EVENT_NAMES) as readonly (keyof PoolEvents)[];
