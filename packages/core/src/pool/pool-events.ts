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
