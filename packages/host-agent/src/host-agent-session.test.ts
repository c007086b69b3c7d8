/**
 * The real agent binary (bin/, built by `npm run build`) run as a local child process: every test
 * talks HTTP/2 to it over its stdio exactly as a backend does over a `docker exec`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type AgentArch, agentArchOf, agentBinary } from './agent-binary.js';
import { AgentStartError, type AgentTransport, HostAgentSession } from './host-agent-session.js';
import { runInShell } from './testing/run-in-shell.js';
import { transportFor } from './testing/start-local-agent.js';

const arch = agentArchOf(process.arch === 'x64' ? 'amd64' : process.arch);
const children: ChildProcess[] = [];

/** qemu-user for running the arm64 build here (scripts/setup-agent-tools.sh installs it in CI). */
const QEMU_ARM64 = ['/usr/bin/qemu-aarch64-static', '/usr/bin/qemu-aarch64'].find((path) => existsSync(path));
const arm64Skip =
  arch === 'arm64'
    ? 'this machine is arm64: the native tests cover that build'
    : QEMU_ARM64
      ? undefined
      : 'qemu-aarch64-static is not installed (scripts/setup-agent-tools.sh installs it)';
if (arm64Skip && arch !== 'arm64') {
  if (process.env.CI) throw new Error(`the arm64 agent tests cannot run: ${arm64Skip}`);
  console.warn(`[host-agent] arm64 build tests skipped: ${arm64Skip}`);
}

/** Runs this machine's build, or the other one under qemu-user. */
function startAgent(
  env: NodeJS.ProcessEnv = process.env,
  build: AgentArch = arch!,
): { child: ChildProcess; transport: AgentTransport } {
  const binary = agentBinary(build).localPath;
  const child =
    build === arch
      ? spawn(binary, [], { stdio: 'pipe', env })
      : spawn(QEMU_ARM64!, [binary], { stdio: 'pipe', env });
  children.push(child);
  return { child, transport: transportFor(child) };
}

