import { createNomadBackend } from '/work/main/packages/backend-nomad/src/index.ts';
const backend = createNomadBackend({});
const spec = backend.resolveHostSpec(JSON.parse(process.argv[2]!), 'spec');
const host = await backend.createHost({ profile: 'p7', spec, labels: { 'berth.pool': 'probe7' }, slotCount: 1 });
console.log(host.id, host.allocationId);
await backend.dispose();
