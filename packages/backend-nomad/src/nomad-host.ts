import type { Readable } from 'node:stream';
import type {
  DestroyOptionsV1,
  HostChannelV1,
  HostHealthV1,
  HostV1,
  OneShotResultV1,
  OneShotRunOptionsV1,
  SlotUserV1,
  WaitOptions,
} from '@berth/core';
import { BerthError, CapabilityUnsupportedError, InternalError, LABEL, throwIfAborted } from '@berth/core';
import { AgentBackedHost, AgentHostRuntime, AgentLink, type AgentLinkMode } from '@berth/host-agent';
import { AllocationFate, allocationLossReason } from './allocation-fate.js';
import { JOB_ID_PREFIX, poolJobPrefix, TASK_NAME } from './build-nomad-job.js';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadExecSession } from './client/nomad-exec-session.js';
import type { ClusterWatch } from './cluster-watch.js';
import { nomadAgentAccess } from './nomad-agent-access.js';
import { openShellChannel } from './open-shell-channel.js';
import { markedCommand } from './reap-raw-exec-sessions.js';
import { removeNomadJob } from './remove-nomad-job.js';
import { runOneShot } from './run-one-shot.js';

export { allocationLossReason };

export interface NomadHostInit {
  readonly client: NomadClient;
  readonly jobId: string;
  readonly allocationId: string;
  readonly nodeId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly workspaceRoot: string;
  readonly destroyTimeoutMs: number;
  /** The backend's shared watch of allocations and nodes. */
  readonly clusterWatch: ClusterWatch;
  /** Called once when the host is destroyed or lost (the backend forgets where it ran). */
  readonly onGone?: () => void;
  /** The task driver; raw_exec sessions are marked so the reaper finds their leftovers. */
  readonly driver: string;
  /** berth-agent as the in-host runtime (docker and raw_exec; see `NomadBackendOptions.shellTransport`). */
  readonly agent: {
    readonly mode: AgentLinkMode;
    readonly openTimeoutMs: number;
    readonly heartbeatTimeoutMs: number;
    /** The node's CPU (`cpu.arch`), shared by the backend's hosts on that node. */
    readonly nodeArch?: () => Promise<string | undefined>;
  };
}

/** The pool's job ID prefix when the job follows it (every job Berth makes does), else any Berth job's. */
function jobPrefixOf(jobId: string, labels: Readonly<Record<string, string>>): string {
  const prefix = poolJobPrefix(labels[LABEL.pool] ?? 'pool');
  return jobId.startsWith(prefix) ? prefix : JOB_ID_PREFIX;
}

/** One running allocation of a Berth job, carrying the slot workspaces. */
export class NomadHost extends AgentBackedHost implements HostV1 {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly workspaceRoot: string;
  readonly allocationId: string;
  readonly nodeId: string;
  readonly driver: string;

  private readonly client: NomadClient;
  private readonly destroyTimeoutMs: number;
  private readonly channels = new Set<NomadExecSession>();
  private readonly fate: AllocationFate;
  private readonly onGone: (() => void) | undefined;
  private destroying: Promise<void> | undefined;
  private destroyed = false;
  private readonly link: AgentLink;
  protected readonly agentRuntime: AgentHostRuntime;

  constructor(init: NomadHostInit) {
    super();
    this.client = init.client;
    this.onGone = init.onGone;
    this.fate = new AllocationFate({
      client: init.client,
      clusterWatch: init.clusterWatch,
      jobPrefix: jobPrefixOf(init.jobId, init.labels),
      allocationId: init.allocationId,
      nodeId: init.nodeId,
      onLost: () => this.onGone?.(),
    });
    this.id = init.jobId;
    this.labels = init.labels;
    this.workspaceRoot = init.workspaceRoot;
    this.allocationId = init.allocationId;
    this.nodeId = init.nodeId;
    this.destroyTimeoutMs = init.destroyTimeoutMs;
    this.driver = init.driver;
    // raw_exec: the agent runs on the node itself, started as a marked session so the keep-alive
    // kills it (and every command under it) when Nomad stops the task.
    const agentDriver = init.driver === 'docker' || init.driver === 'raw_exec';
    this.link = new AgentLink({
      access: nomadAgentAccess(init.client, init.allocationId, (session) => this.track(session), {
        marked: init.driver === 'raw_exec',
        startTimeoutMs: init.agent.openTimeoutMs,
        ...(init.agent.nodeArch ? { nodeArch: init.agent.nodeArch } : {}),
      }),
      mode: agentDriver ? init.agent.mode : 'off',
      offReason: agentDriver
        ? 'shellTransport is `exec`'
        : `the ${init.driver} driver's isolation is not set up for the agent; its shells use one exec each`,
      openTimeoutMs: init.agent.openTimeoutMs,
      heartbeatTimeoutMs: init.agent.heartbeatTimeoutMs,
    });
    this.agentRuntime = new AgentHostRuntime({
      link: this.link,
      channelOpenTimeoutMs: init.agent.openTimeoutMs,
      noAgent: (operation) =>
        new CapabilityUnsupportedError(
          'nomad',
          operation,
          `Host ${this.id} has no agent: ${this.shellTransport.reason}.`,
        ),
      track: () => undefined, // closed with the agent's own exec session
      assertOpen: (operation) => {
        if (this.destroyed)
          throw new InternalError(`Host ${this.id} was destroyed; ${operation} needs a live host.`);
      },
    });
  }

