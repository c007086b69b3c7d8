import { BerthError } from '@berth/core';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadAllocationListStub, NomadNodeListStub } from './client/nomad-types.js';
import { backoffDelayMs, sleep } from './client/retry-with-backoff.js';

/** What a watched host hears: its allocation changed, or its node did. */
export interface ClusterWatcher {
  /** Job IDs of the host's pool start with this (`poolJobPrefix`); one allocation query per prefix. */
  readonly jobPrefix: string;
  readonly allocationId: string;
  readonly nodeId: string;
  /** Every read of the allocations; `undefined`: it is no longer listed (purged, collected). */
  allocation(stub: NomadAllocationListStub | undefined): void;
  node(stub: NomadNodeListStub | undefined): void;
}

/**
 * One blocking query over the live allocations of each pool's jobs (`JobID` starts with the pool's
 * prefix, terminal ones left out) and one over the nodes, shared by all hosts of a backend, instead
 * of one query per host. An allocation that drops out of its list (stopped, finished, purged) is
 * told as `undefined`; the host then reads it once to learn why. Runs only while a host is
 * watched, so an idle backend never keeps the process alive.
 */
export class ClusterWatch {
  private readonly watchers = new Set<ClusterWatcher>();
  /** A running allocation query per job prefix, stopped when its last watcher leaves. */
  private readonly pools = new Map<string, AbortController>();
  private running: AbortController | undefined;
  readonly nodes = new Map<string, NomadNodeListStub>();

  constructor(
    private readonly client: NomadClient,
    /** Where a watch that keeps being refused is reported (default: `process.emitWarning`). */
    private readonly warn: (message: string) => void = (message) =>
      process.emitWarning(message, { code: 'BERTH_NOMAD_WATCH_REFUSED' }),
  ) {}

  add(watcher: ClusterWatcher): () => void {
    this.watchers.add(watcher);
    const node = this.nodes.get(watcher.nodeId);
    if (node) watcher.node(node);
    if (!this.running) {
      this.running = new AbortController();
      const { signal } = this.running;
      void this.loop(signal, () => this.watchNodes(signal));
    }
    if (!this.pools.has(watcher.jobPrefix)) {
      const pool = new AbortController();
      this.pools.set(watcher.jobPrefix, pool);
      void this.loop(pool.signal, () => this.watchAllocations(watcher.jobPrefix, pool.signal));
    }
    return () => {
      if (!this.watchers.delete(watcher)) return;
      if (![...this.watchers].some((each) => each.jobPrefix === watcher.jobPrefix)) {
        this.pools.get(watcher.jobPrefix)?.abort();
        this.pools.delete(watcher.jobPrefix);
      }
      if (this.watchers.size === 0) this.stop();
    };
  }

  stop(): void {
    this.running?.abort();
    this.running = undefined;
    for (const pool of this.pools.values()) pool.abort();
    this.pools.clear();
    // Not watched any more, so no longer true: a host added later must not hear a node's past state
    // (a drain since lifted would retire it for good).
    this.nodes.clear();
  }

  private async watchAllocations(jobPrefix: string, signal: AbortSignal): Promise<void> {
    const filter =
      `JobID matches ${JSON.stringify(`^${jobPrefix}`)} and ` +
      'ClientStatus != "complete" and ClientStatus != "failed" and ClientStatus != "lost"';
    for await (const { value } of this.client.watch(
      (read) => this.client.listAllocations({ ...read, filter }),
      { signal, waitMs: 300_000 },
    )) {
      if (signal.aborted) return;
      const byId = new Map((value ?? []).map((stub) => [stub.ID, stub]));
      for (const watcher of [...this.watchers])
        if (watcher.jobPrefix === jobPrefix) watcher.allocation(byId.get(watcher.allocationId));
    }
  }

  private async watchNodes(signal: AbortSignal): Promise<void> {
    for await (const { value } of this.client.watch((read) => this.client.listNodes(read), {
      signal,
      waitMs: 300_000,
    })) {
      if (signal.aborted) return;
      this.nodes.clear();
      for (const node of value ?? []) this.nodes.set(node.ID, node);
      for (const watcher of [...this.watchers]) watcher.node(this.nodes.get(watcher.nodeId));
    }
  }

  /** Nomad unreachable is no host's loss: back off and watch again, until stopped. */
  private async loop(signal: AbortSignal, watch: () => Promise<void>): Promise<void> {
    let failures = 0;
    let refused = 0;
    while (!signal.aborted) {
      try {
        await watch();
        failures = 0;
        refused = 0;
      } catch (error) {
        if (signal.aborted || BerthError.hasCode(error, 'ABORTED')) return;
        failures += 1;
        // A token without `node:read` or the namespace's `read-job` is refused forever: the hosts
        // then hear of no drain, loss or stop. Say so once per streak rather than retry silently.
        refused = BerthError.hasCode(error, 'AUTHENTICATION') ? refused + 1 : 0;
        if (refused === REFUSALS_BEFORE_WARNING)
          this.warn(
            `Berth's Nomad cluster watch was refused ${refused} times in a row (${error instanceof Error ? error.message : String(error)}); ` +
              'hosts will not learn of drains, node loss or stops until it is allowed. Give the token the ACL policy in the @berth/backend-nomad README (node read, namespace read-job).',
          );
        const delayMs = backoffDelayMs(Math.min(failures, 6), {
          retries: 0,
          minDelayMs: 500,
          maxDelayMs: 30_000,
        });
        await sleep(delayMs, signal, true).catch(() => undefined);
      }
    }
  }
}

/** Consecutive refusals (401/403) of a watch before it is reported. */
const REFUSALS_BEFORE_WARNING = 3;
