/**
 * Where one Nomad host's cold start goes: job register → allocation placed → running → each alloc
 * exec (open, first output, exit) → agent hello → slots usable. Prints one line per step with ms
 * since the start. Usage: node --import tsx bench/nomad-cold-trace.ts [hosts] [slotsPerHost] [image]
 * (default 1 × 10, berth-test/busybox:1; NOMAD_ADDR as usual).
 */
import { createNomadBackend, NomadClient } from '@berth/backend-nomad';
import { createPool } from '@berth/core';

const hosts = Number(process.argv[2] ?? 1);
const slotsPerHost = Number(process.argv[3] ?? 10);
const t0 = performance.now();
const at = () => `${(performance.now() - t0).toFixed(0).padStart(6)} ms`;
const log = (message: string) => console.log(`${at()} ${new Date().toISOString().slice(11, 23)}  ${message}`);

const client = new NomadClient({ env: process.env });
const original = {
  registerJob: client.registerJob.bind(client),
  exec: client.exec.bind(client),
};
client.registerJob = async (job, options) => {
  log(`register ${job.ID}`);
  const answer = await original.registerJob(job, options);
  log(`registered ${job.ID}`);
  return answer;
};
for (const method of ['listJobs', 'readVariable', 'listNodes', 'leader', 'readNode'] as const) {
  const call = (client[method] as (...args: unknown[]) => Promise<unknown>).bind(client);
  (client as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    log(`${method} …`);
    try {
      return await call(...args);
    } finally {
      log(`${method} done`);
    }
  };
}
let execs = 0;
client.exec = async (allocationId, options) => {
  const n = ++execs;
  const name = `exec#${n} ${allocationId.slice(0, 8)} ${JSON.stringify(options.command).slice(0, 70)}`;
  log(`${name} open`);
  const session = await original.exec(allocationId, options);
  log(`${name} opened`);
  session.stdout.once('data', () => log(`${name} first stdout`));
  session.stderr.on('data', (chunk: Buffer) => {
    for (const line of chunk
      .toString()
      .split('\n')
      .filter((each) => each.startsWith('berth-agent-start')))
      log(`${name} said ${line}`);
  });
  void session.exited.then((exit) => log(`${name} exited ${exit.exitCode ?? exit.error?.message}`));
  return session;
};

const pool = await createPool({
  backend: createNomadBackend({ client, startTimeoutMs: 120_000 }),
  poolId: `trace-${process.pid}`,
  persist: false,
  handleSignals: false,
  host: { image: process.argv[4] ?? 'berth-test/busybox:1', cpu: 50, memoryMiB: 64 },
  minHosts: 0,
  maxHosts: hosts,
  slotsPerHost,
  maxConcurrentCreates: Math.min(hosts, 16),
});
log('pool created');
pool.on('host:progress', (event) => log(`progress ${event.phase}: ${event.message}`));
try {
  const slots = await Promise.all(
    Array.from({ length: hosts * slotsPerHost }, async (_, index) => {
      const slot = await pool.acquire();
      if (index === 0 || index === hosts * slotsPerHost - 1) log(`slot ${index} leased`);
      return slot;
    }),
  );
  log('all slots leased');
  const results = await Promise.all(slots.map((slot) => slot.exec('true')));
  log(`all commands done: ${results.filter((result) => result.exitCode === 0).length} ok`);
  await Promise.all(slots.map((slot) => slot.release()));
} finally {
  await pool.close({ forceRemove: true, timeoutMs: 60_000 });
  await client.close();
  log('closed');
}
