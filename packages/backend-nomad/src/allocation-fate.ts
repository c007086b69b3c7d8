import { BerthError } from '@berth/core';
import { TASK_NAME } from './build-nomad-job.js';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadAllocationListStub, NomadNodeListStub } from './client/nomad-types.js';
import type { ClusterWatch } from './cluster-watch.js';

/** Why an allocation no longer counts as a live host, or undefined while it does. */
export function allocationLossReason(allocation: NomadAllocationListStub): string | undefined {
  const task = allocation.TaskStates?.[TASK_NAME];
  const id = allocation.ID.slice(0, 8);
  if (allocation.DesiredStatus !== 'run') {
    const why = allocation.DesiredDescription ? ` (${allocation.DesiredDescription})` : '';
    return `Nomad wants allocation ${id} to ${allocation.DesiredStatus}${why}`;
  }
  if (['complete', 'failed', 'lost'].includes(allocation.ClientStatus)) {
    const why = allocation.ClientDescription ? ` (${allocation.ClientDescription})` : '';
    return `allocation ${id} is ${allocation.ClientStatus}${why}`;
  }
  if (task?.State === 'dead') return `the host task of allocation ${id} is dead`;
  return undefined;
}

export interface AllocationFateInit {
  readonly client: NomadClient;
  readonly clusterWatch: ClusterWatch;
  /** The host's pool's job ID prefix: the one allocation query it shares (`poolJobPrefix`). */
  readonly jobPrefix: string;
  readonly allocationId: string;
  readonly nodeId: string;
  /** Called once when the host is lost. */
  readonly onLost?: () => void;
  /** Pauses before each confirming probe of an unreachable node (tests shorten them). */
  readonly unreachableConfirmDelaysMs?: readonly number[];
}

/**
 * What becomes of one host's allocation, from the backend's one cluster watch: retired (its node
 * drains, is down or disconnected, or cannot be reached: no new work) and lost (Nomad stopped or
 * lost the allocation, or a drain's deadline is near). Each listener hears each at most once.
 */
export class AllocationFate {
  private readonly listeners = new Set<(reason: string) => void>();
  private readonly retireListeners = new Set<(reason: string) => void>();
  private lostBecause: string | undefined;
  private retiredBecause: string | undefined;
  private draining: string | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private nodeName: string | undefined;
  private unwatch: (() => void) | undefined;
  private stopped = false;
  private unreachableCheck: Promise<string | undefined> | undefined;
  /** The node's ModifyIndex whose drain strategy was last read, and a count of reads started. */
  private drainReadAt: number | undefined;
  private drainReads = 0;

  constructor(private readonly init: AllocationFateInit) {}

  get lostReason(): string | undefined {
    return this.lostBecause;
  }

  get retireReason(): string | undefined {
    return this.retiredBecause;
  }

  /** For good (the host is destroyed): no watch, no listener hears anything more. */
  end(): void {
    this.stopped = true;
    this.stopWatch();
    this.listeners.clear();
    this.retireListeners.clear();
  }

  /**
   * Calls `listener` once when Nomad reports the allocation gone (stopped, failed, lost, job
   * deregistered). The backend's one cluster watch runs only while some host is watched, so an
   * unwatched host never keeps the process alive.
   */
  onLost(listener: (reason: string) => void): () => void {
    if (this.lostReason !== undefined) {
      const reason = this.lostReason;
      queueMicrotask(() => listener(reason));
      return () => undefined;
    }
    this.listeners.add(listener);
    this.ensureWatching();
    return () => {
      this.listeners.delete(listener);
      this.stopWatchIfUnwatched();
    };
  }

  /**
   * Calls `listener` once when the host should take no new work: its node drains, is down or
   * disconnected, or stopped answering. Running commands go on until they end, the drain deadline
   * nears (then the host is lost, naming the drain) or Nomad declares the allocation lost.
   */
  onRetire(listener: (reason: string) => void): () => void {
    if (this.retireReason !== undefined) {
      const reason = this.retireReason;
      queueMicrotask(() => listener(reason));
      return () => undefined;
    }
    this.retireListeners.add(listener);
    this.ensureWatching();
    return () => {
      this.retireListeners.delete(listener);
      this.stopWatchIfUnwatched();
    };
  }

