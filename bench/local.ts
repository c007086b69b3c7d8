import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLocalBackend, createPool } from '@berth/core';
import { type BenchResult, percentile, round, timeEach } from './bench-result.js';

const WARMUP = 50;
const SAMPLES = 1_000;

function spawnAndWait(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    spawn(file, args, { stdio: 'ignore' })
      .once('error', reject)
      .once('exit', () => resolve());
  });
}

/** Pool bookkeeping and warm exec on the local backend, with process-spawn baselines from the same run. */
export async function benchLocal(): Promise<BenchResult[]> {
  const baseDirectory = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-'));
  const results: BenchResult[] = [];
  const pool = await createPool({
    backend: createLocalBackend({ baseDirectory }),
    poolId: 'bench-local',
    persist: false,
    handleSignals: false,
    profiles: { default: { minHosts: 1, maxHosts: 1, slotsPerHost: 16 } },
  });
  try {
    // acquire + release with no command in between: pure in-memory bookkeeping.
    const rounds = 200_000;
    const started = performance.now();
    for (let index = 0; index < rounds; index += 1) {
      const slot = await pool.acquire();
      await slot.release();
    }
    const perSecond = rounds / ((performance.now() - started) / 1000);
    results.push({
      name: 'pool.acquire_release',
      value: Math.round(perSecond),
      unit: 'ops/s',
      note: 'target ≥ 200000',
    });

    // Warm exec of `true` on one slot vs spawning a process per command from Node.
    const slot = await pool.acquire();
    await timeEach(WARMUP, () => slot.exec('true'));
    const warm = await timeEach(SAMPLES, () => slot.exec('true'));
    await timeEach(WARMUP, () => spawnAndWait('sh', ['-c', 'true']));
    const freshShell = await timeEach(SAMPLES, () => spawnAndWait('sh', ['-c', 'true']));
    const forkExec = await timeEach(SAMPLES, () => spawnAndWait('true', []));
    // The in-host floor: one fork+exec of /bin/true from an already running shell, timed by the shell.
    const inShell = await slot.exec(
      'start=$(date +%s%N); i=0; while [ $i -lt 500 ]; do /bin/true; i=$((i+1)); done; end=$(date +%s%N); echo $(( (end-start)/500 ))',
    );
    await slot.release();
    const floorInShellMs = Number(inShell.stdout.trim()) / 1e6;
    const p50 = percentile(warm, 50);
    const p99 = percentile(warm, 99);
    const freshP50 = percentile(freshShell, 50);
    const forkP50 = percentile(forkExec, 50);
    results.push(
      {
        name: 'local.exec_overhead_p50',
        value: round(p50),
        unit: 'ms',
        baseline: round(freshP50),
        ratio: round(freshP50 / p50, 2),
        note: 'baseline: spawn `sh -c true` per command; target ratio ≥ 3',
      },
      {
        name: 'local.exec_overhead_p99',
        value: round(p99),
        unit: 'ms',
        baseline: round(percentile(freshShell, 99)),
        ratio: round(percentile(freshShell, 99) / p99, 2),
      },
      {
        name: 'local.fork_exec_floor_p50',
        value: round(forkP50),
        unit: 'ms',
        note: 'spawn `true` from Node per command',
      },
      {
        name: 'local.exec_vs_fork_exec_floor',
        value: round(p50 / forkP50, 2),
        unit: 'x',
        note: 'warm exec p50 / spawn-true p50; target ≤ 1.5',
      },
      {
        name: 'local.in_shell_fork_exec',
        value: round(floorInShellMs),
        unit: 'ms',
        note: 'one fork+exec of /bin/true inside a running sh',
      },
    );

    // Throughput: 16 slots, each running `true` in a loop, for a fixed count.
    const slots = await Promise.all(Array.from({ length: 16 }, () => pool.acquire()));
    const perSlot = 200;
    const throughputStarted = performance.now();
    await Promise.all(
      slots.map(async (each) => {
        for (let index = 0; index < perSlot; index += 1) await each.exec('true');
      }),
    );
    const commandsPerSecond = (16 * perSlot) / ((performance.now() - throughputStarted) / 1000);
    await Promise.all(slots.map((each) => each.release()));
    const serialFresh = 1000 / freshP50;
    results.push({
      name: 'local.exec_throughput',
      value: Math.round(commandsPerSecond),
      unit: 'commands/s',
      baseline: Math.round(serialFresh),
      ratio: round(commandsPerSecond / serialFresh, 2),
      note: '16 slots; baseline: serial spawn of `sh -c true`',
    });

    results.push(await releaseWithReset(pool));
  } finally {
    await pool.close({ forceRemove: true });
    await rm(baseDirectory, { recursive: true, force: true });
  }
  return results;
}

const RESET_FILES = 20_000;
const RESET_ROUNDS = 5;
/** Makes RESET_FILES small files in 200 directories (a checked-out repository, roughly). */
const MAKE_FILES = `i=0; while [ $i -lt 200 ]; do mkdir -p d$i && (cd d$i && j=0; while [ $j -lt ${RESET_FILES / 200} ]; do : > f$j; j=$((j+1)); done); i=$((i+1)); done`;

/**
 * `release()` with the default workspace reset, for a slot holding RESET_FILES files: the reset
 * renames the workspace away and deletes it in the background. Baseline, same run and host: the
 * in-place `rm -rf` + `mkdir` a release used to wait for.
 */
async function releaseWithReset(pool: Awaited<ReturnType<typeof createPool>>): Promise<BenchResult> {
  const release: number[] = [];
  const inPlace: number[] = [];
  for (let round = 0; round < RESET_ROUNDS; round += 1) {
    const slot = await pool.acquire();
    await slot.exec(MAKE_FILES, { timeoutMs: 120_000 });
    const started = performance.now();
    await slot.release();
    release.push(performance.now() - started);
    const again = await pool.acquire();
    await again.exec(MAKE_FILES, { timeoutMs: 120_000 });
    const timed = await again.exec(
      'cd .. && w=$(pwd)/$(basename "$OLDPWD"); s=$(date +%s%N); rm -rf "$w" && mkdir -p "$w"; e=$(date +%s%N); echo $(( (e-s)/1000 ))',
    );
    inPlace.push(Number(timed.stdout.trim()) / 1000);
    await again.release({ reset: false });
  }
  const value = percentile(release, 50);
  const baseline = percentile(inPlace, 50);
  return {
    name: 'local.release_reset_20k_files',
    value: round(value),
    unit: 'ms',
    baseline: round(baseline),
    ratio: round(baseline / value, 1),
    note: 'release() p50 with a workspace of 20,000 files; baseline: in-place rm -rf + mkdir',
  };
}
