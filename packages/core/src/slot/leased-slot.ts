import {
  AbortedError,
  HostLostError,
  InvalidOptionsError,
  PoolClosedError,
  SlotStateError,
  throwIfAborted,
} from '../errors/index.js';
import { MAX_TIMER_MS } from '../waits/timer-ms.js';
import { ExecStreamQueue } from './exec-stream-queue.js';
import { type ResolvedExecOptions, runCommand } from './run-command.js';
import { SlotFiles } from './slot-files.js';
import type { SlotRecord } from './slot-record.js';
import type { SlotState } from './slot-states.js';
import type {
  ExecOptions,
  ExecResult,
  ExecStream,
  FileOptions,
  ReleaseOptions,
  Slot,
  WriteFileOptions,
} from './slot-types.js';
import { resolveWorkspacePath } from './workspace-path.js';

export interface ExecDefaults {
  timeoutMs: number;
  maxOutputBytes: number;
  killGraceMs: number;
}

export interface LeaseOwner {
  execDefaults: ExecDefaults;
  /** True once the pool has closed (its hosts are being or were let go): every use says POOL_CLOSED. */
  readonly closed: boolean;
  release(slot: SlotRecord, token: object, options: ReleaseOptions): Promise<void>;
  /** `elapsedMs`: since `exec()` was called (the result's `durationMs` when there is one). */
  onExecEnd(slot: SlotRecord, result: ExecResult | undefined, error: unknown, elapsedMs: number): void;
  /**
   * A promise when the host must be confirmed ours before use (our claim may have lapsed during a
   * pause; the host is dropped if someone else took it over); `undefined`, at no cost, otherwise.
   */
  confirmHeld?(slot: SlotRecord): Promise<unknown> | undefined;
}

/**
 * The handle a caller holds for one lease. Its token fences it: once released (or the slot
 * re-leased), every method throws `SlotStateError`, so a stale holder can never touch the slot.
 */
export class LeasedSlot implements Slot {
  private readonly token = {};
  private readonly files: SlotFiles;
  /** The command or file operation in flight, so release() can stop it instead of failing. */
  private running: { stop: AbortController; settled: Promise<unknown> } | undefined;

  constructor(
    private readonly record: SlotRecord,
    private readonly owner: LeaseOwner,
  ) {
    record.token = this.token;
    this.files = new SlotFiles(record, (signal) => this.resolveExecOptions({ signal }));
  }

  get id(): string {
    return this.record.id;
  }
  get hostId(): string {
    return this.record.host.id;
  }
  get profile(): string {
    return this.record.host.profile;
  }
  get workspace(): string {
    return this.record.workspace;
  }
  get trajectoryId(): string | undefined {
    return this.isCurrent ? this.record.trajectoryId : undefined;
  }
  get state(): SlotState {
    return this.isCurrent ? this.record.state : 'available';
  }

  private get isCurrent(): boolean {
    return this.record.token === this.token;
  }

  exec(command: string | readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const started = performance.now();
    return this.withExecuting(options.signal, async (signal) => {
      const resolved = this.resolveExecOptions({ ...options, signal });
      try {
        const result = await runCommand(this.record, validateCommand(command), resolved);
        this.owner.onExecEnd(this.record, result, undefined, performance.now() - started);
        return result;
      } catch (error) {
        this.owner.onExecEnd(this.record, undefined, error, performance.now() - started);
        throw error;
      }
    });
  }

  execStream(command: string | readonly string[], options: ExecOptions = {}): ExecStream {
    // Leaving the loop early (`break`) stops the command; the result then says `aborted`.
    const cancel = new AbortController();
    const queue = new ExecStreamQueue(() =>
      cancel.abort(new AbortedError('The consumer stopped iterating the stream before the command ended.')),
    );
    const started = performance.now();
    const result = this.withExecuting(options.signal, (signal) =>
      runCommand(
        this.record,
        validateCommand(command),
        this.resolveExecOptions({ ...options, signal: AbortSignal.any([signal, cancel.signal]) }),
        queue,
      ),
    ).then(
      (value) => {
        this.owner.onExecEnd(this.record, value, undefined, performance.now() - started);
        queue.end();
        return value;
      },
      (error: unknown) => {
        this.owner.onExecEnd(this.record, undefined, error, performance.now() - started);
        queue.end(error);
        throw error;
      },
    );
    // The iterator surfaces the error too; avoid an unhandled rejection when only it is used.
    result.catch(() => undefined);
    return {
      get result() {
        queue.wantResult();
        return result;
      },
      [Symbol.asyncIterator]: () => queue.iterate(),
    };
  }

  writeFile(path: string, data: string | Uint8Array, options: WriteFileOptions = {}): Promise<void> {
    const target = resolveWorkspacePath(this.record.workspace, path, 'path');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.withExecuting(options.signal, (signal) =>
      this.files.writeFile(target, bytes, options.mode ?? 0o644, signal),
    );
  }

