import { randomBytes } from 'node:crypto';
import type { ChannelCloseInfoV1, SlotUserV1 } from '../backend/v1/types.js';
import type { ManagedHost } from '../host/managed-host.js';
import type { ShellSession } from '../shell/shell-session.js';
import { assertTransition, type SlotState } from './slot-states.js';

/** One workspace on a host: its state, the current lease token and its long-lived shell. */
export class SlotRecord {
  state: SlotState = 'available';
  /** Identity of the current lease; a handle whose token differs is stale (fencing). */
  token: object | undefined;
  trajectoryId: string | undefined;
  /** Pid of the slot's shell (its process group), for the release sweep; 0 when none is open. */
  shellPid = 0;
  /** Something ran in the slot since it was last cleaned: release must sweep (and maybe reset). */
  dirty = false;
  /**
   * `BERTH_LEASE` of every process this lease starts: `<host tag>.<slot index>.<lease nonce>`. The
   * prefix up to the slot index finds every process the slot ever started, whatever its session.
   */
  leaseMarker = '';
  /** A cut-off command's processes could not be swept yet: do it before the next command. */
  pendingSweep = false;
  private session: Promise<ShellSession> | undefined;

  constructor(
    readonly host: ManagedHost,
    readonly index: number,
    readonly workspace: string,
    private readonly onState: (slot: SlotRecord, from: SlotState, to: SlotState) => void,
    /** `isolation: 'user'`: the uid/gid every command and file operation of this slot runs as. */
    readonly user?: SlotUserV1,
  ) {}

  get id(): string {
    return `${this.host.id}/slot_${this.index}`;
  }

  /** The marker prefix shared by every lease of this slot. */
  get markerPrefix(): string {
    return `${this.host.leaseTag}.${this.index}.`;
  }

  /** Starts a lease: a fresh marker for the processes it will start. */
  beginLease(): void {
    this.leaseMarker = `${this.markerPrefix}${randomBytes(6).toString('hex')}`;
  }

  moveTo(to: SlotState): void {
    const from = this.state;
    if (from === 'error' && to === 'error') return;
    assertTransition(this.id, from, to);
    this.state = to;
    this.onState(this, from, to);
  }

  /** The slot's shell, opened on first use and reopened after a dropped transport. */
  sessionFor(signal?: AbortSignal): Promise<ShellSession> {
    if (!this.session) {
      const opening = this.host.openSession(signal);
      this.session = opening;
      opening.then(
        (session) => {
          this.shellPid = session.shellPid;
          session.onClose((info) => {
            if (this.session === opening) this.session = undefined;
            this.shellPid = 0;
            // The shell died under us (killed by a command, OOM) or its transport dropped: a slot
            // event. The host is lost only if the engine says so (docs/lessons.md #19).
            if (!session.closedByUs)
              this.host.verifyAlive(`the shell of slot_${this.index} ${describeClose(info)}`);
          });
        },
        () => {
          if (this.session === opening) this.session = undefined;
        },
      );
    }
    return this.session;
  }

  /** Closes the shell deliberately (not a loss); the next use opens a new one. */
  closeSession(): void {
    const session = this.session;
    this.session = undefined;
    this.shellPid = 0;
    void session?.then(
      (opened) => opened.close(),
      () => undefined,
    );
  }
}

export function describeClose(info: ChannelCloseInfoV1): string {
  if (info.transportDropped) return `lost its connection${info.error ? ` (${info.error.message})` : ''}`;
  return `exited${info.exitCode === undefined ? '' : ` with code ${info.exitCode}`}${info.error ? ` (${info.error.message})` : ''}`;
}
