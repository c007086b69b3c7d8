import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalBackend, type PoolOptions, type ResolvedLocalHostSpec, SlotPool } from '@berth/core';
import { createFaultBackend, type FaultBackend } from '../../fault-backend/create-fault-backend.js';

type LocalFaultBackend = FaultBackend<ResolvedLocalHostSpec>;

/**
 * One "engine" (a local base directory) shared by any number of "processes": each `backend()` is
 * one process's view, with its own fault controller; each pool is its own owner identity.
 */
export class FaultWorld {
  readonly baseDirectory = mkdtempSync(path.join(os.tmpdir(), 'berth-faults-'));
  readonly poolId = `faults-${randomBytes(4).toString('hex')}`;
  private readonly pools = new Set<SlotPool<ResolvedLocalHostSpec>>();

  backend(): LocalFaultBackend {
    return createFaultBackend(createLocalBackend({ baseDirectory: this.baseDirectory }));
  }

  /** A pool of this world's pool id (not started), closed with `forceRemove` by `dispose()`. */
  pool(
    options: Partial<PoolOptions<ResolvedLocalHostSpec>> & { backend: LocalFaultBackend },
  ): SlotPool<ResolvedLocalHostSpec> {
    const pool = new SlotPool<ResolvedLocalHostSpec>({
      poolId: this.poolId,
      handleSignals: false,
      minHosts: 0,
      maxHosts: 1,
      slotsPerHost: 1,
      ...options,
    });
    this.pools.add(pool);
    return pool;
  }

  /** Host ids the engine holds now (local hosts are directories). */
  hostIds(): string[] {
    return readdirSync(this.baseDirectory).sort();
  }

  /** The in-host claim file of a host, as core wrote it (`<owner> <ms>[ released]`), or ''. */
  claimText(hostId: string): string {
    try {
      return readFileSync(path.join(this.baseDirectory, hostId, 'workspace', '.berth', 'owner'), 'utf8');
    } catch {
      return '';
    }
  }

  async dispose(): Promise<void> {
    for (const pool of this.pools) await pool.close({ forceRemove: true, timeoutMs: 5_000 });
    rmSync(this.baseDirectory, { recursive: true, force: true });
  }
}

/** Resolves once `backend`'s reaper (or start sweep) has completed `count` more passes over the engine. */
export async function reaperPasses(backend: LocalFaultBackend, count: number): Promise<void> {
  const done = backend.faults.callsOf('listHosts', { phase: 'after' }).length;
  // A pass begins with listHosts; passes never overlap, so the (count+1)th listing means `count` ended.
  await backend.faults.waitFor('listHosts', done + count + 1, { phase: 'after' });
}

/** Polls until `condition` holds (a condition, not a duration: the test's timeout bounds it). */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5);
}
