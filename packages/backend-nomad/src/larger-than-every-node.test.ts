import { describe, expect, it } from 'vitest';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadNodeListStub } from './client/nomad-types.js';
import type { NodeFit } from './node-spread.js';
import { largerThanEveryNode } from './wait-for-running-allocation.js';

function node(id: string, cpu: number, fields: Partial<NomadNodeListStub> = {}): NomadNodeListStub {
  return {
    ID: id,
    Name: id,
    Address: '10.0.0.1',
    Datacenter: 'dc1',
    NodePool: 'default',
    Status: 'ready',
    SchedulingEligibility: 'eligible',
    Drain: false,
    Drivers: { raw_exec: { Detected: true, Healthy: true } },
    NodeResources: { Cpu: { CpuShares: cpu }, Memory: { MemoryMB: 8_192 }, Disk: { DiskMB: 10_000 } },
    ReservedResources: { Cpu: { CpuShares: 0 }, Memory: { MemoryMB: 0 }, Disk: { DiskMB: 0 } },
    CreateIndex: 1,
    ModifyIndex: 1,
    ...fields,
  };
}

function clientListing(nodes: NomadNodeListStub[]) {
  const asked = { lists: 0, withResources: 0, reads: 0 };
  const client = {
    listNodes: async (options: { resources?: boolean }) => {
      asked.lists += 1;
      if (options.resources) asked.withResources += 1;
      return { value: nodes, index: 1 };
    },
    readNode: async () => {
      asked.reads += 1;
      throw new Error('not expected: one list request carries the resources');
    },
  } as unknown as NomadClient;
  return { client, asked };
}

const ASK = { cpu: 3_000, memoryMiB: 64, diskMiB: 300 };
const FIT: NodeFit = { datacenters: ['*'], nodePool: undefined, driver: 'raw_exec' };
const signal = new AbortController().signal;

describe('largerThanEveryNode', () => {
  it('asks Nomad once for every node with its resources, whatever the number of nodes', async () => {
    const { client, asked } = clientListing(
      Array.from({ length: 20 }, (_, index) => node(`n${index}`, 2_000)),
    );
    expect(await largerThanEveryNode(client, ASK, FIT, signal)).toMatch(/^no node can ever hold one host/);
    expect(asked).toEqual({ lists: 1, withResources: 1, reads: 0 });
  });

  it('is not final when the only node big enough is draining or ineligible right now', async () => {
    const { client } = clientListing([
      node('small', 2_000),
      node('big', 4_000, { Drain: true, SchedulingEligibility: 'ineligible' }),
    ]);
    expect(await largerThanEveryNode(client, ASK, FIT, signal)).toBeUndefined();
  });

  it('compares only nodes the job can use: a big node without its driver, elsewhere or down does not count', async () => {
    const { client } = clientListing([
      node('small', 2_000),
      node('no-driver', 8_000, { Drivers: { docker: { Detected: true, Healthy: true } } }),
      node('other-dc', 8_000, { Datacenter: 'dc2' }),
      node('down', 8_000, { Status: 'down' }),
    ]);
    const reason = await largerThanEveryNode(client, ASK, { ...FIT, datacenters: ['dc1'] }, signal);
    expect(reason).toMatch(/the largest of the 1 node\(s\) it could use has cpu 2000 MHz/);
  });
});
