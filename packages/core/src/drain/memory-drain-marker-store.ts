import type {
  DrainMarkerReadingV1,
  DrainMarkerStoreV1,
  DrainMarkerV1,
  DrainProcessRecordV1,
} from '../backend/v1/drain-marker-store.js';

/**
 * A store in memory, for tests and for one process's pools to share: `reading` can be set to any
 * state (corrupt, unknown) to drive the rules.
 */
export class MemoryDrainMarkerStore implements DrainMarkerStoreV1 {
  readonly description: string = 'memory';
  readonly readings = new Map<string, DrainMarkerReadingV1>();
  readonly processes = new Map<string, DrainProcessRecordV1>();

  async read(poolId: string): Promise<DrainMarkerReadingV1> {
    return this.readings.get(poolId) ?? { state: 'absent' };
  }

  async write(poolId: string, marker: DrainMarkerV1): Promise<void> {
    this.readings.set(poolId, { state: 'present', marker });
  }

  async remove(poolId: string): Promise<boolean> {
    return this.readings.delete(poolId);
  }

  async recordProcess(record: DrainProcessRecordV1): Promise<void> {
    this.processes.set(`${record.poolId}/${record.owner}`, record);
  }

  async forgetProcess(poolId: string, owner: string): Promise<void> {
    this.processes.delete(`${poolId}/${owner}`);
  }

  async listProcesses(poolId: string): Promise<DrainProcessRecordV1[]> {
    return [...this.processes.values()].filter((record) => record.poolId === poolId);
  }
}
