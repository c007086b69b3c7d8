/**
 * Nomad benchmarks against the local agent (NOMAD_ADDR, default http://127.0.0.1:4646), all in one
 * run with bounded samples: first usable slot from nothing, warm exec overhead vs a fresh alloc
 * exec session per command (the baseline, measured on the same allocation), and scaling 1 → 4.
 * Every job it creates is stopped and purged afterwards.
 */
import { createNomadBackend, type NomadBackend, NomadClient, type NomadHost } from '@berth/backend-nomad';
import { createPool, type SlotPool } from '@berth/core';
import { type BenchResult, percentile, round, timeEach } from './bench-result.js';
import { benchNomadColdStart } from './nomad-cold-start.js';

const WARMUP = 20;
const WARM_SAMPLES = 300;
const FRESH_SAMPLES = 40;

const backend = (): NomadBackend => createNomadBackend({ env: process.env, startTimeoutMs: 60_000 });

export async function benchNomad(): Promise<BenchResult[]> {
  const client = new NomadClient({ env: process.env, retries: 0, connectTimeoutMs: 2_000 });
  const poolIds: string[] = [];
  try {
    try {
      await client.leader();
    } catch (error) {
      console.error(
        `bench nomad skipped: no Nomad agent at ${client.config.address} (${(error as Error).message}); start one with scripts/start-nomad.sh`,
      );
      return [];
    }
    const { value: nodes } = await client.listNodes();
    const docker = nodes.some((node) => node.Status === 'ready' && node.Drivers?.docker?.Healthy === true);
    const host = docker ? { image: 'berth-test/busybox:1' } : { driver: 'raw_exec' };
    const driver = docker ? 'docker, local image berth-test/busybox:1' : 'raw_exec';
    const open = (name: string, minHosts: number, maxHosts: number): Promise<SlotPool> => {
      const poolId = `bench-nomad-${name}-${process.pid}`;
      poolIds.push(poolId);
      return createPool({
        backend: backend(),
        poolId,
        persist: false,
        handleSignals: false,
        host,
        minHosts,
        maxHosts,
        slotsPerHost: 1,
      });
    };
    const results: BenchResult[] = [];

    // From nothing (no job registered) to the first command's result on a slot.
    const started = performance.now();
    const pool = await open('exec', 0, 1);
    try {
      const slot = await pool.acquire();
      await slot.exec('true');
      const firstSlotS = (performance.now() - started) / 1000;
      results.push({
        name: 'nomad.first_slot_ready',
        value: round(firstSlotS, 2),
        unit: 's',
        note: `${driver}; target ≤ 5 s`,
      });

      // Warm slot: one long-lived shell over one exec websocket.
      await timeEach(WARMUP, () => slot.exec('true'));
      const warm = await timeEach(WARM_SAMPLES, () => slot.exec('true'));
      // Baseline: a fresh alloc exec session per command, on the same allocation.
      const nomadHost = pool.hostsOf()[0]!.backendHost as NomadHost;
      await timeEach(3, () => nomadHost.run(['true']));
      const fresh = await timeEach(FRESH_SAMPLES, () => nomadHost.run(['true']));
      await slot.release();
      for (const [name, p] of [
        ['nomad.exec_overhead_p50', 50],
        ['nomad.exec_overhead_p99', 99],
      ] as const) {
        const value = percentile(warm, p);
        const baseline = percentile(fresh, p);
        results.push({
          name,
          value: round(value),
          unit: 'ms',
          baseline: round(baseline),
          ratio: round(baseline / value, 1),
          note: `${driver}; baseline: one fresh alloc exec session per command; target ratio ≥ 10`,
        });
      }
    } finally {
      await pool.close({ forceRemove: true });
    }

    // Scale 1 → 4: four concurrent acquires on a pool holding one warm host.
    const scaling = await open('scale', 1, 4);
    try {
      const scaleStarted = performance.now();
      const slots = await Promise.all([0, 1, 2, 3].map(() => scaling.acquire()));
      await Promise.all(slots.map((each) => each.exec('true')));
      results.push({
        name: 'nomad.scale_1_to_4',
        value: round((performance.now() - scaleStarted) / 1000, 2),
        unit: 's',
        note: driver,
      });
      await Promise.all(slots.map((each) => each.release()));
    } finally {
      await scaling.close({ forceRemove: true });
    }
    results.push(
      ...(await benchNomadColdStart(docker, (name) => {
        const poolId = `bench-nomad-${name}-${process.pid}`;
        poolIds.push(poolId);
        return poolId;
      })),
    );
    return results;
  } finally {
    // Anything a failed step left behind.
    for (const poolId of poolIds) {
      const { value } = await client
        .listJobs({ filter: `Meta["berth.pool"] == ${JSON.stringify(poolId)}` })
        .catch(() => ({ value: [] }));
      await Promise.all(value.map((job) => client.stopJob(job.ID, { purge: true }).catch(() => undefined)));
    }
    await client.close();
  }
}
