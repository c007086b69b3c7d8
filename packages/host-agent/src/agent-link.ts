import { BerthError, CapabilityUnsupportedError, InternalError, raceAbort } from '@berth/core';
import { type AgentBinary, agentArchOf, agentBinary, agentBinaryUnder } from './agent-binary.js';
import {
  AgentIntegrityError,
  AgentStartError,
  type AgentTransport,
  agentArgv,
  HostAgentSession,
} from './host-agent-session.js';

/**
 * What a backend fills in so the link can reach one host: "put these bytes at this path" and
 * "start this argv with stdio attached", plus two questions about the host. Every call is bounded
 * by the backend's own timeouts: the link shares one attempt between callers.
 */
export interface AgentHostAccess {
  /** Names the host in messages, e.g. `container berth-pool-1a2b`. */
  readonly description: string;
  /** The backend named in errors (`docker`, `ssh`, …). */
  readonly backendId: string;
  /** The host's OS and CPU as the engine names them (`linux`; `amd64`, `x86_64`, `aarch64`, …). */
  platform(): Promise<{ readonly os: string; readonly arch: string }>;
  /** Optional: the engine already put this build at `binary.installPath` (a mounted volume). */
  preinstalled?(binary: AgentBinary): Promise<boolean>;
  /** The size in bytes of the file at `path`, or `undefined` when there is none. */
  fileSize(path: string): Promise<number | undefined>;
  /**
   * Puts `binary` at `binary.installPath`, executable, creating its directory: write
   * `binary.bytes()` beside it and rename it over (an older copy may still be running: writing
   * into it fails with ETXTBSY), or extract `binary.tarball()` at `/` where the engine takes archives.
   * Throw `CapabilityUnsupportedError` when the host cannot take it (a read-only filesystem).
   */
  putExecutable(binary: AgentBinary): Promise<void>;
  /** Starts `argv` in the host with its stdin and stdout attached. */
  start(argv: readonly string[]): Promise<AgentTransport>;
  /**
   * Optional, for engines where each call is costly (Nomad's alloc exec): on the first connect,
   * one call instead of `fileSize`, `putExecutable` and `start`: start `argv` once the file at
   * `binary.installPath` has the build's size, uploading it first when absent or another size.
   * An install altered in place is still put back with `putExecutable`, then `start`. Not used
   * by an access that also has `preinstalled`.
   */
  installAndStart?(binary: AgentBinary, argv: readonly string[]): Promise<AgentTransport>;
}

/**
 * - `auto`: the agent where it can run; where it cannot (no build for the CPU, a read-only root,
 *   a binary that will not execute) the backend's own per-shell transport, with the reason.
 * - `agent`: the agent or an error. `off`: never the agent.
 */
export type AgentLinkMode = 'auto' | 'agent' | 'off';

/** What the host uses now, and why when it is not the agent. */
export interface AgentLinkState {
  readonly usesAgent: boolean;
  readonly reason?: string;
}

export interface AgentLinkOptions {
  readonly access: AgentHostAccess;
  readonly mode: AgentLinkMode;
  /** Bound on starting the agent and its handshake. */
  readonly openTimeoutMs: number;
  /** The agent's heartbeat watchdog period (0: none). */
  readonly heartbeatTimeoutMs: number;
  /** Known to be at its install path already (the engine mounted it): no platform or install checks. */
  readonly installed?: AgentBinary | undefined;
  /** Why `off` was chosen, for `state.reason` (default "the agent is turned off"). */
  readonly offReason?: string;
  /**
   * Where the hash-named agent directory goes instead of `/.berth` (`<installParent>/agent-<hash>`):
   * for hosts whose user cannot write at `/` (SSH logins as a normal user).
   */
  readonly installParent?: string;
}

/** Failures that say nothing about the agent: the host or its engine is the problem. */
const NOT_AGENT_FAILURES = new Set([
  'HOST_LOST',
  'ABORTED',
  'BACKEND_UNAVAILABLE',
  'AUTHENTICATION',
  'CAPACITY',
]);

/**
 * `rethrow`: the host or engine failed, the fallback would fail too. `permanent`: the agent cannot
 * run on this host. `transient`: anything else (a slow start under load): fall back just this once.
 */
