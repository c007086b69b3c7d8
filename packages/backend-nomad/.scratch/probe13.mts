import { execSync } from 'node:child_process';
import { createNomadBackend } from '/work/main/packages/backend-nomad/src/index.ts';
const backend = createNomadBackend({});
for (const input of [{ driver: 'raw_exec' }, { driver: 'exec' }, { image: 'berth-test/busybox:1' }]) {
  const host = await backend.createHost({ profile: 'p13', spec: backend.resolveHostSpec(input, 's'), labels: { 'berth.pool': 'probe13' }, slotCount: 1 });
  const ch = await host.openChannel();
  ch.stdin.write('sleep 12345 & echo started\n');
  await new Promise((r) => ch.stdout.once('data', r));
  const off = host.onLost((r) => console.log('lost', r));
  console.log('before destroy', execSync('pgrep -f "sleep 12345" || true').toString().trim());
  off();
  const t = Date.now();
  await host.destroy({ force: true });
  console.log('destroy ms', Date.now() - t, 'closed', await ch.closed);
  await new Promise((r) => setTimeout(r, 1500));
  console.log('after destroy', JSON.stringify(execSync('pgrep -af "sleep 12345" || true').toString().trim()));
}
const t0 = Date.now();
process.on('exit', () => console.log('process exited', Date.now() - t0, 'ms after last await'));
