import { EventEmitter } from 'eventemitter3';
import { describe, expect, it } from 'vitest';
import type { DrainMarkerReadingV1, DrainMarkerStoreV1 } from '../backend/v1/drain-marker-store.js';
import { AuthenticationError } from '../errors/index.js';
import type { PoolEvents } from '../pool/pool-events.js';
import { CombinedDrainMarkerStore } from './combined-drain-marker-store.js';
import { newDrainMarker } from './drain-marker.js';
import { MemoryDrainMarkerStore } from './memory-drain-marker-store.js';
import { PoolDrainControl } from './pool-drain-control.js';

/** A shared store whose token has no permission (Nomad Variables answering 403), or that is down. */
class RefusingStore extends MemoryDrainMarkerStore {
  override readonly description = 'refusing';
  constructor(private readonly forbidden: boolean) {
    super();
  }
  override async read(): Promise<DrainMarkerReadingV1> {
    return { state: 'unknown', reason: 'HTTP 403 Permission denied', forbidden: this.forbidden || undefined };
  }
  override async write(): Promise<void> {
    throw new AuthenticationError('Nomad refused to write variable: Permission denied');
  }
  override async remove(): Promise<boolean> {
    throw new AuthenticationError('Nomad refused to delete variable: Permission denied');
  }
}

function controlOver(store: DrainMarkerStoreV1) {
  const events = new EventEmitter<PoolEvents>();
  const log: string[] = [];
  const control = new PoolDrainControl(
    {
      poolId: 'p1',
      defaultMode: 'wait',
      events,
      closing: false,
      changed: (_before, after, source) => {
        if (after === undefined) log.push(`resumed:${source}`);
      },
      describe: () => ({
        owner: 'machine.1.2.1',
        poolId: 'p1',
        pid: 1,
        hostname: 'box',
        backendId: 'local',
        startedAt: 'now',
        leasedSlots: 0,
        hosts: [],
      }),
    },
    store,
    60_000,
  );
  return { control, log };
}

describe('CombinedDrainMarkerStore with a store that refuses this process', () => {
  it('file marker present → absent while the shared store always answers 403 → resumed, warned once', async () => {
    const file = new MemoryDrainMarkerStore();
    const warnings: string[] = [];
    const combined = new CombinedDrainMarkerStore([file, new RefusingStore(true)], (store, reason) =>
      warnings.push(`${store.description}: ${reason}`),
    );
    const { control, log } = controlOver(combined);
    await control.start();
    await combined.write('p1', newDrainMarker('wait')); // the refusing store's write does not fail it
    await control.tick();
    expect(control.effective).toBe('wait');
    expect(await combined.remove('p1')).toBe(true);
    await control.tick();
    await control.tick();
    expect(control.effective).toBeUndefined();
    expect(log).toEqual(['resumed:marker']);
    expect(warnings).toEqual(['refusing: HTTP 403 Permission denied']);
    expect(combined.active).toEqual([file]);
    await control.stop();
  });

  it('a store that is only down (not forbidden) still keeps the drain last seen', async () => {
    const file = new MemoryDrainMarkerStore();
    const down = new RefusingStore(false);
    down.write = async () => undefined;
    down.remove = async () => false;
    const combined = new CombinedDrainMarkerStore([file, down], () => {
      throw new Error('not dropped');
    });
    const { control } = controlOver(combined);
    await control.start();
    await combined.write('p1', newDrainMarker('wait'));
    await control.tick();
    await combined.remove('p1');
    await control.tick();
    expect(control.effective).toBe('wait');
    expect(combined.active).toHaveLength(2);
    await control.stop();
  });

  it('the last store asked is never dropped: its refusal is reported', async () => {
    const combined = new CombinedDrainMarkerStore([new RefusingStore(true)], () => undefined);
    expect((await combined.read('p1')).state).toBe('unknown');
    await expect(combined.write('p1', newDrainMarker('wait'))).rejects.toThrow(/Permission denied/);
  });
});
