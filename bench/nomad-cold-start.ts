/**
 * Cold start at scale, in one run: 100 usable slots from nothing as 10 hosts × 10 slots (one
 * allocation and one berth-agent exec session per host) beside 100 allocations of one slot each
 * (one per trajectory). All 100 slots are leased before any command runs, so 100 shells are held
 * at once (Nomad's default `http_max_conns_per_client` is 100). Every pool is closed with forceRemove; the caller purges leftovers.
 */
import { createNomadBackend } from '@berth/backend-nomad';
import { BerthError, createPool } from '@berth/core';
import { type BenchResult, round } from './bench-result.js';

interface ColdStart {
  seconds: number;
  succeeded: number;
  failures: string[];
}

async function coldStart(
  poolId: string,
  host: Record<string, unknown>,
  hosts: number,
  slotsPerHost: number,
): Promise<ColdStart> {
  const started = performance.now();
  const pool = await createPool({
    backend: createNomadBackend({ env: process.env, startTimeoutMs: 120_000 }),
    poolId,
    persist: false,
    handleSignals: false,
    host,
    minHosts: 0,
    maxHosts: hosts,
    slotsPerHost,
    maxConcurrentCreates: Math.min(hosts, 16),
    acquireTimeoutMs: 180_000,
  });
  try {
    const failures: string[] = [];
    // All slots leased at once (none reused by a later acquirer), then one command on each while
    // every shell is held: what 100 concurrent trajectories do.
    const leased = await Promise.all(
      Array.from({ length: hosts * slotsPerHost }, () =>
        pool.acquire().catch((error: unknown) => {
          failures.push(describe(error));
          return undefined;
        }),
      ),
    );
    const outcomes = await Promise.all(
      leased.map(async (slot) => {
        if (!slot) return false;
        try {
          const result = await slot.exec('true');
          return result.exitCode === 0;
        } catch (error) {
          failures.push(describe(error));
          return false;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await Promise.all(leased.map((slot) => slot?.release().catch(() => undefined)));
    return {
      seconds,
      succeeded: outcomes.filter(Boolean).length,
      failures,
    };
  } finally {
    await pool.close({ forceRemove: true, timeoutMs: 120_000 });
  }
}

function describe(error: unknown): string {
  return BerthError.isInstance(error) ? `${error.code}: ${error.message}` : String(error);
}

export async function benchNomadColdStart(
  docker: boolean,
  poolIdFor: (name: string) => string,
): Promise<BenchResult[]> {
  if (!docker) {
    console.error('bench nomad.cold_start_100_*: skipped, the docker driver is not healthy');
    return [];
  }
  const image = 'berth-test/busybox:1';
  const slots = await coldStart(poolIdFor('cold100s'), { image, cpu: 50, memoryMiB: 64 }, 10, 10);
  const allocs = await coldStart(poolIdFor('cold100a'), { image, cpu: 20, memoryMiB: 32 }, 100, 1);
  const firstFailure = (run: ColdStart) =>
    run.failures[0] ? `; first failure: ${run.failures[0].slice(0, 160)}` : '';
  return [
    {
      name: 'nomad.cold_start_100_slots',
      value: round(slots.seconds, 2),
      unit: 's',
      baseline: round(allocs.seconds, 2),
      ratio: round(allocs.seconds / slots.seconds, 1),
      note: `10 hosts × 10 slots, docker; ${slots.succeeded}/100 first commands succeeded${firstFailure(slots)}; baseline: nomad.cold_start_100_allocs; targets ≤ 3 s, ratio ≥ 5`,
    },
    {
      name: 'nomad.cold_start_100_allocs',
      value: round(allocs.seconds, 2),
      unit: 's',
      note: `100 hosts × 1 slot (one allocation per trajectory), docker; ${allocs.succeeded}/100 first commands succeeded${firstFailure(allocs)}`,
    },
  ];
}
