import { NomadClient, buildNomadJob, resolveNomadHostSpec, makeJobId } from '/work/main/packages/backend-nomad/src/index.ts';
import { waitForRunningAllocation } from '/work/main/packages/backend-nomad/src/wait-for-running-allocation.ts';
import { runOneShot } from '/work/main/packages/backend-nomad/src/run-one-shot.ts';
const c = new NomadClient({ address: 'http://127.0.0.1:4646' });
console.log((await c.listJobs({ prefix: 'berth-', filter: 'Meta["berth.pool"] == "smoke"' })).value.map(j => j.ID));
const id = makeJobId('probe', 'raw');
const spec = resolveNomadHostSpec({ driver: 'raw_exec' }, 'spec');
const t0 = Date.now();
const reg = await c.registerJob(buildNomadJob(id, spec, { 'berth.pool': 'probe', 'berth.backend': 'nomad' }));
const alloc = await waitForRunningAllocation({ client: c, jobId: id, evaluationId: reg.EvalID, timeoutMs: 60000, placementFailure: 'fail', onProgress: p => console.log('progress', Date.now() - t0, p) });
console.log('running after', Date.now() - t0, alloc.ID);
for (let i = 0; i < 3; i++) {
  const t1 = Date.now();
  const r = await runOneShot(c, alloc.ID, 'shell', ['sh', '-c', 'printf "%s" "$NOMAD_ALLOC_DIR"; echo err >&2; pwd >&2; id >&2; exit 3']);
  console.log('exec', Date.now() - t1, 'ms', r.exitCode, Buffer.from(r.stdout).toString(), Buffer.from(r.stderr).toString());
}
try { const r = await runOneShot(c, alloc.ID, 'shell', ['nonexistent-binary-xyz']); console.log('nonexist', r.exitCode, Buffer.from(r.stderr).toString()); } catch (e) { console.log('nonexist err', e); }
try { const r = await runOneShot(c, alloc.ID, 'nosuchtask', ['true']); console.log('notask', r); } catch (e) { console.log('notask err', (e as Error).name, (e as Error).message); }
await c.stopJob(id, { purge: true });
const t2 = Date.now();
for await (const { value, index } of c.watch((o) => c.readAllocation(alloc.ID, o))) { console.log('alloc', Date.now() - t2, index, value.ClientStatus, value.DesiredStatus, value.DesiredDescription); if (value.ClientStatus !== 'running') break; }
console.log('allocs after purge', await c.jobAllocations(id).then(r => r.value.length).catch(e => e.name));
await c.close();
