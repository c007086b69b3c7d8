import { AbortedError, AuthenticationError, BackendUnavailableError } from '@berth/core';
import { describe, expect, it } from 'vitest';
import type { ListOptions, NomadClient } from './client/nomad-client.js';
import type { NomadAllocationListStub, NomadNodeListStub } from './client/nomad-types.js';
import { watchBlockingQuery } from './client/watch-blocking-query.js';
import { ClusterWatch, type ClusterWatcher } from './cluster-watch.js';

/**
 * A hand-driven Nomad: each list has an index and a value; a blocking read at the current index
 * waits until `publish` changes it. Counts every request, as an agent would see them.
 */
function fakeNomad() {
  const calls = { allocations: 0, nodes: 0, filters: [] as string[] };
  const failures = { allocations: [] as Error[] };
  type List<T> = { index: number; value: T[]; changed: Set<() => void> };
  const allocations: List<NomadAllocationListStub> = { index: 10, value: [], changed: new Set() };
  const nodes: List<NomadNodeListStub> = { index: 10, value: [], changed: new Set() };
  const read = async <T>(list: List<T>, options: ListOptions) => {
    const sent = options.index ?? 0;
    if (sent !== 0 && sent >= list.index) {
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          list.changed.delete(wake);
          resolve();
        };
        list.changed.add(wake);
        options.signal?.addEventListener('abort', () => {
          list.changed.delete(wake);
          reject(new AbortedError('aborted'));
        });
      });
    }
    return { value: list.value, index: list.index };
  };
  const client = {
    listAllocations: async (options: ListOptions) => {
      calls.allocations += 1;
      if (options.filter) calls.filters.push(options.filter);
      const failure = failures.allocations.shift();
      if (failure) throw failure;
      return read(allocations, options);
    },
    listNodes: async (options: ListOptions) => {
      calls.nodes += 1;
      return read(nodes, options);
    },
    watch: (query: Parameters<NomadClient['watch']>[0], options: Parameters<NomadClient['watch']>[1]) =>
      watchBlockingQuery(query, { ...options, minIntervalMs: 0 }),
  } as unknown as NomadClient;
  const publish = <T>(list: List<T>, value: T[], index: number) => {
    list.value = value;
    list.index = index;
    for (const wake of [...list.changed]) wake();
  };
  return {
    client,
    calls,
    failures,
    /** Blocking reads now waiting on each list. */
    waiting: () => ({ allocations: allocations.changed.size, nodes: nodes.changed.size }),
    publishAllocations: (value: NomadAllocationListStub[], index: number) =>
      publish(allocations, value, index),
    publishNodes: (value: NomadNodeListStub[], index: number) => publish(nodes, value, index),
  };
}

function allocation(id: string, fields: Partial<NomadAllocationListStub> = {}): NomadAllocationListStub {
  return {
    ID: id,
    EvalID: 'e',
    Name: id,
    Namespace: 'default',
    NodeID: 'node-1',
    NodeName: 'n1',
    JobID: `berth-p-${id}`,
    TaskGroup: 'host',
    DesiredStatus: 'run',
    ClientStatus: 'running',
    CreateIndex: 1,
    ModifyIndex: 1,
    CreateTime: 0,
    ModifyTime: 0,
    ...fields,
  };
}

function node(fields: Partial<NomadNodeListStub> = {}): NomadNodeListStub {
  return {
    ID: 'node-1',
    Name: 'n1',
    Address: '10.0.0.1',
    Datacenter: 'dc1',
    Status: 'ready',
    SchedulingEligibility: 'eligible',
    Drain: false,
    CreateIndex: 1,
    ModifyIndex: 1,
    ...fields,
  };
}

function recorder(allocationId: string, jobPrefix = 'berth-p-') {
  const heard = {
    allocations: [] as (NomadAllocationListStub | undefined)[],
    nodes: [] as (NomadNodeListStub | undefined)[],
  };
  const watcher: ClusterWatcher = {
    jobPrefix,
    allocationId,
    nodeId: 'node-1',
    allocation: (stub) => heard.allocations.push(stub),
    node: (stub) => heard.nodes.push(stub),
  };
  return { watcher, heard };
}

/** Polls until `condition` holds, bounded by wall time: the watch's real backoff (0.5 s, 1 s, …) runs between failures. */
async function until(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1));
  expect(condition()).toBe(true);
}

