/**
 * An RL-style batch on Modal: 48 rollouts × 3 steps on 4 sandboxes × 12 slots, each rollout in its
 * own slot workspace (reset on release), its reward read back as a file.
 *   MODAL_TOKEN_ID=… MODAL_TOKEN_SECRET=… node --import tsx examples/modal-rl-batch.ts
 * Against the local Modal control plane instead of Modal's cloud, see packages/backend-modal/README.md.
 * BERTH_MODAL_IMAGE defaults to python:3.12-slim, BERTH_MODAL_APP to berth-examples.
 */
import { createModalBackend } from '@berth/backend-modal';
import { createPool, type Slot } from '@berth/core';

const pool = await createPool({
  backend: createModalBackend({ appName: process.env.BERTH_MODAL_APP ?? 'berth-examples' }),
  poolId: 'example-modal-rl-batch',
  minHosts: 4,
  maxHosts: 4,
  slotsPerHost: 12,
  // Modal bills a sandbox while it lives: the pool's lifetime is Modal's server-side backstop.
  hostLifetimeMs: 30 * 60_000,
  host: {
    image: process.env.BERTH_MODAL_IMAGE ?? 'python:3.12-slim',
    cpu: 1,
    memoryMiB: 1024,
    idleTimeoutMs: 5 * 60_000,
  },
});

try {
  const rollout = (n: number) => async (slot: Slot) => {
    await slot.writeFile('policy.txt', `seed=${n}\n`);
    await slot.exec(`for step in 1 2 3; do echo "step $step of rollout ${n}" >> trace.log; done`);
    const scored = await slot.exec(`echo $(( ${n} % 7 )) > reward.txt && wc -l < trace.log`);
    if (scored.exitCode !== 0) throw new Error(scored.stderr);
    const reward = Number(new TextDecoder().decode(await slot.readFile('reward.txt')));
    return { steps: Number(scored.stdout.trim()), reward };
  };
  const started = performance.now();
  const outcomes = await pool.execBatch(
    Array.from({ length: 48 }, (_, n) => rollout(n)),
    { concurrency: 48 },
  );
  const seconds = (performance.now() - started) / 1000;
  const ok = outcomes.flatMap((outcome) => (outcome.ok ? [outcome.value] : []));
  const total = ok.reduce((sum, value) => sum + value.reward, 0);
  console.log(`${ok.length}/${outcomes.length} rollouts ok in ${seconds.toFixed(2)} s`);
  console.log(
    `steps per rollout: ${[...new Set(ok.map((value) => value.steps))].join(',')}; total reward ${total}`,
  );
  for (const outcome of outcomes) if (!outcome.ok) console.error('failed:', outcome.error.message);
  const hosts = pool.hostsOf();
  console.log(`sandboxes: ${hosts.length}`);
  process.exitCode = ok.length === outcomes.length ? 0 : 1;
} finally {
  // forceRemove: terminate the sandboxes (stop billing) even though the pool persists by default.
  await pool.close({ forceRemove: true });
}
