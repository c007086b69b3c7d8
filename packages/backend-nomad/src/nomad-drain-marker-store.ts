import {
  AuthenticationError,
  type DrainMarkerReadingV1,
  type DrainMarkerStoreV1,
  type DrainMarkerV1,
  type DrainProcessRecordV1,
  NotFoundError,
  parseDrainMarker,
  type WaitOptions,
} from '@berth/core';
import type { NomadClient } from './client/nomad-client.js';

/** Where Berth keeps drain markers in Nomad Variables: `berth/pools/<pool>/drain`, …/processes/<owner>. */
export const NOMAD_DRAIN_PREFIX = 'berth/pools';

/**
 * Nomad Variable paths allow `[A-Za-z0-9_~/-]` but not `.`, which pool ids and owners may hold:
 * `.` becomes `~` (labels never contain `~`, so it is reversible).
 */
export function variableSegment(value: string): string {
  return value.replace(/\./g, '~');
}

/**
 * Drain markers in Nomad Variables (docs/architecture.md §13), so every machine whose pools talk to one Nomad cluster
 * drains together. A variable write is atomic (readers see the old items or the new ones). Reads
 * never throw: no variable is absent, an item that does not parse is corrupt (present), and an
 * agent that cannot be asked (down) is `unknown`: pools keep what they last knew; a token without
 * variable permission (401/403) is `unknown` and `forbidden`: the file store carries on alone.
 */
export class NomadDrainMarkerStore implements DrainMarkerStoreV1 {
  constructor(
    private readonly client: NomadClient,
    private readonly prefix = NOMAD_DRAIN_PREFIX,
  ) {}

  get description(): string {
    return `nomad-variables:${this.client.config.address}/${this.prefix} (namespace ${this.client.config.namespace ?? 'default'})`;
  }

  private markerPath(poolId: string): string {
    return `${this.prefix}/${variableSegment(poolId)}/drain`;
  }

  private processesPrefix(poolId: string): string {
    return `${this.prefix}/${variableSegment(poolId)}/processes/`;
  }

  async read(poolId: string, options: WaitOptions = {}): Promise<DrainMarkerReadingV1> {
    try {
      const { value } = await this.client.readVariable(this.markerPath(poolId), options);
      const text = value.Items?.marker;
      if (text === undefined) return { state: 'corrupt', reason: 'the drain variable has no `marker` item' };
      return parseDrainMarker(text);
    } catch (error) {
      if (NotFoundError.isInstance(error)) return { state: 'absent' };
      const reason = error instanceof Error ? error.message : String(error);
      // 401/403 is configuration, not an outage: say so, so the combined store stops asking.
      if (AuthenticationError.isInstance(error)) return { state: 'unknown', reason, forbidden: true };
      return { state: 'unknown', reason };
    }
  }

  async write(poolId: string, marker: DrainMarkerV1, options: WaitOptions = {}): Promise<void> {
    await this.client.putVariable(this.markerPath(poolId), { marker: JSON.stringify(marker) }, options);
  }

  async remove(poolId: string, options: WaitOptions = {}): Promise<boolean> {
    const present = (await this.read(poolId, options)).state !== 'absent';
    await this.client.deleteVariable(this.markerPath(poolId), options);
    return present;
  }

  async recordProcess(record: DrainProcessRecordV1, options: WaitOptions = {}): Promise<void> {
    const path = `${this.processesPrefix(record.poolId)}${variableSegment(record.owner)}`;
    await this.client.putVariable(path, { record: JSON.stringify(record) }, options);
  }

  async forgetProcess(poolId: string, owner: string, options: WaitOptions = {}): Promise<void> {
    await this.client.deleteVariable(`${this.processesPrefix(poolId)}${variableSegment(owner)}`, options);
  }

  async listProcesses(poolId: string, options: WaitOptions = {}): Promise<DrainProcessRecordV1[]> {
    const { value: listed } = await this.client.listVariables(this.processesPrefix(poolId), options);
    const records = await Promise.all(
      (listed ?? []).map(async (variable) => {
        try {
          const { value } = await this.client.readVariable(variable.Path, options);
          const record = JSON.parse(value.Items?.record ?? '') as DrainProcessRecordV1;
          return record.poolId === poolId ? record : undefined;
        } catch {
          return undefined; // removed meanwhile, or not ours to read
        }
      }),
    );
    return records.filter((record): record is DrainProcessRecordV1 => record !== undefined);
  }
}
