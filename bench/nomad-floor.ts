/**
 * What Nomad itself costs per allocation here: registers N Berth-shaped docker jobs at once (the
 * same job Berth writes) and times register → placed → running for each, then one `exec true`
 * into each. No Berth pool, no agent. Usage: node --import tsx bench/nomad-floor.ts [N] [logs]
 * (`logs`: with Nomad's task log collection, as before `taskLogs` defaulted to false).
 */
import { buildNomadJob, makeJobId, NomadClient, resolveNomadHostSpec } from '@berth/backend-nomad';

const count = Number(process.argv[2] ?? 10);
const taskLogs = process.argv[3] === 'logs';
const client = new NomadClient({ env: process.env });
const spec = resolveNomadHostSpec(
  { image: 'berth-test/busybox:1', cpu: 50, memoryMiB: 64, taskLogs },
  'host',
);
const t0 = performance.now();
const ms = () => Math.round(performance.now() - t0);
const jobs = Array.from({ length: count }, () => makeJobId(`floor-${process.pid}`, 'p'));
try {
  const rows = await Promise.all(
    jobs.map(async (jobId) => {
      const row: Record<string, number> = {};
      await client.registerJob(buildNomadJob(jobId, spec, { 'berth.pool': `floor-${process.pid}` }));
      row.registered = ms();
      for await (const { value } of client.watch((read) => client.jobAllocations(jobId, read))) {
        const allocation = value?.[0];
        if (!allocation) continue;
        row.placed ??= ms();
        if (allocation.ClientStatus === 'running') {
          row.running = ms();
          const session = await client.exec(allocation.ID, { task: 'shell', command: ['true'] });
          row.execOpened = ms();
          session.stdin.end();
          await session.exited;
          row.execDone = ms();
          break;
        }
      }
      return row;
    }),
  );
  for (const row of rows.sort((a, b) => (a.running ?? 0) - (b.running ?? 0)))
    console.log(JSON.stringify(row));
  console.log(
    `all running at ${Math.max(...rows.map((row) => row.running ?? 0))} ms; all exec'd at ${ms()} ms`,
  );
} finally {
  await Promise.all(jobs.map((jobId) => client.stopJob(jobId, { purge: true }).catch(() => undefined)));
  await client.close();
}
