import { type DrainProcessRecordV1, type HostDescriptorV1, LABEL } from '@berth/core';
import { type OwnerLiveness, ownerLiveness, recordLiveness } from './owner-liveness.js';

/** One managed host as `berth hosts` shows it (`--json` prints these). */
export interface HostRow {
  id: string;
  backend: string;
  pool: string;
  profile: string;
  /** The engine's state: running, stopped, starting, unknown. */
  state: string;
  /** Who holds it now (a live pool process that reported it), else who created it. */
  owner: string;
  /** How `owner` was learnt: `holder` (a live process lists it) or `creator` (its label). */
  ownerSource: 'holder' | 'creator';
  ownerState: OwnerLiveness;
  /** True only when the owner is a process of this machine that no longer runs. */
  ownerProvablyDead: boolean;
  createdAtMs: number;
  ageMs: number;
  specHash: string;
  version: string;
  /** Each slot's state, from the holder's record; `null` when no live process reported the host. */
  slots: string[] | null;
  labels: Record<string, string>;
}

export function buildHostRows(
  backendId: string,
  descriptors: readonly HostDescriptorV1[],
  records: readonly DrainProcessRecordV1[],
  now = Date.now(),
): HostRow[] {
  const holders = new Map<string, { owner: string; slots: string[] }>();
  for (const record of records) {
    if (recordLiveness(record, now) === 'dead' || recordLiveness(record, now) === 'stale') continue;
    for (const host of record.hosts) holders.set(host.id, { owner: record.owner, slots: [...host.slots] });
  }
  return descriptors
    .map((descriptor) => {
      const labels = { ...descriptor.labels };
      const holder = holders.get(descriptor.id);
      const owner = holder?.owner ?? labels[LABEL.owner] ?? '';
      const liveness = ownerLiveness(owner);
      const createdAtMs = Number(labels[LABEL.createdAt]) || descriptor.createdAtMs;
      return {
        id: descriptor.id,
        backend: backendId,
        pool: labels[LABEL.pool] ?? '',
        profile: labels[LABEL.profile] ?? '',
        state: descriptor.state,
        owner,
        ownerSource: holder ? ('holder' as const) : ('creator' as const),
        ownerState: liveness,
        ownerProvablyDead: liveness === 'dead',
        createdAtMs,
        ageMs: Math.max(0, now - createdAtMs),
        specHash: labels[LABEL.spec] ?? '',
        version: labels[LABEL.version] ?? '',
        slots: holder?.slots ?? null,
        labels,
      };
    })
    .sort(
      (a, b) =>
        a.pool.localeCompare(b.pool) || a.profile.localeCompare(b.profile) || a.createdAtMs - b.createdAtMs,
    );
}

/** `acquired,available` → `1 acquired, 1 available`, in state order. */
export function summarizeSlots(slots: readonly string[] | null): string {
  if (slots === null) return '-';
  const counts = new Map<string, number>();
  for (const state of slots) counts.set(state, (counts.get(state) ?? 0) + 1);
  return [...counts].map(([state, count]) => `${count} ${state}`).join(', ') || '0 slots';
}
