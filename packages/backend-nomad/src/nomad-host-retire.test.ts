import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadAllocationListStub, NomadNodeListStub } from './client/nomad-types.js';
import type { ClusterWatch, ClusterWatcher } from './cluster-watch.js';
import { NomadHost } from './nomad-host.js';

/** A host wired to a hand-driven cluster watch and a client that only answers `readNode`. */
function hostWith(forceDeadline: string | undefined) {
  let watcher: ClusterWatcher | undefined;
  const watch = {
    add: (added: ClusterWatcher) => {
      watcher = added;
      return () => {
        watcher = undefined;
      };
    },
  } as unknown as ClusterWatch;
  const client = {
    readNode: async () => ({
      value: { DrainStrategy: forceDeadline ? { Deadline: 1, ForceDeadline: forceDeadline } : null },
    }),
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
  return { heard, node, allocation, watching: () => watcher !== undefined };
}

describe('NomadHost: drain and node loss from the cluster watch', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a draining node retires the host once, and 1 s before the deadline the host is lost naming the drain', async () => {
    const deadline = new Date(Date.now() + 10_000).toISOString();
    const { heard, node } = hostWith(deadline);
    node({ Drain: true, SchedulingEligibility: 'ineligible' });
    node({ Drain: true, SchedulingEligibility: 'ineligible' });
    expect(heard).toEqual(['retire: its node n1 is draining']);
    await vi.advanceTimersByTimeAsync(8_900);
    expect(heard).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(heard[1]).toMatch(
      /^lost: its node n1 is draining and the drain deadline \(.+\) came before the lease ended$/,
    );
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
