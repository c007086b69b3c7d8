import type { HostProgressV1 } from '@berth/core';
import {
  BackendUnavailableError,
  type BerthError,
  CapacityError,
  InternalError,
  throwIfAborted,
} from '@berth/core';
import { TASK_NAME } from './build-nomad-job.js';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadAllocationListStub } from './client/nomad-types.js';
import {
  describePlacementFailure,
  describeRecentEvents,
  describeTaskEvent,
  findFailureEvent,
  isExhaustion,
} from './describe-nomad-failure.js';
import { fits, type NodeFit } from './node-spread.js';

export interface WaitForRunningAllocationOptions {
  readonly client: NomadClient;
  readonly jobId: string;
  /** The registration's evaluation, watched for placement failures. */
  readonly evaluationId?: string;
  readonly timeoutMs: number;
  /** `fail`: throw as soon as Nomad reports a placement failure. `wait`: keep waiting for capacity. */
  readonly placementFailure: 'fail' | 'wait';
  readonly signal?: AbortSignal;
  /** What one host asks for: a failure to place is final when no node could ever hold it. */
  readonly ask?: ResourceAsk;
  /** Which nodes the job can use at all (datacenters, node pool, driver): only those are compared. */
  readonly fit?: NodeFit;
  readonly onProgress?: (progress: HostProgressV1) => void;
  /** Called once when an allocation is first seen (placed on a node), before it runs. */
  readonly onPlaced?: (allocation: NomadAllocationListStub) => void;
}

const TERMINAL_CLIENT_STATUSES = new Set(['complete', 'failed', 'lost']);

/**
 * Waits (blocking queries, no polling) until the job's allocation runs its task, reporting
 * placement and task events as progress. Fails with Nomad's own reasons: placement metrics
 * (`Constraint "…": 1 nodes excluded by filter`) or task events (`Driver Failure: Failed to pull…`).
 */
export async function waitForRunningAllocation(
  options: WaitForRunningAllocationOptions,
): Promise<NomadAllocationListStub> {
  throwIfAborted(options.signal, `Starting Nomad job ${options.jobId}`);
  const stop = new AbortController();
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = AbortSignal.any([stop.signal, timeout, ...(options.signal ? [options.signal] : [])]);
  const state: WaitState = { placementReasons: undefined, lastAllocation: undefined };
  const report = (progress: HostProgressV1) => {
    try {
      options.onProgress?.(progress);
    } catch {
      // A throwing progress listener must not break host creation.
    }
  };

  const allocation = watchAllocations(options, signal, state, report);
  const evaluation = options.evaluationId
    ? watchEvaluation(options, options.evaluationId, signal, state, report)
    : new Promise<never>(() => undefined);
  allocation.catch(() => undefined);
  evaluation.catch(() => undefined);
  try {
    return await Promise.race([allocation, evaluation]);
  } catch (error) {
    throwIfAborted(options.signal, `Starting Nomad job ${options.jobId}`);
    if (timeout.aborted) throw timeoutError(options, state);
    throw error;
  } finally {
    stop.abort();
  }
}

interface WaitState {
  placementReasons: string[] | undefined;
  lastAllocation: NomadAllocationListStub | undefined;
}

