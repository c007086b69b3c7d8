import type {
  DrainMarkerReadingV1,
  DrainMarkerStoreV1,
  DrainMarkerV1,
  DrainProcessRecordV1,
} from '../backend/v1/drain-marker-store.js';
import type { WaitOptions } from '../backend/v1/types.js';
import { AuthenticationError } from '../errors/index.js';

/** A store the combined store stopped asking, and why (for the warning). */
export type DroppedStoreListener = (store: DrainMarkerStoreV1, reason: string) => void;

/** The default warning: once per store, on stderr, so an operator sees why it is ignored. */
const warnDropped: DroppedStoreListener = (store, reason) =>
  process.emitWarning(
    `Berth ignores the drain marker store ${store.description} from now on: it refuses this process (${reason}). ` +
      'Drain markers are read from the other store(s) only; grant the permission to drain across machines.',
    { code: 'BERTH_DRAIN_STORE_FORBIDDEN' },
  );

/**
 * Several stores as one (the home directory and an engine's shared state): a marker in any of
 * them drains the pool; writes and removals go to all of them. A store that refuses this process
 * (a `forbidden` reading: no permission) is dropped after one warning; otherwise its lasting
 * `unknown` would outrank the others' `absent` and keep the pool drained after `berth resume`.
 */
export class CombinedDrainMarkerStore implements DrainMarkerStoreV1 {
  private readonly dropped = new Set<DrainMarkerStoreV1>();

  constructor(
    readonly stores: readonly DrainMarkerStoreV1[],
    private readonly onDropped: DroppedStoreListener = warnDropped,
  ) {}

  /** The stores still asked. */
  get active(): DrainMarkerStoreV1[] {
    return this.stores.filter((store) => !this.dropped.has(store));
  }

  get description(): string {
    return this.stores.map((store) => store.description).join(' + ');
  }

  async read(poolId: string, options?: WaitOptions): Promise<DrainMarkerReadingV1> {
    const stores = this.active;
    const readings = await Promise.all(stores.map((store) => safeRead(store, poolId, options)));
    const usable = readings.filter((reading, index) => {
      if (reading.state !== 'unknown' || !reading.forbidden) return true;
      this.drop(stores[index] as DrainMarkerStoreV1, reading.reason);
      return false;
    });
    // Every store refused: nothing can be known, and nothing will change that.
    if (usable.length === 0 && readings.length > 0) return readings[0] as DrainMarkerReadingV1;
    return combineReadings(usable);
  }

  async write(poolId: string, marker: DrainMarkerV1, options?: WaitOptions): Promise<void> {
    await this.onEach((store) => store.write(poolId, marker, options));
  }

  async remove(poolId: string, options?: WaitOptions): Promise<boolean> {
    const removed = await this.onEach((store) => store.remove(poolId, options));
    return removed.some(Boolean);
  }

  async recordProcess(record: DrainProcessRecordV1, options?: WaitOptions): Promise<void> {
    await this.onEach((store) => store.recordProcess(record, options));
  }

  async forgetProcess(poolId: string, owner: string, options?: WaitOptions): Promise<void> {
    await this.onEach((store) => store.forgetProcess(poolId, owner, options));
  }

  async listProcesses(poolId: string, options?: WaitOptions): Promise<DrainProcessRecordV1[]> {
    const lists = await Promise.all(
      this.active.map((store) => store.listProcesses(poolId, options).catch(() => [])),
    );
    // The same process recorded in several stores: keep its newest record.
    const byOwner = new Map<string, DrainProcessRecordV1>();
    for (const record of lists.flat()) {
      const known = byOwner.get(record.owner);
      if (!known || known.updatedAt < record.updatedAt) byOwner.set(record.owner, record);
    }
    return [...byOwner.values()];
  }

  /**
   * Every active store is attempted; a store that refuses this process (AUTHENTICATION) is dropped
   * with its warning, any other failure is thrown once all have settled.
   */
  private async onEach<T>(work: (store: DrainMarkerStoreV1) => Promise<T>): Promise<T[]> {
    const stores = this.active;
    const settled = await Promise.allSettled(stores.map(work));
    const values: T[] = [];
    let failure: { error: unknown } | undefined;
    settled.forEach((each, index) => {
      if (each.status === 'fulfilled') values.push(each.value);
      else {
        const refused = AuthenticationError.isInstance(each.reason);
        if (!refused || !this.drop(stores[index] as DrainMarkerStoreV1, each.reason.message))
          failure ??= { error: each.reason };
      }
    });
    if (failure) throw failure.error;
    return values;
  }

  /** Resolves false when `store` is the last one asked: it is kept (and its failure reported). */
  private drop(store: DrainMarkerStoreV1, reason: string): boolean {
    if (this.dropped.has(store)) return true;
    if (this.dropped.size + 1 >= this.stores.length) return false;
    this.dropped.add(store);
    try {
      this.onDropped(store, reason);
    } catch {
      // a warning must never break reading the marker
    }
    return true;
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
