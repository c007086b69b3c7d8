// One pool spread over Nomad allocations: slots on several hosts, commands in parallel, cleanup.
// Needs a Nomad agent (scripts/start-nomad.sh) or the multi-node test cluster
// (scripts/start-nomad-cluster.sh, then NOMAD_ADDR=http://10.213.12.1:4846).
// Run: node --import tsx examples/nomad-cluster.ts
// Env: NOMAD_ADDR (default http://127.0.0.1:4646), NOMAD_TOKEN, …; BERTH_NOMAD_DRIVER=raw_exec
// (default) or BERTH_NOMAD_DRIVER=docker BERTH_NOMAD_IMAGE=berth-test/busybox:1.
import { backendFromEnv } from '@berth/backend-nomad';
import { createPool } from '@berth/core';

const { backend, host } = backendFromEnv(process.env);

const pool = await createPool({
  backend,
  host, // driver, image, cpu, memory from BERTH_NOMAD_*
  poolId: 'nomad-cluster-example',
  persist: false, // remove the jobs on close; the default (true) keeps them warm for the next run
  minHosts: 1,
  maxHosts: 3,
  slotsPerHost: 2,
});
pool.on('host:created', ({ hostId, coldStartMs }) =>
  console.log(`job ${hostId} running after ${Math.round(coldStartMs)} ms`),
);
// A node draining or going away retires its hosts: no new leases there, a replacement elsewhere.
pool.on('host:retiring', ({ hostId, reason }) => console.log(`job ${hostId} retiring: ${reason}`));

try {
  // Six slots at once: the pool scales from 1 to 3 allocations (one Nomad job each) to serve them.
  const slots = await Promise.all(
    Array.from({ length: 6 }, (_, index) => pool.acquire({ trajectoryId: `task-${index}` })),
  );
  const results = await Promise.all(
    slots.map(async (slot) => {
      await slot.writeFile('input.txt', `${slot.trajectoryId}\n`);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
      const { stdout } = await slot.exec('echo "$(cat input.txt) on allocation ${NOMAD_ALLOC_ID%%-*}"');
      await slot.release();
      return stdout.trim();
    }),
  );
  for (const line of results) console.log(line);
  // Where Nomad placed them: Berth asks for a spread over the nodes (a soft affinity per host).
  const nodes = new Set<string>();
  for (const { id } of pool.hosts()) {
    const { value } = await backend.client.jobAllocations(id);
    for (const allocation of value) if (allocation.DesiredStatus === 'run') nodes.add(allocation.NodeName);
  }
  console.log(`${pool.hosts().length} hosts on ${nodes.size} node(s): ${[...nodes].sort().join(', ')}`);

  await using slot = await pool.acquire();
  const timedOut = await slot.exec('sleep 30', { timeoutMs: 500 });
  console.log(`timed out: ${timedOut.timedOut}, exit ${timedOut.exitCode}; the slot still works:`);
  console.log((await slot.exec('uname -sm')).stdout.trim());
  console.log(pool.stats().slots);
} finally {
  await pool.close({ forceRemove: true }); // stops and purges every job of this pool
}
