import { BerthError, CapabilityUnsupportedError, type OneShotResultV1, shellQuote } from '@berth/core';
import type { AgentHostAccess, AgentTransport } from '@berth/host-agent';
import { TASK_NAME } from './build-nomad-job.js';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadExecSession } from './client/nomad-exec-session.js';
import { markedCommand } from './reap-raw-exec-sessions.js';
import { runOneShot } from './run-one-shot.js';

/** How long a fresh exec must stay up before it counts as started (see `start`). */
const SETTLE_MS = 250;
const START_ATTEMPTS = 3;
const EXEC_ATTEMPTS = 3;

/**
 * berth-agent in a Nomad allocation, through the exec API only: `uname -m` for the CPU, `wc -c`
 * for an install's size, `cat` with stdin to install it, and one exec session (a websocket)
 * carrying the agent's stdio, so every shell and command of the host shares it.
 */
export function nomadAgentAccess(
  client: NomadClient,
  allocationId: string,
  onSession: (session: NomadExecSession) => void,
  marked = false,
): AgentHostAccess {
  // Nomad's docker driver may drop a fresh exec (websocket 1006, no exit code) or report it exited
  // before it ran: a few attempts, as openShellChannel makes for shells. `real` says whether an
  // answer can be trusted (a command that must print something printed it).
  const run = async (argv: string[], stdin?: Uint8Array, real = (_: OneShotResultV1) => true) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await runOneShot(client, allocationId, TASK_NAME, argv, {
          ...(stdin ? { stdin } : {}),
          maxOutputBytes: 64 << 10,
        });
        if (real(result) || attempt >= EXEC_ATTEMPTS) return result;
      } catch (error) {
        if (!BerthError.hasCode(error, 'BACKEND_UNAVAILABLE') || attempt >= EXEC_ATTEMPTS) throw error;
      }
    }
  };
  const printed = (result: OneShotResultV1) => result.exitCode !== 0 || result.stdout.length > 0;
  const sizeOf = async (path: string) => {
    const result = await run(['sh', '-c', `wc -c < ${shellQuote(path)}`], undefined, printed);
    const size = Number(Buffer.from(result.stdout).toString('utf8').trim());
    return result.exitCode === 0 && Number.isInteger(size) ? size : undefined;
  };
  const said = (result: { stderr: Uint8Array; exitCode: number }) =>
    Buffer.from(result.stderr).toString('utf8').trim() || `exit ${result.exitCode}`;
  return {
    description: `allocation ${allocationId.slice(0, 8)}`,
    backendId: 'nomad',
    async platform() {
      const result = await run(['uname', '-m'], undefined, printed);
      if (result.exitCode !== 0) {
        throw new CapabilityUnsupportedError(
          'nomad',
          'host agent',
          `\`uname -m\` failed in the task: ${said(result)}.`,
        );
      }
      return { os: 'linux', arch: Buffer.from(result.stdout).toString('utf8').trim() };
    },
    fileSize: sizeOf,
    async putExecutable(binary) {
      const path = shellQuote(binary.installPath);
      const temporary = shellQuote(`${binary.installPath}.${process.pid}.tmp`);
      const directory = shellQuote(binary.installDirectory);
      // Beside it, then renamed over: an older copy may still be running.
      const script = `mkdir -p ${directory} && cat > ${temporary} && chmod 755 ${temporary} && mv -f ${temporary} ${path}`;
      // An exec "exited 0" before it ran wrote nothing: the size says whether the install is real.
      let result = await run(['sh', '-c', script], binary.bytes());
      for (let attempt = 1; attempt < EXEC_ATTEMPTS; attempt++) {
        if (result.exitCode !== 0 || (await sizeOf(binary.installPath)) === binary.size) break;
        result = await run(['sh', '-c', script], binary.bytes());
      }
      if (result.exitCode !== 0) {
        throw new CapabilityUnsupportedError(
          'nomad',
          'host agent',
          `The agent could not be installed at ${binary.installPath} (${said(result)}); a read-only root filesystem keeps it out.`,
        );
      }
    },
    async start(argv) {
      // Nomad's docker driver may report a fresh exec as exited (code 0, nothing said) before it
      // started; the agent never exits 0 on its own before its client goes. Such a session is
      // thrown away and another one opened.
      for (let attempt = 1; ; attempt++) {
        const command = marked ? markedCommand(argv) : argv;
        const session = await client.exec(allocationId, { task: TASK_NAME, command });
        const early = await Promise.race([
          session.exited,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), SETTLE_MS)),
        ]);
        if (early?.exitCode === 0 && attempt < START_ATTEMPTS) continue;
        onSession(session);
        return sessionTransport(session);
      }
    },
  };
}

function sessionTransport(session: NomadExecSession): AgentTransport {
  let diagnostics = '';
  session.stderr.on('data', (chunk: Buffer) => {
    if (diagnostics.length < 4096) diagnostics += chunk.toString('utf8');
  });
  return {
    readable: session.stdout,
    writable: session.stdin,
    destroy: () => session.close(),
    diagnostics: () => diagnostics,
    drained: session.exited.then(() => undefined),
  };
}
