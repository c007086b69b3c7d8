/**
 * Docker benchmarks (issue 3), one run, bounded sample counts:
 * - docker.exec_overhead_p50 / _p99 (ms): Berth's warm slot exec of `true` on one container, with the
 *   baselines `docker exec <id> true` (CLI) and one exec through the Docker API per command (dockerode),
 *   both on the same warm container;
 * - docker.exec_throughput (commands/s) across 32 leased slots (4 containers × 8);
 * - docker.cold_start_100_slots (s): nothing (not even the shared agent volume) → 100 usable slots as
 *   10 containers × 10, beside docker.cold_start_100_containers (s): one container per trajectory.
 *   Both with maxConcurrentCreates 10; the image is local in both.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { createDockerBackend } from '@berth/backend-docker';
import { createPool, type PoolOptions, type Slot, type SlotPool } from '@berth/core';
import Dockerode from 'dockerode';

import type { BenchResult } from './bench-result.js';

export type { BenchResult };

const IMAGE = process.env.BERTH_DOCKER_IMAGE ?? 'berth-test/busybox:1';
const HOST = { image: IMAGE, networkMode: 'none', pull: 'missing' } as const;
const WARM_SAMPLES = 200;
const CLI_SAMPLES = 30;
const API_SAMPLES = 30;
const THROUGHPUT_SLOTS = 32;
const THROUGHPUT_PER_SLOT = 60;
const run = promisify(execFile);

function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const round = (value: number, digits = 3) => Number(value.toFixed(digits));

async function timed(samples: number, work: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return times;
}

function pool(poolId: string, options: Partial<PoolOptions>): Promise<SlotPool> {
  return createPool({
    backend: createDockerBackend(),
    poolId,
    persist: false,
    handleSignals: false,
    host: HOST,
    ...options,
  } as PoolOptions);
}

/** One `docker exec` through the Engine API: create, start (hijacked), read to EOF, inspect the exit code. */
async function apiExec(docker: Dockerode, containerId: string): Promise<void> {
  const exec = await docker
    .getContainer(containerId)
    .exec({ Cmd: ['true'], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
    stream.resume();
  });
  const info = await exec.inspect();
  if (info.ExitCode !== 0) throw new Error(`API exec exited ${info.ExitCode}`);
}

async function removeUnusedAgentVolumes(docker: Dockerode): Promise<void> {
  const { Volumes } = await docker.listVolumes({ filters: { label: ['berth.component=agent'] } });
  for (const volume of Volumes ?? [])
    await docker
      .getVolume(volume.Name)
      .remove()
      .catch(() => undefined);
}

async function coldStart(poolId: string, hosts: number, slotsPerHost: number): Promise<number> {
  const started = performance.now();
  const target = await pool(poolId, {
    minHosts: hosts,
    maxHosts: hosts,
    slotsPerHost,
    maxConcurrentCreates: 10,
    createTimeoutMs: 120_000,
  });
  try {
    const slots = await Promise.all(
      Array.from({ length: hosts * slotsPerHost }, () => target.acquire({ timeoutMs: 120_000 })),
    );
    const results = await Promise.all(slots.map((slot) => slot.exec('true')));
    const elapsed = (performance.now() - started) / 1000;
    if (results.some((result) => result.exitCode !== 0)) throw new Error('a cold-start command failed');
    await Promise.all(slots.map((slot) => slot.release({ reset: false })));
    return elapsed;
  } finally {
    await target.close({ forceRemove: true });
  }
}

