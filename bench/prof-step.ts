import { randomBytes } from 'node:crypto';
import { createDockerBackend } from '@berth/backend-docker';
import { createPool } from '@berth/core';

const pool = await createPool({
  backend: createDockerBackend(),
  poolId: `prof-${randomBytes(3).toString('hex')}`,
  persist: false,
  handleSignals: false,
  minHosts: 1,
  maxHosts: 1,
  slotsPerHost: 2,
  host: { image: 'berth-test/debian:12', networkMode: 'none', pull: 'never' },
});
const p50 = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2);
const acq: number[] = [],
  rel: number[] = [],
  wf: number[] = [],
  ex: number[] = [];
for (let i = 0; i < 60; i++) {
  let t = performance.now();
  const slot = await pool.acquire();
  acq.push(performance.now() - t);
  t = performance.now();
  await slot.writeFile('a.txt', 'hello');
  wf.push(performance.now() - t);
  t = performance.now();
  await slot.exec(['/bin/true']);
  ex.push(performance.now() - t);
  t = performance.now();
  await slot.release();
  rel.push(performance.now() - t);
}
console.log('acquire', p50(acq), 'writeFile', p50(wf), 'exec', p50(ex), 'release', p50(rel));
await pool.close({ forceRemove: true });