  readFile(path: string, options: FileOptions = {}): Promise<Uint8Array> {
    const target = resolveWorkspacePath(this.record.workspace, path, 'path');
    return this.withExecuting(options.signal, (signal) => this.files.readFile(target, signal));
  }

  upload(localPath: string, remotePath = '.', options: FileOptions = {}): Promise<void> {
    const target = resolveWorkspacePath(this.record.workspace, remotePath, 'remotePath');
    return this.withExecuting(options.signal, (signal) => this.files.upload(localPath, target, signal));
  }

  download(remotePath: string, localDirectory: string, options: FileOptions = {}): Promise<void> {
    const source = resolveWorkspacePath(this.record.workspace, remotePath, 'remotePath');
    return this.withExecuting(options.signal, (signal) =>
      this.files.download(source, localDirectory, signal),
    );
  }

  /**
   * Returns the slot to the pool. Idempotent for this handle; a lost host makes it a no-op. A
   * command still running is aborted first (TERM, KILL after `killGraceMs`; its result says
   * `aborted`), and the slot released once it has stopped.
   */
  async release(options: ReleaseOptions = {}): Promise<void> {
    if (!this.isCurrent) return;
    while (this.running) {
      const running = this.running;
      running.stop.abort(new AbortedError(`Slot ${this.record.id} was released while the command ran.`));
      await running.settled;
      if (this.running === running) this.running = undefined;
    }
    if (!this.isCurrent) return;
    await this.owner.release(this.record, this.token, options);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  private assertUsable(): void {
    if (this.owner.closed) throw new PoolClosedError(poolClosedMessage(this.record.id));
    if (!this.isCurrent) {
      throw new SlotStateError(
        `This lease on slot ${this.record.id} has ended; acquire a new slot from the pool.`,
      );
    }
    if (this.record.host.status === 'lost') {
      throw new HostLostError(this.record.host.id, this.record.host.lostReason ?? 'lost');
    }
  }

  /**
   * Runs `work` with the slot in `executing`, returning it to `acquired` afterwards. `work` gets the
   * caller's signal joined with release()'s, so releasing stops it.
   */
  private async withExecuting<T>(
    signal: AbortSignal | undefined,
    work: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    throwIfAborted(signal);
    this.assertUsable();
    const confirming = this.owner.confirmHeld?.(this.record);
    if (confirming) {
      await confirming;
      throwIfAborted(signal);
      this.assertUsable();
    }
    this.record.moveTo('executing');
    this.record.dirty = true;
    const stop = new AbortController();
    const combined = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    const outcome = (async () => work(combined))();
    const running = {
      stop,
      settled: outcome.then(
        () => undefined,
        () => undefined,
      ),
    };
    this.running = running;
    try {
      return await outcome;
    } catch (error) {
      // The pool closed under the command: say so, rather than how the host connection ended.
      if (this.owner.closed && !PoolClosedError.isInstance(error))
        throw new PoolClosedError(poolClosedMessage(this.record.id), { cause: error });
      throw error;
    } finally {
      if (this.running === running) this.running = undefined;
      if (this.record.state === 'executing') this.record.moveTo('acquired');
    }
  }

  private resolveExecOptions(options: ExecOptions): ResolvedExecOptions {
    const defaults = this.owner.execDefaults;
    const timeoutMs = positive(options.timeoutMs, 'timeoutMs') ?? defaults.timeoutMs;
    return {
      cwd: resolveWorkspacePath(this.record.workspace, options.cwd ?? '.', 'cwd'),
      env: options.env,
      stdin: typeof options.stdin === 'string' ? Buffer.from(options.stdin, 'utf8') : options.stdin,
      timeoutMs: Math.min(timeoutMs, MAX_TIMER_MS),
      noOutputTimeoutMs: positive(options.noOutputTimeoutMs, 'noOutputTimeoutMs'),
      signal: options.signal,
      maxOutputBytes: positive(options.maxOutputBytes, 'maxOutputBytes') ?? defaults.maxOutputBytes,
      killGraceMs: defaults.killGraceMs,
    };
  }
}

function poolClosedMessage(slotId: string): string {
  return `The pool of slot ${slotId} is closed; create a new pool and acquire a slot from it.`;
}

function positive(value: number | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new InvalidOptionsError(
      field,
      `expected a positive number of ${field.endsWith('Ms') ? 'milliseconds' : 'bytes'}, got ${String(value)}.`,
    );
  }
  return value;
}

function validateCommand(command: string | readonly string[]): string | readonly string[] {
  if (typeof command === 'string') {
    if (command.trim().length === 0)
      throw new InvalidOptionsError('command', 'expected a non-empty shell command.');
    return command;
  }
  if (!Array.isArray(command) || command.length === 0 || command.some((arg) => typeof arg !== 'string')) {
    throw new InvalidOptionsError(
      'command',
      'expected a shell string or a non-empty array of strings (argv).',
    );
  }
  return command;
}
