/**
 * The generic agent link with the real binary: a "host" that is a temporary directory on this
 * machine (its root is `<dir>/`), reached through the same `AgentHostAccess` a backend fills in.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BerthError, CapabilityUnsupportedError, HostLostError } from '@berth/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type AgentBinary, agentArchOf, agentBinary } from './agent-binary.js';
import { type AgentHostAccess, AgentLink, type AgentLinkMode } from './agent-link.js';
import { AgentIntegrityError, AgentStartError } from './host-agent-session.js';
import { runInShell } from './testing/run-in-shell.js';

const arch = agentArchOf(process.arch === 'x64' ? 'amd64' : process.arch)!;
const roots: string[] = [];
const children: ChildProcess[] = [];
const links: AgentLink[] = [];

afterEach(() => {
  for (const link of links.splice(0)) link.close();
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

interface FakeHost {
  readonly root: string;
  readonly access: AgentHostAccess;
  readonly calls: { puts: number; starts: number };
  readonly agents: ChildProcess[];
}

/** A host in a temporary directory; `change` replaces some of its calls (it gets the defaults). */
function fakeHost(
  change: (defaults: AgentHostAccess, root: string) => Partial<AgentHostAccess> = () => ({}),
): FakeHost {
  const root = mkdtempSync(join(tmpdir(), 'berth-link-'));
  roots.push(root);
  const calls = { puts: 0, starts: 0 };
  const agents: ChildProcess[] = [];
  const inHost = (path: string) => join(root, path);
  const defaults: AgentHostAccess = {
    description: `test host ${root}`,
    backendId: 'test',
    platform: async () => ({ os: 'linux', arch }),
    fileSize: async (path) => {
      try {
        return statSync(inHost(path)).size;
      } catch {
        return undefined;
      }
    },
    putExecutable: async (binary) => {
      calls.puts++;
      // Beside it, then renamed over: the build being replaced may still be running (ETXTBSY).
      const target = inHost(binary.installPath);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(`${target}.new`, binary.bytes(), { mode: 0o755 });
      renameSync(`${target}.new`, target);
    },
    start: async ([file, ...args]) => {
      calls.starts++;
      const child = spawn(inHost(file!), args, { stdio: 'pipe' });
      children.push(child);
      agents.push(child);
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on('error', () => undefined); // ENOENT and the like: the handshake fails and says so
      return {
        readable: child.stdout!,
        writable: child.stdin!,
        destroy: () => child.kill('SIGKILL'),
        diagnostics: () => stderr,
      };
    },
  };
  const access = { ...defaults, ...change(defaults, root) };
  return { root, access, calls, agents };
}

function link(host: FakeHost, mode: AgentLinkMode = 'auto', installed?: AgentBinary): AgentLink {
  const created = new AgentLink({
    access: host.access,
    mode,
    openTimeoutMs: 10_000,
    heartbeatTimeoutMs: 0,
    installed,
  });
  links.push(created);
  return created;
}

async function echoThrough(created: AgentLink): Promise<string> {
  const session = await created.session();
  expect(session, 'the link fell back instead of connecting').toBeDefined();
  const shell = await session!.openShell();
  const said = await runInShell(shell, 'echo via-agent');
  shell.stdin.end();
  return said.trim();
}

