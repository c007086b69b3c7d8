/**
 * `isolation: 'user'`: each slot runs as its own uid (and gid of the same number), with a 0700
 * workspace it owns, so one trajectory can neither read nor write a sibling's files, signal its
 * processes or read their environment. Core's own work (resets, sweeps, leases) stays with the
 * host's root user.
 */
import type { SlotUserV1 } from '../backend/v1/types.js';
import { shellQuote } from '../shell/shell-script.js';

/** How a profile separates the slots of one host. */
export type SlotIsolation = 'directory' | 'user';

/** Slot `i` of every host runs as uid and gid `SLOT_UID_BASE + i`. */
export const SLOT_UID_BASE = 20_000;

export function slotUser(index: number): SlotUserV1 {
  return { uid: SLOT_UID_BASE + index, gid: SLOT_UID_BASE + index };
}

/**
 * The command prefix that drops a root shell's child to `user` (util-linux `setpriv`; the agent
 * needs none, it switches itself). No supplementary groups survive, so root's groups give nothing.
 */
export function asUserPrefix(user: SlotUserV1): string {
  return `setpriv --reuid=${Math.trunc(user.uid)} --regid=${Math.trunc(user.gid)} --clear-groups`;
}

/** Exits 0 when this root shell can drop a child to another user with `asUserPrefix`. */
export const CAN_SWITCH_USER_SCRIPT = `${asUserPrefix({ uid: 0, gid: 0 })} true 2>/dev/null`;

/**
 * Kills every process of `user`, from inside: as that uid, `kill -KILL -1` reaches exactly the
 * processes the user owns (never root's, never a sibling slot's), whatever session they moved to,
 * and needs no access to their environment (which root lacks without CAP_SYS_PTRACE). The kernel
 * signals them all under one lock, so a forking loop cannot outrun it; a few rounds for stragglers.
 */
export const KILL_ALL_OF_USER =
  'for __b_i in 1 2 3 4 5; do kill -0 -1 2>/dev/null || exit 0; kill -KILL -1 2>/dev/null; done; exit 0';

/** Gives `workspace` to `user` alone (0700), after it was (re)created by root. */
export function ownWorkspaceScript(workspace: string, user: SlotUserV1): string {
  const quoted = shellQuote(workspace, 'workspace');
  return `chown ${Math.trunc(user.uid)}:${Math.trunc(user.gid)} ${quoted} && chmod 0700 ${quoted}`;
}

/** What root in a host needs to give slots their own users (workspaces, switching, sweeps). */
export const USER_ISOLATION_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'SETUID',
  'SETGID',
  'KILL',
] as const;

/**
 * Why a container with these capability settings (Docker's `CapDrop` / `CapAdd`, starting from
 * Docker's defaults, which hold all of them) and `user` cannot run `isolation: 'user'`, or
 * `undefined` when it can. For backends' `userIsolationUnsupported`.
 */
export function containerUserIsolationGap(settings: {
  readonly capDrop: readonly string[];
  readonly capAdd: readonly string[];
  readonly user?: string | undefined;
}): string | undefined {
  const user = settings.user?.trim();
  if (user && !/^(0|root)(:(0|root))?$/.test(user)) {
    return `the container runs as \`${user}\`, and only root can give each slot its own user; remove \`user\``;
  }
  const normalise = (cap: string) => cap.toUpperCase().replace(/^CAP_/, '');
  const dropped = new Set(settings.capDrop.map(normalise));
  const added = new Set(settings.capAdd.map(normalise));
  const missing = USER_ISOLATION_CAPABILITIES.filter(
    (cap) => (dropped.has('ALL') || dropped.has(cap)) && !added.has(cap) && !added.has('ALL'),
  );
  if (missing.length === 0) return undefined;
  return `the container lacks ${missing.map((cap) => `CAP_${cap}`).join(', ')}; add ${missing.join(', ')} to \`capAdd\``;
}
