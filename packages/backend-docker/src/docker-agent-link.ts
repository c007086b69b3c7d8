import type { Socket } from 'node:net';
import { type Duplex, PassThrough } from 'node:stream';
import { CapabilityUnsupportedError } from '@berth/core';
import {
  type AgentBinary,
  type AgentHostAccess,
  AgentLink,
  type AgentTransport,
  type HostAgentSession,
} from '@berth/host-agent';
import type Dockerode from 'dockerode';
import { containerPathStat } from './container-path-exists.js';
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
  /** The agent's heartbeat watchdog period (0: none). */
  readonly heartbeatTimeoutMs: number;
  /** Known to be in the container already (mounted at creation): skip the install checks. */
  readonly installed?: AgentBinary | undefined;
}

/**
 * The per-container link to berth-agent: @berth/host-agent's generic `AgentLink` (install, start,
 * fallback, reconnect) over Docker's archive API (install: no exec needed) and one `docker exec`.
 */
export class DockerAgentLink {
  readonly #link: AgentLink;

  constructor(init: DockerAgentLinkInit) {
    this.#link = new AgentLink({
      access: dockerAgentAccess(init),
      mode: init.mode === 'exec' ? 'off' : init.mode,
      offReason: 'shellTransport is `exec`',
      openTimeoutMs: init.openTimeoutMs,
      heartbeatTimeoutMs: init.heartbeatTimeoutMs,
      installed: init.installed,
    });
  }

  get transport(): DockerShellTransport {
    const { usesAgent, reason } = this.#link.state;
    return usesAgent ? { kind: 'agent' } : { kind: 'exec', ...(reason ? { reason } : {}) };
  }

  /** The agent session, or `undefined` when this shell should use its own exec (see `AgentLink`). */
  session(signal?: AbortSignal): Promise<HostAgentSession | undefined> {
    return this.#link.session(signal);
  }

  /** Closes the agent connection for good; its shells read EOF. */
  close(): void {
    this.#link.close();
  }
}

function dockerAgentAccess(init: DockerAgentLinkInit): AgentHostAccess {
  const { connection, containerId, containerName, openTimeoutMs } = init;
  let inspected: Promise<Dockerode.ContainerInspectInfo> | undefined;
  const inspect = () => {
    inspected ??= connection
      .call(`inspect container ${containerName}`, { hostId: containerId }, (docker, abortSignal) =>
        docker.getContainer(containerId).inspect(abortSignal ? { abortSignal } : {}),
      )
      .catch((error: unknown) => {
        inspected = undefined;
        throw asHostError(error, containerId);
      });
    return inspected;
  };
  return {
    description: `container ${containerName}`,
    backendId: 'docker',
    async platform() {
      const { Image } = await inspect();
      const image = await connection.call(`inspect image ${Image}`, {}, (docker, abortSignal) =>
        docker.getImage(Image).inspect(abortSignal ? ({ abortSignal } as object) : {}),
      );
      return { os: image.Os ?? '', arch: image.Architecture ?? '' };
    },
    async preinstalled(binary) {
      // Created by this version with the shared agent volume mounted: nothing to install.
      const { Mounts } = await inspect();
      return Mounts?.some((mount) => mount.Destination === binary.installDirectory) ?? false;
    },
    async fileSize(path) {
      return (await containerPathStat(connection, containerId, path, undefined))?.size;
    },
    async putExecutable(binary) {
      if ((await inspect()).HostConfig?.ReadonlyRootfs) {
        throw new CapabilityUnsupportedError(
          'docker',
          'host agent',
          'The container has a read-only root filesystem and no agent volume, so the agent cannot be installed.',
        );
      }
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
    },
    async start(argv) {
      const { socket } = await startExecSession({
        connection,
        containerId,
        spec: { argv: [...argv], attachStdin: true },
        timeoutMs: openTimeoutMs,
      });
      return execTransport(socket);
    },
  };
}

/** The agent's stdio over a hijacked `docker exec` socket (stdout and stderr multiplexed). */
function execTransport(socket: Duplex): AgentTransport {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let diagnostics = '';
  stderr.on('data', (chunk: Buffer) => {
    if (diagnostics.length < 4096) diagnostics += chunk.toString('utf8');
  });
  const drained = Promise.all([onceEnded(stdout), onceEnded(stderr)]).then(() => undefined);
  demuxDockerStream(socket, stdout, stderr);
  socket.on('error', () => undefined); // a dropped exec surfaces as the session closing
  return {
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
  };
}

function onceEnded(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}
