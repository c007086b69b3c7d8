// One pool over a fleet of machines reached by SSH: hosts placed on the least-loaded machine,
// one connection and one berth-agent per machine, host keys verified, cleanup.
// Needs SSH machines; the test fleet: scripts/start-ssh-fleet.sh, then (see packages/backend-ssh/README.md)
//   F=~/.cache/berth/ssh-fleet BERTH_SSH_HOSTS=berth-ssh@10.231.1.2,berth-ssh@10.231.2.2,berth-ssh@10.231.3.2 \
//   BERTH_SSH_KEY=$F/keys/id_ed25519 BERTH_SSH_KNOWN_HOSTS=$F/known_hosts BERTH_SSH_ROOT=/srv/berth-ssh \
//   node --import tsx examples/ssh-fleet.ts
import { backendFromEnv } from '@berth/backend-ssh';
import { createPool } from '@berth/core';

const { backend, host } = backendFromEnv(process.env);

const pool = await createPool({
  backend,
  host,
  poolId: 'ssh-fleet-example',
  persist: false, // remove the host directories on close; the default (true) keeps them for the next run
  maxHosts: 3,
  slotsPerHost: 2,
});
pool.on('host:created', ({ hostId, coldStartMs }) =>
  console.log(`host ${hostId} ready after ${Math.round(coldStartMs)} ms`),
);

try {
  // Six slots at once: three hosts, one per machine (placement picks the least-loaded machine).
  const slots = await Promise.all(
    Array.from({ length: 6 }, (_, index) => pool.acquire({ trajectoryId: `task-${index}` })),
  );
  const results = await Promise.all(
    slots.map(async (slot) => {
      await slot.writeFile('input.txt', `${slot.trajectoryId}\n`);
      // SSH_CONNECTION's third field is the machine's own address.
      const { stdout } = await slot.exec('set -- $SSH_CONNECTION; echo "$(cat input.txt) on $3"');
      await slot.release();
      return stdout.trim();
    }),
  );
  for (const line of results.sort()) console.log(line);
  const slot = await pool.acquire();
  const slow = await slot.exec('echo started; sleep 30', { timeoutMs: 500 });
  console.log(
    `timed out: ${slow.timedOut}, exit ${slow.exitCode}; the slot still works: ${(await slot.exec('echo yes')).stdout.trim()}`,
  );
  await slot.release();
} finally {
  await pool.close();
}
