import { HostLostError } from '../errors/index.js';
import { inlineScript } from '../shell/shell-script.js';
import type { ShellSession } from '../shell/shell-session.js';

export interface ControlResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ControlShellsOptions {
  hostId: string;
  /** Opens one more shell on the host. */
  open(signal?: AbortSignal): Promise<ShellSession>;
  /** Bound on any one control operation. */
  timeoutMs: number;
  /** At most this many shells; more are opened only while every open one is busy. */
  maxShells: number;
  /** A control shell died without us closing it (not a dropped transport). */
  onShellExited(exitCode: number | undefined): void;
  /** Throws when no control work may start now (the host is lost); checked as each command starts. */
  assertUsable(): void;
  /** An extra shell idle this long is closed (the first one stays). Default 30 s. */
  idleCloseMs?: number;
}

/** One control shell and the commands queued on it. */
interface Lane {
  session: Promise<ShellSession> | undefined;
  queue: Promise<unknown>;
  pending: number;
  idleTimer: NodeJS.Timeout | undefined;
}

/**
 * A host's control shells: what kills, sweeps, resets and leases run in, apart from the slots'
 * shells so they never wait behind a running command. Commands go to an idle shell; when all are
 * busy (many slots released at once) another is opened, up to `maxShells`, and after that they
 * queue on the least busy one. One shell runs one command at a time.
 */
export class ControlShells {
  private readonly lanes: Lane[] = [];

  constructor(private readonly options: ControlShellsOptions) {}

  run(body: string, signal?: AbortSignal): Promise<ControlResult> {
    const lane = this.pickLane();
    lane.pending += 1;
    clearTimeout(lane.idleTimer);
    const task = lane.queue.then(() => this.runOn(lane, body, signal));
    // Settled before the caller resumes, so a follow-up command sees this lane idle again.
    const settled = () => {
      lane.pending -= 1;
      if (lane.pending === 0 && lane !== this.lanes[0]) this.closeWhenIdle(lane);
    };
    lane.queue = task.then(settled, settled);
    return task;
  }

  /** Closes every control shell; a later `run` opens a new one. */
  close(): void {
    for (const lane of this.lanes) {
      clearTimeout(lane.idleTimer);
      const session = lane.session;
      lane.session = undefined;
      void session?.then(
        (opened) => opened.close(),
        () => undefined,
      );
    }
  }

  private pickLane(): Lane {
    const idle = this.lanes.find((lane) => lane.pending === 0);
    if (idle) return idle;
    if (this.lanes.length < Math.max(1, this.options.maxShells)) {
      const lane: Lane = { session: undefined, queue: Promise.resolve(), pending: 0, idleTimer: undefined };
      this.lanes.push(lane);
      return lane;
    }
    return this.lanes.reduce((least, lane) => (lane.pending < least.pending ? lane : least));
  }

  /** Extra shells exist for bursts (many releases at once); one idle a while is closed. */
  private closeWhenIdle(lane: Lane): void {
    lane.idleTimer = setTimeout(() => {
      const index = this.lanes.indexOf(lane);
      if (lane.pending > 0 || index <= 0) return;
      this.lanes.splice(index, 1);
      void lane.session?.then(
        (session) => session.close(),
        () => undefined,
      );
    }, this.options.idleCloseMs ?? 30_000);
    lane.idleTimer.unref();
  }

  private async runOn(lane: Lane, body: string, signal?: AbortSignal): Promise<ControlResult> {
    this.options.assertUsable();
    let session = await this.sessionOf(lane, signal);
    if (session.closedByUs || session.isClosed) {
      // Closed (a timed-out command, close()) before its close event cleared the lane: open anew.
      if (lane.session && (await lane.session) === session) lane.session = undefined;
      session = await this.sessionOf(lane, signal);
    }
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Forget it before closing, so the next command queued on this lane opens a fresh shell.
        const current = lane.session;
        void current?.then((opened) => {
          if (opened === session && lane.session === current) lane.session = undefined;
        });
        session.close();
        reject(
          new HostLostError(
            this.options.hostId,
            `control shell did not answer within ${this.options.timeoutMs} ms`,
          ),
        );
      }, this.options.timeoutMs);
    });
    try {
      const exitCode = await Promise.race([
        session.run((nonce, seq) => inlineScript(nonce, seq, body), {
          stdout: (chunk) => stdout.push(chunk),
          stderr: (chunk) => stderr.push(chunk),
        }),
        timeout,
      ]);
      return {
        exitCode,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  private sessionOf(lane: Lane, signal?: AbortSignal): Promise<ShellSession> {
    if (!lane.session) {
      const opening = this.options.open(signal);
      lane.session = opening;
      opening.then(
        (session) =>
          session.onClose((info) => {
            if (lane.session === opening) lane.session = undefined;
            if (!info.transportDropped && !session.closedByUs) this.options.onShellExited(info.exitCode);
          }),
        () => {
          if (lane.session === opening) lane.session = undefined;
        },
      );
    }
    return lane.session;
  }
}
