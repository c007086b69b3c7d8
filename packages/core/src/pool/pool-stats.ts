import { SLOT_STATES, type SlotState } from '../slot/slot-states.js';
import type { HostFleet } from './host-fleet.js';
import type { LatencyWindow } from './latency-window.js';

export interface ProfileStats {
  /** Hosts that take leases (retiring ones not included). */
  hosts: number;
  /** Hosts the backend retired (a draining or unreachable node) whose leases still run. */
  retiring: number;
  creating: number;
  minHosts: number;
  maxHosts: number;
  slotsPerHost: number;
  lastError: string | undefined;
}

export interface PoolStats {
  hosts: number;
  creating: number;
  profiles: Record<string, ProfileStats>;
  slots: Record<SlotState, number>;
  queueDepth: number;
  acquiredTotal: number;
  waitMs: { p50: number | undefined; p99: number | undefined };
  coldStartMs: { p50: number | undefined; p99: number | undefined; count: number };
  draining: boolean;
  closed: boolean;
}

export function collectStats(
  fleet: HostFleet,
  extra: {
    queueDepth: number;
    waits: LatencyWindow;
    acquiredTotal: number;
    draining: boolean;
    closed: boolean;
  },
): PoolStats {
  const slots = Object.fromEntries(SLOT_STATES.map((state) => [state, 0])) as Record<SlotState, number>;
  const profiles: Record<string, ProfileStats> = {};
  let hosts = 0;
  let creating = 0;
  for (const [name, profile] of fleet.profiles) {
    hosts += profile.hosts.length;
    creating += profile.creating;
    const retiring = fleet.retiringHosts().filter((host) => host.profile === name);
    profiles[name] = {
      hosts: profile.hosts.length,
      retiring: retiring.length,
      creating: profile.creating,
      minHosts: profile.options.minHosts,
      maxHosts: profile.options.maxHosts,
      slotsPerHost: profile.options.slotsPerHost,
      lastError: profile.lastError?.message,
    };
    // A retiring host's leased slots are still leased: counted, or they would vanish from stats.
    for (const host of [...profile.hosts, ...retiring]) for (const slot of host.slots) slots[slot.state] += 1;
  }
  return {
    hosts,
    creating,
    profiles,
    slots,
    queueDepth: extra.queueDepth,
    acquiredTotal: extra.acquiredTotal,
    waitMs: { p50: extra.waits.percentile(50), p99: extra.waits.percentile(99) },
    coldStartMs: {
      p50: fleet.coldStarts.percentile(50),
      p99: fleet.coldStarts.percentile(99),
      count: fleet.coldStarts.count,
    },
    draining: extra.draining,
    closed: extra.closed,
  };
}
