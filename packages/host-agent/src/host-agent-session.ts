import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { Duplex } from 'node:stream';
import {
  AbortedError,
  BackendUnavailableError,
  BerthError,
  CapabilityUnsupportedError,
  type CommandChannelV1,
  type CommandRequestV1,
  type HostChannelV1,
  InternalError,
  throwIfAborted,
  type WaitOptions,
} from '@berth/core';
import { agentChannel } from './agent-channel.js';
import { AgentFiles } from './agent-files.js';
import { commandRequest, readAll, responseHeaders, responseStatus } from './agent-requests.js';
import {
  AGENT_PROTOCOL_VERSION,
  AgentIntegrityError,
  AgentStartError,
  type AgentTransport,
  type ConnectAgentOptions,
} from './agent-transport.js';

export {
  AGENT_PROTOCOL_VERSION,
  AgentIntegrityError,
  AgentStartError,
  type AgentTransport,
  agentArgv,
  type ConnectAgentOptions,
} from './agent-transport.js';

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
  #files: AgentFiles | undefined;
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
    const { headers, body, endStream } = commandRequest(request);
    const { stream, pid } = await this.#start('/v1/exec', headers, request.argv, options, body, endStream);
    return { ...agentChannel(stream, request.stdin !== undefined), pid };
  }

  /**
   * Files, archives and slot cleaning, one request each (`HostV1.writeFile`, `readFile`,
   * `putArchive`, `getArchive`, `cleanSlot`; see `AgentFiles`).
   */
  get files(): AgentFiles {
    this.#files ??= new AgentFiles({
      request: (path, signal) => this.#request(path, signal),
      bounded: (stream, work, signal) => this.#bounded(stream, work, signal),
      host: this.#hostDescription,
    });
    return this.#files;
  }

  #request(path: string, signal: AbortSignal | undefined): ClientHttp2Stream {
    throwIfAborted(signal, 'A file operation');
    if (this.isClosed)
      throw new AgentStartError(`The host agent connection to ${this.#hostDescription} is closed.`);
    const stream = this.#session.request({ ':method': 'POST', ':path': path }, { endStream: false });
    this.#track(stream);
    stream.on('error', () => undefined);
    return stream;
  }

  /** `work` on `stream`, cut short (the stream reset) by `signal` or the file deadline. */
  async #bounded<T>(
    stream: ClientHttp2Stream,
    work: Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
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
    headers: http2.OutgoingHttpHeaders,
    argv: readonly string[],
    options: WaitOptions & { timeoutMs?: number },
    body?: Uint8Array,
    endStream = false,
  ): Promise<{ stream: ClientHttp2Stream; pid: number }> {
    const { signal } = options;
    throwIfAborted(signal, 'Opening a shell channel');
    if (this.isClosed)
      throw new AgentStartError(`The host agent connection to ${this.#hostDescription} is closed.`);
    const stream = this.#session.request(
      { ':method': 'POST', ':path': path, ...headers },
      { endStream: endStream && !body?.length },
    );
    this.#track(stream);
    stream.on('error', () => undefined); // reported through the response wait or the channel
    if (body?.length) {
      if (endStream) stream.end(body);
      else stream.write(body);
    }
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
