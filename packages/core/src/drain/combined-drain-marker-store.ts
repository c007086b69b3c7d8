import type {
  DrainMarkerReadingV1,
  DrainMarkerStoreV1,
  DrainMarkerV1,
  DrainProcessRecordV1,
} from '../backend/v1/drain-marker-store.js';
import type { WaitOptions } from '../backend/v1/types.js';

/**
 * Several stores as one (the home directory and an engine's shared state): a marker in any of
 * them drains the pool; writes and removals go to all of them.
 */
export class CombinedDrainMarkerStore implements DrainMarkerStoreV1 {
  constructor(readonly stores: readonly DrainMarkerStoreV1[]) {}

  get description(): string {
    return this.stores.map((store) => store.description).join(' + ');
  }

  async read(poolId: string, options?: WaitOptions): Promise<DrainMarkerReadingV1> {
    const readings = await Promise.all(this.stores.map((store) => safeRead(store, poolId, options)));
    return combineReadings(readings);
  }

  async write(poolId: string, marker: DrainMarkerV1, options?: WaitOptions): Promise<void> {
    await allOf(this.stores.map((store) => store.write(poolId, marker, options)));
  }

  async remove(poolId: string, options?: WaitOptions): Promise<boolean> {
    const removed = await allOf(this.stores.map((store) => store.remove(poolId, options)));
    return removed.some(Boolean);
  }

  async recordProcess(record: DrainProcessRecordV1, options?: WaitOptions): Promise<void> {
    await allOf(this.stores.map((store) => store.recordProcess(record, options)));
  }

  async forgetProcess(poolId: string, owner: string, options?: WaitOptions): Promise<void> {
    await allOf(this.stores.map((store) => store.forgetProcess(poolId, owner, options)));
  }

  async listProcesses(poolId: string, options?: WaitOptions): Promise<DrainProcessRecordV1[]> {
    const lists = await Promise.all(
      this.stores.map((store) => store.listProcesses(poolId, options).catch(() => [])),
    );
    // The same process recorded in several stores: keep its newest record.
    const byOwner = new Map<string, DrainProcessRecordV1>();
    for (const record of lists.flat()) {
      const known = byOwner.get(record.owner);
      if (!known || known.updatedAt < record.updatedAt) byOwner.set(record.owner, record);
    }
    return [...byOwner.values()];
  }
}

/** A store that broke its promise not to throw still counts as "could not be asked". */
export async function safeRead(
  store: DrainMarkerStoreV1,
  poolId: string,
  options?: WaitOptions,
): Promise<DrainMarkerReadingV1> {
  try {
    return await store.read(poolId, options);
  } catch (error) {
    return { state: 'unknown', reason: error instanceof Error ? error.message : String(error) };
  }
}

/** Present beats corrupt beats unknown beats absent: any sign of a marker drains. */
export function combineReadings(readings: readonly DrainMarkerReadingV1[]): DrainMarkerReadingV1 {
  const rank = { present: 3, corrupt: 2, unknown: 1, absent: 0 } as const;
  let best: DrainMarkerReadingV1 = { state: 'absent' };
  for (const reading of readings) if (rank[reading.state] > rank[best.state]) best = reading;
  return best;
}

/** Every write is attempted; the first failure is thrown once all have settled. */
async function allOf<T>(work: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(work);
  const failed = settled.find((each) => each.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return settled.map((each) => (each as PromiseFulfilledResult<T>).value);
}
