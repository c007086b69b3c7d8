import { randomBytes } from 'node:crypto';
import type { ChannelCloseInfoV1, HostChannelV1 } from '../backend/v1/types.js';
import { AbortedError, BerthError, InternalError } from '../errors/index.js';
import { type FrameMarker, FrameScanner } from './frame-scanner.js';
import { leaderScript, preludeScript } from './shell-script.js';

export interface RunHandlers {
  stdout?(chunk: Buffer): void;
  stderr?(chunk: Buffer): void;
  /** The pid of the command's subshell, as soon as the shell reports it. */
  pid?(pid: number): void;
}

/** The shell or its transport went away. Carries whatever the shell printed on stderr. */
export class ShellClosedError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.ShellClosedError');
  constructor(message: string, options?: { cause?: unknown }) {
    super('HOST_LOST', message, { retryable: true, ...options });
    this.name = 'ShellClosedError';
  }
}

interface ActiveRun {
  seq: number;
  handlers: RunHandlers;
  exitCode: number | undefined;
  stderrDone: boolean;
  resolve(exitCode: number): void;
  reject(error: Error): void;
}

/**
 * One long-lived `sh` inside a host, reached through a backend channel. Commands are framed with
 * markers carrying a per-session random nonce, so output can never be mistaken for the end of a
 * command; stdout and stderr stay apart. One command at a time: the caller serialises.
 */
export class ShellSession {
  readonly nonce = randomBytes(12).toString('hex');
  /** Pid of the shell inside the host (also its process group id when it could become leader). */
  shellPid = 0;
  private seq = 0;
  private active: ActiveRun | undefined;
  private closeInfo: ChannelCloseInfoV1 | undefined;
  private readonly closeListeners = new Set<(info: ChannelCloseInfoV1) => void>();
  private readonly startupStderr: Buffer[] = [];

  private constructor(private readonly channel: HostChannelV1) {
    const stdout = new FrameScanner(this.nonce, {
      data: (chunk) => this.active?.handlers.stdout?.(chunk),
      marker: (marker) => this.onMarker(marker, 'stdout'),
    });
    const stderr = new FrameScanner(this.nonce, {
      data: (chunk) => {
        if (this.active) this.active.handlers.stderr?.(chunk);
        else if (this.shellPid === 0) this.startupStderr.push(chunk);
      },
      marker: (marker) => this.onMarker(marker, 'stderr'),
    });
    channel.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // Writing to a dead shell raises EPIPE on stdin; `closed` reports the loss, so swallow it here.
    channel.stdin.on('error', () => {});
    void channel.closed.then((info) => this.onClosed(info));
  }

  /** Opens the session: becomes a group leader, loads the prelude, learns the shell pid. */
  static async start(
    channel: HostChannelV1,
    options: { startTimeoutMs: number; signal?: AbortSignal },
  ): Promise<ShellSession> {
    const session = new ShellSession(channel);
    try {
      await session.handshake('S', leaderScript(session.nonce), options);
      const pid = await session.handshake('R', preludeScript(session.nonce), options);
      session.shellPid = Number(pid);
      return session;
    } catch (error) {
      channel.close();
      throw error;
    }
  }

  get isClosed(): boolean {
    return this.closeInfo !== undefined;
  }

  get isBusy(): boolean {
    return this.active !== undefined;
  }

  /** Calls `listener` once when the shell or transport goes away (at once if it already has). */
  onClose(listener: (info: ChannelCloseInfoV1) => void): () => void {
    if (this.closeInfo) {
      listener(this.closeInfo);
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /**
   * Sends a script built for the next sequence number and resolves with the exit status the
   * script's `E` markers report. Rejects with `ShellClosedError` if the shell goes away first.
   */
  run(build: (nonce: string, seq: number) => string, handlers: RunHandlers = {}): Promise<number> {
    if (this.closeInfo) return Promise.reject(this.closedError());
    if (this.active) {
      return Promise.reject(new InternalError('ShellSession.run() called while a command is running.'));
    }
    this.seq += 1;
    const seq = this.seq;
    const script = build(this.nonce, seq);
    return new Promise<number>((resolve, reject) => {
      this.active = { seq, handlers, exitCode: undefined, stderrDone: false, resolve, reject };
      this.channel.stdin.write(script);
    });
  }

  /** Stops reading output (backpressure: the command blocks once the pipes fill). */
  pause(): void {
    this.channel.stdout.pause();
    this.channel.stderr.pause();
  }

  resume(): void {
    this.channel.stdout.resume();
    this.channel.stderr.resume();
  }

  /** True once `close()` was called: the close was ours, not a lost host. */
  closedByUs = false;

  close(): void {
    this.closedByUs = true;
    this.channel.stdin.end();
    this.channel.close();
  }

  private handshake(
    kind: 'S' | 'R',
    script: string,
    options: { startTimeoutMs: number; signal?: AbortSignal },
  ): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const finish = (error?: Error, value?: string) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        unsubscribe();
        this.handshakeWaiter = undefined;
        if (error) reject(error);
        else resolve(value ?? '');
      };
      const onAbort = () => finish(new AbortedError('Opening the shell was aborted.'));
      const timer = setTimeout(
        () => finish(new ShellClosedError(`The shell did not start within ${options.startTimeoutMs} ms.`)),
        options.startTimeoutMs,
      );
      const unsubscribe = this.onClose(() => finish(this.closedError()));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.handshakeWaiter = { kind, finish };
      this.channel.stdin.write(script);
    });
  }

  private handshakeWaiter: { kind: string; finish(error?: Error, value?: string): void } | undefined;

  private onMarker(marker: FrameMarker, stream: 'stdout' | 'stderr'): void {
    if (marker.seq === 0) {
      if (this.handshakeWaiter?.kind === marker.kind) this.handshakeWaiter.finish(undefined, marker.value);
      return;
    }
    const run = this.active;
    if (!run || run.seq !== marker.seq) return;
    if (marker.kind === 'P') {
      run.handlers.pid?.(Number(marker.value));
    } else if (marker.kind === 'E') {
      if (stream === 'stdout') run.exitCode = Number(marker.value);
      else run.stderrDone = true;
      if (run.exitCode !== undefined && run.stderrDone) {
        this.active = undefined;
        run.resolve(run.exitCode);
      }
    }
  }

  private onClosed(info: ChannelCloseInfoV1): void {
    if (this.closeInfo) return;
    this.closeInfo = info;
    const run = this.active;
    this.active = undefined;
    run?.reject(this.closedError());
    for (const listener of this.closeListeners) listener(info);
    this.closeListeners.clear();
  }

  private closedError(): ShellClosedError {
    const info = this.closeInfo;
    const said = Buffer.concat(this.startupStderr).toString('utf8').trim().slice(0, 500);
    const parts = ['The shell session closed'];
    if (info?.exitCode !== undefined) parts.push(`with exit code ${info.exitCode}`);
    if (info?.error) parts.push(`(${info.error.message})`);
    if (said) parts.push(`; it said: ${said}`);
    if (info?.transportDropped) {
      // Only the connection went: the slot and its host are fine, and the next command reconnects.
      parts.push('. The connection to the shell dropped, not the host: retry the command on this slot');
    }
    return new ShellClosedError(`${parts.join(' ')}.`, { cause: info?.error });
  }
}
