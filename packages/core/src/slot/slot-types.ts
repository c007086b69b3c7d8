import type { SlotState } from './slot-states.js';

export interface ExecOptions {
  /** Working directory: relative paths resolve inside the slot workspace (the default). */
  cwd?: string;
  env?: Readonly<Record<string, string>>;
  /** Bytes fed to the command's stdin (otherwise it reads /dev/null). Needs `base64` in the host. */
  stdin?: string | Uint8Array;
  /**
   * Deadline for the command, from the call (covering shell start and stdin staging); on expiry its
   * process tree is killed and exitCode is 124. `Infinity`: no deadline.
   */
  timeoutMs?: number;
  /** Kill the command when it prints nothing for this long (exitCode 124). `Infinity`: never. */
  noOutputTimeoutMs?: number;
  /**
   * Aborting kills the command's process tree (or keeps it from starting); the result has exitCode
   * 130. Already aborted at the call: throws `ABORTED`.
   */
  signal?: AbortSignal;
  /** Per stream: beyond this the middle is dropped, head and tail kept, `truncated: true`. */
  maxOutputBytes?: number;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Some output was dropped because it exceeded `maxOutputBytes`. */
  truncated: boolean;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
  /** Bytes the command wrote, kept or not. */
  stdoutBytes: number;
  stderrBytes: number;
}

export interface ExecChunk {
  stream: 'stdout' | 'stderr';
  data: Uint8Array;
}

/**
 * Streamed output with backpressure: a consumer more than 1 MiB behind pauses the command. Leaving
 * the loop early (`break`) kills the command (`result` then says `aborted`). Awaiting only `result`
 * never stalls: without an iterator pulling, the command is not paused once `result` was asked for.
 */
export interface ExecStream extends AsyncIterable<ExecChunk> {
  readonly result: Promise<ExecResult>;
}

export interface FileOptions {
  signal?: AbortSignal;
}

export interface WriteFileOptions extends FileOptions {
  /** Octal file mode, e.g. 0o755. */
  mode?: number;
}

export interface ReleaseOptions {
  /** Empty the workspace before the slot goes back to the pool. Default: the pool's `resetOnRelease`. */
  reset?: boolean;
}

/** A leased slot. Dispose it (`await using`) or call `release()`; after that every method throws. */
export interface Slot extends AsyncDisposable {
  readonly id: string;
  readonly hostId: string;
  readonly profile: string;
  /** Absolute path of the slot's workspace inside the host. */
  readonly workspace: string;
  readonly trajectoryId: string | undefined;
  readonly state: SlotState;
  exec(command: string | readonly string[], options?: ExecOptions): Promise<ExecResult>;
  execStream(command: string | readonly string[], options?: ExecOptions): ExecStream;
  writeFile(path: string, data: string | Uint8Array, options?: WriteFileOptions): Promise<void>;
  readFile(path: string, options?: FileOptions): Promise<Uint8Array>;
  /** Copies a local file or directory tree into the slot (tar). `remotePath` defaults to the workspace. */
  upload(localPath: string, remotePath?: string, options?: FileOptions): Promise<void>;
  /** Copies a file or directory tree out of the slot into the local directory `localDirectory`. */
  download(remotePath: string, localDirectory: string, options?: FileOptions): Promise<void>;
  /** Returns the slot; a command still running is aborted first (KILL after `killGraceMs`). */
  release(options?: ReleaseOptions): Promise<void>;
}