export function classifyAgentFailure(error: unknown): 'rethrow' | 'permanent' | 'transient' {
  if (BerthError.isInstance(error) && NOT_AGENT_FAILURES.has(error.code)) return 'rethrow';
  if (BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED')) return 'permanent';
  if (error instanceof AgentStartError && !error.transient) return 'permanent';
  return 'transient';
}

/**
 * The per-host link to berth-agent: installs it (size and sha256 checked), starts it, connects,
 * classifies failures into "fall back" or "rethrow", and reconnects when its process is gone.
 * Concurrent first uses share one attempt.
 */
export class AgentLink {
  readonly #options: AgentLinkOptions;
  /** The shared attempt; resolves to `undefined` when this attempt fell back. */
  #connecting: Promise<HostAgentSession | undefined> | undefined;
  #binary: AgentBinary | undefined;
  #state: AgentLinkState;
  /** The engine mounted the build: nothing to reinstall. */
  #preinstalled = false;
  #closed = false;

  constructor(options: AgentLinkOptions) {
    this.#options = options;
    if (options.installed) {
      this.#binary = options.installed;
      this.#preinstalled = true;
    }
    this.#state =
      options.mode === 'off'
        ? { usesAgent: false, reason: options.offReason ?? 'the agent is turned off' }
        : { usesAgent: true };
  }

  get state(): AgentLinkState {
    return this.#state;
  }

  /**
   * The agent session, or `undefined` when the caller should use its fallback: always once the
   * host has fallen back, or just this once after a transient failure (the next call tries the
   * agent again). No caller's signal cancels the shared attempt; it only stops that caller waiting.
   */
  async session(signal?: AbortSignal): Promise<HostAgentSession | undefined> {
    for (let attempt = 0; ; attempt++) {
      if (this.#closed)
        throw new InternalError(`The link to ${this.#options.access.description} was closed.`);
      if (!this.#state.usesAgent) return undefined;
      this.#connecting ??= this.#connectShared();
      const connecting = this.#connecting;
      const session = await raceAbort(connecting, signal, 'Connecting to the host agent');
      if (!session?.isClosed) return session;
      if (this.#connecting === connecting) this.#connecting = undefined; // it died since: reconnect once
      if (attempt > 0) {
        if (this.#options.mode === 'agent') {
          throw new AgentStartError(`The host agent in ${this.#options.access.description} keeps closing.`);
        }
        return undefined; // this caller falls back; the agent is tried again next time
      }
    }
  }

  /** Closes the agent connection for good; its shells read EOF and the agent exits. */
  close(): void {
    this.#closed = true;
    void this.#connecting?.then(
      (session) => session?.close(),
      () => undefined,
    );
    this.#connecting = undefined;
  }

  #connectShared(): Promise<HostAgentSession | undefined> {
    const attempt: Promise<HostAgentSession | undefined> = this.#connect().then(
      (session) => {
        if (this.#closed) session.close();
        void session.closed.then(() => {
          if (this.#connecting === attempt) this.#connecting = undefined;
        });
        return session;
      },
      (error: unknown) => {
        if (this.#connecting === attempt) this.#connecting = undefined; // the next call tries again
        const verdict = classifyAgentFailure(error);
        if (verdict === 'rethrow' || this.#options.mode === 'agent') throw error;
        if (verdict === 'permanent') this.#state = { usesAgent: false, reason: (error as Error).message };
        return undefined;
      },
    );
    return attempt;
  }

  async #connect(): Promise<HostAgentSession> {
    const { installAndStart, preinstalled } = this.#options.access;
    // Not where the engine may have mounted the build: that check comes first.
    if (installAndStart && !preinstalled && !this.#binary) {
      const binary = await this.#binaryForHost();
      try {
        const session = await this.#start(binary, (argv) =>
          installAndStart.call(this.#options.access, binary, argv),
        );
        this.#binary = binary;
        return session;
      } catch (error) {
        if (!(error instanceof AgentIntegrityError)) throw error;
        this.#binary = binary;
        return this.#start(await this.#install(true));
      }
    }
    const binary = await this.#install(false);
    try {
      return await this.#start(binary);
    } catch (error) {
      // Same size, other bytes: the file was altered in the host. Put it back once, then refuse.
      if (!(error instanceof AgentIntegrityError) || this.#preinstalled) throw error;
      return this.#start(await this.#install(true));
    }
  }

  async #start(
    binary: AgentBinary,
    launch = (argv: readonly string[]) => this.#options.access.start(argv),
  ): Promise<HostAgentSession> {
    const { access, openTimeoutMs, heartbeatTimeoutMs } = this.#options;
    const transport = await launch(agentArgv(binary.installPath, { heartbeatTimeoutMs }));
    return HostAgentSession.connect(transport, {
      timeoutMs: openTimeoutMs,
      hostDescription: access.description,
      backendId: access.backendId,
      heartbeatTimeoutMs,
      expectedSha256: binary.sha256,
    });
  }

  /** The build for the host's CPU at its install path; uploaded when absent or cut short (size). */
  async #install(force: boolean): Promise<AgentBinary> {
    const { access } = this.#options;
    if (this.#binary && !force) return this.#binary;
    const binary = this.#binary ?? (await this.#binaryForHost());
    if (!force && (await access.preinstalled?.(binary))) {
      this.#preinstalled = true;
    } else if (force || (await access.fileSize(binary.installPath)) !== binary.size) {
      await access.putExecutable(binary);
    }
    this.#binary = binary;
    return binary;
  }

  async #binaryForHost(): Promise<AgentBinary> {
    const { access } = this.#options;
    const platform = await access.platform();
    const arch = agentArchOf(platform.arch);
    if (platform.os.toLowerCase() !== 'linux' || !arch) {
      throw new CapabilityUnsupportedError(
        access.backendId,
        'host agent',
        `No agent build for ${platform.os}/${platform.arch}; Berth ships linux/amd64 and linux/arm64.`,
      );
    }
    const binary = agentBinary(arch);
    return this.#options.installParent ? agentBinaryUnder(binary, this.#options.installParent) : binary;
  }
}
