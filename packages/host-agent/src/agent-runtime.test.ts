/**
 * The agent as the in-host runtime, with the real binary as a local child process: it is the child
 * subreaper of what it starts (orphans reparent to it, it reaps them), it kills every descendant
 * when its client goes, and its heartbeat watchdog does the same for a client that stopped talking.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { HostChannelV1 } from '@berth/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type AgentTransport, HostAgentSession } from './host-agent-session.js';
import { runInShell } from './testing/run-in-shell.js';
import { LOCAL_AGENT_ARCH as arch, startLocalAgent } from './testing/start-local-agent.js';

const children: ChildProcess[] = [];
const strays: number[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone, as it should be.
    }
  }
});

function start(heartbeatTimeoutMs?: number): { child: ChildProcess; transport: AgentTransport } {
  const started = startLocalAgent(heartbeatTimeoutMs);
  children.push(started.child);
  return started;
}

/** `state ppid` of a process, or undefined once it is gone. */
function statOf(pid: number): { state: string; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}

/** Starts a process that leaves its shell's session and parent, and returns its pid. */
async function startEscapee(channel: HostChannelV1): Promise<number> {
  const out = await runInShell(
    channel,
    "setsid sh -c 'sleep 4391 > /dev/null 2>&1 < /dev/null & echo $! > /tmp/berth-escapee.$PPID' & wait; " +
      'sleep 0.2; cat /tmp/berth-escapee.$$; rm -f /tmp/berth-escapee.$$',
  );
  const pid = Number(out.trim());
  strays.push(pid);
  return pid;
}

describe.skipIf(!arch)('berth-agent as the in-host runtime', () => {
  it('orphans reparent to the agent (child subreaper), which reaps them: no zombie is left', async () => {
    const { child, transport } = start();
    const agent = await HostAgentSession.connect(transport, {
      timeoutMs: 10_000,
      hostDescription: 'a local agent',
    });
    try {
      const shell = await agent.openShell();
      const pid = await startEscapee(shell);
      expect(statOf(pid)?.ppid, 'the escapee’s parent is the agent, not init').toBe(child.pid);
      process.kill(pid, 'SIGKILL');
      expect(await until(() => statOf(pid) === undefined, 5_000), 'the agent reaped the orphan').toBe(true);
      shell.close();
    } finally {
      agent.close();
    }
  });

  it('kills every process it started, orphans included, when its client goes away', async () => {
    const { child, transport } = start();
    const agent = await HostAgentSession.connect(transport, {
      timeoutMs: 10_000,
      hostDescription: 'a local agent',
    });
    const shell = await agent.openShell();
    const pid = await startEscapee(shell);
    expect(statOf(pid)?.state).not.toBe('Z');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    agent.close();
    expect(await exited).toBe(0);
    expect(await until(() => statOf(pid) === undefined, 5_000), `process ${pid} outlived the agent`).toBe(
      true,
    );
  });

  it('the heartbeat watchdog: a silent client makes the agent kill everything and exit', async () => {
    const { child, transport } = start(400);
    // Connected without heartbeats: the client "froze" right after starting a command.
    const agent = await HostAgentSession.connect(transport, {
      timeoutMs: 10_000,
      hostDescription: 'a local agent',
    });
    const shell = await agent.openShell();
    const pid = await startEscapee(shell);
    const code = await new Promise<number | null>((resolve) =>
      child.once('exit', (exitCode) => resolve(exitCode)),
    );
    expect(code).toBe(3);
    expect(transport.diagnostics?.()).toContain('no heartbeat');
    expect(await until(() => statOf(pid) === undefined, 5_000), `process ${pid} outlived the agent`).toBe(
      true,
    );
    agent.close();
  });

  it('a client sending heartbeats keeps the agent and its processes alive past the timeout', async () => {
    const { child, transport } = start(400);
    const agent = await HostAgentSession.connect(transport, {
      timeoutMs: 10_000,
      hostDescription: 'a local agent',
      heartbeatTimeoutMs: 400,
    });
    try {
      const shell = await agent.openShell();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(child.exitCode).toBe(null);
      expect(await runInShell(shell, 'echo alive')).toBe('alive\n');
      shell.close();
    } finally {
      agent.close();
    }
  });
});
