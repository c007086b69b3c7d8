import { randomBytes } from 'node:crypto';
import path from 'node:path/posix';
import { CapabilityUnsupportedError, HostLostError, InternalError } from '../errors/index.js';
import { OutputBuffer } from '../shell/output-buffer.js';
import { commandScript, inlineScript, writeBase64Script } from '../shell/shell-script.js';
import type { ShellSession } from '../shell/shell-session.js';
import type { SlotRecord } from './slot-record.js';
import type { ExecChunk, ExecResult } from './slot-types.js';

export interface ResolvedExecOptions {
  cwd: string;
  env: Readonly<Record<string, string>> | undefined;
  stdin: Uint8Array | undefined;
  timeoutMs: number;
  noOutputTimeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  maxOutputBytes: number;
  /** After TERM, how long to wait before KILL. */
  killGraceMs: number;
}

/** Lets a streaming consumer apply backpressure to the shell. */
export interface OutputSink {
  chunk(chunk: ExecChunk): void;
  attach(controls: { pause(): void; resume(): void }): void;
}

const EXIT_TIMEOUT = 124;
const EXIT_ABORTED = 130;
/** After KILL, how long the shell may take to report before the session is thrown away. */
const KILL_REPORT_MS = 5_000;

/** Runs one command in a slot: through its shell, or one-shot where the host has no shell. */
export async function runCommand(
  slot: SlotRecord,
  command: string | readonly string[],
  options: ResolvedExecOptions,
  sink?: OutputSink,
): Promise<ExecResult> {
  const started = performance.now();
  const stdout = new OutputBuffer(options.maxOutputBytes);
  const stderr = new OutputBuffer(options.maxOutputBytes);
  if (!slot.host.shellAvailable) return runOneShot(slot, command, options, { stdout, stderr, started });

  const session = await slot.sessionFor(options.signal);
  sink?.attach({ pause: () => session.pause(), resume: () => session.resume() });
  const stdinPath = options.stdin ? await stageStdin(slot, session, options.stdin) : undefined;

  let pid = 0;
  let stopReason: 'timeout' | 'abort' | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let noOutputTimer: NodeJS.Timeout | undefined;
  let forceClose: NodeJS.Timeout | undefined;

  const kill = (signal: 'TERM' | 'KILL') => {
    if (pid > 0) slot.host.killTree(pid, signal).catch(() => undefined);
  };
  const stop = (reason: 'timeout' | 'abort') => {
    if (stopReason) return;
    stopReason = reason;
    kill('TERM');
    killTimer = setTimeout(() => {
      kill('KILL');
      // A shell that still has not reported is wedged: drop it (reopened on next use).
      forceClose = setTimeout(() => slot.closeSession(), KILL_REPORT_MS);
    }, options.killGraceMs);
  };
  const armNoOutput = () => {
    if (options.noOutputTimeoutMs === undefined || stopReason) return;
    clearTimeout(noOutputTimer);
    noOutputTimer = setTimeout(() => stop('timeout'), options.noOutputTimeoutMs);
  };
  const onChunk = (stream: 'stdout' | 'stderr', buffer: OutputBuffer) => (chunk: Buffer) => {
    buffer.push(chunk);
    sink?.chunk({ stream, data: chunk });
    armNoOutput();
  };

  const deadline = setTimeout(() => stop('timeout'), options.timeoutMs);
  const onAbort = () => stop('abort');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  armNoOutput();
  try {
    const exitCode = await session.run(
      (nonce, seq) => commandScript({ nonce, seq, cwd: options.cwd, env: options.env, stdinPath, command }),
      {
        stdout: onChunk('stdout', stdout),
        stderr: onChunk('stderr', stderr),
        pid: (reported) => {
          pid = reported;
          // The deadline may have passed before the pid was known.
          if (stopReason) kill('TERM');
        },
      },
    );
    return buildResult(exitCode, stopReason, { stdout, stderr, started });
  } catch (error) {
    // We threw the wedged shell away ourselves after KILL: the command is gone, report it.
    if (stopReason && slot.host.status === 'ready')
      return buildResult(137, stopReason, { stdout, stderr, started });
    if (slot.host.status === 'lost')
      throw new HostLostError(slot.host.id, slot.host.lostReason ?? 'lost', { cause: error });
    throw error;
  } finally {
    clearTimeout(deadline);
    clearTimeout(killTimer);
    clearTimeout(noOutputTimer);
    clearTimeout(forceClose);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

async function stageStdin(slot: SlotRecord, session: ShellSession, bytes: Uint8Array): Promise<string> {
  const file = path.join(slot.host.stateDirectory, 'tmp', `stdin-${randomBytes(8).toString('hex')}`);
  const errors: Buffer[] = [];
  const code = await session.run((nonce, seq) => inlineScript(nonce, seq, writeBase64Script(file, bytes)), {
    stderr: (chunk) => errors.push(chunk),
  });
  if (code !== 0) {
    throw new CapabilityUnsupportedError(
      'host',
      'stdin',
      `Feeding stdin needs \`base64\` in the host (${Buffer.concat(errors).toString().trim() || `exit ${code}`}).`,
    );
  }
  return file;
}

interface Collected {
  stdout: OutputBuffer;
  stderr: OutputBuffer;
  started: number;
}

function buildResult(
  exitCode: number,
  stopReason: 'timeout' | 'abort' | undefined,
  collected: Collected,
): ExecResult {
  return {
    exitCode: stopReason === 'timeout' ? EXIT_TIMEOUT : stopReason === 'abort' ? EXIT_ABORTED : exitCode,
    stdout: collected.stdout.toBuffer().toString('utf8'),
    stderr: collected.stderr.toBuffer().toString('utf8'),
    truncated: collected.stdout.truncated || collected.stderr.truncated,
    timedOut: stopReason === 'timeout',
    aborted: stopReason === 'abort',
    durationMs: performance.now() - collected.started,
    stdoutBytes: collected.stdout.totalBytes,
    stderrBytes: collected.stderr.totalBytes,
  };
}

/** Hosts without `sh`: argv only, through the backend's one-shot exec. */
async function runOneShot(
  slot: SlotRecord,
  command: string | readonly string[],
  options: ResolvedExecOptions,
  collected: Collected,
): Promise<ExecResult> {
  const host = slot.host.backendHost;
  if (typeof command === 'string' || !host.run) {
    throw new CapabilityUnsupportedError(
      'host',
      'shell',
      `Host ${slot.host.id} has no /bin/sh, so shell strings cannot run; pass an argv array such as ['/bin/busybox', 'echo', 'hi'].`,
    );
  }
  const controller = new AbortController();
  let stopReason: 'timeout' | 'abort' | undefined;
  const timer = setTimeout(() => {
    stopReason = 'timeout';
    controller.abort();
  }, options.timeoutMs);
  const onAbort = () => {
    stopReason = 'abort';
    controller.abort();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const result = await host.run(command, {
      cwd: options.cwd,
      env: options.env,
      stdin: options.stdin,
      signal: controller.signal,
      maxOutputBytes: options.maxOutputBytes,
    });
    collected.stdout.push(Buffer.from(result.stdout));
    collected.stderr.push(Buffer.from(result.stderr));
    return buildResult(result.exitCode, stopReason, collected);
  } catch (error) {
    if (stopReason) return buildResult(EXIT_TIMEOUT, stopReason, collected);
    throw error instanceof Error ? error : new InternalError(String(error));
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