export async function benchDocker(): Promise<BenchResult[]> {
  const probe = createDockerBackend();
  try {
    await probe.listHosts({ 'berth.pool': 'bench-probe' }, { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    console.error(
      `docker benchmarks skipped: the Docker daemon is unreachable (${error instanceof Error ? error.message : String(error)})`,
    );
    return [];
  } finally {
    await probe.dispose();
  }
  const runId = randomBytes(3).toString('hex');
  const results: BenchResult[] = [];

  // Warm exec on one container, and both baselines on the very same container.
  const warm = await pool(`bench-warm-${runId}`, { minHosts: 1, maxHosts: 1, slotsPerHost: 1 });
  const docker = new Dockerode({
    socketPath: process.env.BERTH_TEST_DOCKER_SOCKET ?? '/var/run/docker.sock',
  });
  try {
    const containerId = warm.hostsOf()[0]!.id;
    const slot = await warm.acquire();
    await timed(20, () => slot.exec('true'));
    const berth = await timed(WARM_SAMPLES, async () => {
      const result = await slot.exec('true');
      if (result.exitCode !== 0) throw new Error('`true` failed');
    });
    await slot.release();
    await timed(3, () => run('docker', ['exec', containerId, 'true']));
    const cli = await timed(CLI_SAMPLES, () => run('docker', ['exec', containerId, 'true']));
    await timed(3, () => apiExec(docker, containerId));
    const api = await timed(API_SAMPLES, () => apiExec(docker, containerId));
    for (const p of [50, 99] as const) {
      const value = percentile(berth, p);
      const baseline = percentile(cli, p);
      results.push({
        name: `docker.exec_overhead_p${p}`,
        value: round(value),
        unit: 'ms',
        baseline: round(baseline),
        ratio: round(baseline / value, 1),
      });
    }
    const apiP50 = percentile(api, 50);
    const berthP50 = percentile(berth, 50);
    results.push({
      name: 'docker.exec_overhead_p50_vs_api',
      value: round(berthP50),
      unit: 'ms',
      baseline: round(apiP50),
      ratio: round(apiP50 / berthP50, 1),
    });
    results.push({ name: 'docker.exec_baseline_cli_p50', value: round(percentile(cli, 50)), unit: 'ms' });
    results.push({ name: 'docker.exec_baseline_api_p50', value: round(apiP50), unit: 'ms' });
  } finally {
    await warm.close({ forceRemove: true });
  }

  // Throughput across 32 leased slots (4 containers × 8), each running `true` back to back.
  const wide = await pool(`bench-tput-${runId}`, {
    minHosts: 4,
    maxHosts: 4,
    slotsPerHost: 8,
    maxConcurrentCreates: 4,
  });
  try {
    const slots: Slot[] = await Promise.all(Array.from({ length: THROUGHPUT_SLOTS }, () => wide.acquire()));
    await Promise.all(slots.map((slot) => slot.exec('true')));
    const started = performance.now();
    await Promise.all(
      slots.map(async (slot) => {
        for (let i = 0; i < THROUGHPUT_PER_SLOT; i++) {
          if ((await slot.exec('true')).exitCode !== 0) throw new Error('`true` failed');
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    results.push({
      name: 'docker.exec_throughput',
      value: Math.round((THROUGHPUT_SLOTS * THROUGHPUT_PER_SLOT) / seconds),
      unit: 'commands/s',
    });
    await Promise.all(slots.map((slot) => slot.release({ reset: false })));
  } finally {
    await wide.close({ forceRemove: true });
  }

  // Cold start: nothing → 100 usable slots. "Nothing" includes the shared agent volume, which a
  // daemon otherwise keeps after its first host: drop it (when no container uses it) so the packed
  // run pays for filling it again, as the very first run on a fresh daemon does.
  const perContainer = await coldStart(`bench-cold1-${runId}`, 100, 1);
  await removeUnusedAgentVolumes(docker);
  const packed = await coldStart(`bench-cold10-${runId}`, 10, 10);
  results.push({
    name: 'docker.cold_start_100_slots',
    value: round(packed, 2),
    unit: 's',
    baseline: round(perContainer, 2),
    ratio: round(perContainer / packed, 1),
  });
  results.push({ name: 'docker.cold_start_100_containers', value: round(perContainer, 2), unit: 's' });
  return results;
}
