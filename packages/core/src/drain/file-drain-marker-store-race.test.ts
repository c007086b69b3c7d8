import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

/** Another process's forgetProcess removes the empty directory between our mkdir and writeFile. */
const race = vi.hoisted(() => ({ armed: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    writeFile: (async (file: string, ...rest: unknown[]) => {
      if (race.armed) {
        race.armed = false;
        await actual.rm(path.dirname(file), { recursive: true, force: true });
      }
      return (actual.writeFile as (...args: unknown[]) => Promise<void>)(file, ...rest);
    }) as typeof actual.writeFile,
  };
});

const { FileDrainMarkerStore } = await import('./file-drain-marker-store.js');
const { newDrainMarker } = await import('./drain-marker.js');

const home = mkdtempSync(path.join(os.tmpdir(), 'berth-marker-race-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('FileDrainMarkerStore write racing a forgetProcess', () => {
  it('retries once when its directory vanished between mkdir and writeFile', async () => {
    const store = new FileDrainMarkerStore(home);
    race.armed = true;
    await store.write('p1', newDrainMarker('wait', 'ops@box'));
    expect(race.armed).toBe(false); // the race did happen
    expect((await store.read('p1')).state).toBe('present');
  });
});
