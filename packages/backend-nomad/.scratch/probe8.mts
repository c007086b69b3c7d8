import { NomadClient } from '/work/main/packages/backend-nomad/src/index.ts';
import { runOneShot } from '/work/main/packages/backend-nomad/src/run-one-shot.ts';
const c = new NomadClient({});
const [alloc] = (await c.jobAllocations(process.argv[2]!)).value.filter(a => a.ClientStatus === 'running');
let bad = 0; const times: number[] = [];
for (let i = 0; i < 150; i++) {
  const t = performance.now();
  const r = await runOneShot(c, alloc!.ID, 'shell', ['sh', '-c', 'read x; echo "got $x"; exit 3'], { stdin: Buffer.from('hi\n') });
  times.push(performance.now() - t);
  const out = Buffer.from(r.stdout).toString();
  if (r.exitCode !== 3 || out !== 'got hi\n') { bad++; console.log('bad', r.exitCode, JSON.stringify(out)); }
}
times.sort((a, b) => a - b);
console.log('bad', bad, 'of 150; p50', times[75]!.toFixed(1), 'p90', times[135]!.toFixed(1));
await c.close();
