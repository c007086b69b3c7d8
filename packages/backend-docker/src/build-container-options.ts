import { InvalidOptionsError } from '@berth/core';
import type Dockerode from 'dockerode';
import type { DockerHostSpec } from './docker-host-spec.js';

/** Labels the Docker backend adds to the ones core asks for. */
export const DOCKER_LABEL = {
  backend: 'berth.backend',
  workspaceRoot: 'berth.docker.workspace-root',
} as const;

export interface ContainerOptionsInput {
  readonly name: string;
  readonly spec: DockerHostSpec;
  readonly labels: Readonly<Record<string, string>>;
  /** The environment `forwardEnv` names are read from. */
  readonly hostEnv: Readonly<Record<string, string | undefined>>;
  /** Drop the pids limit: the daemon reported it cannot enforce one (no pids cgroup). */
  readonly omitPidsLimit?: boolean;
}

/** The `POST /containers/create` body for a host. Pure: no I/O. */
export function buildContainerOptions(input: ContainerOptionsInput): Dockerode.ContainerCreateOptions {
  const { spec } = input;
  const env = { ...spec.env };
  for (const name of spec.forwardEnv) {
    const value = input.hostEnv[name];
    if (value === undefined) {
      throw new InvalidOptionsError(
        'forwardEnv',
        `\`${name}\` is listed in forwardEnv but is not set in this process's environment. Set it, or remove it from forwardEnv.`,
      );
    }
    env[name] = value;
  }

  const hostConfig: Dockerode.HostConfig = {};
  if (spec.cpus !== undefined) hostConfig.NanoCpus = Math.round(spec.cpus * 1e9);
  if (spec.memoryMiB !== undefined) {
    hostConfig.Memory = spec.memoryMiB * 1024 * 1024;
    hostConfig.MemorySwap = hostConfig.Memory; // no swap on top: the limit is the limit
  }
  if (spec.diskMiB !== undefined) hostConfig.StorageOpt = { size: `${spec.diskMiB}M` };
  if (spec.networkMode !== undefined) hostConfig.NetworkMode = spec.networkMode;
  if (spec.volumes.length > 0) {
    hostConfig.Mounts = spec.volumes.map((volume) => ({
      Type: volume.type,
      Source: volume.source,
      Target: volume.target,
      ReadOnly: volume.readOnly,
    }));
  }
  const { hardening } = spec;
  if (hardening) {
    if (hardening.capDrop.length > 0) hostConfig.CapDrop = [...hardening.capDrop];
    if (hardening.capAdd.length > 0) hostConfig.CapAdd = [...hardening.capAdd];
    if (hardening.noNewPrivileges) hostConfig.SecurityOpt = ['no-new-privileges:true'];
    if (hardening.init) hostConfig.Init = true;
    if (hardening.pidsLimit !== null && !input.omitPidsLimit) hostConfig.PidsLimit = hardening.pidsLimit;
    if (Object.keys(hardening.tmpfs).length > 0) hostConfig.Tmpfs = { ...hardening.tmpfs };
  }
  Object.assign(hostConfig, spec.hostConfig);

  return {
    name: input.name,
    Image: spec.image,
    // The keep-alive command is the whole argv: an image's ENTRYPOINT would wrap (and may exit).
    Entrypoint: [],
    Cmd: [...spec.keepAliveCommand],
    Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
    ...(spec.user === undefined ? {} : { User: spec.user }),
    Labels: {
      ...input.labels,
      [DOCKER_LABEL.backend]: 'docker',
      [DOCKER_LABEL.workspaceRoot]: spec.workspaceRoot,
    },
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    HostConfig: hostConfig,
  };
}

/**
 * `berth-<profile>-<random>`: unique, recognisable in `docker ps`, and known before the create call
 * so a create that was aborted in flight can still be found and removed.
 */
export function containerName(
  labels: Readonly<Record<string, string>>,
  profile: string,
  random: string,
): string {
  const base = (labels['berth.pool'] ?? profile).replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40);
  return `berth-${base}-${random}`;
}
