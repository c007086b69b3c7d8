import { randomBytes } from 'node:crypto';
import { raceAbort } from '@berth/core';
import { AGENT_FILE_NAME, type AgentBinary, agentArchOf, agentBinary } from '@berth/host-agent';
import type Dockerode from 'dockerode';
import { containerPathStat } from './container-path-exists.js';
import type { DockerConnection } from './docker-connection.js';
import type { LocalImage } from './ensure-docker-image.js';
import { isDockerNotFound } from './map-docker-error.js';

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
const OUTDATED_VOLUME_AGE_MS = 24 * 3_600_000;

/** What a new container gets: the volume to mount, or why there is none. */
export type AgentVolumeOutcome = { readonly mount: AgentMount } | { readonly reason: string };

/** A failed fill is retried after this long, not on every container. */
const RETRY_FILL_AFTER_MS = 60_000;
const cache = new WeakMap<DockerConnection, Map<string, Promise<AgentVolumeOutcome>>>();

/**
 * The shared agent volume for `image`'s CPU (`berth-agent-<hash prefix>`), filled once per daemon
 * and agent build: host containers then mount it read-only, so putting the agent in a host costs no
 * API call at all (a per-container archive upload costs dockerd a chrooted untar process each).
 * Filling needs a container to upload through; one is created from `image` (already present) and
 * never started. The fill is shared by concurrent creates and is not tied to any one caller's
 * signal; when it fails, hosts get the agent by upload instead, and it is tried again a minute later.
 */
export function ensureAgentVolume(
  connection: DockerConnection,
  image: LocalImage,
  signal: AbortSignal | undefined,
  refillIfGone = true,
): Promise<AgentVolumeOutcome> {
  const arch = agentArchOf(image.architecture);
  if (image.os !== 'linux' || !arch) {
    return Promise.resolve({ reason: `no agent build for ${image.os}/${image.architecture}` });
  }
  let binary: AgentBinary;
  try {
    binary = agentBinary(arch);
  } catch (error) {
    return Promise.resolve({ reason: (error as Error).message });
  }
  let perConnection = cache.get(connection);
  if (!perConnection) {
    perConnection = new Map();
    cache.set(connection, perConnection);
  }
  const known = perConnection;
  let pending = known.get(binary.sha256);
  if (!pending) {
    pending = fillVolume(connection, binary, image.id).then(
      (mount) => ({ mount }),
      (error: unknown) => {
        setTimeout(() => known.delete(binary.sha256), RETRY_FILL_AFTER_MS).unref();
        return { reason: `the shared agent volume could not be prepared (${(error as Error).message})` };
      },
    );
    known.set(binary.sha256, pending);
  }
  const filled = pending;
  const checked = filled.then(async (outcome) => {
    if (!('mount' in outcome) || (await volumeIsOurs(connection, outcome.mount.mount.Source, binary.sha256)))
      return outcome;
    // Removed since it was filled (`docker volume prune`), or replaced by the empty one Docker makes
    // when a container names a missing volume: fill it again, once.
    if (known.get(binary.sha256) === filled) known.delete(binary.sha256);
    if (!refillIfGone)
      return { reason: 'the shared agent volume disappeared again right after it was filled' };
    return ensureAgentVolume(connection, image, undefined, false);
  });
  return signal ? raceAbort(checked, signal, 'Preparing the host agent') : checked;
}

/** The volume exists and carries this build's label (not one Docker auto-created empty). */
async function volumeIsOurs(
  connection: DockerConnection,
  name: string | undefined,
  sha256: string,
): Promise<boolean> {
  if (!name) return false;
  return connection
    .call(`inspect volume ${name}`, {}, (docker) => docker.getVolume(name).inspect())
    .then(
      (volume) => volume.Labels?.['berth.agent.sha256'] === sha256,
      // Only a clear "no such volume" counts: on any other trouble, let the create call find out.
      (error: unknown) => !isDockerNotFound(error),
    );
}

