import { NomadClient } from '/work/main/packages/backend-nomad/src/index.ts';
const c = new NomadClient({ address: 'http://127.0.0.1:4646' });
console.log('leader', await c.leader());
const r = await c.listJobs({ prefix: 'berth-', filter: 'Meta["berth.pool"] == "nope"' });
console.log('filtered', r.value.length, r.index);
const r2 = await c.listJobs({ prefix: 'berth-' });
console.log('all', r2.value.map(j => [j.ID, j.Meta]));
const t0 = Date.now();
try { await new NomadClient({ address: 'http://127.0.0.1:4999' }).leader(); } catch (e) { console.log(Date.now()-t0, 'ms', (e as Error).name, (e as Error).message); }
try { await c.readJob('does-not-exist'); } catch (e) { console.log((e as Error).name, (e as Error).message); }
await c.close();
