import { createNomadBackend } from '/work/main/packages/backend-nomad/src/index.ts';
const backend = createNomadBackend({});
for (const input of [{ image: 'berth-test/does-not-exist:1' }, { driver: 'raw_exec', constraints: [{ attribute: '${attr.kernel.name}', value: 'plan9' }] }, { driver: 'raw_exec', memoryMiB: 10_000_000 }, { driver: 'raw_exec', command: ['/nonexistent/keepalive'] }]) {
  const t0 = Date.now();
  try {
    await backend.createHost({ profile: 'p11', spec: backend.resolveHostSpec(input, 's'), labels: { 'berth.pool': 'probe11' }, slotCount: 1, onProgress: (p) => console.log('  ', Date.now() - t0, p.phase, p.message) });
    console.log('created?!');
  } catch (e) { console.log(Date.now() - t0, 'ms', (e as any).code, (e as Error).message); }
}
console.log((await backend.client.listJobs({ prefix: 'berth-probe11' })).value.map(j => j.ID));
await backend.dispose();
