import { spawn } from 'node:child_process';
import { agentArgv, agentBinary, HostAgentSession } from '@berth/host-agent';

const [file, ...args] = agentArgv(agentBinary('amd64').localPath);
const child = spawn(
  'strace',
  [
    '-f',
    '-tt',
    '-e',
    'trace=clone,clone3,execve,wait4,write,read,exit_group,pipe2,epoll_pwait,futex',
    '-o',
    '/tmp/prof/strace.txt',
    file!,
    ...args,
  ],
  { stdio: 'pipe' },
);
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
for (let i = 0; i < 5; i++) await once(['/bin/true']);
const t = performance.now();
console.log('mark', Date.now());
await once(['/bin/true']);
console.log('took', performance.now() - t);
session.close();
child.kill();
