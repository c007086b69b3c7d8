import { type HostClaim, isClaimFree } from '../host/host-lease.js';
import { isOwnerProvablyDead } from '../host/owner-identity.js';

/** What the start sweep or the interval reaper does with one running host of its pool id it does not hold. */
export type RunningHostVerdict =
  | { action: 'adopt' }
  | { action: 'leave'; why: string }
  | { action: 'remove'; reason: string; specChanged: boolean };

export interface RunningHostFacts {
  /** This pool's owner identity. */
  self: string;
  /** The `berth.owner` label: who created the host. */
  creator: string;
  createdAtMs: number;
  /** The in-host claim; `undefined` when there is none (or the host has no shell to keep one). */
  claim: HostClaim | undefined;
  /** False for hosts without a shell (one-shot exec): no claim can be kept, only the creator judged. */
  hasShell: boolean;
  specMatches: boolean;
  /** The start sweep of a persist pool, with room under `maxHosts`. */
  mayAdopt: boolean;
  now: number;
}

export interface ReapTimings {
  persist: boolean;
  reapGraceMs: number;
  createTimeoutMs: number;
  idleTimeoutMs: number;
  hostLifetimeMs: number;
}

/**
 * The rules of docs/lifecycle.md, as one pure function (every race in it has a unit test):
 * - a host this pool created or holds is never touched here — the fleet owns it, even while it is
 *   still being created (issue 9: the 5 ms reaper took hosts mid-setup);
 * - a host another live owner holds, or is still setting up (no claim yet, younger than
 *   `createTimeoutMs`), is left alone;
 * - persist: a free host is adopted at start when it fits, and otherwise left warm for the pool's
 *   other processes (issue 9: one reaped what another had just released) until it has been unclaimed
 *   longer than `idleTimeoutMs`;
 * - `persist: false`: a free host is removed — a released one only once its releaser is provably
 *   dead or it was released more than `reapGraceMs` ago;
 * - spec changed or older than `hostLifetimeMs`: removed once free.
 */
export function decideRunningHost(facts: RunningHostFacts, timings: ReapTimings): RunningHostVerdict {
  const { claim, self } = facts;
  if (facts.creator === self || claim?.owner === self) {
    return { action: 'leave', why: 'this pool created or holds it' };
  }
  const free = facts.hasShell
    ? isClaimFree(claim, {
        self,
        graceMs: timings.reapGraceMs,
        creator: { owner: facts.creator, untilMs: facts.createdAtMs + timings.createTimeoutMs },
        now: facts.now,
      })
    : isOwnerProvablyDead(facts.creator);
  if (!free) return { action: 'leave', why: `held by ${claim?.owner ?? facts.creator}` };

  const tooOld = facts.now - facts.createdAtMs > timings.hostLifetimeMs;
  if (facts.mayAdopt && facts.specMatches && !tooOld) return { action: 'adopt' };
  if (!facts.specMatches) return { action: 'remove', reason: 'spec changed', specChanged: true };
  if (tooOld) return { action: 'remove', reason: 'older than hostLifetimeMs', specChanged: false };

  // Since when nobody has held it: released → then; expired → at expiry; never claimed → created.
  const unclaimedSinceMs = claim ? Math.min(claim.expiresAtMs, facts.now) : facts.createdAtMs;
  const unclaimedForMs = facts.now - unclaimedSinceMs;
  if (timings.persist) {
    if (unclaimedForMs > timings.idleTimeoutMs)
      return { action: 'remove', reason: 'unclaimed longer than idleTimeoutMs', specChanged: false };
    return { action: 'leave', why: 'warm, left for the next process of this pool' };
  }
  if (claim?.released && !isOwnerProvablyDead(claim.owner) && unclaimedForMs <= timings.reapGraceMs) {
    return { action: 'leave', why: `just released by ${claim.owner}, which is alive` };
  }
  return { action: 'remove', reason: 'owner gone (persist: false)', specChanged: false };
}
