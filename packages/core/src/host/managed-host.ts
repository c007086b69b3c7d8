import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path/posix';
import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import type { HostV1 } from '../backend/v1/types.js';
import { BerthError, HostLostError, InternalError } from '../errors/index.js';
import { emptyDirectoryScript, shellQuote, TRASH_WARNING } from '../shell/shell-script.js';
import { ShellSession } from '../shell/shell-session.js';
import { SlotRecord } from '../slot/slot-record.js';
import type { SlotState } from '../slot/slot-states.js';
import { raceAbort } from '../waits/race-abort.js';
import { cleanThroughRuntime } from './clean-through-runtime.js';
import { type ControlResult, ControlShells } from './control-shells.js';
import { noSwitch, runAsSlotUser } from './run-as-slot-user.js';
import {
  CAN_SWITCH_USER_SCRIPT,
  KILL_ALL_OF_USER,
  ownWorkspaceScript,
  type SlotIsolation,
  slotUser,
} from './slot-users.js';

export interface ManagedHostOptions {
  shellStartTimeoutMs: number;
  /** Bound on any one control operation (kill, sweep, reset, lease). */
  controlTimeoutMs: number;
  onSlotState(slot: SlotRecord, from: SlotState, to: SlotState): void;
  onLost(host: ManagedHost, reason: string): void;
  /** The backend says the host should take no new work (`HostV1.onRetire`). */
  onRetire?(host: ManagedHost, reason: string): void;
  /** Something the user should know that costs no slot (re-emitted as `host:error`). */
  onWarning(error: Error): void;
  /** `user`: each slot its own uid and a 0700 workspace (`slot-users.ts`). Default `directory`. */
  isolation?: SlotIsolation;
}

export type { ControlResult };

/** Enough parallel control shells that releasing a host's slots at once does not queue much. */
const MAX_CONTROL_SHELLS = 4;

export type HostStatus = 'ready' | 'lost' | 'removing';

/**
 * Core's view of one backend host: its slots, one lazily opened shell per slot, and control
 * shells for everything that must not wait behind a running command (kill, sweep, reset, leases).
 */
export class ManagedHost {
  readonly slots: SlotRecord[];
  status: HostStatus = 'ready';
  lostReason: string | undefined;
  idleSinceMs = Date.now();
  readonly createdAtMs: number;
  /**
   * Names this host in lease markers (`BERTH_LEASE=<tag>.<slot>.<lease>`): stable across processes,
   * so an adopter finds what a dead owner's leases left running.
   */
  readonly leaseTag: string;
  /**
   * How commands run: `direct` through the backend's `openCommand` (the in-host runtime), `shell`
   * through each slot's shell (no runtime, or it said it cannot run here); `unknown` until tried.
   */
  commandRuntime: 'unknown' | 'direct' | 'shell' = 'unknown';
  /** A root shell here can drop a child to a slot's user (`setpriv`); probed by `prepare`. */
  canSwitchUser = false;
  private readonly control: ControlShells;
  private healthProbe: Promise<boolean> | undefined;
  private hasShell = true;
  private readonly unsubscribeLost: (() => void) | undefined;
  private readonly unsubscribeRetire: (() => void) | undefined;
  /** Why the backend retired this host (no new leases; removed once idle), if it did. */
  retiredReason: string | undefined;

  constructor(
    readonly backendHost: HostV1,
    readonly profile: string,
    slotCount: number,
    private readonly options: ManagedHostOptions,
    readonly adopted = false,
  ) {
    this.createdAtMs = Number(backendHost.labels['berth.created']) || Date.now();
    this.leaseTag = createHash('sha256').update(backendHost.id).digest('hex').slice(0, 12);
    this.slots = Array.from({ length: slotCount }, (_, index) => {
      const workspace = path.join(backendHost.workspaceRoot, `slot_${index}`);
      const user = options.isolation === 'user' ? slotUser(index) : undefined;
      return new SlotRecord(this, index, workspace, options.onSlotState, user);
    });
    this.control = new ControlShells({
      hostId: backendHost.id,
      open: (signal) => this.openSession(signal),
      timeoutMs: options.controlTimeoutMs,
      maxShells: Math.min(MAX_CONTROL_SHELLS, Math.max(1, slotCount)),
      assertUsable: () => {
        if (this.status === 'lost') throw new HostLostError(this.id, this.lostReason ?? 'lost');
      },
      onShellExited: (exitCode) =>
        this.verifyAlive(`its control shell exited${exitCode === undefined ? '' : ` with code ${exitCode}`}`),
    });
    this.unsubscribeLost = backendHost.onLost?.((reason) => this.markLost(reason));
    this.unsubscribeRetire = backendHost.onRetire?.((reason) => {
      if (this.status !== 'ready' || this.retiredReason !== undefined) return;
      this.retiredReason = reason;
      this.options.onRetire?.(this, reason);
    });
  }