describe('AgentLink', () => {
  it('installs once, starts one agent for concurrent first uses, and carries shells', async () => {
    const host = fakeHost();
    const created = link(host);
    const sessions = await Promise.all([created.session(), created.session(), created.session()]);
    expect(new Set(sessions).size).toBe(1);
    expect(host.calls).toEqual({ puts: 1, starts: 1 });
    expect(await echoThrough(created)).toBe('via-agent');
    expect(created.state).toEqual({ usesAgent: true });
  });

  it('re-uploads an install that was cut short (size differs)', async () => {
    const host = fakeHost();
    const binary = agentBinary(arch);
    const path = join(host.root, binary.installPath);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, binary.bytes().subarray(0, 1000), { mode: 0o755 });
    expect(await echoThrough(link(host))).toBe('via-agent');
    expect(host.calls.puts).toBe(1);
    expect(statSync(path).size).toBe(binary.size);
  });

  it('finds an install altered in place (same size, other bytes) by its digest and puts it back', async () => {
    const host = fakeHost();
    const binary = agentBinary(arch);
    const path = join(host.root, binary.installPath);
    mkdirSync(dirname(path), { recursive: true });
    const altered = Buffer.from(binary.bytes());
    altered[altered.length - 1] = altered.at(-1)! ^ 0xff; // trailing bytes: the binary still runs
    writeFileSync(path, altered, { mode: 0o755 });
    expect(await echoThrough(link(host))).toBe('via-agent');
    expect(host.calls).toEqual({ puts: 1, starts: 2 });
    expect(readFileSync(path).equals(binary.bytes())).toBe(true);
  });

  it('uses installAndStart for the first connect, then start alone; puts back an altered build', async () => {
    let combined = 0;
    const host = fakeHost((defaults) => ({
      // The engine's one call: put the build there when its size is off, then start it.
      installAndStart: async (binary, argv) => {
        combined++;
        if ((await defaults.fileSize(binary.installPath)) !== binary.size)
          await defaults.putExecutable(binary);
        return defaults.start(argv);
      },
    }));
    const created = link(host);
    expect(await echoThrough(created)).toBe('via-agent');
    expect({ combined, ...host.calls }).toEqual({ combined: 1, puts: 1, starts: 1 });
    host.agents[0]!.kill('SIGKILL');
    await (await created.session())?.closed.catch(() => undefined);
    expect(await echoThrough(created)).toBe('via-agent');
    expect({ combined, ...host.calls }).toEqual({ combined: 1, puts: 1, starts: 2 });

    // Same size, other bytes: the digest check fails and the link puts the build back itself.
    const binary = agentBinary(arch);
    const other = fakeHost((defaults) => ({
      installAndStart: async (_binary, argv) => {
        combined++;
        return defaults.start(argv);
      },
    }));
    const path = join(other.root, binary.installPath);
    mkdirSync(dirname(path), { recursive: true });
    const altered = Buffer.from(binary.bytes());
    altered[altered.length - 1] = altered.at(-1)! ^ 0xff;
    writeFileSync(path, altered, { mode: 0o755 });
    expect(await echoThrough(link(other))).toBe('via-agent');
    expect({ combined, ...other.calls }).toEqual({ combined: 2, puts: 1, starts: 2 });
    expect(readFileSync(path).equals(binary.bytes())).toBe(true);
  });

  it('refuses an altered build the engine mounted (nothing to put back)', async () => {
    const host = fakeHost();
    const binary = agentBinary(arch);
    const path = join(host.root, binary.installPath);
    mkdirSync(dirname(path), { recursive: true });
    const altered = Buffer.from(binary.bytes());
    altered[altered.length - 1] = altered.at(-1)! ^ 0xff;
    writeFileSync(path, altered, { mode: 0o755 });
    await expect(link(host, 'agent', binary).session()).rejects.toBeInstanceOf(AgentIntegrityError);
    expect(host.calls.puts).toBe(0);
  });

  it('falls back for good, with the reason, where the agent cannot run (auto), and errors (agent)', async () => {
    const foreign = fakeHost(() => ({ platform: async () => ({ os: 'windows', arch: 'amd64' }) }));
    const auto = link(foreign);
    expect(await auto.session()).toBeUndefined();
    expect(auto.state.usesAgent).toBe(false);
    expect(auto.state.reason).toMatch(/No agent build for windows\/amd64/);
    expect(await auto.session()).toBeUndefined();
    await expect(link(foreign, 'agent').session()).rejects.toBeInstanceOf(CapabilityUnsupportedError);

    const readOnly = fakeHost(() => ({
      putExecutable: async () => {
        throw new CapabilityUnsupportedError('test', 'host agent', 'read-only root');
      },
    }));
    const fellBack = link(readOnly);
    expect(await fellBack.session()).toBeUndefined();
    expect(fellBack.state.reason).toMatch(/read-only root/);

    const wontRun = fakeHost((_, root) => ({
      putExecutable: async (binary) => {
        mkdirSync(dirname(join(root, binary.installPath)), { recursive: true });
        writeFileSync(join(root, binary.installPath), 'not an executable', { mode: 0o644 });
      },
    }));
    const broken = link(wontRun);
    expect(await broken.session()).toBeUndefined();
    expect(broken.state.usesAgent).toBe(false);
  });

  it('rethrows what says the host is the problem, without falling back', async () => {
    const gone = fakeHost(() => ({
      platform: async () => {
        throw new HostLostError('host-1', 'the container was removed');
      },
    }));
    const created = link(gone);
    const failure = await created.session().catch((error: unknown) => error);
    expect(BerthError.hasCode(failure, 'HOST_LOST')).toBe(true);
    expect(created.state.usesAgent).toBe(true);
  });

  it('falls back just once after a transient failure, then tries the agent again', async () => {
    let failNext = true;
    const flaky = fakeHost((defaults) => ({
      start: async (argv) => {
        if (!failNext) return defaults.start(argv);
        failNext = false;
        throw new AgentStartError('slow under load', { transient: true });
      },
    }));
    const created = link(flaky);
    expect(await created.session()).toBeUndefined();
    expect(created.state.usesAgent).toBe(true);
    expect(await echoThrough(created)).toBe('via-agent');
  });

  it('reconnects once the agent process is gone, and stops for good at close()', async () => {
    const host = fakeHost();
    const created = link(host);
    const first = await created.session();
    host.agents[0]!.kill('SIGKILL');
    await first!.closed;
    const second = await created.session();
    expect(second).not.toBe(first);
    expect(host.calls.starts).toBe(2);
    expect(await echoThrough(created)).toBe('via-agent');
    created.close();
    await expect(created.session()).rejects.toThrow(/was closed/);
  });

  it('stops waiting when the caller aborts, without cancelling the shared attempt', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const created = link(
      fakeHost(() => ({
        platform: async () => {
          await gate;
          return { os: 'linux', arch };
        },
      })),
    );
    const controller = new AbortController();
    const aborted = created.session(controller.signal);
    const patient = created.session();
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
    release();
    expect(await patient).toBeDefined();
  });
});