  private ensureWatching(): void {
    if (this.unwatch || this.stopped || this.lostReason !== undefined) return;
    this.unwatch = this.init.clusterWatch.add({
      jobPrefix: this.init.jobPrefix,
      allocationId: this.init.allocationId,
      nodeId: this.init.nodeId,
      allocation: (stub) => this.onAllocation(stub),
      node: (stub) => this.onNode(stub),
    });
  }

  private stopWatchIfUnwatched(): void {
    if (this.listeners.size === 0 && this.retireListeners.size === 0) this.stopWatch();
  }

  /** Stops watching (the listeners stay, for a later watch). */
  stopWatch(): void {
    this.unwatch?.();
    this.unwatch = undefined;
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
  }

  private onAllocation(stub: NomadAllocationListStub | undefined): void {
    if (stub === undefined) {
      // Not listed any more: confirm with a direct read before calling it gone.
      void this.init.client
        .readAllocation(this.init.allocationId, { signal: AbortSignal.timeout(10_000) })
        .then(({ value }) => {
          const reason = allocationLossReason(value);
          if (reason) this.markLost(this.withDrain(reason));
        })
        .catch((error: unknown) => {
          if (BerthError.hasCode(error, 'NOT_FOUND'))
            this.markLost(`allocation ${this.init.allocationId.slice(0, 8)} no longer exists in Nomad`);
        });
      return;
    }
    const reason = allocationLossReason(stub);
    if (reason) this.markLost(this.withDrain(reason));
    else if (stub.DesiredTransition?.Migrate)
      this.retire(`Nomad is migrating allocation ${stub.ID.slice(0, 8)} off its node`);
  }

  private onNode(node: NomadNodeListStub | undefined): void {
    if (!node) return;
    this.nodeName = node.Name;
    if (node.Status === 'down' || node.Status === 'disconnected') {
      this.retire(`its node ${node.Name} is ${node.Status}`);
    } else if (node.Drain) {
      if (!this.draining) {
        this.draining = `its node ${node.Name} is draining`;
        this.retire(this.draining);
      }
      // Each change of the node may be a new drain strategy (`-force`, a shorter `-deadline`).
      if (node.ModifyIndex === this.drainReadAt) return;
      this.drainReadAt = node.ModifyIndex;
      void this.scheduleDrainDeadline(node.ID, node.Name);
    } else if (this.draining) {
      // Drain cancelled (`-disable`): the node may take new hosts; this one stays retired.
      this.draining = undefined;
      this.drainReadAt = undefined;
      this.drainReads += 1;
      clearTimeout(this.drainTimer);
      this.drainTimer = undefined;
    }
  }

  /**
   * Just before the drain deadline the host is lost (its leases fail naming the drain) and the pool
   * removes it, so Nomad never migrates it: the pool's replacement is the only new placement.
   */
  private async scheduleDrainDeadline(nodeId: string, nodeName: string): Promise<void> {
    const read = ++this.drainReads;
    const node = await this.readDrainingNode(nodeId);
    // A later node change started a newer read (or the drain ended): that one decides.
    if (read !== this.drainReads || !this.draining || this.lostReason !== undefined || this.stopped) return;
    if (node === undefined) return; // unreadable: the next node change tries again
    const strategy = node.DrainStrategy;
    const deadline = Date.parse(strategy?.ForceDeadline ?? '');
    const forced = strategy?.Deadline !== undefined && strategy.Deadline < 0;
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    if (!forced && (!Number.isFinite(deadline) || deadline <= 0)) return; // no deadline: Nomad waits for us
    // Well before the deadline on our clock (it may lag the servers'; giving up is a stop and a
    // purge that take time too): never after, when Nomad would migrate the allocation itself.
    const drainMs = (strategy?.Deadline ?? 0) / 1e6;
    const marginMs = Math.max(DRAIN_DEADLINE_MARGIN_MS, drainMs * DRAIN_DEADLINE_MARGIN_FRACTION);
    const at = forced ? Date.now() : deadline - marginMs;
    const reason = `its node ${nodeName} is draining and the drain deadline (${forced ? 'forced' : new Date(deadline).toISOString()}) came before the lease ended`;
    this.drainTimer = setTimeout(() => this.markLost(reason), Math.max(0, at - Date.now()));
    this.drainTimer.unref?.();
  }