async function watchAllocations(
  options: WaitForRunningAllocationOptions,
  signal: AbortSignal,
  state: WaitState,
  report: (progress: HostProgressV1) => void,
): Promise<NomadAllocationListStub> {
  const { client, jobId } = options;
  const seenEvents = new Map<string, number>();
  let lastStatus = '';
  for await (const { value } of client.watch((read) => client.jobAllocations(jobId, read), { signal })) {
    const allocation = newestWanted(value ?? []);
    if (!allocation) continue;
    if (!state.lastAllocation) options.onPlaced?.(allocation);
    state.lastAllocation = allocation;
    const status = `${allocation.ID}/${allocation.ClientStatus}`;
    if (status !== lastStatus) {
      lastStatus = status;
      report({
        phase: allocation.ClientStatus === 'pending' ? 'placement' : 'start',
        message: `Allocation ${allocation.ID.slice(0, 8)} on node ${allocation.NodeName || allocation.NodeID.slice(0, 8)} is ${allocation.ClientStatus}`,
      });
    }
    const task = allocation.TaskStates?.[TASK_NAME];
    const events = task?.Events ?? [];
    const seen = seenEvents.get(allocation.ID) ?? 0;
    for (const event of events.slice(seen)) {
      report({
        phase: /image|pull/i.test(event.DisplayMessage ?? '') ? 'pull' : 'start',
        message: describeTaskEvent(event),
      });
    }
    seenEvents.set(allocation.ID, events.length);

    const failure = findFailureEvent(task);
    if (failure || TERMINAL_CLIENT_STATUSES.has(allocation.ClientStatus)) {
      const reason = failure
        ? describeTaskEvent(failure)
        : describeRecentEvents(task) || allocation.ClientDescription;
      throw new InternalError(
        `Nomad could not start the host task of job ${jobId} (allocation ${allocation.ID.slice(0, 8)} on node ` +
          `${allocation.NodeName || allocation.NodeID}, ${allocation.ClientStatus}): ${reason || 'no task events'}. ` +
          'Check the image/command and the driver on that node (`nomad alloc status`).',
      );
    }
    if (allocation.ClientStatus === 'running' && task?.State === 'running') return allocation;
  }
  throw new InternalError(`The allocation watch of job ${jobId} ended unexpectedly.`);
}

