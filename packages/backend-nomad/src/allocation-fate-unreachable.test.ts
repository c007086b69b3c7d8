import { BackendUnavailableError } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { AllocationFate } from './allocation-fate.js';
import type { NomadClient } from './client/nomad-client.js';
import type { ClusterWatch } from './cluster-watch.js';

const NO_PATH = () =>
  new BackendUnavailableError('Nomad: Unexpected response code: 500 (No path to node)', []);

/** A fate whose client answers the reachability probes from `probes` (true: reached) in turn. */
function fateWith(probes: boolean[], leader = '10.0.0.1:4647') {
  const asked = { probes: 0 };
  const client = {
    probeAllocationClient: async () => {
      asked.probes += 1;
      if (!(probes.shift() ?? true)) throw NO_PATH();
    },
    leader: async () => leader,
  } as unknown as NomadClient;
  const watch = { add: () => () => undefined } as unknown as ClusterWatch;
  const fate = new AllocationFate({
    client,
    clusterWatch: watch,
    jobPrefix: 'berth-p-',
    allocationId: 'alloc-1234567',
    nodeId: 'node-abcdefgh',
    unreachableConfirmDelaysMs: [0, 0],
  });
  const retired: string[] = [];
  fate.onRetire((reason) => retired.push(reason));
  return { fate, asked, retired };
}

describe('AllocationFate: a node that does not answer', () => {
  it('is not retired for one "No path to node" (a server restart, a leader change)', async () => {
    const { fate, asked, retired } = fateWith([false, true]);
    expect(await fate.nodeUnreachableReason()).toBeUndefined();
    expect(asked.probes).toBe(2);
    expect(retired).toEqual([]);
    expect(fate.retireReason).toBeUndefined();
    // Later it is asked again, from scratch.
    expect(await fate.nodeUnreachableReason()).toBeUndefined();
  });

  it('is not retired while the cluster has no leader', async () => {
    const { fate, retired } = fateWith([false, false, false], '');
    expect(await fate.nodeUnreachableReason()).toBeUndefined();
    expect(retired).toEqual([]);
  });

  it('is retired when every confirming probe says so, and concurrent checks share one confirmation', async () => {
    const { fate, asked, retired } = fateWith([false, false, false]);
    const [first, second] = await Promise.all([fate.nodeUnreachableReason(), fate.nodeUnreachableReason()]);
    expect(first).toMatch(/unreachable \(Nomad: No path to node\)/);
    expect(second).toBe(first);
    expect(asked.probes).toBe(3);
    expect(retired).toEqual([first]);
  });
});
