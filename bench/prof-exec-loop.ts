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
const t = performance.now();
for (let i = 0; i < 1000; i++) await once(['/bin/true']);
console.log('per exec ms', ((performance.now() - t) / 1000).toFixed(3));
session.close();
child.kill();
