import { readFileSync } from 'node:fs';
import os from 'node:os';
import { sanitizeLabelValue } from './labels.js';

/** Start time of a process in clock ticks since boot (Linux), so a reused pid is not mistaken for its owner. */
function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const machine = sanitizeLabelValue(os.hostname()).replaceAll('.', '_');

/** This process as an owner: `<machine>.<pid>.<start>`. */
export const CURRENT_OWNER = `${machine}.${process.pid}.${processStartTicks(process.pid) ?? Math.round(Date.now() - process.uptime() * 1000)}`;

/**
 * True only when `owner` is a process on this machine that no longer runs (or whose pid now
 * belongs to another process). Owners elsewhere are never "provably" dead: their leases expire.
 */
export function isOwnerProvablyDead(owner: string): boolean {
  const [ownerMachine, pidText, start] = owner.split('.');
  if (ownerMachine !== machine || !pidText || !start) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return owner !== CURRENT_OWNER;
  const actual = processStartTicks(pid);
  if (actual !== undefined) return actual !== start;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