  /** The node with its drain strategy; retried, since a missed read would mean no deadline at all. */
  private async readDrainingNode(nodeId: string) {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.init.client.readNode(nodeId, { signal: AbortSignal.timeout(10_000) })).value;
      } catch {
        if (attempt >= DRAIN_READ_ATTEMPTS || this.stopped || !this.draining) return undefined;
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }

  private withDrain(reason: string): string {
    return this.draining ? `${reason}; ${this.draining}` : reason;
  }

  private retire(reason: string): void {
    if (this.retireReason !== undefined || this.lostReason !== undefined) return;
    this.retiredBecause = reason;
    for (const listener of [...this.retireListeners]) {
      try {
        listener(reason);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  /**
   * After a shell's connection dropped while Nomad still wants the allocation: is its node
   * reachable? The server answers `No path to node` at once when the client's connection is gone —
   * but also, for every node at once, for a few seconds while a server restarts, a leader changes
   * or clients reconnect their RPC. A retirement is for good, so one answer is not enough: the host
   * is retired only when the probes `UNREACHABLE_CONFIRM_DELAYS_MS` later still say so and the
   * cluster has a leader. (A node Nomad itself marks down or disconnected is retired by the watch.)
   */
  nodeUnreachableReason(): Promise<string | undefined> {
    this.unreachableCheck ??= this.confirmUnreachable().finally(() => {
      this.unreachableCheck = undefined;
    });
    return this.unreachableCheck;
  }

  private async confirmUnreachable(): Promise<string | undefined> {
    if (!(await this.probeSaysUnreachable())) return undefined;
    for (const delayMs of this.init.unreachableConfirmDelaysMs ?? UNREACHABLE_CONFIRM_DELAYS_MS) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (this.stopped || this.lostReason !== undefined) return undefined;
      if (!(await this.probeSaysUnreachable())) return undefined;
    }
    // No leader: the servers' trouble (an election), not this node's.
    const leader = await this.init.client.leader({ signal: AbortSignal.timeout(3_000) }).catch(() => '');
    if (leader === '') return undefined;
    const reason = `its node ${this.nodeName ?? this.init.nodeId.slice(0, 8)} is unreachable (Nomad: No path to node)`;
    this.retire(reason);
    return reason;
  }

  private async probeSaysUnreachable(): Promise<boolean> {
    try {
      await this.init.client.probeAllocationClient(this.init.allocationId, {
        signal: AbortSignal.timeout(3_000),
      });
      return false;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return /no path to node|unknown node|no connection/i.test(message);
    }
  }

  private markLost(reason: string): void {
    if (this.lostReason !== undefined || this.stopped) return;
    this.lostBecause = reason;
    this.init.onLost?.();
    const listeners = [...this.listeners];
    this.listeners.clear();
    this.retireListeners.clear();
    this.stopWatch();
    for (const listener of listeners) {
      try {
        listener(reason);
      } catch {
        // A listener's failure is its own; the others still hear about the loss.
      }
    }
  }
}

/**
 * When a node answered `No path to node`, ask again after these pauses before retiring its hosts:
 * a server restart or leader change gives that answer for every node for a few seconds.
 */
const UNREACHABLE_CONFIRM_DELAYS_MS = [1_000, 2_000];

/**
 * How long before a drain's deadline Berth gives the host up itself (before Nomad migrates it):
 * at least this, or this fraction of the drain's whole deadline when that is more.
 */
const DRAIN_DEADLINE_MARGIN_MS = 3_000;
const DRAIN_DEADLINE_MARGIN_FRACTION = 0.1;
/** Reads of a draining node's strategy before giving up until its next change. */
const DRAIN_READ_ATTEMPTS = 3;
