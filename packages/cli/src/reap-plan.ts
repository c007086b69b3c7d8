import {
  decideRunningHost,
  type HostDescriptorV1,
  isOwnerProvablyDead,
  LABEL,
  type PoolOptions,
  resolvePoolOptions,
} from '@berth/core';
import { formatDuration } from './duration.js';
import type { ClaimReading } from './read-host-claim.js';

export interface ReapRules {
  now: number;
  /** Reap as a `persist: false` pool would: warm hosts left for reuse go too. */
  force: boolean;
  /** Only hosts older than this; a warm host must also have been unclaimed this long. */
  olderThanMs: number | undefined;
  idleTimeoutMs: number;
  hostLifetimeMs: number;
  reapGraceMs: number;
  createTimeoutMs: number;
}

/** Core's defaults for these pool options (a unit test keeps them equal to resolvePoolOptions'). */
export const DEFAULT_REAP_RULES = {
  idleTimeoutMs: 300_000,
  hostLifetimeMs: 24 * 3_600_000,
  reapGraceMs: 60_000,
  createTimeoutMs: 300_000,
} as const;

/** The timings a pool configured by this environment would reap with (`BERTH_*` and core's defaults). */
export function reapTimings(
  options: PoolOptions,
): Pick<ReapRules, 'idleTimeoutMs' | 'hostLifetimeMs' | 'reapGraceMs' | 'createTimeoutMs'> {
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  try {
    const resolved = resolvePoolOptions(defined as unknown as PoolOptions);
    return {
      idleTimeoutMs: resolved.idleTimeoutMs,
      hostLifetimeMs: resolved.hostLifetimeMs,
      reapGraceMs: resolved.reapGraceMs,
      createTimeoutMs: resolved.createTimeoutMs,
    };
  } catch {
    // No pool could start from this shell (a host spec is missing): core's defaults, the env's idle timeout.
    return {
      ...DEFAULT_REAP_RULES,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_REAP_RULES.idleTimeoutMs,
    };
  }
}

export interface ReapVerdict {
  action: 'remove' | 'keep';
  reason: string;
}

/**
 * What the orphan reaper (core's `decideRunningHost`, docs/architecture.md §5) would do with one host, seen from
 * outside every pool: the CLI holds nothing, so only a live owner or a fresh claim keeps a host.
 * `liveHolder`: a live pool process reports holding it (its record), which no flag overrides.
 */
export function decideReap(
  descriptor: HostDescriptorV1,
  claim: ClaimReading,
  liveHolder: string | undefined,
  rules: ReapRules,
): ReapVerdict {
  if (liveHolder) return { action: 'keep', reason: `held by ${liveHolder} (a live process of the pool)` };
  const createdAtMs = Number(descriptor.labels[LABEL.createdAt]) || descriptor.createdAtMs;
  const ageMs = rules.now - createdAtMs;
  if (rules.olderThanMs !== undefined && ageMs <= rules.olderThanMs)
    return { action: 'keep', reason: `younger than --older-than (${formatDuration(ageMs)} old)` };
  const creator = descriptor.labels[LABEL.owner] ?? '';

  if (descriptor.state !== 'running') {
    const creatorDead = isOwnerProvablyDead(creator);
    if (!creatorDead && ageMs < rules.createTimeoutMs)
      return { action: 'keep', reason: `${descriptor.state}: still being created by ${creator}` };
    const exitedForMs = rules.now - (descriptor.exitedAtMs ?? createdAtMs);
    if (exitedForMs > 2 * rules.hostLifetimeMs)
      return {
        action: 'remove',
        reason: `exited ${formatDuration(exitedForMs)} ago (over 2 × hostLifetimeMs)`,
      };
    if (rules.force) return { action: 'remove', reason: `${descriptor.state} and unheld (--force)` };
    if (rules.olderThanMs !== undefined)
      return { action: 'remove', reason: `${descriptor.state}, older than --older-than` };
    return {
      action: 'keep',
      reason: `${descriptor.state} ${formatDuration(exitedForMs)}: kept for adoption until 2 × hostLifetimeMs (--force removes it)`,
    };
  }

  if (!claim.readable)
    return { action: 'keep', reason: `owner unknown: the claim could not be read (${claim.why})` };
  const verdict = decideRunningHost(
    {
      self: 'berth-cli',
      creator,
      createdAtMs,
      claim: claim.claim,
      hasShell: true,
      specMatches: true,
      mayAdopt: false,
      now: rules.now,
    },
    {
      persist: !rules.force,
      reapGraceMs: rules.reapGraceMs,
      createTimeoutMs: rules.createTimeoutMs,
      idleTimeoutMs: rules.olderThanMs ?? rules.idleTimeoutMs,
      hostLifetimeMs: rules.hostLifetimeMs,
    },
  );
  if (verdict.action === 'remove') return { action: 'remove', reason: verdict.reason };
  if (verdict.action === 'leave') {
    const hint = verdict.why.startsWith('warm') ? ' (--force removes it)' : '';
    return { action: 'keep', reason: `${verdict.why}${hint}` };
  }
  return { action: 'keep', reason: 'free and reusable' };
}
