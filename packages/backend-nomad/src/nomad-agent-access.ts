import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { BerthError, CapabilityUnsupportedError, type OneShotResultV1, shellQuote } from '@berth/core';
import {
  type AgentBinary,
  type AgentHostAccess,
  AgentStartError,
  type AgentTransport,
  agentArchOf,
  agentBinary,
} from '@berth/host-agent';
import { TASK_NAME } from './build-nomad-job.js';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadExecSession } from './client/nomad-exec-session.js';
import {
  INSTALL_AND_START_SCRIPT,
  runStartScript,
  START_SCRIPT,
  type StartOutcome,
} from './nomad-agent-start.js';
import { markedCommand } from './reap-raw-exec-sessions.js';
import { runOneShot } from './run-one-shot.js';

const EXEC_ATTEMPTS = 3;

export interface NomadAgentAccessOptions {
  /** raw_exec: start every session marked, so the reaper finds what it leaves behind. */
  readonly marked?: boolean;
  /** The node's CPU as Nomad fingerprinted it (`cpu.arch`): no `uname -m` exec when it answers. */
  readonly nodeArch?: () => Promise<string | undefined>;
  /** Bound on one start of the agent, its upload included. */
  readonly startTimeoutMs: number;
}

const gzipAsync = promisify(gzip);
const gzipped = new Map<string, Promise<Buffer | undefined>>();

/** The build gzipped (level 1: fast, under half the bytes), once per process; undefined if zlib fails. */
export function gzippedAgent(binary: AgentBinary): Promise<Buffer | undefined> {
  let packed = gzipped.get(binary.sha256);
  if (!packed) {
    packed = gzipAsync(binary.bytes(), { level: 1 }).catch(() => undefined);
    gzipped.set(binary.sha256, packed);
  }
  return packed;
}

/** Packs the build for a node's CPU ahead of its first host (nothing when there is no such build). */
export function prepareAgentUpload(nodeArch: string): void {
  const arch = agentArchOf(nodeArch);
  if (!arch) return;
  try {
    void gzippedAgent(agentBinary(arch));
  } catch {
    // No build for it here: the link says so when it tries.
  }
}

/**
 * berth-agent in a Nomad allocation, through the exec API only. A first start is one exec: a
 * script that checks the install's size, asks for the build on stdin when it is absent (gzip when
 * the task can unpack it), and execs the agent, whose stdio the same exec session then carries for
 * every shell and command of the host. The CPU comes from the node's fingerprint. Where the script
 * cannot upload (no `dd` with `iflag=fullblock`), `wc -c` and `cat` with stdin install it the slow way.
 */
export function nomadAgentAccess(
  client: NomadClient,
  allocationId: string,
  onSession: (session: NomadExecSession) => void,
  options: NomadAgentAccessOptions,
): AgentHostAccess {
  const marked = options.marked ?? false;
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
  function startScript(command: string[], upload?: { raw: Buffer; gzip: Buffer | undefined }) {
    return runStartScript(client, allocationId, TASK_NAME, marked ? markedCommand(command) : command, {
      timeoutMs: options.startTimeoutMs,
      ...(upload ? { upload } : {}),
    });
  }

  function startedOrThrow(outcome: StartOutcome): AgentTransport {
    if ('started' in outcome) {
      onSession(outcome.started);
      return sessionTransport(outcome.started, outcome.said);
    }
    throw new AgentStartError(
      `The agent did not start in allocation ${allocationId.slice(0, 8)} (exit ${outcome.exitCode ?? 'unknown'}): ${outcome.failed || outcome.said.trim() || 'it said nothing'}.`,
    );
  }
  const access: AgentHostAccess = {
    description: `allocation ${allocationId.slice(0, 8)}`,
    backendId: 'nomad',
    async platform() {
      const arch = await options.nodeArch?.().catch(() => undefined);
      if (arch) return { os: 'linux', arch };
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
      const command = ['sh', '-c', START_SCRIPT, 'sh', ...argv];
      return startedOrThrow(await startScript(command));
    },
    async installAndStart(binary, argv) {
      const gzip = await gzippedAgent(binary);
      const command = [
        'sh',
        '-c',
        INSTALL_AND_START_SCRIPT,
        'sh',
        binary.installDirectory,
        binary.installPath,
        String(binary.size),
        String(gzip?.length ?? 0),
        ...argv.slice(1),
      ];
      const outcome = await startScript(command, { raw: binary.bytes(), gzip });
      if ('started' in outcome) return startedOrThrow(outcome);
      if (outcome.exitCode === 86) {
        throw new CapabilityUnsupportedError(
          'nomad',
          'host agent',
          `The agent could not be installed at ${binary.installPath} (${outcome.failed}); a read-only root filesystem keeps it out.`,
        );
      }
      // The task could not take the upload in the same exec: the slow way, one step per exec.
      await access.putExecutable(binary);
      return access.start(argv);
    },
  };
  return access;
}

function sessionTransport(session: NomadExecSession, said: string): AgentTransport {
  let diagnostics = said;
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
