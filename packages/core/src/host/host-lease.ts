import path from 'node:path/posix';
import { shellQuote } from '../shell/shell-script.js';
import type { ManagedHost } from './managed-host.js';
import { CURRENT_OWNER, isOwnerProvablyDead } from './owner-identity.js';

/** Who holds a host, and until when (epoch ms). Kept inside the host, so it works across machines. */
export interface HostClaim {
  owner: string;
  expiresAtMs: number;
}

export type ClaimOutcome = { claimed: true } | { claimed: false; heldBy: HostClaim };

function claimFile(host: ManagedHost): string {
  return path.join(host.stateDirectory, 'owner');
}

export async function readClaim(host: ManagedHost): Promise<HostClaim | undefined> {
  const result = await host.runControl(`cat ${shellQuote(claimFile(host))} 2>/dev/null; true`);
  return parseClaim(result.stdout);
}

function parseClaim(text: string): HostClaim | undefined {
  const [owner, expires] = text.trim().split(' ');
  if (!owner || !expires) return undefined;
  return { owner, expiresAtMs: Number(expires) };
}

/** A claim another process may take over: none, ours, expired past the grace, or its owner is dead. */
export function isClaimFree(claim: HostClaim | undefined, graceMs: number, now = Date.now()): boolean {
  if (!claim) return true;
  if (claim.owner === CURRENT_OWNER) return true;
  if (claim.expiresAtMs + graceMs < now) return true;
  return isOwnerProvablyDead(claim.owner);
}

/**
 * Claims the host for this process with a compare-and-swap under a `mkdir` lock (atomic on every
 * POSIX filesystem), so two processes adopting at once cannot both win (LESSONS #5).
 */
export async function claimHost(host: ManagedHost, ttlMs: number, graceMs: number): Promise<ClaimOutcome> {
  const current = await readClaim(host);
  if (!isClaimFree(current, graceMs)) return { claimed: false, heldBy: current! };
  const swapped = await compareAndSwap(host, current, `${CURRENT_OWNER} ${Date.now() + ttlMs}`);
  if (swapped) return { claimed: true };
  const winner = await readClaim(host);
  return { claimed: false, heldBy: winner ?? { owner: 'unknown', expiresAtMs: 0 } };
}

/** Extends our claim; false when someone else took the host over. */
export async function renewClaim(host: ManagedHost, ttlMs: number): Promise<boolean> {
  const current = await readClaim(host);
  if (current && current.owner !== CURRENT_OWNER) return false;
  return compareAndSwap(host, current, `${CURRENT_OWNER} ${Date.now() + ttlMs}`);
}

/** Gives the host up so the next process can adopt it at once. */
export async function releaseClaim(host: ManagedHost): Promise<void> {
  const current = await readClaim(host);
  if (current?.owner === CURRENT_OWNER) await compareAndSwap(host, current, '');
}

async function compareAndSwap(
  host: ManagedHost,
  expected: HostClaim | undefined,
  next: string,
): Promise<boolean> {
  const file = shellQuote(claimFile(host));
  const lock = shellQuote(`${claimFile(host)}.lock`);
  const expectedText = shellQuote(expected ? `${expected.owner} ${expected.expiresAtMs}` : '');
  // The critical section is a few builtins run by the host's shell; a lock older than ~5 s can
  // only be left by a crashed host shell, so it is broken rather than waited on forever.
  const script = [
    `__n=0; until mkdir ${lock} 2>/dev/null; do __n=$((__n+1)); [ $__n -gt 50 ] && { rmdir ${lock} 2>/dev/null; __n=0; }; sleep 0.1; done`,
    `__cur=$(cat ${file} 2>/dev/null)`,
    `if [ "$__cur" = ${expectedText} ]; then printf '%s' ${shellQuote(next)} > ${file}; __ok=0; else __ok=1; fi`,
    `rmdir ${lock}`,
    `[ $__ok = 0 ]`,
  ].join('\n');
  const result = await host.runControl(script);
  return result.exitCode === 0;
}
