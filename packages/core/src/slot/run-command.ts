import {
  AbortedError,
  BerthError,
  CapabilityUnsupportedError,
  HostLostError,
  InternalError,
  SlotRuntimeLostError,
  throwIfAborted,
} from '../errors/index.js';
import { OutputBuffer } from '../shell/output-buffer.js';
import { ShellClosedError } from '../shell/shell-session.js';
import { raceAbort } from '../waits/race-abort.js';
import { setDeadline, timerMs } from '../waits/timer-ms.js';
import { type StartedCommand, startCommand } from './command-runtimes.js';
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
  const startedAt = performance.now();
  const stdout = new OutputBuffer(options.maxOutputBytes);
  const stderr = new OutputBuffer(options.maxOutputBytes);
  if (!slot.host.shellAvailable)
    return runOneShot(slot, command, options, { stdout, stderr, started: startedAt });

  let pid = 0;
  let stopReason: 'timeout' | 'abort' | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let noOutputTimer: NodeJS.Timeout | undefined;
  let forceClose: NodeJS.Timeout | undefined;
  let started: StartedCommand | undefined;
  // Cancels whatever precedes the command (a pending sweep, opening the shell, staging stdin): a
  // deadline or abort that fires then means the command never starts.
  const beforeStart = new AbortController();
  let launched = false;

  const kill = (signal: 'TERM' | 'KILL') => {
    if (pid > 0) slot.host.killTree(pid, signal).catch(() => undefined);
  };
  const stop = (reason: 'timeout' | 'abort') => {
    if (stopReason) return;
    stopReason = reason;
    if (!launched)
      beforeStart.abort(new AbortedError(`The command on ${slot.id} was stopped before it started.`));
    kill('TERM');
    killTimer = setTimeout(() => {
      kill('KILL');
      // A runtime that still has not reported is wedged: drop it (reopened on next use).
      forceClose = setTimeout(() => started?.abandon(), KILL_REPORT_MS);
    }, timerMs(options.killGraceMs));
  };
  const armNoOutput = () => {
    if (options.noOutputTimeoutMs === undefined || stopReason) return;
    clearTimeout(noOutputTimer);
    noOutputTimer = setDeadline(options.noOutputTimeoutMs, () => stop('timeout'));
  };
  const onChunk = (stream: 'stdout' | 'stderr', buffer: OutputBuffer) => (chunk: Buffer) => {
    buffer.push(chunk);
    sink?.chunk({ stream, data: chunk });
    armNoOutput();
  };

  // The deadline starts first: it covers the sweep, opening the shell and staging stdin too.
  const deadline = setDeadline(options.timeoutMs, () => stop('timeout'));
  const onAbort = () => stop('abort');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop('abort');
  armNoOutput();
  try {
    // Start on a later tick: an abort issued right after exec() returned is honoured before anything
    // reaches the host (an in-host runtime may not be able to take a started request back).
    await Promise.resolve();
    throwIfAborted(beforeStart.signal, 'Starting the command');
    if (slot.pendingSweep) {
      const sweep = slot.host.sweepSlot(slot).then(() => {
        slot.pendingSweep = false;
      });
      await raceAbort(sweep, beforeStart.signal, 'Sweeping the slot');
    }
    started = await startCommand(
      slot,
      { command, cwd: options.cwd, env: options.env, stdin: options.stdin, signal: beforeStart.signal },
      {
        stdout: onChunk('stdout', stdout),
        stderr: onChunk('stderr', stderr),
        pid: (reported) => {
          pid = reported;
          launched = true;
          // The deadline may have passed before the pid was known.
          if (stopReason) kill('TERM');
        },
      },
    );
    launched = true;
    const running = started;
    sink?.attach({ pause: () => running.pause(), resume: () => running.resume() });
    const exitCode = await started.exit;
    return buildResult(exitCode, stopReason, { stdout, stderr, started: startedAt });
  } catch (error) {
    // Stopped before the command started: it never ran; report the timeout or abort as its result.
    if (stopReason && !launched && slot.host.status === 'ready')
      return buildResult(0, stopReason, { stdout, stderr, started: startedAt });
    // We threw the wedged runtime away ourselves after KILL: the command is gone, report it.
    if (stopReason && started && slot.host.status === 'ready')
      return buildResult(137, stopReason, { stdout, stderr, started: startedAt });
    throw await runtimeLossError(slot, error);
  } finally {
    clearTimeout(deadline);
    clearTimeout(killTimer);
    clearTimeout(noOutputTimer);
    clearTimeout(forceClose);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * The shell carrying the command went away mid-command. The engine decides what that was: the host
 * gone (HOST_LOST), or only the slot's runtime (killed by a command, a dropped connection): then
 * whatever the command left running is killed and the caller may retry on the same slot.
 */
export async function runtimeLossError(slot: SlotRecord, error: unknown): Promise<unknown> {
  const host = slot.host;
  if (host.status === 'ready' && error instanceof ShellClosedError) {
    const reason = `the shell of ${slot.id} went away mid-command`;
    const retiredBefore = host.retiredReason;
    if (await host.verifyAlive(reason)) {
      // Asking the engine showed the host unreachable (it retired it just now): the shell went with
      // the machine, so retrying on this slot cannot help.
      if (retiredBefore === undefined && host.retiredReason !== undefined)
        return new HostLostError(host.id, host.retiredReason, { cause: error });
      // A host being killed can still look alive for a moment; reaching into it to sweep settles it.
      // So does a host retired earlier: a draining node still answers (the slot stays usable until
      // the drain deadline), one that stopped answering does not.
      const swept = await host.sweepSlot(slot).then(
        () => true,
        () => false,
      );
      if (!swept && host.retiredReason !== undefined && host.status === 'ready')
        return new HostLostError(host.id, host.retiredReason, { cause: error });
      // Not reachable now (its runtime restarting): swept before the slot's next command instead.
      if (!swept && (await host.verifyAlive(reason))) slot.pendingSweep = true;
      if (host.status === 'ready') return new SlotRuntimeLostError(slot.id, error.message, { cause: error });
    }
  }
  if (host.status === 'lost') return new HostLostError(host.id, host.lostReason ?? 'lost', { cause: error });
  // The shell went with a host being removed (scaled down, pool closing): internal, never thrown as is.
  if (ShellClosedError.isInstance(error))
    return new HostLostError(host.id, `it is being removed (${error.message.replace(/\.$/, '')})`, {
      cause: error,
    });
  return error;
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
  const timer = setDeadline(options.timeoutMs, () => {
    stopReason = 'timeout';
    controller.abort();
  });
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
    if (BerthError.isInstance(error)) throw error;
    throw new InternalError(`Running ${JSON.stringify(command)} on ${slot.id} failed: ${String(error)}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
