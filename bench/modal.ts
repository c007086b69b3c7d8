/**
 * Modal backend benchmarks, both sides through the real `modal` SDK and the local Modal control
 * plane (each sandbox a Docker container of berth-test/busybox:1), so they compare transports and
 * admission, not Modal's cloud:
 * - `modal.exec_overhead_p50`: `true` on a warm slot (berth-agent over one exec per sandbox)
 *   against one `sb.exec` per command (what an exec-per-command Modal backend does).
 * - `modal.cold_start_50_slots`: 50 slots from 5 sandboxes × 10 slots against 50 sandboxes × 1.
 */
import { createModalBackend } from '@berth/backend-modal';
import { createPool } from '@berth/core';
import { LocalModal, localModalClient } from '../packages/backend-modal/src/testing/index.js';
import { type BenchResult, percentile, round, timeEach } from './bench-result.js';

const WARM_SAMPLES = 200;
const EXEC_SAMPLES = 40;
const HOST = { image: 'busybox:1' } as const;

export async function benchModal(): Promise<BenchResult[]> {
  const modal = await LocalModal.start();
  const client = localModalClient(modal);
  const backend = (extra: { creationRatePerSecond?: number } = {}) =>
    createModalBackend({ appName: 'berth-bench', client, ...extra });
  const runId = `${process.pid}-${Date.now().toString(36)}`;
  const results: BenchResult[] = [];
  try {
    // Warm slot vs one sb.exec per command, on the same sandbox.
    const warm = await createPool({
      backend: backend(),
      poolId: `bench-modal-warm-${runId}`,
      minHosts: 1,
      maxHosts: 1,
      slotsPerHost: 1,
      persist: false,
      handleSignals: false,
      host: HOST,
    });
    try {
      const slot = await warm.acquire();
      for (let i = 0; i < 10; i++) await slot.exec('true');
      const warmSamples = await timeEach(WARM_SAMPLES, () => slot.exec('true'));
      const sb = await client.sandboxes.fromId(slot.hostId);
      const perExec = async () => {
        const proc = await sb.exec(['sh', '-c', 'true'], { mode: 'binary' });
        await Promise.all([proc.stdout.readBytes(), proc.stderr.readBytes(), proc.wait()]);
      };
      for (let i = 0; i < 3; i++) await perExec();
      const execSamples = await timeEach(EXEC_SAMPLES, perExec);
      await slot.release();
      const value = percentile(warmSamples, 50);
      const baseline = percentile(execSamples, 50);
      results.push({
        name: 'modal.exec_overhead_p50',
        value: round(value),
        unit: 'ms',
        baseline: round(baseline),
        ratio: round(baseline / value, 2),
        note: `warm slot vs one sb.exec per command (local control plane); p95 ${round(percentile(warmSamples, 95))} vs ${round(percentile(execSamples, 95))} ms`,
      });
    } finally {
      await warm.close({ forceRemove: true });
    }

    // 50 slots: 5 sandboxes × 10 vs 50 sandboxes × 1 (creation rate 4/s, as by default).
    const coldStart = async (hosts: number, slotsPerHost: number) => {
      const pool = await createPool({
        backend: backend(),
        poolId: `bench-modal-cold-${hosts}x${slotsPerHost}-${runId}`,
        maxHosts: hosts,
        slotsPerHost,
        maxConcurrentCreates: hosts,
        persist: false,
        handleSignals: false,
        host: HOST,
      });
      try {
        const started = performance.now();
        const slots = await Promise.all(
          Array.from({ length: 50 }, () => pool.acquire({ timeoutMs: 300_000 })),
        );
        await Promise.all(slots.map((slot) => slot.exec('true')));
        const elapsed = performance.now() - started;
        await Promise.all(slots.map((slot) => slot.release()));
        return elapsed;
      } finally {
        await pool.close({ forceRemove: true });
      }
    };
    const fewHosts = await coldStart(5, 10);
    const manyHosts = await coldStart(50, 1);
    results.push({
      name: 'modal.cold_start_50_slots',
      value: round(fewHosts, 1),
      unit: 'ms',
      baseline: round(manyHosts, 1),
      ratio: round(manyHosts / fewHosts, 2),
      note: '50 slots ready and each ran `true`: 5 sandboxes × 10 slots vs 50 sandboxes × 1 (local control plane, 4 creates/s)',
    });
    if (modal.stats.unimplemented.length > 0) {
      throw new Error(
        `the SDK made calls the local control plane lacks: ${modal.stats.unimplemented.join(', ')}`,
      );
    }
    return results;
  } finally {
    client.close();
    await modal.close();
  }
}
