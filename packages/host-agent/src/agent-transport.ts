import type { Readable, Writable } from 'node:stream';
import { InternalError, type WaitOptions } from '@berth/core';

/** The wire version this client speaks; the agent reports its own from `/v1/hello`. */
export const AGENT_PROTOCOL_VERSION = '2';

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
