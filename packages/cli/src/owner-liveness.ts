import { isOwnerProvablyDead, MACHINE_IDENTITY } from '@berth/core';

/**
 * `dead`: provably (a process of this machine's PID namespace that is gone); `alive`: a process
 * here that runs; `unknown`: another machine or container — only its lease or record age can tell.
 */
export type OwnerLiveness = 'alive' | 'dead' | 'unknown';

export function ownerLiveness(owner: string | undefined): OwnerLiveness {
  if (!owner) return 'unknown';
  if (isOwnerProvablyDead(owner)) return 'dead';
  return owner.split('.')[0] === MACHINE_IDENTITY ? 'alive' : 'unknown';
}

/** A process record older than this is stale: its process stopped refreshing it (every 5 s). */
export const STALE_RECORD_MS = 30_000;

/** Whether a pool process's record stands for a live process (`unknown` and `alive` count as live). */
export function recordLiveness(
  record: { owner: string; updatedAt: string },
  now = Date.now(),
): OwnerLiveness | 'stale' {
  const liveness = ownerLiveness(record.owner);
  if (liveness !== 'unknown') return liveness;
  // Another machine: only the record's age tells.
  const age = now - Date.parse(record.updatedAt);
  return age < STALE_RECORD_MS ? 'unknown' : 'stale';
}
