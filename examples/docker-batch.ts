/**
 * A batch of trajectories on Docker: 40 trajectories × 3 commands on 2 containers × 8 slots.
 *   node --import tsx examples/docker-batch.ts          (BERTH_DOCKER_IMAGE defaults to berth-test/busybox:1)
 */
import { createDockerBackend } from '@berth/backend-docker';
import { createPool, type Slot } from '@berth/core';

const image = process.env.BERTH_DOCKER_IMAGE ?? 'berth-test/busybox:1';
const pool = await createPool({
  backend: createDockerBackend(),
  poolId: 'example-docker-batch',
  minHosts: 2,
  maxHosts: 2,
  slotsPerHost: 8,
  host: { image, memoryMiB: 256, networkMode: 'none' },
});

try {
  // One trajectory: a few commands on its own slot (its own workspace, reset on release).
  const trajectory = (n: number) => async (slot: Slot) => {
    await slot.exec(`echo "trajectory ${n}" > notes.txt`);
    await slot.writeFile('input.txt', `${n * n}\n`);
    const result = await slot.exec('cat notes.txt input.txt && wc -l < notes.txt');
    if (result.exitCode !== 0) throw new Error(result.stderr);
    return result.stdout.trim().split('\n');
  };
  const started = performance.now();
  const outcomes = await pool.execBatch(
    Array.from({ length: 40 }, (_, n) => trajectory(n)),
    { concurrency: 16 },
  );
  const seconds = (performance.now() - started) / 1000;
  const failed = outcomes.filter((outcome) => !outcome.ok);
  const first = outcomes[3];
  console.log(
    `${outcomes.length - failed.length}/${outcomes.length} trajectories ok in ${seconds.toFixed(2)} s`,
  );
  if (first?.ok) console.log('trajectory 3 saw:', first.value);
  for (const outcome of failed) if (!outcome.ok) console.error('failed:', outcome.error.message);
  const { waitMs, coldStartMs } = pool.stats();
  const ms = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(1)} ms`);
  console.log(
    `acquire wait p50 ${ms(waitMs.p50)}, p99 ${ms(waitMs.p99)}; host cold start p50 ${ms(coldStartMs.p50)}`,
  );
  process.exitCode = failed.length === 0 ? 0 : 1;
} finally {
  // forceRemove: stop and remove the containers even though the pool persists by default.
  await pool.close({ forceRemove: true });
}
