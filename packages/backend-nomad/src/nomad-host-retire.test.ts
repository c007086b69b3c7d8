import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadAllocationListStub, NomadNodeListStub } from './client/nomad-types.js';
import type { ClusterWatch, ClusterWatcher } from './cluster-watch.js';
import { NomadHost } from './nomad-host.js';

/** A host wired to a hand-driven cluster watch and a client that only answers `readNode`. */
function hostWith(
  initialForceDeadline: string | undefined,
  drain: { deadlineNs?: number; failReads?: number; reads?: number } = {},
) {
  let watcher: ClusterWatcher | undefined;
  let forceDeadline = initialForceDeadline;
  const watch = {
    add: (added: ClusterWatcher) => {
      watcher = added;
      return () => {
        watcher = undefined;
      };
    },
  } as unknown as ClusterWatch;
  const client = {
    readNode: async () => {
      drain.reads = (drain.reads ?? 0) + 1;
      if ((drain.failReads ?? 0) > 0) {
        drain.failReads = (drain.failReads ?? 0) - 1;
        throw new Error('socket hang up');
      }
      return {
        value: {
          DrainStrategy: forceDeadline
            ? { Deadline: drain.deadlineNs ?? 1, ForceDeadline: forceDeadline }
            : null,
        },
      };
    },
  } as unknown as NomadClient;
  const host = new NomadHost({
    client,
    clusterWatch: watch,
    jobId: 'berth-p-d-1',
    allocationId: 'alloc-1',
    nodeId: 'node-1',
    labels: {},
    workspaceRoot: '/alloc/data',
    destroyTimeoutMs: 1_000,
    driver: 'raw_exec',
    agent: { mode: 'off', openTimeoutMs: 1_000, heartbeatTimeoutMs: 0 },
  });
  const heard: string[] = [];
  host.onRetire((reason) => heard.push(`retire: ${reason}`));
  host.onLost((reason) => heard.push(`lost: ${reason}`));
  const node = (fields: Partial<NomadNodeListStub>) =>
    watcher?.node({
      ID: 'node-1',
      Name: 'n1',
      Address: '',
      Datacenter: 'dc1',
      Status: 'ready',
      SchedulingEligibility: 'eligible',
      Drain: false,
      CreateIndex: 1,
      ModifyIndex: 1,
      ...fields,
    });
  const allocation = (fields: Partial<NomadAllocationListStub>) =>
    watcher?.allocation({
      ID: 'alloc-1',
      EvalID: '',
      Name: '',
      Namespace: 'default',
      NodeID: 'node-1',
      NodeName: 'n1',
      JobID: 'berth-p-d-1',
      TaskGroup: 'host',
      DesiredStatus: 'run',
      ClientStatus: 'running',
      CreateIndex: 1,
      ModifyIndex: 1,
      CreateTime: 0,
      ModifyTime: 0,
      ...fields,
    });
  return {
    heard,
    node,
    allocation,
    watching: () => watcher !== undefined,
    setForceDeadline: (at: string) => {
      forceDeadline = at;
    },
  };
}

describe('NomadHost: drain and node loss from the cluster watch', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a draining node retires the host once, and 3 s before the deadline the host is lost naming the drain', async () => {
    const deadline = new Date(Date.now() + 10_000).toISOString();
    const { heard, node } = hostWith(deadline);
    node({ Drain: true, SchedulingEligibility: 'ineligible' });
    node({ Drain: true, SchedulingEligibility: 'ineligible' });
    expect(heard).toEqual(['retire: its node n1 is draining']);
    await vi.advanceTimersByTimeAsync(6_900);
    expect(heard).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(heard[1]).toMatch(
      /^lost: its node n1 is draining and the drain deadline \(.+\) came before the lease ended$/,
    );
  });

  it('a long drain gives the host up 10% of the deadline early', async () => {
    const { heard, node } = hostWith(new Date(Date.now() + 60_000).toISOString(), {
      deadlineNs: 60_000 * 1e6,
    });
    node({ Drain: true });
    await vi.advanceTimersByTimeAsync(53_900);
    expect(heard).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(heard[1]).toMatch(/^lost: its node n1 is draining and the drain deadline/);
  });

  it('a later change of the drain (a shorter deadline) is read again and wins', async () => {
    const drain = { reads: 0 };
    const host = hostWith(new Date(Date.now() + 600_000).toISOString(), drain);
    host.node({ Drain: true, ModifyIndex: 5 });
    await vi.advanceTimersByTimeAsync(1_000);
    host.setForceDeadline(new Date(Date.now() + 10_000).toISOString());
    host.node({ Drain: true, ModifyIndex: 6 });
    await vi.advanceTimersByTimeAsync(6_900);
    expect(host.heard).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(host.heard[1]).toMatch(/^lost: its node n1 is draining/);
    expect(drain.reads).toBe(2);
  });

  it('a failed read of the draining node is retried, so the deadline still holds', async () => {
    const drain = { failReads: 2, reads: 0 };
    const { heard, node } = hostWith(new Date(Date.now() + 20_000).toISOString(), drain);
    node({ Drain: true });
    await vi.advanceTimersByTimeAsync(16_900);
    expect(heard).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(heard[1]).toMatch(/^lost: its node n1 is draining/);
    expect(drain.reads).toBe(3);
  });

  it('a drain cancelled before its deadline loses nothing (the host stays retired)', async () => {
    const { heard, node } = hostWith(new Date(Date.now() + 10_000).toISOString());
    node({ Drain: true });
    await vi.advanceTimersByTimeAsync(1_000);
    node({ Drain: false });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(heard).toEqual(['retire: its node n1 is draining']);
  });

  it('a node down retires at once; the allocation lost is the loss, with the drain named when there was one', async () => {
    const { heard, node, allocation, watching } = hostWith(undefined);
    node({ Status: 'down' });
    expect(heard).toEqual(['retire: its node n1 is down']);
    allocation({ DesiredStatus: 'stop', DesiredDescription: 'alloc is lost since its node is down' });
    expect(heard[1]).toBe(
      'lost: Nomad wants allocation alloc-1 to stop (alloc is lost since its node is down)',
    );
    expect(watching()).toBe(false);
  });
});
