import { Readable, Writable } from 'node:stream';
import { AbortedError, BackendUnavailableError, throwIfAborted } from '@berth/core';
import WebSocket from 'ws';
import {
  mapExecCloseError,
  mapNomadError,
  type NomadErrorContext,
  NomadHttpError,
} from '../map-nomad-error.js';
import {
  decodeExecOutputFrame,
  EXEC_HEARTBEAT_FRAME,
  encodeStdinClose,
  encodeStdinFrames,
  encodeTtySize,
} from './exec-frame-codec.js';
import type { NomadHttpTransport } from './nomad-http-transport.js';
import { backoffDelayMs, sleep } from './retry-with-backoff.js';

export interface NomadExecOptions {
  /** Task to exec into (Nomad requires it even for single-task groups). */
  task: string;
  /** argv run directly by the task driver, e.g. `['sh']`. */
  command: readonly string[];
  tty?: boolean;
  /** Aborts connecting; once open, the session is ended with `close()`. */
  signal?: AbortSignal;
  /** Override of the client's `execHeartbeatIntervalMs`. */
  heartbeatIntervalMs?: number;
}

export interface NomadExecExit {
  /** From the final `exited` frame. */
  readonly exitCode?: number;
  /** Set when the session ended without an exit code (dropped socket, error close frame). */
  readonly error?: Error;
}

const STREAM_HIGH_WATER_MARK = 1024 * 1024;
/** Handshakes refused with 429 are tried this many times in all. */
const HANDSHAKE_ATTEMPTS = 5;

/**
 * One alloc exec websocket: stdin in, stdout and stderr apart, exit code last. Sends a heartbeat
 * (`{}` plus a websocket ping) every interval so idle sessions are not cut by the agent or proxies
 * (nomad#10579), and ends the session with an error when the agent stops answering pings.
 * Output streams end only when the socket closes, so trailing output after `exited` is kept.
 */
export class NomadExecSession {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Resolves (never rejects) once the socket is closed and both output streams have ended. */
  readonly exited: Promise<NomadExecExit>;

  private exitCode: number | undefined;
  private failure: Error | undefined;
  private finished = false;
  private closedByClient = false;
  private paused = false;
  private lastHeardAt = Date.now();
  private readonly heartbeat: NodeJS.Timeout;
  private resolveExited!: (exit: NomadExecExit) => void;

