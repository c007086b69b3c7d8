import { createNomadBackend } from '/work/main/packages/backend-nomad/src/index.ts';
const backend = createNomadBackend({});
for (const input of [{ image: 'berth-test/busybox:1' }, { driver: 'raw_exec' }]) {
  const spec = backend.resolveHostSpec(input, 'spec');
  const host = await backend.createHost({ profile: 'p9', spec, labels: { 'berth.pool': 'probe9' }, slotCount: 1 });
  const roundTrip = (ch: any, n: number) => new Promise<void>((resolve) => {
    let buf = '';
    const on = (d: Buffer) => { buf += d.toString(); if (buf.includes(`done${n}\n`)) { ch.stdout.off('data', on); resolve(); } };
    ch.stdout.on('data', on);
    ch.stdin.write(`echo done${n}\n`);
  });
  const fresh: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const ch = await host.openChannel();
    await roundTrip(ch, i);
    fresh.push(performance.now() - t);
    ch.stdin.end();
    await ch.closed;
  }
  const ch = await host.openChannel();
  const warm: number[] = [];
  for (let i = 0; i < 50; i++) { const t = performance.now(); await roundTrip(ch, i); warm.push(performance.now() - t); }
  ch.stdin.end(); console.log('closed', await ch.closed);
  const p = (a: number[], q: number) => a.sort((x, y) => x - y)[Math.floor(a.length * q)]!.toFixed(1);
  console.log(spec.driver, 'fresh p50', p(fresh, 0.5), 'p90', p(fresh, 0.9), 'warm p50', p(warm, 0.5), 'p90', p(warm, 0.9));
  await host.destroy({ force: true });
}
await backend.dispose();
