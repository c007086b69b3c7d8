import { describe, expect, it } from 'vitest';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadNodeListStub } from './client/nomad-types.js';
import type { ClusterWatch } from './cluster-watch.js';
import { type NodeFit, NodeSpread } from './node-spread.js';

function node(id: string, fields: Partial<NomadNodeListStub> = {}): NomadNodeListStub {
  return {
    ID: id,
    Name: id,
    Address: '10.0.0.1',
    Datacenter: 'dc1',
    NodePool: 'default',
    Status: 'ready',
    SchedulingEligibility: 'eligible',
    Drain: false,
    Drivers: { raw_exec: { Detected: true, Healthy: true }, docker: { Detected: true, Healthy: true } },
    CreateIndex: 1,
    ModifyIndex: 1,
    ...fields,
  };
}

/** A spread over a fixed node list, as the cluster watch holds it. */
function spreadOver(nodes: NomadNodeListStub[]): NodeSpread {
  const watch = { nodes: new Map(nodes.map((each) => [each.ID, each])) } as unknown as ClusterWatch;
  return new NodeSpread({} as NomadClient, watch);
}

const RAW_EXEC: NodeFit = { datacenters: ['*'], nodePool: undefined, driver: 'raw_exec' };

describe('NodeSpread: only nodes the job can use', () => {
  it('alternates between the usable nodes and never names one the job cannot run on', async () => {
    const spread = spreadOver([
      node('a-usable'),
      node('b-other-dc', { Datacenter: 'dc2' }),
      node('c-other-pool', { NodePool: 'gpu' }),
      node('d-no-docker', { Drivers: { raw_exec: { Detected: true, Healthy: true } } }),
      node('e-usable'),
    ]);
    const fit: NodeFit = { datacenters: ['dc1'], nodePool: 'default', driver: 'docker' };
    const named = [];
    for (let index = 0; index < 4; index++) named.push(await spread.reserve('p', `job-${index}`, fit));
    expect(named).toEqual(['a-usable', 'e-usable', 'a-usable', 'e-usable']);
  });

  it('names no node when only one node is usable (a one-node choice is no spread)', async () => {
    const spread = spreadOver([
      node('a'),
      node('b', { Drivers: { docker: { Detected: true, Healthy: false } } }),
    ]);
    expect(await spread.reserve('p', 'job-1', { ...RAW_EXEC, driver: 'docker' })).toBeUndefined();
  });

  it('matches datacenter globs and the all pool', async () => {
    const spread = spreadOver([
      node('a', { Datacenter: 'eu-1' }),
      node('b', { Datacenter: 'eu-2', NodePool: 'x' }),
    ]);
    expect(await spread.reserve('p', 'job-1', { ...RAW_EXEC, datacenters: ['eu-*'], nodePool: 'all' })).toBe(
      'a',
    );
    expect(await spread.reserve('p', 'job-2', { ...RAW_EXEC, datacenters: ['eu-*'], nodePool: 'all' })).toBe(
      'b',
    );
    expect(await spread.reserve('p', 'job-3', { ...RAW_EXEC, datacenters: ['us-*'] })).toBeUndefined();
  });
});
