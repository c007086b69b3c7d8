/**
 * Berth backend plugin specification, version 1.
 *
 * A backend supplies transport and lifecycle only: create / attach / list / remove hosts, and open
 * a byte channel to `sh` inside a host. Everything common (slot state, pooling, scaling, the shell
 * protocol, timeouts, output caps, leases, reaping, events) lives once in `@berth/core`.
 *
 * Rules every implementation follows:
 * - The factory is synchronous and does no I/O; connect lazily on first use.
 * - Every method that waits takes `signal` and rejects with `AbortedError` when it fires.
 * - `destroy()` and `disconnect()` are idempotent.
 * - Engine errors are mapped to `BerthError` codes in one place (`map-<engine>-error.ts`).
 * - Labels are set on the host when it is created and never change; mutable ownership state
 *   (leases) is kept by core inside the host, through the shell.
 */
import type { Readable, Writable } from 'node:stream';
import type { DrainMarkerStoreV1 } from './drain-marker-store.js';

export const BACKEND_SPECIFICATION_V1 = 'berth-backend-v1' as const;

/** Optional features. Core asks for them only when the flag is true. */
export interface BackendCapabilitiesV1 {
  /** `listHosts` + `attachHost` work, and labels survive the creating process (reuse, reaping). */
  readonly persistence: boolean;
  /** Hosts implement `putArchive` / `getArchive` (tar in, tar out). */
  readonly archive: boolean;
  /** Hosts implement `run` (one-shot exec of an argv, for hosts without `sh`). */
  readonly oneShotExec: boolean;
  /** Hosts call `onLost` listeners when the engine reports the host gone (push, not poll). */
  readonly hostLossEvents: boolean;
  /** Hosts can be stopped and started again (`HostDescriptorV1.state === 'stopped'` is adoptable). */
  readonly stopStart: boolean;
}

export interface WaitOptions {
  signal?: AbortSignal;
}

/** What core asks a backend to create. `spec` is the backend's own host spec for this profile. */
export interface CreateHostRequestV1<Spec> {
  readonly profile: string;
  readonly spec: Spec;
  /** Sanitised labels (`berth.managed`, `berth.pool`, …) the host must carry for its lifetime. */
  readonly labels: Readonly<Record<string, string>>;
  /** How many slot workspaces core will lay out under `workspaceRoot`. */
  readonly slotCount: number;
  /**
   * The pool's `hostLifetimeMs` (`Infinity`: none). Backends whose engine ends hosts after a
   * server-side lifetime (Modal) set it from this, as a backstop; others may ignore it.
   */
  readonly hostLifetimeMs?: number;
  /** Progress while the host comes up (image pull, placement); core re-emits it as `host:progress`. */
  readonly onProgress?: (progress: HostProgressV1) => void;
}

export interface HostProgressV1 {
  /** e.g. `pull`, `create`, `start`, `placement`. */
  readonly phase: string;
  readonly message: string;
  /** 0..1 when the engine reports it. */
  readonly fraction?: number;
}

export type HostStateV1 = 'running' | 'stopped' | 'starting' | 'unknown';

/** A host found by `listHosts`, not yet attached. */
export interface HostDescriptorV1 {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly state: HostStateV1;
  /** Epoch milliseconds. */
  readonly createdAtMs: number;
  /**
   * When a `stopped` host exited (epoch ms), if the engine says: the reaper ages exited hosts from
   * their exit (they were in use until then). Without it, from `createdAtMs`.
   */
  readonly exitedAtMs?: number;
}

/** Equality selector on labels: every key must match. */
export type LabelSelectorV1 = Readonly<Record<string, string>>;

/**
 * A duplex byte channel to a long-lived `sh` inside the host, with stdout and stderr apart.
 * `closed` resolves (never rejects) when the shell exits or the transport drops.
 */
export interface HostChannelV1 {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly closed: Promise<ChannelCloseInfoV1>;
  /** Tears the transport down; the remote shell gets EOF/hangup. Idempotent. */
  close(): void;
}

export interface ChannelCloseInfoV1 {
  /** Exit code of the remote shell when the engine reports it. */
  readonly exitCode?: number;
  /** Why the transport closed, when it was not a clean exit. */
  readonly error?: Error;
  /**
   * True when the transport dropped (a websocket closed, a connection reset) while the shell may
   * still be fine: core reopens a channel between commands instead of declaring the host lost.
   * Leave unset when the shell itself exited or was killed.
   */
  readonly transportDropped?: boolean;
}

/**
 * The identity a slot's commands and file operations run as under `isolation: 'user'`: its own uid
 * and gid, no supplementary groups. Absent: as the host's own user.
 */
