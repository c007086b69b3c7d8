import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { BerthError, CapabilityUnsupportedError, throwIfAborted } from '@berth/core';
import { type AgentBinary, agentArchOf, agentBinary, HostAgentSession } from '@berth/host-agent';
import { containerPathExists } from './container-path-exists.js';
import { demuxDockerStream } from './demux-docker-stream.js';
import type { DockerConnection } from './docker-connection.js';
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
  /** Known to be in the container already (mounted at creation): skip the install checks. */
  readonly installed?: AgentBinary | undefined;
}

/** Failures that say nothing about the agent: the host or daemon is the problem, or the caller gave up. */
const NOT_AGENT_FAILURES = new Set(['HOST_LOST', 'ABORTED', 'BACKEND_UNAVAILABLE', 'AUTHENTICATION']);

/**
 * The per-container link to berth-agent: installs it (once, through the archive API: no exec),
 * starts it in one `docker exec`, and reconnects when that exec is gone. Concurrent first uses
 * share one connection attempt.
 */
export class DockerAgentLink {
  readonly #init: DockerAgentLinkInit;
  #session: Promise<HostAgentSession> | undefined;
  #binary: AgentBinary | undefined;
  #transport: DockerShellTransport;

  constructor(init: DockerAgentLinkInit) {
    this.#init = init;
    this.#binary = init.installed;
    this.#transport =
      init.mode === 'exec' ? { kind: 'exec', reason: 'shellTransport is `exec`' } : { kind: 'agent' };
  }

  get transport(): DockerShellTransport {
    return this.#transport;
  }

  /** The agent session, or `undefined` when this host uses one exec per shell. */
  async session(signal?: AbortSignal): Promise<HostAgentSession | undefined> {
    if (this.#transport.kind === 'exec') return undefined;
    const current = this.#session;
    if (current) {
      const session = await current.catch(() => undefined);
      if (session && !session.isClosed) return session;
      if (this.#session === current) this.#session = undefined;
    }
    if (!this.#session) {
      const connecting = this.#connect(signal);
      this.#session = connecting;
      connecting.catch(() => {
        if (this.#session === connecting) this.#session = undefined;
      });
    }
    try {
      return await this.#session;
    } catch (error) {
      if (this.#init.mode === 'agent' || (BerthError.isInstance(error) && NOT_AGENT_FAILURES.has(error.code)))
        throw error;
      this.#transport = { kind: 'exec', reason: (error as Error).message };
      return undefined;
    }
  }

  close(): void {
    void this.#session?.then(
      (session) => session.close(),
      () => undefined,
    );
    this.#session = undefined;
  }

  async #connect(signal: AbortSignal | undefined): Promise<HostAgentSession> {
    const { connection, containerId, containerName, openTimeoutMs } = this.#init;
    this.#binary ??= await this.#install(signal);
    const { socket } = await startExecSession({
      connection,
      containerId,
      spec: { argv: [this.#binary.installPath], attachStdin: true },
      signal,
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
        signal,
        timeoutMs: openTimeoutMs,
        hostDescription: `container ${containerName}`,
        backendId: 'docker',
      },
    );
  }

  /** Puts the agent for the container's CPU at `/.berth/agent-<hash>` unless it is there already. */
  async #install(signal: AbortSignal | undefined): Promise<AgentBinary> {
    const { connection, containerId, containerName } = this.#init;
    const inspect = await connection
      .call(`inspect container ${containerName}`, { signal, hostId: containerId }, (docker, abortSignal) =>
        docker.getContainer(containerId).inspect(abortSignal ? { abortSignal } : {}),
      )
      .catch((error: unknown) => {
        throw asHostError(error, containerId);
      });
    const image = await connection.call(`inspect image ${inspect.Image}`, { signal }, (docker, abortSignal) =>
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
    throwIfAborted(signal, 'Installing the host agent');
    const present = await containerPathExists(connection, containerId, binary.installPath, signal);
    if (!present) {
      const tarball = await binary.tarball();
      await connection
        .call(
          `install the host agent in container ${containerName}`,
          { signal, hostId: containerId },
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
