import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { BerthError, CapabilityUnsupportedError, InternalError } from '@berth/core';
import {
  type AgentBinary,
  AgentStartError,
  agentArchOf,
  agentArgv,
  agentBinary,
  HostAgentSession,
} from '@berth/host-agent';
import { containerPathStat } from './container-path-exists.js';
import { demuxDockerStream } from './demux-docker-stream.js';
import { type DockerConnection, raceAbort } from './docker-connection.js';
import { asHostError, startExecSession } from './docker-exec-session.js';

/**
 * How slot shells reach a container:
 * - `auto` (default): through berth-agent, one `docker exec` per host carrying every shell; if the
 *   agent cannot run there (read-only root filesystem, an unsupported CPU, a binary that will not
 *   execute) fall back to one `docker exec` per shell, and say why in `shellTransport`.
 * - `agent`: the agent or an error; `exec`: one `docker exec` per shell, never the agent.
 */
export type DockerShellTransportMode = 'auto' | 'agent' | 'exec';

/** What a host actually uses, and why when it is not what was asked for. */
export interface DockerShellTransport {
  readonly kind: 'agent' | 'exec';
  readonly reason?: string;
}

export interface DockerAgentLinkInit {
  readonly connection: DockerConnection;
  readonly containerId: string;
  readonly containerName: string;
  readonly mode: DockerShellTransportMode;
  readonly openTimeoutMs: number;
  /** The agent's heartbeat watchdog period (0: none). */
  readonly heartbeatTimeoutMs: number;
  /** Known to be in the container already (mounted at creation): skip the install checks. */
  readonly installed?: AgentBinary | undefined;
}

/** Failures that say nothing about the agent: the host or the daemon is the problem. */
const NOT_AGENT_FAILURES = new Set([
  'HOST_LOST',
  'ABORTED',
  'BACKEND_UNAVAILABLE',
  'AUTHENTICATION',
  'CAPACITY',
]);

/**
 * `rethrow`: the host or daemon failed, an exec would fail too. `permanent`: the agent cannot run
 * in this container (CPU, read-only root, a binary that will not execute, another protocol).
 * `transient`: anything else (a slow start under load, an odd daemon answer): exec this once.
 */