export interface SlotUserV1 {
  readonly uid: number;
  readonly gid: number;
}

/** One command for `HostV1.openCommand`. */
export interface CommandRequestV1 {
  /** What to execute; core passes `['sh', '-c', command]` for shell strings. */
  readonly argv: readonly string[];
  /** Absolute working directory; one that does not exist fails the command (stderr, exit 1). */
  readonly cwd?: string;
  /** Added to the host's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Run as this uid/gid with no supplementary groups (`isolation: 'user'`). */
  readonly user?: SlotUserV1;
  /**
   * All of the command's stdin, when it is known before the command starts (core always passes
   * it, empty for none). A host may send it with the request and close the command's stdin; it
   * then returns a channel whose `stdin` is already ended (`writableEnded`), and core writes
   * nothing more. A host that ignores this field gets the bytes through `channel.stdin` as before.
   */
  readonly stdin?: Uint8Array;
}

/**
 * One running command. `closed` resolves with its exit code once it exited and its output is
 * drained; output its leftover children write later is never delivered. Closing `stdin` gives the
 * command EOF. `close()` stops reading and closes the command's pipes (it is not killed).
 */
export interface CommandChannelV1 extends HostChannelV1 {
  /** The process id inside the host; it leads its own session and process group. */
  readonly pid: number;
}

/** What `HostV1.cleanSlot` does: a slot's sweep, and its reset when `reset` is given. */
export interface SlotCleanRequestV1 {
  /** Kill every process whose environment holds `BERTH_LEASE=<leasePrefix>…`. */
  readonly leasePrefix: string;
  /** Also kill every process these uids own (`isolation: 'user'`). */
  readonly users?: readonly number[];
  /**
   * Empty `directory` (dotfiles included, symlinks never followed): renamed into `trash` and
   * recreated, the old tree deleted in the background; recreated 0700 and owned by `owner` if given.
   */
  readonly reset?: { readonly directory: string; readonly trash: string; readonly owner?: SlotUserV1 };
}

export interface SlotCleanResultV1 {
  /** Why earlier background deletes failed (files the slot's user could not remove). */
  readonly warnings: readonly string[];
}

export interface OneShotRunOptionsV1 extends WaitOptions {
  stdin?: Uint8Array;
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  /** Stop reading output beyond this many bytes per stream (the process keeps running). */
  maxOutputBytes?: number;
}

export interface OneShotResultV1 {
  readonly exitCode: number;
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  readonly truncated: boolean;
}

export interface HostHealthV1 {
  readonly alive: boolean;
  /** Why the host is not alive (exited, removed, allocation lost…). */
  readonly reason?: string;
}

export interface DestroyOptionsV1 extends WaitOptions {
  /** Kill without waiting for a graceful stop. */
  force: boolean;
}

/** One host: a container, a Nomad allocation, an SSH connection, a Modal sandbox, a directory. */
export interface HostV1 {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Absolute path inside the host under which core lays out `slot_0`, `slot_1`, … */
  readonly workspaceRoot: string;

  /** Opens a new channel to `sh` (a POSIX shell reading commands from stdin). */
  openChannel(options?: WaitOptions): Promise<HostChannelV1>;
  /**
   * Runs one command through the host's in-host runtime (berth-agent): in a new session, with its
   * own pipes, so nothing a command does to itself reaches the slot, and a background child's late
   * output reaches no later command. Core prefers it to the shell protocol when present; throwing
   * `CapabilityUnsupportedError` (the runtime cannot run here) makes core use the shell for this host.
   */
  openCommand?(request: CommandRequestV1, options?: WaitOptions): Promise<CommandChannelV1>;
  /**
   * Replaces the file at `path` (absolute) with `data` through the in-host runtime, creating parent
   * directories; a symlink at `path` is replaced, not followed. `CapabilityUnsupportedError` when
   * the host has no runtime to do it (core then uses the archive API or the shell).
   */
  writeFile?(
    path: string,
    data: Uint8Array,
    options: WaitOptions & { mode: number; user?: SlotUserV1 },
  ): Promise<void>;
  /**
   * The bytes of the regular file at `path` through the in-host runtime; `NotFoundError` when none.
   * With `user`, both run with that user's file permissions (a sibling's files stay out of reach).
   */
  readFile?(path: string, options?: WaitOptions & { user?: SlotUserV1 }): Promise<Uint8Array>;
  /**
   * A slot's release through the in-host runtime, in one request and no process: kills its leases'
   * processes and resets its workspace (see `SlotCleanRequestV1`). `CapabilityUnsupportedError`:
   * core does it through a control shell.
   */
  cleanSlot?(request: SlotCleanRequestV1, options?: WaitOptions): Promise<SlotCleanResultV1>;
  /** One-shot exec of an argv without a shell. Present when `capabilities.oneShotExec`. */
  run?(argv: readonly string[], options?: OneShotRunOptionsV1): Promise<OneShotResultV1>;
  /**
   * Extracts a tar stream into `directory` (which exists). Present when `capabilities.archive`.
   * With `user` (`isolation: 'user'`) only through an in-host runtime that extracts with that
   * user's permissions and never through a symlink; `CapabilityUnsupportedError` otherwise (an
   * engine's archive API extracts as root), and core uses the slot's shell instead.
   */
  putArchive?(directory: string, tar: Readable, options?: WaitOptions & { user?: SlotUserV1 }): Promise<void>;
  /** A tar stream of `path` (file or directory). Present when `capabilities.archive`; `user` as above. */
  getArchive?(path: string, options?: WaitOptions & { user?: SlotUserV1 }): Promise<Readable>;

