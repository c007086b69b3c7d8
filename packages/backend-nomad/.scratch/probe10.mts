import { readFileSync } from 'node:fs';
import { NomadClient, createNomadBackend } from '/work/main/packages/backend-nomad/src/index.ts';
const token = readFileSync(process.env.HOME + '/.cache/berth/nomad-acl/token', 'utf8').trim();
const good = new NomadClient({ address: 'http://127.0.0.1:4746', token });
const bad = new NomadClient({ address: 'http://127.0.0.1:4746', token: '00000000-0000-0000-0000-000000000000' });
const none = new NomadClient({ address: 'http://127.0.0.1:4746', env: {} });
console.log('leader (bad token)', await bad.leader().catch(e => e.name));
for (const [n, c] of [['bad', bad], ['none', none]] as const) {
  try { await c.listJobs(); console.log(n, 'list ok'); } catch (e) { console.log(n, (e as Error).name, (e as Error).message); }
}
const backend = createNomadBackend({ client: good });
const host = await backend.createHost({ profile: 'acl', spec: backend.resolveHostSpec({ driver: 'raw_exec' }, 's'), labels: { 'berth.pool': 'probe10' }, slotCount: 1 });
try { const s = await bad.exec(host.allocationId, { task: 'shell', command: ['sh'] }); console.log('exec opened', await s.exited); } catch (e) { console.log('exec', (e as Error).name, (e as Error).message); }
await host.destroy({ force: true });
await Promise.all([good.close(), bad.close(), none.close()]);
