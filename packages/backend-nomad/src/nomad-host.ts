import type {
  DestroyOptionsV1,
  HostChannelV1,
  HostHealthV1,
  HostV1,
  OneShotResultV1,
  OneShotRunOptionsV1,
  WaitOptions,
} from '@berth/core';
import { BerthError, throwIfAborted } from '@berth/core';
import { TASK_NAME } from './build-nomad-job.js';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadExecSession } from './client/nomad-exec-session.js';
import type { NomadAllocation } from './client/nomad-types.js';
import { backoffDelayMs, sleep } from './client/retry-with-backoff.js';
import { openShellChannel } from './open-shell-channel.js';
import { markedCommand } from './reap-raw-exec-sessions.js';
import { removeNomadJob } from './remove-nomad-job.js';
import { runOneShot } from './run-one-shot.js';

export interface NomadHostInit {
  readonly client: NomadClient;
  readonly jobId: string;
  readonly allocationId: string;
  readonly nodeId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly workspaceRoot: string;
  readonly destroyTimeoutMs: number;
  /** The task driver; raw_exec sessions are marked so the reaper finds their leftovers. */
  readonly driver: string;
}

/** Why an allocation no longer counts as a live host, or undefined while it does. */
export function allocationLossReason(allocation: NomadAllocation): string | undefined {
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

/** One running allocation of a Berth job, carrying the slot workspaces. */
export class NomadHost implements HostV1 {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly workspaceRoot: string;
  readonly allocationId: string;
  readonly nodeId: string;
  readonly driver: string;

  private readonly client: NomadClient;
  private readonly destroyTimeoutMs: number;
  private readonly channels = new Set<NomadExecSession>();
  private readonly listeners = new Set<(reason: string) => void>();
  private lostReason: string | undefined;
  private watch: AbortController | undefined;
  private destroying: Promise<void> | undefined;
  private destroyed = false;

  constructor(init: NomadHostInit) {
    this.client = init.client;
    this.id = init.jobId;
    this.labels = init.labels;
    this.workspaceRoot = init.workspaceRoot;
    this.allocationId = init.allocationId;
    this.nodeId = init.nodeId;
    this.destroyTimeoutMs = init.destroyTimeoutMs;
    this.driver = init.driver;
  }

  /**
   * A fresh exec websocket running `sh` in the host task (stdout/stderr apart, no TTY), checked
   * live with a readiness marker before it is returned.
   */
  async openChannel(options: WaitOptions = {}): Promise<HostChannelV1> {
    throwIfAborted(options.signal, `Opening a channel to host ${this.id}`);
    const command = this.driver === 'raw_exec' ? markedCommand(['sh']) : ['sh'];
    const { channel, session } = await openShellChannel(this.client, this.allocationId, TASK_NAME, {
      ...options,
      command,
      hostGoneReason: () => this.goneReason(),
    });
    this.channels.add(session);
    void session.exited.then(() => this.channels.delete(session));
    return channel;
  }

  /** One-shot exec of `argv` directly (no shell), through its own exec session. */
  run(argv: readonly string[], options: OneShotRunOptionsV1 = {}): Promise<OneShotResultV1> {
    return runOneShot(this.client, this.allocationId, TASK_NAME, argv, options, this.driver === 'raw_exec');
  }

  /** Why the allocation is gone, or undefined while it runs or Nomad does not answer within 3 s. */
  private async goneReason(): Promise<string | undefined> {
    const health = await this.health({ signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
    return health && !health.alive ? (health.reason ?? 'gone') : undefined;
  }

  async health(options: WaitOptions = {}): Promise<HostHealthV1> {
    if (this.lostReason) return { alive: false, reason: this.lostReason };
    try {
      const { value } = await this.client.readAllocation(this.allocationId, { signal: options.signal });
      const reason = allocationLossReason(value);
      return reason ? { alive: false, reason } : { alive: true };
    } catch (error) {
      if (BerthError.hasCode(error, 'NOT_FOUND')) {
        return {
          alive: false,
          reason: `allocation ${this.allocationId.slice(0, 8)} no longer exists in Nomad`,
        };
      }
      throw error;
    }
  }

  /**
   * Calls `listener` once when Nomad reports the allocation gone (stopped, failed, lost, job
   * deregistered). A blocking-query watch runs only while listeners are registered, so an
   * unwatched host never keeps the process alive.
   */
  onLost(listener: (reason: string) => void): () => void {
    if (this.lostReason !== undefined) {
      const reason = this.lostReason;
      queueMicrotask(() => listener(reason));
      return () => undefined;
    }
    this.listeners.add(listener);
    if (!this.watch && !this.destroyed) {
      this.watch = new AbortController();
      void this.watchForLoss(this.watch.signal);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopWatch();
    };
  }

  /** Closes this process's channels and the loss watch; the allocation keeps running. */
  async disconnect(): Promise<void> {
    this.stopWatch();
    for (const session of this.channels) session.close();
    this.channels.clear();
  }

  /** Stops and purges the job, then waits until the allocation no longer runs. Idempotent. */
  destroy(options: DestroyOptionsV1): Promise<void> {
    if (this.destroyed) return Promise.resolve();
    this.destroying ??= (async () => {
      this.stopWatch();
      this.listeners.clear();
      for (const session of this.channels) session.close();
      // Nomad has no "kill now": `force` and graceful both stop the job; the task's kill_timeout
      // (`killTimeoutMs`) bounds how long a graceful stop takes.
      await removeNomadJob(this.client, this.id, {
        signal: options.signal,
        timeoutMs: this.destroyTimeoutMs,
      });
      this.destroyed = true;
    })().finally(() => {
      this.destroying = undefined;
    });
    return this.destroying;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.disconnect();
  }

  private stopWatch(): void {
    this.watch?.abort();
    this.watch = undefined;
  }

  private async watchForLoss(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        for await (const { value } of this.client.watch(
          (read) => this.client.readAllocation(this.allocationId, read),
          { signal, waitMs: 300_000 },
        )) {
          failures = 0;
          const reason = allocationLossReason(value);
          if (reason) return this.markLost(reason, signal);
        }
      } catch (error) {
        if (signal.aborted) return;
        if (BerthError.hasCode(error, 'NOT_FOUND')) {
          return this.markLost(
            `allocation ${this.allocationId.slice(0, 8)} no longer exists in Nomad`,
            signal,
          );
        }
        // Nomad unreachable is not a lost host: back off and watch again.
        failures += 1;
        const delayMs = backoffDelayMs(Math.min(failures, 6), {
          retries: 0,
          minDelayMs: 500,
          maxDelayMs: 30_000,
        });
        await sleep(delayMs, signal, true).catch(() => undefined);
      }
    }
  }

  private markLost(reason: string, signal: AbortSignal): void {
    if (signal.aborted || this.lostReason !== undefined) return;
    this.lostReason = reason;
    const listeners = [...this.listeners];
    this.listeners.clear();
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
