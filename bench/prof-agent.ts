import { spawn } from 'node:child_process';
import { agentArgv, agentBinary, HostAgentSession } from '@berth/host-agent';

const [file, ...args] = agentArgv(agentBinary('amd64').localPath);
const child = spawn(file!, args, { stdio: 'pipe' });
const session = await HostAgentSession.connect(
  { readable: child.stdout!, writable: child.stdin!, destroy: () => child.kill() },
  { timeoutMs: 5000, hostDescription: 'local' },
);
async function once(argv: string[]) {
  const ch = await session.openCommand({ argv });
  ch.stdin.end();
  ch.stdout.resume();
  ch.stderr.resume();
  const ends = Promise.all([
    new Promise((r) => ch.stdout.once('end', r)),
    new Promise((r) => ch.stderr.once('end', r)),
  ]);
  await ch.closed;
  await ends;
}
for (const argv of [['/bin/true'], ['sh', '-c', 'true']]) {
  for (let i = 0; i < 50; i++) await once(argv);
  const times: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    await once(argv);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(argv.join(' '), 'p50', times[150]!.toFixed(3), 'p10', times[30]!.toFixed(3));
}
{
  const { writeFileSync } = await import('node:fs');
  writeFileSync('/tmp/prof/f', 'x'.repeat(1024));
  for (let i = 0; i < 50; i++) await session.readFile('/tmp/prof/f');
  const times: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    await session.readFile('/tmp/prof/f');
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log('readFile p50', times[150]!.toFixed(3));
}
{
  const { execFileSync, spawnSync } = await import('node:child_process');
  const times: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t = performance.now();
    spawnSync('/bin/true');
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log('node spawnSync true p50', times[50]!.toFixed(3));
}
// throughput
const t = performance.now();
const ch = await session.openCommand({ argv: ['head', '-c', String(256 << 20), '/dev/zero'] });
ch.stdin.end();
let n = 0;
ch.stdout.on('data', (c: Buffer) => (n += c.length));
ch.stderr.resume();
await ch.closed;
await new Promise((r) => (ch.stdout.readableEnded ? r(0) : ch.stdout.once('end', r)));
console.log('throughput MiB/s', (n / 1048576 / ((performance.now() - t) / 1000)).toFixed(1), n);
session.close();
child.kill();