function classifyFailure(error: unknown): 'rethrow' | 'permanent' | 'transient' {
  if (BerthError.isInstance(error) && NOT_AGENT_FAILURES.has(error.code)) return 'rethrow';
  if (BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED')) return 'permanent';
  if (error instanceof AgentStartError && !error.transient) return 'permanent';
  return 'transient';
}

/**
 * The per-container link to berth-agent: installs it (once, through the archive API: no exec),
 * starts it in one `docker exec`, and reconnects when that exec is gone. Concurrent first uses
 * share one connection attempt.
 */
export class DockerAgentLink {
  readonly #init: DockerAgentLinkInit;
  /** The shared connection attempt; resolves to `undefined` when this attempt fell back to exec. */
  #connecting: Promise<HostAgentSession | undefined> | undefined;
  #binary: AgentBinary | undefined;
  #transport: DockerShellTransport;
  #closed = false;

  constructor(init: DockerAgentLinkInit) {
    this.#init = init;
    this.#binary = init.installed;
    this.#transport =
      init.mode === 'exec' ? { kind: 'exec', reason: 'shellTransport is `exec`' } : { kind: 'agent' };
  }

  get transport(): DockerShellTransport {
    return this.#transport;
  }

  /**
   * The agent session, or `undefined` when this shell should use its own exec: always once the
   * host has fallen back, or just this once after a transient failure (the next call tries the
   * agent again). Concurrent callers share one attempt, which no caller's signal can cancel.
   */
  async session(signal?: AbortSignal): Promise<HostAgentSession | undefined> {
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) {
        throw new InternalError(`The handle of container ${this.#init.containerName} was disconnected.`);
      }
      if (this.#transport.kind === 'exec') return undefined;
      this.#connecting ??= this.#connectShared();
      const connecting = this.#connecting;
      const session = await (signal
        ? raceAbort(connecting, signal, 'Connecting to the host agent')
        : connecting);
      if (!session?.isClosed) return session;
      if (this.#connecting === connecting) this.#connecting = undefined; // it died since: reconnect once
      if (attempt > 0) {
        if (this.#init.mode === 'agent') {
          throw new AgentStartError(`The host agent in container ${this.#init.containerName} keeps closing.`);
        }
        return undefined; // this shell through its own exec; the agent is tried again next time
      }
    }
  }

  /** Closes the agent connection for good; its shells read EOF. */
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
        const verdict = classifyFailure(error);
        if (verdict === 'rethrow' || this.#init.mode === 'agent') throw error;
        if (verdict === 'permanent') this.#transport = { kind: 'exec', reason: (error as Error).message };
        return undefined;
      },
    );
    return attempt;
  }

  /** Shared by every caller, so bounded by the backend's timeouts rather than any caller's signal. */
  async #connect(): Promise<HostAgentSession> {
    const { connection, containerId, containerName, openTimeoutMs, heartbeatTimeoutMs } = this.#init;
    this.#binary ??= await this.#install();
    const { socket } = await startExecSession({
      connection,
      containerId,
      spec: { argv: agentArgv(this.#binary.installPath, { heartbeatTimeoutMs }), attachStdin: true },
      timeoutMs: openTimeoutMs,
    });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let diagnostics = '';
    stderr.on('data', (chunk: Buffer) => {
      if (diagnostics.length < 4096) diagnostics += chunk.toString('utf8');
    });
    const drained = Promise.all([onceEnded(stdout), onceEnded(stderr)]).then(() => undefined);
    demuxDockerStream(socket, stdout, stderr);
    socket.on('error', () => undefined); // a dropped exec surfaces as the session closing
    return HostAgentSession.connect(
      {
        readable: stdout,
        writable: socket,
        destroy: () => socket.destroy(),
        keepProcessAlive: (alive) => {
          const tcp = socket as Partial<Socket>;
          if (alive) tcp.ref?.();
          else tcp.unref?.();
        },
        diagnostics: () => diagnostics,
        drained,
      },
      {
        timeoutMs: openTimeoutMs,
        hostDescription: `container ${containerName}`,
        backendId: 'docker',
        heartbeatTimeoutMs,
      },
    );
  }

  /** Puts the agent for the container's CPU at `/.berth/agent-<hash>` unless it is there already. */
  async #install(): Promise<AgentBinary> {
    const { connection, containerId, containerName } = this.#init;
    const inspect = await connection
      .call(`inspect container ${containerName}`, { hostId: containerId }, (docker, abortSignal) =>
        docker.getContainer(containerId).inspect(abortSignal ? { abortSignal } : {}),
      )
      .catch((error: unknown) => {
        throw asHostError(error, containerId);
      });
    const image = await connection.call(`inspect image ${inspect.Image}`, {}, (docker, abortSignal) =>
      docker.getImage(inspect.Image).inspect(abortSignal ? ({ abortSignal } as object) : {}),
    );
    const arch = agentArchOf(image.Architecture ?? '');
    if (image.Os !== 'linux' || !arch) {
      throw new CapabilityUnsupportedError(
        'docker',
        'host agent',
        `No agent build for ${image.Os}/${image.Architecture}; Berth ships linux/amd64 and linux/arm64.`,
      );
    }
    const binary = agentBinary(arch);
    // Created by this version with the shared agent volume mounted: nothing to install.
    if (inspect.Mounts?.some((mount) => mount.Destination === binary.installDirectory)) return binary;
    if (inspect.HostConfig?.ReadonlyRootfs) {
      throw new CapabilityUnsupportedError(
        'docker',
        'host agent',
        'The container has a read-only root filesystem and no agent volume, so the agent cannot be installed.',
      );
    }
    // A size that differs is an upload cut short (by a timeout, or another process mid-way): redo it.
    const installed = await containerPathStat(connection, containerId, binary.installPath, undefined);
    if (installed?.size !== binary.size) {
      const tarball = await binary.tarball();
      await connection
        .call(
          `install the host agent in container ${containerName}`,
          { hostId: containerId },
          (docker, abortSignal) =>
            docker
              .getContainer(containerId)
              .putArchive(tarball, { path: '/', ...(abortSignal ? { abortSignal } : {}) }),
        )
        .catch((error: unknown) => {
          throw asHostError(error, containerId);
        });
    }
    return binary;
  }
}

function onceEnded(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}