async function fillVolume(
  connection: DockerConnection,
  binary: AgentBinary,
  imageId: string,
): Promise<AgentMount> {
  // Shared by every caller, so no caller's signal: each request is bounded by requestTimeoutMs.
  const name = `berth-agent-${binary.sha256.slice(0, 16)}`;
  if (!(await volumeIsOurs(connection, name, binary.sha256))) {
    // An empty one Docker made for a container that named it while it was gone: replace it (this
    // fails while a container uses it, and hosts then get the agent by upload instead).
    await connection
      .call(`remove volume ${name}`, {}, (docker) => docker.getVolume(name).remove())
      .catch((error: unknown) => {
        if (!isDockerNotFound(error)) throw error;
      });
  }
  await connection.call(`create volume ${name}`, {}, (docker, abortSignal) =>
    docker.createVolume({
      Name: name,
      Labels: { ...AGENT_VOLUME_LABELS, 'berth.agent.sha256': binary.sha256 },
      ...(abortSignal ? { abortSignal } : {}),
    }),
  );
  await removeStaleInstallers(connection);
  const installer = await connection.call('create an agent installer container', {}, (docker) =>
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
    const path = `${INSTALLER_MOUNT}/${AGENT_FILE_NAME}`;
    const filled = await containerPathStat(connection, installer.id, path, undefined);
    // A size that differs is a fill cut short (a timeout, a crash, another process mid-way): redo it.
    if (filled?.size !== binary.size) {
      const tarball = await binary.tarball(INSTALLER_MOUNT.slice(1));
      await connection.call(`fill volume ${name}`, {}, (docker, abortSignal) =>
        docker
          .getContainer(installer.id)
          .putArchive(tarball, { path: '/', ...(abortSignal ? { abortSignal } : {}) }),
      );
      const written = await containerPathStat(connection, installer.id, path, undefined);
      if (written?.size !== binary.size) {
        throw new Error(`the volume holds ${written?.size ?? 'no'} bytes of the agent, not ${binary.size}`);
      }
    }
  } finally {
    await connection
      .call('remove the agent installer container', {}, (docker) =>
        docker.getContainer(installer.id).remove({ force: true, v: true }),
      )
      .catch(() => undefined); // swept by removeStaleInstallers next time
  }
  await removeOutdatedVolumes(connection, binary.sha256);
  return {
    binary,
    mount: { Type: 'volume', Source: name, Target: binary.installDirectory, ReadOnly: true },
  };
}

/**
 * Volumes of other agent builds (an older Berth), once no container uses them: Docker refuses to
 * remove a volume in use, and ones younger than a day are kept for a process of another version
 * that may be about to mount it.
 */
async function removeOutdatedVolumes(connection: DockerConnection, currentSha256: string): Promise<void> {
  const listed = await connection
    .call('list agent volumes', {}, (docker) =>
      docker.listVolumes({ filters: { label: ['berth.managed=true', 'berth.component=agent'] } }),
    )
    .catch(() => undefined);
  const cutoff = Date.now() - OUTDATED_VOLUME_AGE_MS;
  for (const volume of listed?.Volumes ?? []) {
    const createdAt = Date.parse((volume as { CreatedAt?: string }).CreatedAt ?? '');
    if (volume.Labels?.['berth.agent.sha256'] === currentSha256 || !(createdAt < cutoff)) continue;
    await connection
      .call(`remove agent volume ${volume.Name}`, {}, (docker) => docker.getVolume(volume.Name).remove())
      .catch(() => undefined); // in use, or gone already
  }
}

/** Installer containers a crashed process left behind (created, never started). */
async function removeStaleInstallers(connection: DockerConnection): Promise<void> {
  const stale = await connection.call('list agent installer containers', {}, (docker) =>
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
            docker.getContainer(container.Id).remove({ force: true, v: true }),
          )
          .catch(() => undefined),
      ),
  );
}
