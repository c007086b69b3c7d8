import { createNomadBackend } from '/work/main/packages/backend-nomad/src/index.ts';
import { buildHostLabels } from '@berth/core';
const backend = createNomadBackend({ address: 'http://127.0.0.1:4646' });
const labels = buildHostLabels({ poolId: 'probe5', profile: 'dock', specHash: 'x', owner: 'me' });
for (const input of [{ image: 'berth-test/busybox:1' }, { image: 'berth-test/busybox:1' }]) {
  const spec = backend.resolveHostSpec(input, 'spec');
  const t0 = Date.now();
  const host = await backend.createHost({ profile: 'dock', spec, labels, slotCount: 2, onProgress: (p) => console.log(Date.now() - t0, p.phase, p.message) });
  console.log('created', host.id, host.workspaceRoot, Date.now() - t0, 'ms');
  const ch = await host.openChannel();
  const out: Buffer[] = [], err: Buffer[] = [];
  ch.stdout.on('data', (d) => out.push(d)); ch.stderr.on('data', (d) => err.push(d));
  ch.stdin.write('echo hello; echo oops >&2; id; ls -la ' + host.workspaceRoot + '; cat /proc/1/status | grep -i cap; exit 5\n'); ch.stdin.end();
  console.log(await ch.closed, Buffer.concat(out).toString(), Buffer.concat(err).toString());
  console.log(await host.health());
  const t1 = Date.now();
  await host.destroy({ force: false });
  console.log('destroyed in', Date.now() - t1);
  await host.destroy({ force: false });
}
await backend.dispose();