  /** How this host's shells travel: `agent` (one exec session for all) or `exec` (one each), and why. */
  get shellTransport(): { readonly kind: 'agent' | 'exec'; readonly reason?: string } {
    const { usesAgent, reason } = this.link.state;
    return usesAgent ? { kind: 'agent' } : { kind: 'exec', ...(reason ? { reason } : {}) };
  }

  private track(session: NomadExecSession): void {
    this.channels.add(session);
    void session.exited.then(() => this.channels.delete(session));
  }

  /** Through the agent only (Nomad has no archive API); without it core uses the slot's shell. */
  async putArchive(directory: string, tar: Readable, options: WaitOptions & { user?: SlotUserV1 } = {}) {
    if (!(await this.agentRuntime.putArchive(directory, tar, options)))
      throw this.agentRuntime.noAgentFor('putArchive');
  }

  async getArchive(path: string, options: WaitOptions & { user?: SlotUserV1 } = {}): Promise<Readable> {
    const archive = await this.agentRuntime.getArchive(path, options);
    if (!archive) throw this.agentRuntime.noAgentFor('getArchive');
    return archive;
  }

  /**
   * A fresh exec websocket running `sh` in the host task (stdout/stderr apart, no TTY), checked
   * live with a readiness marker before it is returned.
   */
  async openChannel(options: WaitOptions = {}): Promise<HostChannelV1> {
    throwIfAborted(options.signal, `Opening a channel to host ${this.id}`);
    const viaAgent = await this.agentRuntime.openShell(options.signal);
    if (viaAgent) return viaAgent;
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

  /** Why the allocation is gone or unreachable, or undefined while it runs (or Nomad cannot tell). */
  private async goneReason(): Promise<string | undefined> {
    const health = await this.health({ signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
    if (health && !health.alive) return health.reason ?? 'gone';
    return this.fate.nodeUnreachableReason();
  }

  async health(options: WaitOptions = {}): Promise<HostHealthV1> {
    if (this.fate.lostReason) return { alive: false, reason: this.fate.lostReason };
    try {
      const { value } = await this.client.readAllocation(this.allocationId, { signal: options.signal });
      const reason = allocationLossReason(value);
      if (reason) return { alive: false, reason };
      // Nomad still lists it running for a while after its node vanished: a node that cannot be
      // reached retires the host (no new work) until Nomad decides it is lost.
      if (this.fate.retireReason === undefined) await this.fate.nodeUnreachableReason();
      return { alive: true };
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
   * deregistered, a drain's deadline near). The backend's one cluster watch runs only while some
   * host is watched, so an unwatched host never keeps the process alive.
   */
  onLost(listener: (reason: string) => void): () => void {
    return this.fate.onLost(listener);
  }

  /**
   * Calls `listener` once when the host should take no new work: its node drains, is down or
   * disconnected, or stopped answering. Running commands go on until they end, the drain deadline
   * nears (then the host is lost, naming the drain) or Nomad declares the allocation lost.
   */
  onRetire(listener: (reason: string) => void): () => void {
    return this.fate.onRetire(listener);
  }

  /** Why this host takes no new work, once it was retired. */
  get retiredBecause(): string | undefined {
    return this.fate.retireReason;
  }

  /** Closes this process's channels and the loss watch; the allocation keeps running. */
  async disconnect(): Promise<void> {
    this.fate.stopWatch();
    this.link.close();
    for (const session of this.channels) session.close();
    this.channels.clear();
  }

  /** Stops and purges the job, then waits until the allocation no longer runs. Idempotent. */
  destroy(options: DestroyOptionsV1): Promise<void> {
    if (this.destroyed) return Promise.resolve();
    this.destroying ??= (async () => {
      this.fate.end();
      this.link.close();
      for (const session of this.channels) session.close();
      // Nomad has no "kill now": `force` and graceful both stop the job; the task's kill_timeout
      // (`killTimeoutMs`) bounds how long a graceful stop takes.
      await removeNomadJob(this.client, this.id, {
        signal: options.signal,
        timeoutMs: this.destroyTimeoutMs,
      });
      this.destroyed = true;
      this.onGone?.();
    })().finally(() => {
      this.destroying = undefined;
    });
    return this.destroying;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.disconnect();
  }
}
