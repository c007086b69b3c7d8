import type { HostStatus } from '../host/managed-host.js';
import type { SlotState } from '../slot/slot-states.js';
import type { HostFleet } from './host-fleet.js';

/** One slot of a host in `pool.hosts()`. */
export interface PoolHostSlot {
  /** `<hostId>/slot_<index>`, as `slot.id`. */
  readonly id: string;
  readonly index: number;
  readonly state: SlotState;
  /** Of the current lease, when it gave one. */
  readonly trajectoryId: string | undefined;
}

/** One host this pool holds, as `pool.hosts()` lists it. */
export interface PoolHost {
  readonly id: string;
  readonly profile: string;
  /** The host's labels (`berth.pool`, `berth.profile`, `berth.spec`, `berth.owner`, …). */
  readonly labels: Readonly<Record<string, string>>;
  /** Who holds the host now: this pool (`pool.owner`, as in its claims); a pool lists only hosts it holds. */
  readonly owner: string;
  /** The process that created it (its `berth.owner` label); another one's for an adopted host. */
  readonly createdBy: string | undefined;
  /** Taken over from an earlier process (persist mode) rather than created by this pool. */
  readonly adopted: boolean;
  /** `ready`, or `lost` / `removing` while it is being taken out. */
  readonly status: HostStatus;
  /** Why its backend retired it (no new leases, removed once idle), when it did. */
  readonly retiring: string | undefined;
  /** Epoch milliseconds (the `berth.created` label when the engine kept it). */
  readonly createdAtMs: number;
  readonly ageMs: number;
  /** How long no slot of it has been leased; `undefined` while one is. */
  readonly idleMs: number | undefined;
  readonly slots: readonly PoolHostSlot[];
}

export function listPoolHosts(fleet: HostFleet, now = Date.now()): PoolHost[] {
  return [...fleet.allHosts()].map((host) => ({
    id: host.id,
    profile: host.profile,
    labels: { ...host.backendHost.labels },
    owner: fleet.owner,
    createdBy: host.backendHost.labels['berth.owner'],
    adopted: host.adopted,
    status: host.status,
    retiring: host.retiredReason,
    createdAtMs: host.createdAtMs,
    ageMs: Math.max(0, now - host.createdAtMs),
    idleMs: host.leasedCount === 0 ? Math.max(0, now - host.idleSinceMs) : undefined,
    slots: host.slots.map((slot) => ({
      id: slot.id,
      index: slot.index,
      state: slot.state,
      trajectoryId: slot.token === undefined ? undefined : slot.trajectoryId,
    })),
  }));
}