describe('ClusterWatch: one blocking query per pool', () => {
  it('serves 10 hosts with one allocation query and one node query', async () => {
    const nomad = fakeNomad();
    nomad.publishAllocations(
      Array.from({ length: 10 }, (_, index) => allocation(`a${index}`)),
      11,
    );
    nomad.publishNodes([node()], 11);
    const watch = new ClusterWatch(nomad.client);
    const hosts = Array.from({ length: 10 }, (_, index) => recorder(`a${index}`));
    const unsubscribe = hosts.map((host) => watch.add(host.watcher));
    await until(() => nomad.waiting().allocations === 1 && nomad.waiting().nodes === 1);
    // The first read, then one blocking read each, whatever the number of hosts.
    expect(nomad.calls).toMatchObject({ allocations: 2, nodes: 2 });
    for (const [index, host] of hosts.entries()) expect(host.heard.allocations.at(-1)?.ID).toBe(`a${index}`);

    nomad.publishAllocations([allocation('a3', { DesiredStatus: 'stop' })], 12);
    await until(() => nomad.calls.allocations === 3 && nomad.waiting().allocations === 1);
    expect(hosts[3]?.heard.allocations.at(-1)?.DesiredStatus).toBe('stop');
    // Gone from the list: purged or collected.
    expect(hosts[4]?.heard.allocations.at(-1)).toBeUndefined();
    for (const each of unsubscribe) each();
  });

  it("queries each pool's live allocations only, one query per pool, stopped with the pool's last host", async () => {
    const nomad = fakeNomad();
    const watch = new ClusterWatch(nomad.client);
    const a = [recorder('a0', 'berth-pa-'), recorder('a1', 'berth-pa-')].map((each) =>
      watch.add(each.watcher),
    );
    const b = watch.add(recorder('b0', 'berth-pb-').watcher);
    await until(() => nomad.waiting().allocations === 2);
    expect(new Set(nomad.calls.filters)).toEqual(
      new Set(
        ['berth-pa-', 'berth-pb-'].map(
          (prefix) =>
            `JobID matches "^${prefix}" and ClientStatus != "complete" and ClientStatus != "failed" and ClientStatus != "lost"`,
        ),
      ),
    );
    for (const each of a) each();
    expect(nomad.waiting().allocations).toBe(1);
    b();
    expect(nomad.waiting()).toEqual({ allocations: 0, nodes: 0 });
  });

  it('re-reads from scratch when the index goes backwards (a restored snapshot, a new leader)', async () => {
    const nomad = fakeNomad();
    nomad.publishAllocations([allocation('a0')], 100);
    const watch = new ClusterWatch(nomad.client);
    const host = recorder('a0');
    const unsubscribe = watch.add(host.watcher);
    await until(() => nomad.waiting().allocations === 1);
    nomad.publishAllocations([allocation('a0', { ClientStatus: 'lost' })], 40);
    await until(() => host.heard.allocations.at(-1)?.ClientStatus === 'lost');
    // And it blocks again on the new, lower index rather than spinning.
    await until(() => nomad.waiting().allocations === 1);
    const settled = nomad.calls.allocations;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(nomad.calls.allocations).toBe(settled);
    unsubscribe();
  });

  it('backs off after a failed query and watches again', async () => {
    const nomad = fakeNomad();
    nomad.failures.allocations.push(
      new BackendUnavailableError('Nomad is unreachable: connection refused.', ['http://127.0.0.1:4646']),
    );
    nomad.publishAllocations([allocation('a0')], 11);
    const watch = new ClusterWatch(nomad.client);
    const host = recorder('a0');
    const unsubscribe = watch.add(host.watcher);
    await until(() => nomad.calls.allocations === 1);
    // One failure, one pause (≥ 500 ms): no retry right away.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(nomad.calls.allocations).toBe(1);
    await until(() => host.heard.allocations.at(-1)?.ID === 'a0');
    unsubscribe();
  });

  it('reports a watch refused again and again (403: the token lacks a policy) once, as a warning', async () => {
    const nomad = fakeNomad();
    for (let index = 0; index < 3; index++)
      nomad.failures.allocations.push(new AuthenticationError('Nomad answered 403 Permission denied.'));
    const warnings: string[] = [];
    const watch = new ClusterWatch(nomad.client, (message) => warnings.push(message));
    const unsubscribe = watch.add(recorder('a0').watcher);
    await until(() => nomad.calls.allocations === 3);
    await until(() => warnings.length === 1);
    expect(warnings[0]).toMatch(/refused 3 times in a row.*403.*ACL policy/);
    unsubscribe();
  }, 20_000);

  it('stops querying after the last host leaves, and forgets the nodes it knew', async () => {
    const nomad = fakeNomad();
    nomad.publishNodes([node({ Drain: true, SchedulingEligibility: 'ineligible' })], 11);
    const watch = new ClusterWatch(nomad.client);
    const first = recorder('a0');
    const second = recorder('a1');
    const unsubscribeFirst = watch.add(first.watcher);
    const unsubscribeSecond = watch.add(second.watcher);
    await until(() => nomad.waiting().nodes === 1 && nomad.waiting().allocations === 1);
    expect(first.heard.nodes.at(-1)?.Drain).toBe(true);
    unsubscribeFirst();
    expect(nomad.waiting()).toEqual({ allocations: 1, nodes: 1 });
    unsubscribeSecond();
    // Both blocking reads were aborted, and none follows.
    expect(nomad.waiting()).toEqual({ allocations: 0, nodes: 0 });
    const calls = { ...nomad.calls };
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(nomad.calls).toMatchObject({ allocations: calls.allocations, nodes: calls.nodes });

    // The drain is lifted while nobody watches: a host added now must not hear the old drain.
    nomad.publishNodes([node()], 12);
    const later = recorder('a2');
    const unsubscribeLater = watch.add(later.watcher);
    expect(later.heard.nodes).toEqual([]);
    await until(() => later.heard.nodes.length > 0);
    expect(later.heard.nodes.every((stub) => stub?.Drain === false)).toBe(true);
    unsubscribeLater();
  });
});
