import { createNomadBackend } from '/work/main/packages/backend-nomad/src/index.ts';
const backend = createNomadBackend({});
const spec = backend.resolveHostSpec({ driver: 'raw_exec', cpu: 50, memoryMiB: 64, killTimeoutMs: 1000 }, 's');
await Promise.all([0,1,2,3].map(async (w) => { for (let i = 0; i < 6; i++) {
  const t0 = Date.now();
  try {
    const host = await backend.createHost({ profile: 'p12', spec, labels: { 'berth.pool': 'probe12' }, slotCount: 1 });
    console.log('ok', Date.now() - t0);
    await host.destroy({ force: true });
  } catch (e) { console.log("FAIL", Date.now() - t0, (e as Error).message); }
}}));
console.log((await backend.client.listJobs({ prefix: 'berth-probe12' })).value.map(j => j.ID));
await backend.dispose();
