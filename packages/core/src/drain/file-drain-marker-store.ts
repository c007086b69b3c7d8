import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type {
  DrainMarkerReadingV1,
  DrainMarkerStoreV1,
  DrainMarkerV1,
  DrainProcessRecordV1,
} from '../backend/v1/drain-marker-store.js';
import { assertPoolIdForMarker, berthHome, parseDrainMarker } from './drain-marker.js';

/**
 * Drain markers as files: `<home>/pools/<poolId>/drain.json`, and one record per live process in
 * `<home>/pools/<poolId>/processes/<owner>.json`. Writes go to a temporary file then `rename`, so a
 * reader sees the old file or the new one, never half of one.
 */
export class FileDrainMarkerStore implements DrainMarkerStoreV1 {
  readonly directory: string;

  constructor(directory = berthHome()) {
    this.directory = path.resolve(directory);
  }

  get description(): string {
    return `file:${this.directory}`;
  }

  markerPath(poolId: string): string {
    assertPoolIdForMarker(poolId);
    return path.join(this.directory, 'pools', poolId, 'drain.json');
  }

  async read(poolId: string): Promise<DrainMarkerReadingV1> {
    let file: string;
    try {
      file = this.markerPath(poolId);
    } catch (error) {
      return { state: 'corrupt', reason: describe(error) };
    }
    try {
      return parseDrainMarker(await readFile(file, 'utf8'));
    } catch (error) {
      // Only "no such file" is absence; anything else (EACCES, EISDIR, EIO) may hide a marker.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'absent' };
      return { state: 'corrupt', reason: `${file} cannot be read: ${describe(error)}` };
    }
  }

  async write(poolId: string, marker: DrainMarkerV1): Promise<void> {
    await writeAtomically(this.markerPath(poolId), `${JSON.stringify(marker, null, 2)}\n`);
  }

  async remove(poolId: string): Promise<boolean> {
    const file = this.markerPath(poolId);
    try {
      await rm(file);
      // No empty directory per pool id left behind (records of live processes keep it).
      await rmdir(path.dirname(file)).catch(() => undefined);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  async recordProcess(record: DrainProcessRecordV1): Promise<void> {
    await writeAtomically(this.processPath(record.poolId, record.owner), `${JSON.stringify(record)}\n`);
  }

  async forgetProcess(poolId: string, owner: string): Promise<void> {
    const file = this.processPath(poolId, owner);
    await rm(file, { force: true });
    // Leave no empty directories per pool id behind (a marker or another record keeps them).
    for (const directory of [path.dirname(file), path.dirname(path.dirname(file))])
      if (
        !(await rmdir(directory).then(
          () => true,
          () => false,
        ))
      )
        break;
  }

  async listProcesses(poolId: string): Promise<DrainProcessRecordV1[]> {
    const directory = path.dirname(this.processPath(poolId, 'x'));
    let names: string[];
    try {
      names = await readdir(directory);
    } catch {
      return [];
    }
    const records: DrainProcessRecordV1[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      try {
        const record = JSON.parse(await readFile(path.join(directory, name), 'utf8')) as DrainProcessRecordV1;
        if (typeof record.owner === 'string' && record.poolId === poolId) records.push(record);
      } catch {
        // Removed meanwhile, or half-written by an older Berth: not a process we can report.
      }
    }
    return records;
  }

  private processPath(poolId: string, owner: string): string {
    const safeOwner = owner.replace(/[^A-Za-z0-9_.-]/g, '_');
    return path.join(path.dirname(this.markerPath(poolId)), 'processes', `${safeOwner}.json`);
  }
}

/**
 * Temporary file, then `rename`. Retried once on ENOENT: another process's `forgetProcess` may
 * remove the (then empty) directory between our `mkdir` and `writeFile`.
 */
async function writeAtomically(file: string, text: string, retried = false): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, text, { mode: 0o644 });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    if (!retried && (error as NodeJS.ErrnoException).code === 'ENOENT')
      return writeAtomically(file, text, true);
    throw error;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
