/**
 * What a warm SSH exec cannot go below on this machine, measured in the same run as the exec:
 * one round trip over an ssh2 channel (a byte echoed by `cat` on the machine), plus the same
 * `exec('true')` through a berth-agent started here over pipes (no SSH: the client, the agent and
 * the `sh -c true` it starts). A warm exec pays both, so baseline / floor bounds its ratio.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { agentArchOf, agentArgv, agentBinary, HostAgentSession } from '@berth/host-agent';
import ssh2 from 'ssh2';
import type { SshFleet } from '../test/fixtures/ssh-fleet.js';
import { percentile, timeEach } from './bench-result.js';

const SAMPLES = 200;

export interface ExecFloor {
  roundTrip: number[];
  localExec: number[];
}

export async function measureExecFloor(fleet: SshFleet): Promise<ExecFloor> {
  return { roundTrip: await channelRoundTrips(fleet), localExec: await localAgentExecs() };
}

export function describeFloor(floor: ExecFloor, p: number, baseline: number): string {
  const trip = percentile(floor.roundTrip, p);
  const local = percentile(floor.localExec, p);
  if (Number.isNaN(local)) return `floor: no berth-agent build for this CPU (${process.arch}) to measure it`;
  const sum = trip + local;
  return (
    `floor p${p}: ssh2 channel round trip ${trip.toFixed(3)} ms + the same exec through a local ` +
    `berth-agent ${local.toFixed(3)} ms = ${sum.toFixed(3)} ms, at most ${(baseline / sum).toFixed(1)}× the baseline`
  );
}

async function channelRoundTrips(fleet: SshFleet): Promise<number[]> {
  const machine = fleet.machines[0]!;
  const expected = readFileSync(fleet.hostKeys[machine.name]!, 'utf8').split(' ')[1];
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject);
    client.connect({
      host: machine.host,
      port: machine.port,
      username: fleet.user,
      privateKey: readFileSync(fleet.keys.plain),
      // The fleet's own host key, as the backend would verify it.
      hostVerifier: (key: Buffer) => key.toString('base64') === expected,
    });
  });
  client.setNoDelay(true); // as the backend's own sockets (ssh-sockets.ts): no Nagle on a round trip
  try {
    const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
      client.exec('cat', (error, opened) => (error ? reject(error) : resolve(opened))),
    );
    const echo = () =>
      new Promise<void>((resolve) => {
        channel.once('data', () => resolve());
        channel.write('x');
      });
    for (let index = 0; index < 20; index += 1) await echo();
    const samples = await timeEach(SAMPLES, echo);
    channel.end();
    return samples;
  } finally {
    client.end();
  }
}

async function localAgentExecs(): Promise<number[]> {
  const arch = agentArchOf(process.arch === 'x64' ? 'amd64' : process.arch);
  if (!arch) return [Number.NaN];
  const [file, ...args] = agentArgv(agentBinary(arch).localPath, {});
  const child = spawn(file!, args, { stdio: 'pipe' });
  const session = await HostAgentSession.connect(
    { readable: child.stdout, writable: child.stdin, destroy: () => child.kill('SIGKILL') },
    { timeoutMs: 10_000, hostDescription: 'a local agent' },
  );
  try {
    const once = async () => {
      const channel = await session.openCommand({ argv: ['sh', '-c', 'true'], stdin: new Uint8Array(0) });
      channel.stdout.resume();
      channel.stderr.resume();
      await channel.closed;
    };
    for (let index = 0; index < 20; index += 1) await once();
    return await timeEach(SAMPLES, once);
  } finally {
    session.close();
    child.kill('SIGKILL');
  }
}
