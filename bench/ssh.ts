/**
 * SSH benchmarks (issue 10) on the sshd fleet (scripts/start-ssh-fleet.sh), baselines from the same run:
 * - ssh.exec_overhead_p50 / _p99: a warm slot's `exec('true')` against a fresh OpenSSH `ssh host true`
 *   per command (no multiplexing) and a ControlMaster-multiplexed `ssh host true` per command, with
 *   the floor under a warm exec here (ssh-floor.ts) in the note;
 * - ssh.cold_start_30_slots: a pool on 3 machines × 10 slots, from createPool to all 30 slots usable.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createPool } from '@berth/core';
import { fleetBackend, loadFleet } from '../test/fixtures/ssh-fleet.js';
import { type BenchResult, percentile, round, timeEach } from './bench-result.js';
import { describeFloor, measureExecFloor } from './ssh-floor.js';

const run = promisify(execFile);
const SAMPLES = 200;
const SSH_SAMPLES = 40;

export async function benchSsh(): Promise<BenchResult[]> {
  const { fleet, missing } = loadFleet();
  if (!fleet) {
    console.error(`bench ssh skipped: ${missing}`);
    return [];
  }
  const machine = fleet.machines[0]!;
  const control = path.join(mkdtempSync(path.join(os.tmpdir(), 'berth-bench-ssh-')), 'cm');
  const base = [
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${fleet.knownHosts}`,
    '-i',
    fleet.keys.plain,
  ];
  const target = `${fleet.user}@${machine.host}`;
  const fresh = await timeEach(SSH_SAMPLES, () => run('ssh', [...base, target, 'true']));
  const muxed = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${control}`, '-o', 'ControlPersist=60'];
  await run('ssh', [...base, ...muxed, target, 'true']); // starts the master
  const multiplexed = await timeEach(SSH_SAMPLES, () => run('ssh', [...base, ...muxed, target, 'true']));
  await run('ssh', [...base, ...muxed, '-O', 'exit', target]).catch(() => undefined);

  const pool = await createPool({
    backend: fleetBackend(fleet, { only: [machine.name] }),
    poolId: `bench-ssh-${process.pid}`,
    persist: false,
    maxHosts: 1,
    slotsPerHost: 1,
  });
  let warm: number[];
  try {
    const slot = await pool.acquire();
    await slot.exec('true');
    warm = await timeEach(SAMPLES, () => slot.exec('true'));
    await slot.release();
  } finally {
    await pool.close({ forceRemove: true });
  }

  const started = performance.now();
  const cold = await createPool({
    backend: fleetBackend(fleet),
    poolId: `bench-ssh-cold-${process.pid}`,
    persist: false,
    maxHosts: 3,
    slotsPerHost: 10,
    maxConcurrentCreates: 3,
  });
  let coldMs: number;
  try {
    const slots = await Promise.all(Array.from({ length: 30 }, () => cold.acquire()));
    await Promise.all(slots.map((slot) => slot.exec('true')));
    coldMs = performance.now() - started;
    await Promise.all(slots.map((slot) => slot.release()));
  } finally {
    await cold.close({ forceRemove: true });
  }

  const floor = await measureExecFloor(fleet);
  const results: BenchResult[] = [];
  for (const p of [50, 99] as const) {
    const value = round(percentile(warm, p));
    const baseline = round(percentile(multiplexed, p));
    results.push({
      name: `ssh.exec_overhead_p${p}`,
      value,
      unit: 'ms',
      baseline,
      ratio: round(baseline / value, 1),
      note:
        `baseline: ControlMaster-multiplexed ssh per command; fresh ssh per command p${p} ` +
        `${round(percentile(fresh, p))} ms (${round(percentile(fresh, p) / value, 1)}×); ${describeFloor(floor, p, baseline)}`,
    });
  }
  results.push({
    name: 'ssh.cold_start_30_slots',
    value: round(coldMs),
    unit: 'ms',
    note: '3 machines × 10 slots, createPool to 30 slots having run a command; target ≤ 3000 ms',
  });
  return results;
}
