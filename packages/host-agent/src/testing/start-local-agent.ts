import { type ChildProcess, spawn } from 'node:child_process';
import { agentArchOf, agentBinary } from '../agent-binary.js';
import { type AgentTransport, agentArgv } from '../host-agent-session.js';

/** This machine's agent build, or undefined where none is built for its CPU. */
export const LOCAL_AGENT_ARCH = agentArchOf(process.arch === 'x64' ? 'amd64' : process.arch);

/** Test helper: the real agent binary as a child process of this one, with its stdio as a transport. */
export function startLocalAgent(heartbeatTimeoutMs?: number): {
  child: ChildProcess;
  transport: AgentTransport;
} {
  const [file, ...args] = agentArgv(agentBinary(LOCAL_AGENT_ARCH!).localPath, { heartbeatTimeoutMs });
  const child = spawn(file!, args, { stdio: 'pipe' });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    child,
    transport: {
      readable: child.stdout!,
      writable: child.stdin!,
      destroy: () => {
        child.stdin!.destroy();
        child.stdout!.destroy();
      },
      diagnostics: () => stderr,
    },
  };
}
