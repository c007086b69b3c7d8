import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';

/** Start time of a process in clock ticks since boot (Linux), so a reused pid is not mistaken for its owner. */
function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function readTrimmed(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where a pid means something: one PID namespace of one boot (Linux), or one machine elsewhere.
 * The hostname alone is not enough — two containers with the same hostname would declare each
 * other dead — so the identity hashes the boot id with the PID namespace inode: processes that share
 * a namespace (one container, `--pid=host`) can prove each other dead, others wait for lease expiry.
 * When neither can be read, the identity is random, so nobody can ever prove this process dead.
 */
function machineIdentity(): string {
  const host = os
    .hostname()
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .slice(0, 16);
  const digest = (...parts: string[]) =>
    createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 12);
  if (process.platform === 'linux') {
    const bootId = readTrimmed('/proc/sys/kernel/random/boot_id');
    let pidNamespace: string | undefined;
    try {
      pidNamespace = readlinkSync('/proc/self/ns/pid');
    } catch {
      pidNamespace = undefined;
    }
    if (bootId && pidNamespace) return `${host}-${digest(bootId, pidNamespace)}`;
    return `${host}-${randomBytes(6).toString('hex')}`;
  }
  // No PID namespaces (macOS, Windows): pids are machine-wide. The hardware addresses tell two
  // machines with the same hostname apart.
  const addresses = Object.values(os.networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .filter((entry) => !entry.internal && entry.mac !== '00:00:00:00:00:00')
    .map((entry) => entry.mac)
    .sort();
  if (addresses.length === 0) return `${host}-${randomBytes(6).toString('hex')}`;
  return `${host}-${digest(os.hostname(), ...new Set(addresses))}`;
}

/** `<hostname prefix>-<hash of boot id and PID namespace>`: the first part of every owner. */
export const MACHINE_IDENTITY = machineIdentity();

/**
 * This process as an owner: `<machine>.<pid>.<start>`. Pools add an instance number
 * (`<machine>.<pid>.<start>.<n>`, see `registerPoolOwner`), so two pools of one process are
 * different owners too.
 */
export const CURRENT_OWNER = `${MACHINE_IDENTITY}.${process.pid}.${processStartTicks(process.pid) ?? Math.round(Date.now() - process.uptime() * 1000)}`;

interface OwnerRegistry {
  next: number;
  readonly live: Set<string>;
}

// On globalThis, so two copies of @berth/core in one process agree on which of its pools are alive
// (a copy that did not know the other's pools would take them for dead and reap their hosts).
const registryKey = Symbol.for('berth.core.pool-owners');
const registry: OwnerRegistry = ((globalThis as Record<symbol, unknown>)[registryKey] as
  | OwnerRegistry
  | undefined) ?? { next: 1, live: new Set<string>() };
(globalThis as Record<symbol, unknown>)[registryKey] = registry;

export interface PoolOwner {
  /** `<machine>.<pid>.<start>.<n>`: what this pool writes in labels and claims. */
  readonly owner: string;
  /** The pool closed: from now on this owner is provably dead to every pool of this process. */
  release(): void;
}

/** A new owner identity for one pool of this process, alive until `release()`. */
export function registerPoolOwner(): PoolOwner {
  const owner = `${CURRENT_OWNER}.${registry.next++}`;
  registry.live.add(owner);
  return { owner, release: () => registry.live.delete(owner) };
}

/**
 * True only when `owner` is a process in this PID namespace that no longer runs (or whose pid now
 * belongs to another process), or a pool of this process that has closed. Owners elsewhere are
 * never "provably" dead: their leases expire.
 */
export function isOwnerProvablyDead(owner: string): boolean {
  const parts = owner.split('.');
  if (parts.length !== 3 && parts.length !== 4) return false;
  const [ownerMachine, pidText, start, instance] = parts;
  if (ownerMachine !== MACHINE_IDENTITY || !pidText || !start) return false;
  if (instance !== undefined && !/^[1-9]\d*$/.test(instance)) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) {
    if (`${ownerMachine}.${pidText}.${start}` !== CURRENT_OWNER) return true;
    return instance !== undefined && !registry.live.has(owner);
  }
  const actual = processStartTicks(pid);
  if (actual !== undefined) return actual !== start;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
