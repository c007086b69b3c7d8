// Quickstart: a pool of slots on the local backend (no engine needed), one trajectory, cleanup.
// Run: npm run quickstart   (or: node --import tsx examples/quickstart.ts)
import { createLocalBackend, createPool } from '@berth/core';

await using pool = await createPool({
  backend: createLocalBackend(),
  poolId: 'quickstart',
  persist: false, // remove hosts on close; the default (true) keeps them warm for the next process
  minHosts: 1,
  maxHosts: 2,
  slotsPerHost: 4,
});

{
  await using slot = await pool.acquire({ trajectoryId: 'demo-1' });
  await slot.writeFile('hello.py', 'print("hello from a Berth slot")\n');
  const listing = await slot.exec('ls -la && cat hello.py');
  console.log(listing.stdout);

  const failed = await slot.exec('echo "to stderr" >&2; exit 3');
  console.log(`exit ${failed.exitCode}, stderr: ${failed.stderr.trim()}`);

  const slow = await slot.exec('echo started; sleep 30', { timeoutMs: 500 });
  console.log(`timed out: ${slow.timedOut}, exit ${slow.exitCode}, partial output: ${slow.stdout.trim()}`);
} // the slot is released (and its workspace reset) here

const outcomes = await pool.execBatch(
  ['echo one', 'echo two', 'exit 7'].map((command) => ({ command })),
  { concurrency: 3 },
);
for (const outcome of outcomes) {
  console.log(
    outcome.ok ? `exit ${outcome.value.exitCode}: ${outcome.value.stdout.trim()}` : outcome.error.message,
  );
}
console.log(pool.stats().slots);
