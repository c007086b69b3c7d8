import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { agentArchOf, agentBinary } from '../agent-binary.js';
import { type AgentTransport, agentArgv, HostAgentSession } from '../host-agent-session.js';

/** This machine's agent build, or undefined where none is built for its CPU. */
export const LOCAL_AGENT_ARCH = agentArchOf(process.arch === 'x64' ? 'amd64' : process.arch);

/** Test helper: a child process's stdio as an agent transport (stderr kept for diagnostics). */
export function transportFor(child: ChildProcess): AgentTransport {
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const drained = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    drained,
    readable: child.stdout!,
    writable: child.stdin!,
    destroy: () => {
      child.stdin!.destroy();
      child.stdout!.destroy();
    },
    diagnostics: () => stderr,
  };
}

/** Test helper: the real agent binary as a child process of this one, with its stdio as a transport. */
export function startLocalAgent(heartbeatTimeoutMs?: number): {
  child: ChildProcess;
  transport: AgentTransport;
} {
  const [file, ...args] = agentArgv(agentBinary(LOCAL_AGENT_ARCH!).localPath, { heartbeatTimeoutMs });
  const child = spawn(file!, args, { stdio: 'pipe' });
  return { child, transport: transportFor(child) };
}

/** Test helper: one local agent session for a whole test file (connected before, closed after). */
export function useLocalAgent(): () => HostAgentSession {
  let agent: HostAgentSession | undefined;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    const started = startLocalAgent();
    child = started.child;
    agent = await HostAgentSession.connect(started.transport, {
      timeoutMs: 10_000,
      hostDescription: 'a local agent',
    });
  });
  afterAll(() => {
    agent?.close();
    child?.kill('SIGKILL');
  });
  return () => {
    if (!agent) throw new Error('the local agent is not connected yet');
    return agent;
  };
}