  private constructor(
    private readonly socket: WebSocket,
    private readonly describe: () => NomadErrorContext,
    heartbeatIntervalMs: number,
  ) {
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
    });
    // `read` is the stream asking for more; its own length is stale then (Readable calls `_read`
    // before it takes the chunk it hands out), so only the other stream's fullness can hold it.
    this.stdout = new Readable({
      highWaterMark: STREAM_HIGH_WATER_MARK,
      read: () => this.resumeIfDrained(this.stderr),
    });
    this.stderr = new Readable({
      highWaterMark: STREAM_HIGH_WATER_MARK,
      read: () => this.resumeIfDrained(this.stdout),
    });
    this.stdin = new Writable({
      highWaterMark: 64 * 1024,
      write: (chunk: Buffer, _encoding, callback) => this.sendAll(encodeStdinFrames(chunk), callback),
      final: (callback) => this.sendAll([encodeStdinClose()], callback),
    });

    // Listeners go on before the socket opens: Nomad may send output in the same packet as the
    // upgrade answer, and ws emits it before any code awaiting 'open' could attach a listener.
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('pong', () => {
      this.lastHeardAt = Date.now();
    });
    socket.on('error', (error) => {
      this.failure ??= mapNomadError(error, this.describe());
    });
    socket.on('unexpected-response', (_request, response) => {
      const retryAfter = Number(response.headers['retry-after']);
      this.refusal = {
        status: response.statusCode ?? 0,
        retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined,
      };
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.failure ??= mapNomadError(
          new NomadHttpError(response.statusCode ?? 0, body, 'GET', 'exec'),
          this.describe(),
        );
        socket.terminate();
      });
    });
    socket.on('close', (code, reason) => this.onClose(code, reason.toString()));
    this.heartbeat = setInterval(() => this.beat(heartbeatIntervalMs), heartbeatIntervalMs);
    this.heartbeat.unref();
  }

  /** The HTTP answer that refused the upgrade, if one did. */
  private refusal: { status: number; retryAfterMs: number | undefined } | undefined;

  /**
   * Opens the websocket; resolves once Nomad accepted the upgrade. A handshake refused with 429
   * (`http_max_conns_per_client`, a rate limit) is tried again after its `Retry-After` (or a
   * short backoff), a few times.
   */
  static async open(
    transport: NomadHttpTransport,
    allocationId: string,
    options: NomadExecOptions,
  ): Promise<NomadExecSession> {
    for (let attempt = 1; ; attempt++) {
      let refused: NomadExecSession['refusal'];
      try {
        return await NomadExecSession.openOnce(transport, allocationId, options, (refusal) => {
          refused = refusal;
        });
      } catch (error) {
        if (refused?.status !== 429 || attempt >= HANDSHAKE_ATTEMPTS) throw error;
        const delayMs =
          refused.retryAfterMs ?? backoffDelayMs(attempt, { retries: 0, minDelayMs: 100, maxDelayMs: 2_000 });
        await sleep(Math.min(delayMs, 10_000), options.signal);
      }
    }
  }

  private static async openOnce(
    transport: NomadHttpTransport,
    allocationId: string,
    options: NomadExecOptions,
    onRefused: (refusal: NomadExecSession['refusal']) => void,
  ): Promise<NomadExecSession> {
    const argv = JSON.stringify(options.command);
    const operation = `exec ${argv.length > 80 ? `${argv.slice(0, 77)}...` : argv} in allocation ${allocationId} task ${options.task}`;
    throwIfAborted(options.signal, `Opening an exec session (${operation})`);
    const { config } = transport;
    const describe = (): NomadErrorContext => ({
      address: config.address,
      operation,
      namespace: config.namespace,
      tokenConfigured: config.token !== undefined,
      connectTimeoutMs: config.connectTimeoutMs,
      tlsWithoutClientCert: config.usesTls && config.tls.clientCert === undefined,
    });
    const url = transport.url(`/v1/client/allocation/${encodeURIComponent(allocationId)}/exec`, {
      task: options.task,
      command: JSON.stringify(options.command),
      tty: options.tty ?? false,
    });
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const tls = config.usesTls ? await transport.tlsMaterial() : {};
    const socket = new WebSocket(url, {
      headers: transport.headers(),
      handshakeTimeout: config.connectTimeoutMs,
      perMessageDeflate: false,
      ...tls,
    });
    const session = new NomadExecSession(
      socket,
      describe,
      options.heartbeatIntervalMs ?? config.execHeartbeatIntervalMs,
    );
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        socket.terminate();
        reject(new AbortedError(`Opening an exec session (${operation}) was aborted.`));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('open', () => {
        options.signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      // Closed before it opened: refused upgrade, unreachable agent, handshake timeout.
      void session.exited.then((exit) => {
        options.signal?.removeEventListener('abort', onAbort);
        onRefused(session.refusal);
        reject(
          exit.error ??
            new BackendUnavailableError(`The exec session (${operation}) closed while opening.`, [
              config.address,
            ]),
        );
      });
    });
    return session;
  }

  /** Sends a terminal size (only meaningful with `tty: true`). */
  resizeTty(height: number, width: number): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(encodeTtySize(height, width));
  }

  /** Closes the websocket; the remote process sees EOF/hangup. Idempotent. */
  close(): void {
    if (!this.finished && this.exitCode === undefined) this.closedByClient = true;
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000);
    else if (this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
    // A peer that never answers the close handshake must not keep `exited` pending.
    setTimeout(() => {
      if (!this.finished) this.socket.terminate();
    }, 2_000).unref();
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    this.lastHeardAt = Date.now();
    if (isBinary) return;
    let frame: ReturnType<typeof decodeExecOutputFrame>;
    try {
      frame = decodeExecOutputFrame(data.toString());
    } catch (error) {
      this.failure ??= new BackendUnavailableError(
        `Nomad sent a malformed exec frame: ${(error as Error).message}.`,
        [this.describe().address],
        { cause: error },
      );
      this.socket.terminate();
      return;
    }
    if (frame.type === 'stdout' || frame.type === 'stderr') {
      if (frame.data.length === 0) return;
      const stream = frame.type === 'stdout' ? this.stdout : this.stderr;
      if (!stream.push(frame.data) && !this.paused) {
        this.paused = true;
        this.socket.pause();
      }
    } else if (frame.type === 'exited') {
      this.exitCode = frame.exitCode;
      // Nomad closes the socket right after the exit frame; make sure we do not wait on a stuck peer.
      this.close();
    }
  }

  /** Resumes the socket unless `other`, the stream not asking, is still full. */
  private resumeIfDrained(other: Readable): void {
    if (!this.paused) return;
    if (other.readableLength < STREAM_HIGH_WATER_MARK) {
      this.paused = false;
      this.lastHeardAt = Date.now();
      this.socket.resume();
    }
  }

  private onClose(code: number, reason: string): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.heartbeat);
    if (this.paused) this.socket.resume();
    let exit: NomadExecExit;
    if (this.exitCode !== undefined) {
      exit = { exitCode: this.exitCode };
    } else if (this.failure) {
      exit = { error: this.failure };
    } else if (this.closedByClient) {
      exit = {
        error: new AbortedError(
          `The exec session (${this.describe().operation}) was closed by this process.`,
        ),
      };
    } else if (code === 1000 || code === 1005 || code === 1006) {
      exit = {
        error: new BackendUnavailableError(
          `The exec session (${this.describe().operation}) closed before Nomad reported an exit code ` +
            `(websocket code ${code}${reason ? `: ${reason}` : ''}). Either the connection dropped, or the ` +
            'command could not be started (e.g. not found in the task); Nomad then closes without a reason ' +
            'and logs it in the client agent log ("task exec session ended with an error").',
          [this.describe().address],
        ),
      };
    } else {
      exit = { error: mapExecCloseError(code, reason, this.describe()) };
    }
    this.stdout.push(null);
    this.stderr.push(null);
    if (!this.stdin.writableFinished) this.stdin.destroy();
    // Resolve once readers have seen the end of both streams, so `exited` never overtakes output
    // (nomad#10657); a reader that stopped reading delays it by at most a second.
    let pending = 2;
    const settle = () => this.resolveExited(exit);
    setTimeout(settle, 1_000);
    for (const stream of [this.stdout, this.stderr]) {
      let counted = false;
      const done = () => {
        if (counted) return;
        counted = true;
        pending -= 1;
        if (pending === 0) settle();
      };
      if (stream.readableEnded || stream.readableLength === 0) done();
      else stream.once('end', done).once('close', done);
    }
  }

  private sendAll(frames: string[], callback: (error?: Error | null) => void): void {
    // After the session ended, input is dropped without an error: `exited` reports why.
    if (this.socket.readyState !== WebSocket.OPEN || frames.length === 0) {
      callback();
      return;
    }
    let remaining = frames.length;
    for (const frame of frames) {
      this.socket.send(frame, () => {
        remaining -= 1;
        if (remaining === 0) callback();
      });
    }
  }

  private beat(intervalMs: number): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    if (!this.paused && Date.now() - this.lastHeardAt > 3 * intervalMs) {
      this.failure ??= new BackendUnavailableError(
        `Nomad stopped answering the exec session (${this.describe().operation}) for ${3 * intervalMs} ms.`,
        [this.describe().address],
      );
      this.socket.terminate();
      return;
    }
    this.socket.send(EXEC_HEARTBEAT_FRAME);
    this.socket.ping();
  }
}
