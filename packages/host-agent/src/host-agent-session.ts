import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { Duplex, type Readable, type Writable } from 'node:stream';
import {
  AbortedError,
  BackendUnavailableError,
  BerthError,
  CapabilityUnsupportedError,
  type CommandChannelV1,
  type CommandRequestV1,
  type HostChannelV1,
  InternalError,
  type SlotCleanRequestV1,
  type SlotCleanResultV1,
  type SlotUserV1,
  throwIfAborted,
  type WaitOptions,
} from '@berth/core';
import { agentChannel } from './agent-channel.js';
import {
  encodeRequest,
  fileError,
  prefixed,
  readAll,
  readBody,
  responseHeaders,
  responseStatus,
} from './agent-requests.js';

/** The wire version this client speaks; the agent reports its own from `/v1/hello`. */
export const AGENT_PROTOCOL_VERSION = '1';

/** The agent's stdio as the backend reaches it (a hijacked `docker exec`, a websocket, a pipe). */
export interface AgentTransport {
  /** The agent's stdout. */
  readonly readable: Readable;
  /** The agent's stdin. */
  readonly writable: Writable;
  /** Tears the transport down; the agent reads EOF and exits. Idempotent. */
  destroy(): void;
  /** What the agent wrote on stderr so far, for error messages. */
  diagnostics?(): string;
  /**
   * Optional: let an idle connection stop keeping the Node process alive (`socket.unref()`), and
   * keep it alive again while a channel is open. Called with `false` whenever no stream is open.
   */
  keepProcessAlive?(alive: boolean): void;
  /** Resolves once all the agent's output, stderr included, has been read (it exited or the link dropped). */
  readonly drained?: Promise<void>;
}

export interface ConnectAgentOptions extends WaitOptions {
  /** Bound on the HTTP/2 handshake plus `/v1/hello`. */
  readonly timeoutMs: number;
  /** Names the host in messages, e.g. `container berth-pool-1a2b`. */
  readonly hostDescription: string;
  /** The backend named in errors (`docker`, `nomad`, …). Default `host-agent`. */
  readonly backendId?: string;
  /**
   * The `heartbeatTimeoutMs` the agent was started with (`agentArgv`): the client then sends a
   * heartbeat four times per period, so an agent whose client crashed or hung kills everything it
   * started and exits. Unset: no heartbeats (an agent started without the flag needs none).
   */
  readonly heartbeatTimeoutMs?: number;
  /**
   * The sha256 the agent binary must have (`AgentBinary.sha256`): an agent reporting another digest
   * is refused with `AgentIntegrityError` (an install corrupted in place). Unset: not checked.
   */
  readonly expectedSha256?: string;
}

/** The argv that starts `installPath` with a heartbeat watchdog (none when `heartbeatTimeoutMs` is 0 or unset). */
export function agentArgv(installPath: string, options: { heartbeatTimeoutMs?: number } = {}): string[] {
  const timeoutMs = options.heartbeatTimeoutMs ?? 0;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new InternalError(
      `heartbeatTimeoutMs must be a non-negative number of milliseconds, got ${timeoutMs}.`,
    );
  }
  return timeoutMs > 0 ? [installPath, `--heartbeat-timeout=${Math.ceil(timeoutMs)}ms`] : [installPath];
}

/** The agent did not come up: not executable here, crashed, or speaks another protocol version. */
export class AgentStartError extends InternalError {
  /** True when the agent may just have been slow (a deadline passed), not unable to run here. */
  readonly transient: boolean;
  constructor(message: string, options?: { cause?: unknown; transient?: boolean }) {
    super(message, options);
    this.name = 'AgentStartError';
    this.transient = options?.transient ?? false;
  }
}

/** The running agent is not the build this client shipped: its file was altered in the host. */
export class AgentIntegrityError extends AgentStartError {
  constructor(message: string) {
    super(message);
    this.name = 'AgentIntegrityError';
  }
}

/** A deadline of ours passed; nothing says the agent cannot run. */
class DeadlineError extends Error {}

/**
 * One HTTP/2 connection to a berth-agent. Each `openShell` is one stream and one process in the
 * host, so all of a host's slot shells share a single engine exec.
 */