async function connect(env?: NodeJS.ProcessEnv, build?: AgentArch) {
  const { child, transport } = startAgent(env, build);
  const session = await HostAgentSession.connect(transport, {
    timeoutMs: 10_000,
    hostDescription: 'a local agent',
  });
  return { child, session };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

describe.skipIf(!arch)('HostAgentSession against the real agent binary', () => {
  it('runs a shell: stdout and stderr apart, exit code reported', async () => {
    const { session } = await connect();
    const channel = await session.openShell();
    const stderr: Buffer[] = [];
    channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    expect(await runInShell(channel, 'echo out; echo err >&2; printf "%s" "$0"')).toBe('out\nsh');
    channel.stdin.end('exit 7\n');
    expect(await channel.closed).toEqual({ exitCode: 7 });
    expect(Buffer.concat(stderr).toString()).toBe('err\n');
    session.close();
  });

  it('starts every process as the leader of its own session, apart from the agent', async () => {
    const { child, session } = await connect();
    const channel = await session.openShell();
    const fields =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
      (await runInShell(channel, 'read -r l < /proc/$$/stat; set -- ${l##*) }; echo "$$ $3 $4"')).trim();
    const [pid, pgid, sid] = fields.split(' ').map(Number);
    expect(pgid).toBe(pid);
    expect(sid).toBe(pid);
    expect(pgid).not.toBe(child.pid);
    session.close();
  });

  it('carries 50 concurrent shells on one connection', async () => {
    const { session } = await connect();
    const channels = await Promise.all(Array.from({ length: 50 }, () => session.openShell()));
    const outputs = await Promise.all(
      channels.map((channel, index) => runInShell(channel, `echo slot-${index}`)),
    );
    expect(outputs).toEqual(channels.map((_, index) => `slot-${index}\n`));
    for (const channel of channels) channel.stdin.end();
    expect(
      (await Promise.all(channels.map((channel) => channel.closed))).every((info) => info.exitCode === 0),
    ).toBe(true);
    session.close();
  });

  it('applies backpressure per stream: an unread 16 MiB burst does not stall another shell', async () => {
    const { session } = await connect();
    const flood = await session.openShell({ argv: ['sh', '-c', 'head -c 16777216 /dev/zero'] });
    const other = await session.openShell();
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the flood fill every window
    const started = performance.now();
    expect(await runInShell(other, 'echo still-here')).toBe('still-here\n');
    expect(performance.now() - started).toBeLessThan(2_000);
    let received = 0;
    for await (const chunk of flood.stdout) received += (chunk as Buffer).length;
    expect(received).toBe(16 << 20);
    expect(await flood.closed).toEqual({ exitCode: 0 });
    session.close();
  });

  it('close() gives the process EOF; it exits and nothing is left running', async () => {
    const { session } = await connect();
    const channel = await session.openShell();
    const pid = Number((await runInShell(channel, 'echo $$')).trim());
    channel.close();
    expect(await channel.closed).toEqual({});
    await eventually(() => !processAlive(pid), `shell ${pid} to exit`);
    session.close();
  });

  it('a lost connection drops every channel (transportDropped) and the agent and its shells exit', async () => {
    const { child, session } = await connect();
    const channels = await Promise.all([session.openShell(), session.openShell()]);
    const pids = await Promise.all(
      channels.map(async (channel) => Number((await runInShell(channel, 'echo $$')).trim())),
    );
    child.stdin!.end(); // the client side of the exec goes away
    const infos = await Promise.all(channels.map((channel) => channel.closed));
    for (const info of infos) expect(info.transportDropped).toBe(true);
    await session.closed;
    expect(session.isClosed).toBe(true);
    await eventually(() => child.exitCode !== null, 'the agent to exit');
    for (const pid of pids) await eventually(() => !processAlive(pid), `shell ${pid} to exit`);
  });

  it('reports the exit of a shell whose background child still holds its output, and reaps it', async () => {
    const { session } = await connect();
    const channel = await session.openShell({ argv: ['sh', '-c', 'sleep 20 & echo "bg $!"; exit 3'] });
    let output = '';
    channel.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    channel.stdin.end();
    expect(await channel.closed).toEqual({ exitCode: 3 }); // not after 20 s
    const background = Number(/bg (\d+)/.exec(output)?.[1]);
    expect(background).toBeGreaterThan(0);
    process.kill(background, 'SIGKILL');
    session.close();
  });

  it('a reset stream closes the output pipes too: a process that ignores stdin gets EPIPE and ends', async () => {
    const { session } = await connect();
    const channel = await session.openShell({ argv: ['sh', '-c', 'echo $$; exec yes'] });
    const pid = await new Promise<number>((resolve) =>
      channel.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().split('\n')[0]))),
    );
    channel.close();
    await eventually(() => !processAlive(pid), `yes (${pid}) to end on EPIPE`);
    session.close();
  });

  it('reports a process killed by a signal with 128 + signal', async () => {
    const { session } = await connect();
    const channel = await session.openShell();
    channel.stdin.write('kill -9 $$\n');
    expect(await channel.closed).toEqual({ exitCode: 137 });
    session.close();
  });

  it('no `sh` on PATH → CapabilityUnsupportedError; an unknown program → InternalError', async () => {
    const { session } = await connect({ PATH: '/nonexistent' });
    await expect(session.openShell()).rejects.toMatchObject({
      code: 'CAPABILITY_UNSUPPORTED',
      capability: 'shell',
    });
    await expect(session.openShell({ argv: ['/no/such/program'] })).rejects.toMatchObject({
      code: 'INTERNAL',
    });
    const shell = await session.openShell({ argv: ['/bin/sh'] }); // the session survives both failures
    expect(await runInShell(shell, 'echo ok')).toBe('ok\n');
    session.close();
  });

  it('an agent that cannot start → AgentStartError carrying what it printed', async () => {
    const child = spawn('sh', ['-c', 'echo "exec /.berth/agent: exec format error" >&2; exit 126'], {
      stdio: 'pipe',
    });
    children.push(child);
    const failure = HostAgentSession.connect(transportFor(child), {
      timeoutMs: 5_000,
      hostDescription: 'container x',
    });
    await expect(failure).rejects.toBeInstanceOf(AgentStartError);
    await expect(failure).rejects.toThrow(
      /container x did not start: exec \/\.berth\/agent: exec format error/,
    );
  });

  it('aborting the connect rejects with AbortedError and tears the transport down', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'pipe' }); // never answers the handshake
    children.push(child);
    const transport = transportFor(child);
    const failure = HostAgentSession.connect(transport, {
      timeoutMs: 30_000,
      hostDescription: 'a silent host',
      signal: AbortSignal.timeout(200),
    });
    await expect(failure).rejects.toMatchObject({ code: 'ABORTED' });
    expect(child.stdin!.destroyed).toBe(true);
  });
});

describe.skipIf(arm64Skip !== undefined)('the linux/arm64 build, under qemu-user', () => {
  it('speaks the protocol: hello, a shell, stderr apart, exit code, a 4 MiB stream', {
    timeout: 30_000,
  }, async () => {
    const { session } = await connect(process.env, 'arm64');
    const channel = await session.openShell();
    const stderr: Buffer[] = [];
    channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    expect(await runInShell(channel, 'echo out; echo err >&2')).toBe('out\n');
    const flood = await session.openShell({ argv: ['sh', '-c', 'head -c 4194304 /dev/zero'] });
    let received = 0;
    for await (const chunk of flood.stdout) received += (chunk as Buffer).length;
    expect(received).toBe(4 << 20);
    channel.stdin.end('exit 5\n');
    expect(await channel.closed).toEqual({ exitCode: 5 });
    expect(Buffer.concat(stderr).toString()).toBe('err\n');
    session.close();
  });
});

describe('agentBinary', () => {
  it('installs under /.berth with the content hash in the name, as a gzip tar', async () => {
    const binary = agentBinary('amd64');
    expect(binary.installPath).toMatch(/^\/\.berth\/agent-[0-9a-f]{16}\/berth-agent$/);
    expect(binary.installDirectory).toBe(`/.berth/agent-${binary.sha256.slice(0, 16)}`);
    const tarball = await binary.tarball();
    expect(tarball.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(agentArchOf('aarch64')).toBe('arm64');
    expect(agentArchOf('s390x')).toBeUndefined();
  });
});