  get id(): string {
    return this.backendHost.id;
  }

  get shellAvailable(): boolean {
    return this.hasShell;
  }

  get stateDirectory(): string {
    return path.join(this.backendHost.workspaceRoot, '.berth');
  }

  /** Slots currently leased (acquired, executing or releasing). */
  get leasedCount(): number {
    return this.slots.filter((slot) => slot.state !== 'available' && slot.state !== 'error').length;
  }

  /** A slot is quarantined in `error`: the host takes no new lease and is replaced once idle. */
  get hasErrorSlot(): boolean {
    return this.slots.some((slot) => slot.state === 'error');
  }

  /** Lays out the workspace: `<root>/slot_N` and core's own `<root>/.berth/tmp`. */
  async prepare(signal?: AbortSignal): Promise<void> {
    const directories = [path.join(this.stateDirectory, 'tmp'), ...this.slots.map((slot) => slot.workspace)];
    try {
      // Trash a previous life of this host left half-deleted goes too, in the background (never
      // through a symlinked state directory).
      const state = shellQuote(this.stateDirectory);
      const trash = shellQuote(path.join(this.stateDirectory, 'trash'));
      const result = await this.runControl(
        `mkdir -p ${directories.map((dir) => shellQuote(dir)).join(' ')} && ` +
          `{ [ -L ${state} ] || { chmod -R u+rwX ${trash}; rm -rf ${trash}; } </dev/null >/dev/null 2>&1 & }`,
        signal,
      );
      if (result.exitCode !== 0) {
        throw new InternalError(
          `Could not create slot workspaces on host ${this.id}: ${result.stderr.trim()}`,
        );
      }
      if (this.options.isolation === 'user') await this.prepareSlotUsers(signal);
    } catch (error) {
      const run = this.backendHost.run;
      // Without a shell nothing could switch users or sweep them: no silent loss of isolation.
      if (!BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED') || !run || this.options.isolation === 'user')
        throw error;
      // No shell in this host: one-shot exec mode. Lay out the workspaces with a one-shot mkdir.
      this.hasShell = false;
      const made = await run
        .call(this.backendHost, ['mkdir', '-p', ...directories], { signal })
        .catch(() => undefined);
      if (made?.exitCode !== 0 && this.backendHost.putArchive) {
        // Not even `mkdir` on PATH (e.g. only a static busybox): create them through the archive API.
        const names = new Set<string>();
        for (const dir of directories) {
          for (let at = dir; at !== '/' && at !== '.'; at = path.dirname(at))
            names.add(`${path.relative('/', at)}/`);
        }
        const pack = tarStream.pack();
        for (const name of [...names].sort()) pack.entry({ name, type: 'directory', mode: 0o755 });
        pack.finalize();
        await this.backendHost
          .putArchive('/', pack as unknown as Readable, { signal })
          .catch(() => undefined);
      }
    }
  }

  /**
   * `isolation: 'user'`: every workspace owned by its slot's user, mode 0700, and proof that a
   * slot's user can work in it (a parent directory closed to other users fails here, not later).
   */
  private async prepareSlotUsers(signal?: AbortSignal): Promise<void> {
    const root = shellQuote(this.backendHost.workspaceRoot);
    const owned = this.slots.map((slot) => ownWorkspaceScript(slot.workspace, slot.user!));
    const result = await this.runControl(`chmod 0711 ${root} && ${owned.join(' && ')}`, signal);
    if (result.exitCode !== 0) {
      throw new InternalError(
        `Could not give the slot workspaces of host ${this.id} to their users: ${result.stderr.trim()}`,
      );
    }
    this.canSwitchUser = (await this.runControl(CAN_SWITCH_USER_SCRIPT, signal)).exitCode === 0;
    if (!this.backendHost.openCommand && !this.canSwitchUser) throw noSwitch(this.id);
    const [first] = this.slots;
    const probe = await runAsSlotUser(
      this,
      first!.user!,
      `cd ${shellQuote(first!.workspace)} && : > .berth-probe && rm .berth-probe`,
      signal,
    );
    if (probe.exitCode !== 0) {
      throw new InternalError(
        `The user of slot_0 on host ${this.id} cannot work in its workspace ${first!.workspace}: ` +
          `${probe.stderr.trim() || `exit ${probe.exitCode}`}. Every directory above the workspaces must be searchable by other users (o+x).`,
      );
    }
  }

  /** Runs `body` in the control shell, serialised, bounded by `controlTimeoutMs`. */
  runControl(body: string, signal?: AbortSignal): Promise<ControlResult> {
    if (this.status === 'lost') return Promise.reject(new HostLostError(this.id, this.lostReason ?? 'lost'));
    return this.control.run(body, signal);
  }

  /** Opens a shell session on the host, mapping transport failures to host loss. */
  async openSession(signal?: AbortSignal): Promise<ShellSession> {
    // Honoured here even when a backend's open does not: a channel that arrives too late is closed.
    const opening = this.backendHost.openChannel({ signal });
    const channel = await raceAbort(opening, signal, 'Opening a shell').catch((error: unknown) => {
      opening.then(
        (late) => late.close(),
        () => undefined,
      );
      throw error;
    });
    return ShellSession.start(channel, { startTimeoutMs: this.options.shellStartTimeoutMs, signal });
  }

  /** Sends `signal` to the process tree rooted at `pid` (the command's subshell). */
  async killTree(pid: number, signal: 'TERM' | 'KILL'): Promise<void> {
    await this.runControl(`__berth_kill ${signal} ${Math.trunc(pid)}`);
  }

  /**
   * Asks the engine whether the host is still there after one of its shells died; marks it lost
   * only when the engine says so (a shell a command killed is a slot event). One probe at a time.
   */
  verifyAlive(reason: string): Promise<boolean> {
    if (this.status !== 'ready') return Promise.resolve(false);
    this.healthProbe ??= (async () => {
      const health = await this.backendHost
        .health({ signal: AbortSignal.timeout(this.options.controlTimeoutMs) })
        .catch((error: unknown) => ({ alive: false, reason: `health check failed: ${String(error)}` }));
      this.healthProbe = undefined;
      if (health.alive) return true;
      this.markLost(`${reason}, and ${health.reason ?? 'the engine reports it gone'}`);
      return false;
    })();
    return this.healthProbe;
  }

  /** Kills every process a slot's leases started: its commands' sessions, and escapees by marker. */
  async sweepSlot(slot: SlotRecord): Promise<void> {
    if (!this.hasShell) return;
    if (await this.cleanViaRuntime(slot, false)) return;
    await this.killSlotUser(slot);
    await this.runControl(this.sweepScript(slot));
  }

  /** `cleanSlot` in one runtime request (berth-agent), when the host has one; false otherwise. */
  private async cleanViaRuntime(slot: SlotRecord, reset: boolean): Promise<boolean> {
    const warnings = await cleanThroughRuntime(
      this,
      {
        leasePrefix: slot.markerPrefix,
        ...(slot.user ? { users: [slot.user.uid] } : {}),
        ...(reset
          ? {
              reset: {
                directory: slot.workspace,
                trash: path.join(this.stateDirectory, 'trash'),
                ...(slot.user ? { owner: slot.user } : {}),
              },
            }
          : {}),
      },
      slot.shellPid > 1,
      AbortSignal.timeout(this.options.controlTimeoutMs),
    );
    if (warnings === undefined) return false;
    slot.pendingSweep = false;
    for (const warning of warnings) this.warnUndeletable(warning);
    return true;
  }

  /** `isolation: 'user'`: every process the slot's uid owns, found without reading environments. */
  private async killSlotUser(slot: SlotRecord, signal?: AbortSignal): Promise<void> {
    if (!slot.user) return;
    const bound = signal ?? AbortSignal.timeout(this.options.controlTimeoutMs);
    const result = await runAsSlotUser(this, slot.user, KILL_ALL_OF_USER, bound);
    if (result.exitCode !== 0) {
      throw new InternalError(`Could not stop the processes of ${slot.id}: ${result.stderr.trim()}`);
    }
  }

  private sweepScript(slot: SlotRecord): string {
    const steps = [`__berth_lease_kill ${slot.markerPrefix}`];
    if (slot.shellPid > 1) steps.push(`__berth_sweep ${Math.trunc(slot.shellPid)}`);
    return steps.join('\n');
  }

  /**
   * Cleans a slot for its next lease in one control round trip: kills every process its commands
   * started (whatever session they moved to), and empties the workspace if asked.
   */
  async cleanSlot(slot: SlotRecord, reset: boolean): Promise<void> {
    if (!this.hasShell) return;
    if (await this.cleanViaRuntime(slot, reset)) return;
    await this.killSlotUser(slot);
    const steps = [this.sweepScript(slot)];
    if (reset) steps.push(emptyDirectoryScript(slot.workspace, this.stateDirectory, this.trashNameFor(slot)));
    if (reset && slot.user) steps.push(ownWorkspaceScript(slot.workspace, slot.user));
    const result = await this.runControl(steps.join('\n'));
    slot.pendingSweep = false;
    if (result.exitCode !== 0) {
      throw new InternalError(
        `Could not clean ${slot.id}: ${result.stderr.trim() || `exit ${result.exitCode}`}`,
      );
    }
    for (const line of result.stderr.split('\n')) {
      if (line.startsWith(TRASH_WARNING)) this.warnUndeletable(line.slice(TRASH_WARNING.length).trim());
    }
  }

  /** The slot is clean; an earlier lease left files its user cannot delete, filling the disk. */
  private warnUndeletable(reason: string): void {
    this.options.onWarning(
      new InternalError(
        `Host ${this.id}: ${TRASH_WARNING.slice('berth: '.length)} ${reason}. Files a slot's user cannot delete (owned by ` +
          `another user, immutable) stay in ${path.join(this.stateDirectory, 'trash')}; fix their ownership ` +
          'or recreate the host.',
      ),
    );
  }

  /** Kills every process any lease of this host started, in this process or an earlier one. */
  async sweepAllLeases(signal?: AbortSignal): Promise<void> {
    if (!this.hasShell) return;
    const users = this.slots.flatMap((slot) => (slot.user ? [slot.user.uid] : []));
    const shellsOpen = this.slots.some((slot) => slot.shellPid > 1);
    const bound = signal ?? AbortSignal.timeout(this.options.controlTimeoutMs);
    const request = { leasePrefix: `${this.leaseTag}.`, ...(users.length > 0 ? { users } : {}) };
    if ((await cleanThroughRuntime(this, request, shellsOpen, bound)) !== undefined) return;
    for (const slot of this.slots) await this.killSlotUser(slot, signal);
    await this.runControl(`__berth_lease_kill ${this.leaseTag}.`, signal);
  }

  /**
   * Before the first lease of a host adopted from another process (which may have died mid-command):
   * kill everything its leases left running, then empty every workspace (docs/lessons.md #21).
   */
  async scrubForAdoption(signal?: AbortSignal): Promise<void> {
    if (!this.hasShell) return;
    await this.sweepAllLeases(signal);
    for (const slot of this.slots) await this.cleanSlot(slot, true);
  }

  /** The name a slot's old workspace gets in the trash while it is deleted: unique per reset. */
  private trashNameFor(slot: SlotRecord): string {
    return `slot_${slot.index}.${Date.now()}.${randomBytes(4).toString('hex')}`;
  }

  /** Marks the host lost once: slots go to `error`, sessions close, the pool is told. */
  markLost(reason: string): void {
    if (this.status !== 'ready') return;
    this.status = 'lost';
    this.lostReason = reason;
    for (const slot of this.slots) {
      slot.closeSession();
      slot.moveTo('error');
    }
    this.closeControl();
    this.options.onLost(this, reason);
  }

  /** Closes every shell this host holds; used before disconnect or destroy. */
  closeSessions(): void {
    for (const slot of this.slots) slot.closeSession();
    this.closeControl();
  }

  private closeControl(): void {
    this.control.close();
  }

  dispose(): void {
    this.unsubscribeLost?.();
    this.unsubscribeRetire?.();
  }
}