export class HostAgentSession {
  readonly #session: ClientHttp2Session;
  readonly #transport: AgentTransport;
  readonly #hostDescription: string;
  readonly #backendId: string;
  readonly #streams = new Set<ClientHttp2Stream>();
  readonly #closeListeners = new Set<() => void>();
  #closed = false;
  /** Resolves once the connection is gone, for whatever reason. */
  readonly closed: Promise<void>;

  private constructor(
    session: ClientHttp2Session,
    transport: AgentTransport,
    hostDescription: string,
    backendId: string,
  ) {
    this.#backendId = backendId;
    this.#session = session;
    this.#transport = transport;
    this.#hostDescription = hostDescription;
    this.closed = new Promise((resolve) =>
      session.once('close', () => {
        this.#closed = true;
        transport.destroy();
        for (const listener of this.#closeListeners) listener();
        resolve();
      }),
    );
  }

  /** Connects over `transport` and checks the agent's protocol version. Destroys the transport on failure. */
  static async connect(transport: AgentTransport, options: ConnectAgentOptions): Promise<HostAgentSession> {
    const { signal, timeoutMs, hostDescription } = options;
    throwIfAborted(signal, 'Connecting to the host agent');
    const session = http2.connect('http://berth-agent', {
      createConnection: () => Duplex.from({ readable: transport.readable, writable: transport.writable }),
      // Large windows: output is bulk data on a local pipe, and a command's burst should not stall.
      settings: { enablePush: false, initialWindowSize: 4 << 20 },
      maxSessionMemory: 64,
    });
    session.on('error', () => undefined); // surfaced through `closed` and the failing requests
    // HTTP/2 over a generic duplex does not notice the far end going away: watch the pipes ourselves.
    const gone = () => {
      if (!session.destroyed) session.destroy();
      transport.destroy();
    };
    for (const event of ['end', 'close', 'error']) transport.readable.once(event, gone);
    for (const event of ['close', 'error']) transport.writable.once(event, gone);
    const agent = new HostAgentSession(
      session,
      transport,
      hostDescription,
      options.backendId ?? 'host-agent',
    );
    let hello: { agent?: unknown; version?: unknown; sha256?: unknown };
    try {
      hello = await agent.#withDeadline(agent.#hello(), signal, timeoutMs, 'Starting the host agent');
    } catch (error) {
      agent.close();
      if (error instanceof AbortedError) throw error;
      // An agent that died at once usually said why on stderr, which may trail its stdout closing.
      if (transport.drained)
        await Promise.race([transport.drained, new Promise((resolve) => setTimeout(resolve, 1_000))]);
      const said = transport.diagnostics?.().trim();
      throw new AgentStartError(
        `The host agent in ${hostDescription} did not start${said ? `: ${said}` : ''} (${(error as Error).message}).`,
        { cause: error, transient: error instanceof DeadlineError },
      );
    }
    if (hello.agent !== 'berth-agent' || hello.version !== AGENT_PROTOCOL_VERSION) {
      agent.close();
      throw new AgentStartError(
        `The agent in ${hostDescription} speaks protocol ${String(hello.version)}, this client ${AGENT_PROTOCOL_VERSION}; ` +
          'align the versions of the @berth packages.',
      );
    }
    if (options.expectedSha256 && hello.sha256 !== options.expectedSha256) {
      agent.close();
      throw new AgentIntegrityError(
        `The agent binary in ${hostDescription} has sha256 ${String(hello.sha256) || 'unknown'}, not the ` +
          `${options.expectedSha256} this client ships: the file was altered in the host.`,
      );
    }
    session.setLocalWindowSize(32 << 20);
    if (options.heartbeatTimeoutMs) agent.#startHeartbeats(options.heartbeatTimeoutMs / 4);
    return agent;
  }

  get isClosed(): boolean {
    return this.#closed || this.#session.closed || this.#session.destroyed;
  }

  /**
   * Starts `argv` (default `sh`) in the host in a session of its own and returns its stdio as a
   * channel. An argv the host cannot execute throws `CapabilityUnsupportedError('shell')` for `sh`.
   */
  async openShell(
    options: WaitOptions & { argv?: readonly string[]; timeoutMs?: number } = {},
  ): Promise<HostChannelV1> {
    const argv = options.argv ?? ['sh'];
    const { stream } = await this.#start('/v1/spawn', { 'berth-argv': JSON.stringify(argv) }, argv, options);
    return agentChannel(stream);
  }

  /**
   * Runs one command the way core's process model asks (`HostV1.openCommand`): its own session and
   * pipes, `cwd`, `env` added to the agent's environment. A missing directory or program is the
   * command's own failure (stderr, exit 1 / 127), as in a shell.
   */
  async openCommand(
    request: CommandRequestV1,
    options: WaitOptions & { timeoutMs?: number } = {},
  ): Promise<CommandChannelV1> {
    const { stream, pid } = await this.#start('/v1/exec', {}, request.argv, options, encodeRequest(request));
    return { ...agentChannel(stream), pid };
  }

  /**
   * Replaces the file at `path` (absolute) with `data`, creating parent directories; with `user`,
   * with that user's file permissions (and as its owner).
   */
  async writeFile(
    path: string,
    data: Uint8Array,
    options: WaitOptions & { mode?: number; user?: SlotUserV1 } = {},
  ): Promise<void> {
    const response = await this.#call(
      '/v1/file/write',
      { path, mode: options.mode ?? 0o644, user: options.user },
      data,
      options.signal,
    );
    if (response.status !== 204) throw fileError(response, path, this.#hostDescription);
  }

  /** The bytes of the regular file at `path` (absolute); `NotFoundError` when there is none. */
  async readFile(path: string, options: WaitOptions & { user?: SlotUserV1 } = {}): Promise<Buffer> {
    const response = await this.#call(
      '/v1/file/read',
      { path, user: options.user },
      undefined,
      options.signal,
    );
    if (response.status !== 200) throw fileError(response, path, this.#hostDescription);
    return response.body;
  }

  /** A slot's sweep and reset in one request (`HostV1.cleanSlot`). */
  async cleanSlot(request: SlotCleanRequestV1, options: WaitOptions = {}): Promise<SlotCleanResultV1> {
    const response = await this.#call('/v1/clean', request, undefined, options.signal);
    if (response.status !== 200) {
      throw new InternalError(
        `The host agent in ${this.#hostDescription} could not clean a slot: ${response.body.toString().trim()} (HTTP ${response.status}).`,
      );
    }
    const { warnings } = JSON.parse(response.body.toString()) as { warnings?: string[] };
    return { warnings: warnings ?? [] };
  }

  /** One request with a prefixed JSON body (and `data` after it); the whole response body. */
  async #call(
    path: string,
    request: object,
    data: Uint8Array | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; body: Buffer }> {
    throwIfAborted(signal, 'A file operation');
    if (this.isClosed)
      throw new AgentStartError(`The host agent connection to ${this.#hostDescription} is closed.`);
    const stream = this.#session.request({ ':method': 'POST', ':path': path }, { endStream: false });
    this.#track(stream);
    stream.on('error', () => undefined);
    stream.end(data ? Buffer.concat([prefixed(request), data]) : prefixed(request));
    // Both listeners at once: a bodiless answer (204) may end and close the stream in one go.
    const body = readBody(stream);
    body.catch(() => undefined);
    const work = (async () => ({ status: await responseStatus(stream), body: await body }))();
    try {
      return await this.#withDeadline(work, signal, 300_000, 'A file operation');
    } catch (error) {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      if (!BerthError.isInstance(error) && this.isClosed) {
        throw new AgentStartError(`The host agent connection to ${this.#hostDescription} closed.`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  async #start(
    path: string,
    headers: Record<string, string>,
    argv: readonly string[],
    options: WaitOptions & { timeoutMs?: number },
    bodyPrefix?: Buffer,
  ): Promise<{ stream: ClientHttp2Stream; pid: number }> {
    const { signal } = options;
    throwIfAborted(signal, 'Opening a shell channel');
    if (this.isClosed)
      throw new AgentStartError(`The host agent connection to ${this.#hostDescription} is closed.`);
    const stream = this.#session.request(
      { ':method': 'POST', ':path': path, ...headers },
      { endStream: false },
    );
    this.#track(stream);
    stream.on('error', () => undefined); // reported through the response wait or the channel
    if (bodyPrefix) stream.write(bodyPrefix);
    try {
      const response = await this.#withDeadline(
        responseHeaders(stream),
        signal,
        options.timeoutMs ?? 30_000,
        'Opening a shell channel',
      );
      const status = Number(response[':status']);
      if (status !== 200) {
        const said = (await readAll(stream)).trim();
        if (status === 404 && argv[0] === 'sh')
          throw new CapabilityUnsupportedError(
            this.#backendId,
            'shell',
            `${this.#hostDescription} has no /bin/sh (starting \`sh\` said: ${said}); pass argv arrays to use one-shot exec, or use an image with a POSIX shell.`,
          );
        throw new InternalError(
          `The host agent in ${this.#hostDescription} could not start ${argv[0]}: ${said} (HTTP ${status}).`,
        );
      }
      return { stream, pid: Number(response['berth-pid']) || 0 };
    } catch (error) {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      if (error instanceof DeadlineError) {
        throw new BackendUnavailableError(
          `${error.message} through the host agent in ${this.#hostDescription}; the host may be overloaded. Retry, or raise the timeout.`,
          [],
          { cause: error },
        );
      }
      if (!BerthError.isInstance(error) && this.isClosed) {
        throw new AgentStartError(`The host agent connection to ${this.#hostDescription} closed.`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /** Heartbeats say "the client is alive"; they never keep Node alive themselves (unref). */
  #startHeartbeats(intervalMs: number): void {
    const timer = setInterval(
      () => {
        if (this.isClosed) return clearInterval(timer);
        const stream = this.#session.request(
          { ':method': 'POST', ':path': '/v1/heartbeat' },
          { endStream: true },
        );
        stream.on('error', () => undefined);
        stream.resume();
      },
      Math.max(10, intervalMs),
    );
    timer.unref();
    this.#closeListeners.add(() => clearInterval(timer));
  }

  /** Open streams keep the process alive, like any socket would; an idle connection does not. */
  #track(stream: ClientHttp2Stream): void {
    this.#streams.add(stream);
    if (this.#streams.size === 1) this.#transport.keepProcessAlive?.(true);
    stream.once('close', () => {
      this.#streams.delete(stream);
      if (this.#streams.size === 0) this.#transport.keepProcessAlive?.(false);
    });
  }

  /** Ends the connection: every stream is reset, the agent reads EOF and closes its processes' stdin. */
  close(): void {
    if (!this.#session.destroyed) this.#session.destroy();
    this.#transport.destroy();
  }

  async #hello(): Promise<{ agent?: unknown; version?: unknown; sha256?: unknown }> {
    const stream = this.#session.request({ ':method': 'GET', ':path': '/v1/hello' }, { endStream: true });
    this.#track(stream);
    stream.on('error', () => undefined);
    const status = await responseStatus(stream);
    const body = await readAll(stream);
    if (status !== 200) throw new Error(`/v1/hello answered HTTP ${status}: ${body}`);
    return JSON.parse(body) as { agent?: unknown; version?: unknown };
  }

  /** `work`, unless the caller aborts, the deadline passes or the connection closes first. */
  #withDeadline<T>(
    work: Promise<T>,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#closeListeners.delete(onClosed);
        settle();
      };
      const onClosed = () =>
        finish(() =>
          reject(new AgentStartError(`The host agent connection to ${this.#hostDescription} closed.`)),
        );
      const onAbort = () =>
        finish(() => reject(new AbortedError(`${what} was aborted.`, { cause: signal?.reason })));
      const timer = setTimeout(
        () => finish(() => reject(new DeadlineError(`${what} took longer than ${timeoutMs} ms`))),
        timeoutMs,
      );
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.isClosed) return onClosed();
      this.#closeListeners.add(onClosed);
      work.then(
        (value) => finish(() => resolve(value)),
        (error: unknown) => finish(() => reject(error)),
      );
    });
  }
}