  /** Asks the engine whether the host is still there and running. */
  health(options?: WaitOptions): Promise<HostHealthV1>;
  /** Registers a listener the backend calls once when the engine reports the host gone. */
  onLost?(listener: (reason: string) => void): () => void;
  /**
   * Registers a listener the backend calls once when the host should take no new work although it
   * is not lost (yet): its machine drains, or stopped answering and may be lost soon. The pool
   * hands out none of its free slots, stops counting it toward `maxHosts`, starts a replacement,
   * lets leased slots finish, and removes the host once none is leased (or when it is lost).
   */
  onRetire?(listener: (reason: string) => void): () => void;
  /** Releases client-side resources only; the host keeps running (persistence). Idempotent. */
  disconnect(): Promise<void>;
  /** Stops and removes the host. Idempotent; resolves when it is gone. */
  destroy(options: DestroyOptionsV1): Promise<void>;
}

/** What `userIsolationUnsupported` knows of the profile asking. */
export interface UserIsolationProfileV1 {
  /** The profile's `maxHosts` (`Infinity`: no cap). */
  readonly maxHosts: number;
}

export interface BackendV1<Spec = unknown> {
  readonly specificationVersion: typeof BACKEND_SPECIFICATION_V1;
  /** Short stable id: `local`, `docker`, `nomad`, … */
  readonly backendId: string;
  readonly capabilities: BackendCapabilitiesV1;

  /**
   * Validates and normalises a profile's host spec, synchronously and without I/O. Throws
   * `InvalidOptionsError` naming the field. The result is what core hashes into `berth.spec`.
   */
  resolveHostSpec(input: unknown, path: string): Spec;
  /** Creates and starts a host, removing any half-made one if creation fails. */
  createHost(request: CreateHostRequestV1<Spec>, options?: WaitOptions): Promise<HostV1>;
  /** Hosts carrying all the selector's labels. Present when `capabilities.persistence`. */
  listHosts?(selector: LabelSelectorV1, options?: WaitOptions): Promise<HostDescriptorV1[]>;
  /** Connects to a listed host, starting it if it is stopped. Present when `capabilities.persistence`. */
  attachHost?(descriptor: HostDescriptorV1, options?: WaitOptions): Promise<HostV1>;
  /** Removes a listed host without attaching. Present when `capabilities.persistence`. Idempotent. */
  removeHost?(descriptor: HostDescriptorV1, options?: WaitOptions): Promise<void>;
  /**
   * Whether hosts of `spec` can run each slot as its own user (`isolation: 'user'`): `undefined`
   * when they can, else the reason (shown in a `CapabilityUnsupportedError` at `createPool`).
   * Absent: they cannot. Hosts must let root switch users and own files (CAP_SETUID, CAP_SETGID,
   * CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL). Slot *i* of every host runs as the same uid
   * (`slotUser`), so a backend whose hosts share one kernel uid space *and* process view (a machine,
   * not a container) refuses `profile.maxHosts > 1`.
   */
  userIsolationUnsupported?(spec: Spec, profile?: UserIsolationProfileV1): string | undefined;
  /**
   * A drain-marker store in the engine's shared state (Nomad Variables), so every machine running
   * the pool sees `berth drain`. Core uses it beside its own file store. Synchronous, no I/O.
   */
  drainMarkerStore?(): DrainMarkerStoreV1;
  /** Releases the backend's client resources (sockets, agents). Idempotent. */
  dispose?(): Promise<void>;
}