async function watchEvaluation(
  options: WaitForRunningAllocationOptions,
  evaluationId: string,
  signal: AbortSignal,
  state: WaitState,
  report: (progress: HostProgressV1) => void,
): Promise<never> {
  const { client, jobId } = options;
  for await (const { value: evaluation } of client.watch(
    (read) => client.readEvaluation(evaluationId, read),
    { signal },
  )) {
    if (evaluation.Status === 'pending') continue;
    if (evaluation.Status === 'failed') {
      throw new BackendUnavailableError(
        `Nomad's scheduler failed the evaluation of job ${jobId}: ${evaluation.StatusDescription ?? 'no description'}.`,
        [client.config.address],
      );
    }
    const failed = Object.entries(evaluation.FailedTGAllocs ?? {});
    if (failed.length > 0) {
      const reasons = failed.flatMap(([, metric]) => describePlacementFailure(metric));
      state.placementReasons = reasons;
      report({ phase: 'placement', message: `Nomad could not place the host yet: ${reasons.join('; ')}` });
      const exhausted = failed.some(([, metric]) => isExhaustion(metric));
      // "Exhausted" also means "larger than any node will ever be": that is no capacity to wait for.
      const tooLarge =
        exhausted && options.ask
          ? await largerThanEveryNode(client, options.ask, options.fit, signal)
          : undefined;
      if (tooLarge) {
        state.placementReasons = [...reasons, tooLarge];
        throw placementError(jobId, state.placementReasons, false);
      }
      if (options.placementFailure === 'fail') throw placementError(jobId, reasons, exhausted);
    }
    break;
  }
  // Placed (or waiting for capacity): the allocation watch decides from here.
  return new Promise<never>((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

function placementError(jobId: string, reasons: string[], exhausted: boolean): BerthError {
  const advice = exhausted
    ? 'The cluster is full: free capacity or add nodes, or lower `cpu`/`memoryMiB`, and retry.'
    : 'No node can take it: check `constraints`, `datacenters`, `nodePool`, that the nodes run the driver, and that `cpu`/`memoryMiB`/`diskMiB` fit a node.';
  return new CapacityError(
    `Nomad could not place job ${jobId}: ${reasons.join('; ')}. ${advice}`,
    exhausted ? FULL_RETRY_AFTER_MS : undefined,
    { retryable: exhausted },
  );
}

function timeoutError(options: WaitForRunningAllocationOptions, state: WaitState): BerthError {
  const seconds = Math.round(options.timeoutMs / 1000);
  if (!state.lastAllocation) {
    const reasons = state.placementReasons?.join('; ') ?? 'no placement failure reported';
    return new CapacityError(
      `Nomad did not place job ${options.jobId} within ${seconds} s (startTimeoutMs): ${reasons}.`,
      10_000,
    );
  }
  const allocation = state.lastAllocation;
  const events = describeRecentEvents(allocation.TaskStates?.[TASK_NAME]) || 'no task events';
  return new BackendUnavailableError(
    `The host task of job ${options.jobId} did not start within ${seconds} s (startTimeoutMs); allocation ` +
      `${allocation.ID.slice(0, 8)} is ${allocation.ClientStatus} on node ${allocation.NodeName || allocation.NodeID}. ` +
      `Last events: ${events}.`,
    [options.client.config.address],
  );
}

/** The allocation that matters: the newest one Nomad still wants running. */
export function newestWanted(
  allocations: readonly NomadAllocationListStub[],
): NomadAllocationListStub | undefined {
  return allocations
    .filter((allocation) => allocation.DesiredStatus === 'run')
    .sort((a, b) => b.CreateIndex - a.CreateIndex)[0];
}

/** How long a pool waits before asking a full cluster again. */
const FULL_RETRY_AFTER_MS = 5_000;

export interface ResourceAsk {
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly diskMiB: number;
}

/**
 * A reason when no node the job can use (its datacenters, node pool and driver; any status but
 * `down`) has (in total, less what it reserves) the CPU, memory and disk one host asks for;
 * undefined when some such node could hold it once free — even one draining or ineligible right
 * now, which may come back — or when nodes cannot be read: then the failure stays retryable.
 * One request (`/v1/nodes?resources=true`), however many nodes.
 */
export async function largerThanEveryNode(
  client: NomadClient,
  ask: ResourceAsk,
  fit: NodeFit | undefined,
  signal: AbortSignal,
): Promise<string | undefined> {
  try {
    const { value: stubs } = await client.listNodes({ signal, resources: true });
    const usable = (stubs ?? []).filter((node) => node.Status !== 'down' && (!fit || fits(node, fit)));
    if (usable.length === 0) return undefined;
    let largest = { cpu: 0, memoryMiB: 0, diskMiB: 0 };
    for (const node of usable) {
      const total = node.NodeResources;
      const reserved = node.ReservedResources;
      const free = {
        cpu: (total?.Cpu?.CpuShares ?? 0) - (reserved?.Cpu?.CpuShares ?? 0),
        memoryMiB: (total?.Memory?.MemoryMB ?? 0) - (reserved?.Memory?.MemoryMB ?? 0),
        diskMiB: (total?.Disk?.DiskMB ?? 0) - (reserved?.Disk?.DiskMB ?? 0),
      };
      if (free.cpu === 0 && free.memoryMiB === 0) return undefined; // resources not reported: cannot tell
      if (free.cpu >= ask.cpu && free.memoryMiB >= ask.memoryMiB && free.diskMiB >= ask.diskMiB)
        return undefined;
      largest = {
        cpu: Math.max(largest.cpu, free.cpu),
        memoryMiB: Math.max(largest.memoryMiB, free.memoryMiB),
        diskMiB: Math.max(largest.diskMiB, free.diskMiB),
      };
    }
    return (
      `no node can ever hold one host: it asks cpu ${ask.cpu} MHz, memory ${ask.memoryMiB} MiB, disk ${ask.diskMiB} MiB; ` +
      `the largest of the ${usable.length} node(s) it could use has cpu ${largest.cpu} MHz, memory ${largest.memoryMiB} MiB, disk ${largest.diskMiB} MiB`
    );
  } catch {
    return undefined;
  }
}
