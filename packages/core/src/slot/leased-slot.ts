import { HostLostError, InvalidOptionsError, SlotStateError, throwIfAborted } from '../errors/index.js';
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
  release(slot: SlotRecord, token: object, options: ReleaseOptions): Promise<void>;
  onExecEnd(slot: SlotRecord, result: ExecResult | undefined, error: unknown): void;
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
    return this.withExecuting(options.signal, async () => {
      const resolved = this.resolveExecOptions(options);
      try {
        const result = await runCommand(this.record, validateCommand(command), resolved);
        this.owner.onExecEnd(this.record, result, undefined);
        return result;
      } catch (error) {
        this.owner.onExecEnd(this.record, undefined, error);
        throw error;
      }
    });
  }

  execStream(command: string | readonly string[], options: ExecOptions = {}): ExecStream {
    const queue = new ExecStreamQueue();
    const result = this.withExecuting(options.signal, () =>
      runCommand(this.record, validateCommand(command), this.resolveExecOptions(options), queue),
    ).then(
      (value) => {
        this.owner.onExecEnd(this.record, value, undefined);
        queue.end();
        return value;
      },
      (error: unknown) => {
        this.owner.onExecEnd(this.record, undefined, error);
        queue.end(error);
        throw error;
      },
    );
    // The iterator surfaces the error too; avoid an unhandled rejection when only it is used.
    result.catch(() => undefined);
    return { result, [Symbol.asyncIterator]: () => queue.iterate() };
  }

  writeFile(path: string, data: string | Uint8Array, options: WriteFileOptions = {}): Promise<void> {
    const target = resolveWorkspacePath(this.record.workspace, path, 'path');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.withExecuting(options.signal, () =>
      this.files.writeFile(target, bytes, options.mode ?? 0o644, options.signal),
    );
  }

  readFile(path: string, options: FileOptions = {}): Promise<Uint8Array> {
    const target = resolveWorkspacePath(this.record.workspace, path, 'path');
    return this.withExecuting(options.signal, () => this.files.readFile(target, options.signal));
  }

  upload(localPath: string, remotePath = '.', options: FileOptions = {}): Promise<void> {
    const target = resolveWorkspacePath(this.record.workspace, remotePath, 'remotePath');
    return this.withExecuting(options.signal, () => this.files.upload(localPath, target, options.signal));
  }

  download(remotePath: string, localDirectory: string, options: FileOptions = {}): Promise<void> {
    const source = resolveWorkspacePath(this.record.workspace, remotePath, 'remotePath');
    return this.withExecuting(options.signal, () =>
      this.files.download(source, localDirectory, options.signal),
    );
  }

  /** Returns the slot to the pool. Idempotent for this handle; a lost host makes it a no-op. */
  async release(options: ReleaseOptions = {}): Promise<void> {
    if (!this.isCurrent) return;
    await this.owner.release(this.record, this.token, options);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  private assertUsable(): void {
    if (!this.isCurrent) {
      throw new SlotStateError(
        `This lease on slot ${this.record.id} has ended; acquire a new slot from the pool.`,
      );
    }
    if (this.record.host.status === 'lost') {
      throw new HostLostError(this.record.host.id, this.record.host.lostReason ?? 'lost');
    }
  }

  /** Runs `work` with the slot in `executing`, returning it to `acquired` afterwards. */
  private async withExecuting<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
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
    try {
      return await work();
    } finally {
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
      timeoutMs: Math.min(timeoutMs, 2 ** 31 - 1),
      noOutputTimeoutMs: positive(options.noOutputTimeoutMs, 'noOutputTimeoutMs'),
      signal: options.signal,
      maxOutputBytes: positive(options.maxOutputBytes, 'maxOutputBytes') ?? defaults.maxOutputBytes,
      killGraceMs: defaults.killGraceMs,
    };
  }
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
