import path from 'node:path/posix';
import { shellQuote } from '../shell/shell-script.js';
import type { ManagedHost } from './managed-host.js';
import { isOwnerProvablyDead } from './owner-identity.js';

/**
 * Who holds a host, and until when (epoch ms). Kept inside the host, so it works across machines.
 * File format: `<owner> <expiresAtMs>` while held, `<owner> <releasedAtMs> released` once given up
 * warm (older versions read the latter as a claim that already expired).
 */
export interface HostClaim {
  owner: string;
  /** Held: until when. Released: when `owner` gave it up. */
  expiresAtMs: number;
  /** `owner` closed in persist mode and left the host warm for the next process. */
  released?: boolean;
  /** The file's text as read: what a compare-and-swap expects to find. */
  text?: string;
}

export type ClaimOutcome = { claimed: true } | { claimed: false; heldBy: HostClaim };

/** Who asks, and how a host nobody has claimed yet is judged. */
export interface ClaimContext {
  /** The asking pool's owner identity (`registerPoolOwner().owner`). */
  self: string;
  /** How long past its expiry a claim still counts. */
  graceMs: number;
  /**
   * A host without any claim is still being set up by its creator (claims are written after the
   * workspace): it counts as theirs until `untilMs`.
   */
  creator?: { owner: string; untilMs: number };
  now?: number;
}

function claimFile(host: ManagedHost): string {
  return path.join(host.stateDirectory, 'owner');
}

export async function readClaim(host: ManagedHost): Promise<HostClaim | undefined> {
  const result = await host.runControl(`cat ${shellQuote(claimFile(host))} 2>/dev/null; true`);
  return parseClaim(result.stdout);
}

export function parseClaim(text: string): HostClaim | undefined {
  const [owner, at, state] = text.trim().split(' ');
  if (!owner || !at) return undefined;
  return {
    owner,
    expiresAtMs: Number(at),
    ...(state === 'released' ? { released: true } : {}),
    // `$(cat …)` in the swap drops trailing newlines; nothing else.
    text: text.replace(/\n+$/, ''),
  };
}

function formatClaim(claim: HostClaim | undefined): string {
  if (!claim) return '';
  if (claim.text !== undefined) return claim.text;
  return `${claim.owner} ${claim.expiresAtMs}${claim.released ? ' released' : ''}`;
}

/**
 * A claim `context.self` may take over: none (and no creator still setting the host up), ours,
 * released, expired past the grace, or its owner is provably dead.
 */
export function isClaimFree(claim: HostClaim | undefined, context: ClaimContext): boolean {
  const now = context.now ?? Date.now();
  const holder =
    claim ??
    (context.creator ? { owner: context.creator.owner, expiresAtMs: context.creator.untilMs } : undefined);
  if (!holder) return true;
  if (holder.owner === context.self || claim?.released) return true;
  if (holder.expiresAtMs + context.graceMs < now) return true;
  return isOwnerProvablyDead(holder.owner);
}

/**
 * Claims the host for `context.self` with a compare-and-swap under a `mkdir` lock (atomic on every
 * POSIX filesystem), so two processes adopting at once cannot both win (docs/lessons.md #5).
 */
export async function claimHost(
  host: ManagedHost,
  context: ClaimContext & { ttlMs: number },
): Promise<ClaimOutcome> {
  const current = await readClaim(host);
  if (!isClaimFree(current, context)) return { claimed: false, heldBy: current ?? unknownHolder(context) };
  const swapped = await compareAndSwap(host, current, {
    owner: context.self,
    expiresAtMs: Date.now() + context.ttlMs,
  });
  if (swapped) return { claimed: true };
  const winner = await readClaim(host);
  return { claimed: false, heldBy: winner ?? { owner: 'unknown', expiresAtMs: 0 } };
}

function unknownHolder(context: ClaimContext): HostClaim {
  return { owner: context.creator?.owner ?? 'unknown', expiresAtMs: context.creator?.untilMs ?? 0 };
}

/** Extends `self`'s claim; `claimed: false` (with the new holder) when someone else took the host over. */
export async function renewClaim(host: ManagedHost, self: string, ttlMs: number): Promise<ClaimOutcome> {
  const current = await readClaim(host);
  if (current && (current.owner !== self || current.released)) return { claimed: false, heldBy: current };
  if (await compareAndSwap(host, current, { owner: self, expiresAtMs: Date.now() + ttlMs }))
    return { claimed: true };
  const winner = await readClaim(host);
  return { claimed: false, heldBy: winner ?? { owner: 'unknown', expiresAtMs: 0 } };
}

/** Gives the host up warm, so the next process can adopt it at once. */
export async function releaseClaim(host: ManagedHost, self: string): Promise<void> {
  const current = await readClaim(host);
  if (current?.owner === self && !current.released)
    await compareAndSwap(host, current, { owner: self, expiresAtMs: Date.now(), released: true });
}

async function compareAndSwap(
  host: ManagedHost,
  expected: HostClaim | undefined,
  nextClaim: HostClaim,
): Promise<boolean> {
  const file = shellQuote(claimFile(host));
  const lock = shellQuote(`${claimFile(host)}.lock`);
  const expectedText = shellQuote(formatClaim(expected));
  const next = formatClaim(nextClaim);
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
