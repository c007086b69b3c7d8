import { BackendUnavailableError, BerthError, throwIfAborted } from '@berth/core';
import { TASK_GROUP_NAME, TASK_NAME } from './build-nomad-job.js';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadAllocationListStub } from './client/nomad-types.js';
import { reapRawExecSessions } from './reap-raw-exec-sessions.js';

const TERMINAL = new Set(['complete', 'failed', 'lost']);

export interface RemoveNomadJobOptions {
  readonly signal?: AbortSignal;
  /** How long to wait for the allocations to stop after the purge. */
  readonly timeoutMs: number;
}

/**
 * Stops a host's job, waits until none of its allocations still runs, then purges it. (Purging
 * first would drop the allocations from the server's state at once, leaving nothing to watch.)
 * Idempotent: a job that is already gone is fine.
 */
export async function removeNomadJob(
  client: NomadClient,
  jobId: string,
  options: RemoveNomadJobOptions,
): Promise<void> {
  throwIfAborted(options.signal, `Removing Nomad job ${jobId}`);
  await reapLeftovers(client, jobId, options.signal);
  const stopped = await ignoreNotFound(
    client.stopJob(jobId, { signal: options.signal }).then(() => true),
    false,
  );
  if (!stopped) return;
  const allocations = await ignoreNotFound(
    client.jobAllocations(jobId, { signal: options.signal }).then((result) => result.value ?? []),
    [] as NomadAllocationListStub[],
  );
  const live = allocations.filter((allocation) => !TERMINAL.has(allocation.ClientStatus));
  if (live.length > 0) {
    const deadline = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    try {
      await Promise.all(live.map((allocation) => waitUntilStopped(client, allocation.ID, signal)));
    } catch (error) {
      throwIfAborted(options.signal, `Removing Nomad job ${jobId}`);
      if (!deadline.aborted) throw error;
      // Purge anyway so the job does not linger; the client kills the task when it catches up.
      await ignoreNotFound(client.stopJob(jobId, { purge: true, signal: options.signal }), undefined);
      throw new BackendUnavailableError(
        `Job ${jobId} was stopped and purged, but its allocation still ran after ${options.timeoutMs} ms ` +
          '(destroyTimeoutMs); the Nomad client on its node may be down. It stops the task when it reconnects.',
        [client.config.address],
        { cause: error },
      );
    }
  }
  await ignoreNotFound(client.stopJob(jobId, { purge: true, signal: options.signal }), undefined);
}

/** raw_exec only: kill what exec sessions left behind while the task can still run commands. */
async function reapLeftovers(
  client: NomadClient,
  jobId: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const job = await ignoreNotFound(
    client.readJob(jobId, { signal }).then((result) => result.value),
    undefined,
  );
  const task = job?.TaskGroups.find((group) => group.Name === TASK_GROUP_NAME)?.Tasks.find(
    (t) => t.Name === TASK_NAME,
  );
  if (!job || job.Stop || task?.Driver !== 'raw_exec') return;
  const { value: allocations } = await client.jobAllocations(jobId, { signal });
  const running = (allocations ?? []).filter((allocation) => allocation.ClientStatus === 'running');
  await Promise.all(running.map((allocation) => reapRawExecSessions(client, allocation.ID, TASK_NAME)));
}

async function waitUntilStopped(
  client: NomadClient,
  allocationId: string,
  signal: AbortSignal,
): Promise<void> {
  try {
    for await (const { value } of client.watch((read) => client.readAllocation(allocationId, read), {
      signal,
      waitMs: 30_000,
    })) {
      if (TERMINAL.has(value.ClientStatus)) return;
    }
  } catch (error) {
    if (BerthError.hasCode(error, 'NOT_FOUND')) return; // garbage-collected: certainly not running
    throw error;
  }
}

async function ignoreNotFound<T>(promise: Promise<T>, fallback: T): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (BerthError.hasCode(error, 'NOT_FOUND')) return fallback;
    throw error;
  }
}
