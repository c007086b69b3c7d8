import { randomBytes } from 'node:crypto';
import { AGENT_FILE_NAME, type AgentBinary, agentArchOf, agentBinary } from '@berth/host-agent';
import type Dockerode from 'dockerode';
import { containerPathExists } from './container-path-exists.js';
import type { DockerConnection } from './docker-connection.js';
import type { LocalImage } from './ensure-docker-image.js';

/** A read-only volume holding one agent build, mounted at the build's install directory. */
export interface AgentMount {
  readonly binary: AgentBinary;
  readonly mount: Dockerode.MountSettings;
}

const AGENT_VOLUME_LABELS = { 'berth.managed': 'true', 'berth.component': 'agent' } as const;
const INSTALLER_LABELS = { 'berth.managed': 'true', 'berth.component': 'agent-installer' } as const;
/** Inside the (never started) installer container, where the volume is mounted. */
const INSTALLER_MOUNT = '/berth-agent-volume';
const STALE_INSTALLER_MS = 10 * 60_000;

const cache = new WeakMap<DockerConnection, Map<string, Promise<AgentMount | undefined>>>();

/**
 * The shared agent volume for `image`'s CPU (`berth-agent-<hash prefix>`), filled once per daemon
 * and agent build: host containers then mount it read-only, so putting the agent in a host costs no
 * API call at all (a per-container archive upload costs dockerd a chrooted untar process each).
 * Filling needs a container to upload through; one is created from `image` (already present) and
 * never started. `undefined` when anything fails: hosts then get the agent by upload instead.
 */
export function ensureAgentVolume(
  connection: DockerConnection,
  image: LocalImage,
  signal: AbortSignal | undefined,
): Promise<AgentMount | undefined> {
  const arch = agentArchOf(image.architecture);
  if (image.os !== 'linux' || !arch) return Promise.resolve(undefined);
  let binary: AgentBinary;
  try {
    binary = agentBinary(arch);
  } catch {
    return Promise.resolve(undefined);
  }
  let perConnection = cache.get(connection);
  if (!perConnection) {
    perConnection = new Map();
    cache.set(connection, perConnection);
  }
  let pending = perConnection.get(binary.sha256);
  if (!pending) {
    pending = fillVolume(connection, binary, image.id, signal).catch(() => undefined);
    perConnection.set(binary.sha256, pending);
  }
  return pending;
}

async function fillVolume(
  connection: DockerConnection,
  binary: AgentBinary,
  imageId: string,
  signal: AbortSignal | undefined,
): Promise<AgentMount> {
  const name = `berth-agent-${binary.sha256.slice(0, 16)}`;
  await connection.call(`create volume ${name}`, { signal }, (docker, abortSignal) =>
    docker.createVolume({
      Name: name,
      Labels: { ...AGENT_VOLUME_LABELS, 'berth.agent.sha256': binary.sha256 },
      ...(abortSignal ? { abortSignal } : {}),
    }),
  );
  await removeStaleInstallers(connection, signal);
  const installer = await connection.call('create an agent installer container', { signal }, (docker) =>
    docker.createContainer({
      name: `berth-agent-installer-${randomBytes(4).toString('hex')}`,
      Image: imageId,
      Entrypoint: [],
      Cmd: ['/never-started'],
      Labels: { ...INSTALLER_LABELS },
      HostConfig: {
        NetworkMode: 'none',
        Mounts: [{ Type: 'volume', Source: name, Target: INSTALLER_MOUNT }],
      },
    }),
  );
  try {
    const present = await containerPathExists(
      connection,
      installer.id,
      `${INSTALLER_MOUNT}/${AGENT_FILE_NAME}`,
      signal,
    );
    if (!present) {
      const tarball = await binary.tarball(INSTALLER_MOUNT.slice(1));
      await connection.call(`fill volume ${name}`, { signal }, (docker, abortSignal) =>
        docker
          .getContainer(installer.id)
          .putArchive(tarball, { path: '/', ...(abortSignal ? { abortSignal } : {}) }),
      );
    }
  } finally {
    await connection
      .call('remove the agent installer container', {}, (docker) =>
        docker.getContainer(installer.id).remove({ force: true }),
      )
      .catch(() => undefined); // swept by removeStaleInstallers next time
  }
  return {
    binary,
    mount: { Type: 'volume', Source: name, Target: binary.installDirectory, ReadOnly: true },
  };
}

/** Installer containers a crashed process left behind (created, never started). */
async function removeStaleInstallers(
  connection: DockerConnection,
  signal: AbortSignal | undefined,
): Promise<void> {
  const stale = await connection.call('list agent installer containers', { signal }, (docker) =>
    docker.listContainers({
      all: true,
      filters: { label: Object.entries(INSTALLER_LABELS).map(([key, value]) => `${key}=${value}`) },
    }),
  );
  const cutoff = Date.now() - STALE_INSTALLER_MS;
  await Promise.all(
    stale
      .filter((container) => container.Created * 1000 < cutoff)
      .map((container) =>
        connection
          .call('remove a stale agent installer', {}, (docker) =>
            docker.getContainer(container.Id).remove({ force: true }),
          )
          .catch(() => undefined),
      ),
  );
}
