import {
  hashSpec,
  LABEL,
  type PoolOptions,
  poolSelector,
  resolvePoolOptions,
  sanitizeLabelValue,
} from '@berth/core';
import { CliError, EXIT } from './exit-codes.js';

/** A host of the pool made from another spec than the one this shell's settings give. */
export interface SpecMismatch {
  hostId: string;
  profile: string;
  theirs: string;
  ours: string;
}

/**
 * The hosts of `poolId` whose spec hash differs from the one `options` give their profile. A pool
 * started here would remove the free ones at its start sweep (a changed spec is replaced), also in
 * persist mode: the warm hosts of the program that really runs the pool.
 */
export async function specMismatches(
  options: PoolOptions,
  poolId: string,
  signal: AbortSignal,
): Promise<SpecMismatch[]> {
  const { backend } = options;
  if (!backend.listHosts) return [];
  const resolved = resolvePoolOptions({ ...options, poolId });
  const ours = new Map(
    [...resolved.profiles].map(([name, profile]) => [
      sanitizeLabelValue(name),
      hashSpec(profile.spec, profile.slotsPerHost),
    ]),
  );
  const hosts = await backend.listHosts(poolSelector(poolId), { signal });
  const mismatches: SpecMismatch[] = [];
  for (const host of hosts) {
    const profile = host.labels[LABEL.profile] ?? '';
    const expected = ours.get(profile);
    const theirs = host.labels[LABEL.spec] ?? '';
    if (expected !== undefined && theirs !== expected)
      mismatches.push({ hostId: host.id, profile, theirs, ours: expected });
  }
  return mismatches;
}

/** Refuses (exit 3, SPEC_MISMATCH) to start a pool that would replace another program's warm hosts. */
export function refuseSpecMismatch(poolId: string, mismatches: readonly SpecMismatch[]): void {
  const [first] = mismatches;
  if (!first) return;
  throw new CliError(
    `pool ${poolId} has ${mismatches.length} host(s) made from another host spec than this shell's settings ` +
      `(${first.hostId}, profile ${first.profile}: spec ${first.theirs}, yours ${first.ours}); starting the pool ` +
      'here would remove them. Use the same BERTH_* settings as the program running the pool ' +
      '(compare `berth hosts --pool ' +
      `${poolId}\` SPEC), or pass --replace to replace them.`,
    'SPEC_MISMATCH',
    EXIT.configuration,
  );
}
