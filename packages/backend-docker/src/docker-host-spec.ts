import type Dockerode from 'dockerode';

/** Types and defaults of the Docker host spec: what users write, and what `resolveHostSpec` returns. */

export type DockerPullPolicy = 'missing' | 'never' | 'always';

/** A bind mount (`source` is an absolute host path) or a named volume (`source` is a volume name). */
export interface DockerVolumeInput {
  readonly source: string;
  readonly target: string;
  readonly readOnly?: boolean;
}

/** Each knob of the default hardening; leave one out to keep its default. */
export interface DockerHardeningInput {
  /** Default `['ALL']`. */
  readonly capDrop?: readonly string[];
  /** Default `['CHOWN','DAC_OVERRIDE','FOWNER','FSETID','SETUID','SETGID','KILL']`. */
  readonly capAdd?: readonly string[];
  /** `no-new-privileges` security option. Default `true`. */
  readonly noNewPrivileges?: boolean;
  /** Run Docker's init (tini) as PID 1, reaping zombies and forwarding signals. Default `true`. */
  readonly init?: boolean;
  /** Maximum processes in the container; `null` for no limit. Default `1024`. */
  readonly pidsLimit?: number | null;
  /** tmpfs mounts (`path → mount options`); `null` for none. Default `{ '/tmp': 'size=256m' }`. */
  readonly tmpfs?: Readonly<Record<string, string>> | null;
}

/** A Docker profile's host spec as users write it. `resolveHostSpec` turns it into a `DockerHostSpec`. */
export interface DockerHostSpecInput {
  /** Image reference, e.g. `python:3.12-slim`. Required. */
  readonly image: string;
  readonly cpus?: number;
  readonly memoryMiB?: number;
  /** Root filesystem size limit (`--storage-opt size`); needs overlay2 on xfs+pquota, btrfs or zfs. */
  readonly diskMiB?: number;
  readonly env?: Readonly<Record<string, string>>;
  /** Names of variables copied from this process's environment when each host is created (not hashed). */
  readonly forwardEnv?: readonly string[];
  /** Mounts: objects, or Docker bind strings `source:target[:ro]`. */
  readonly volumes?: ReadonlyArray<DockerVolumeInput | string>;
  /** Docker network mode: `bridge` (Docker's default), `none`, `host`, or a network name. */
  readonly networkMode?: string;
  /** `user`, `uid`, or `uid:gid` to run the keep-alive process and every exec as. */
  readonly user?: string;
  /** Run as this process's `uid:gid` (files written to bind mounts stay yours). */
  readonly runAsHostUser?: boolean;
  /** Absolute directory under which core lays out `slot_0`, `slot_1`, …. Default `/data`. */
  readonly workspaceRoot?: string;
  /** The container's main process: must run forever. Default `['sleep', '2147483647']`. */
  readonly keepAliveCommand?: readonly string[];
  /** `true`/omitted: the hardened defaults; `false`: Docker's own defaults; an object overrides single knobs. */
  readonly hardening?: boolean | DockerHardeningInput;
  /** Extra Docker `HostConfig` fields, applied last (wins over everything above). */
  readonly hostConfig?: Readonly<Dockerode.HostConfig>;
  /** When to pull the image. Default `missing`. */
  readonly pull?: DockerPullPolicy;
}

export interface DockerVolume {
  readonly type: 'bind' | 'volume';
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

export interface DockerHardening {
  readonly capDrop: readonly string[];
  readonly capAdd: readonly string[];
  readonly noNewPrivileges: boolean;
  readonly init: boolean;
  readonly pidsLimit: number | null;
  readonly tmpfs: Readonly<Record<string, string>>;
}

/** The validated, normalised spec. Deterministic and JSON-serialisable: core hashes it into `berth.spec`. */
export interface DockerHostSpec {
  readonly image: string;
  readonly cpus?: number;
  readonly memoryMiB?: number;
  readonly diskMiB?: number;
  readonly env: Readonly<Record<string, string>>;
  readonly forwardEnv: readonly string[];
  readonly volumes: readonly DockerVolume[];
  readonly networkMode?: string;
  readonly user?: string;
  readonly workspaceRoot: string;
  readonly keepAliveCommand: readonly string[];
  readonly hardening: DockerHardening | null;
  readonly hostConfig: Readonly<Dockerode.HostConfig>;
  readonly pull: DockerPullPolicy;
}

export const DEFAULT_WORKSPACE_ROOT = '/data';
export const DEFAULT_KEEP_ALIVE_COMMAND: readonly string[] = ['sleep', '2147483647'];
export const DEFAULT_HARDENING: DockerHardening = {
  capDrop: ['ALL'],
  // What a root workspace needs to own, chmod and extract files, drop to another user, and signal its
  // own processes. Not included (Docker grants them by default): NET_RAW, MKNOD, SYS_CHROOT,
  // SETPCAP, SETFCAP, AUDIT_WRITE, NET_BIND_SERVICE.
  capAdd: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'SETUID', 'SETGID', 'KILL'],
  noNewPrivileges: true,
  init: true,
  pidsLimit: 1024,
  tmpfs: { '/tmp': 'size=256m' },
};
