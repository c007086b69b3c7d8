import { EventEmitter } from 'eventemitter3';
import { describe, expect, it } from 'vitest';
import type { DrainMarkerReadingV1 } from '../backend/v1/drain-marker-store.js';
import type { WaitOptions } from '../backend/v1/types.js';
import { CURRENT_OWNER } from '../host/owner-identity.js';
import type { PoolEvents } from '../pool/pool-events.js';
import { combineReadings } from './combined-drain-marker-store.js';
import { newDrainMarker } from './drain-marker.js';
import { decideMarkerDrain } from './drain-marker-watcher.js';
import type { DrainMode } from './drain-requests.js';
import { MemoryDrainMarkerStore } from './memory-drain-marker-store.js';
import { PoolDrainControl } from './pool-drain-control.js';

const present = (mode: DrainMode, requestedAt = '2026-01-01T00:00:00.000Z'): DrainMarkerReadingV1 => ({
  state: 'present',
  marker: { action: 'drain', mode, requestedAt, principal: 'ops@box' },
});

describe('decideMarkerDrain (docs/architecture.md §13 rules for one reading)', () => {
  it('absent → no drain, whatever was before', () => {
    expect(decideMarkerDrain({ mode: 'wait', seen: 'x' }, { state: 'absent' }, 'wait')).toBeUndefined();
  });
  it("present → drain in the marker's mode, identified by requestedAt", () => {
    expect(decideMarkerDrain(undefined, present('fail'), 'wait')).toMatchObject({
      mode: 'fail',
      seen: '2026-01-01T00:00:00.000Z',
      principal: 'ops@box',
    });
  });
  it("corrupt or unreadable → drain in the pool's default mode (fail safe)", () => {
    expect(decideMarkerDrain(undefined, { state: 'corrupt', reason: 'bad json' }, 'fail')).toEqual({
      mode: 'fail',
      seen: 'corrupt',
      corrupt: 'bad json',
    });
  });
  it('store unreachable → keep what was last known, drained or not', () => {
    const previous = { mode: 'wait' as const, seen: 'x' };
    expect(decideMarkerDrain(previous, { state: 'unknown', reason: 'down' }, 'wait')).toBe(previous);
    expect(decideMarkerDrain(undefined, { state: 'unknown', reason: 'down' }, 'wait')).toBeUndefined();
  });
  it('several stores: any sign of a marker wins', () => {
    expect(combineReadings([{ state: 'absent' }, { state: 'corrupt', reason: 'r' }]).state).toBe('corrupt');
    expect(combineReadings([{ state: 'corrupt', reason: 'r' }, present('wait')]).state).toBe('present');
    expect(combineReadings([{ state: 'absent' }, { state: 'unknown', reason: 'r' }]).state).toBe('unknown');
    expect(combineReadings([{ state: 'absent' }, { state: 'absent' }]).state).toBe('absent');
  });
});

function harness(defaultMode: DrainMode = 'wait') {
  const store = new MemoryDrainMarkerStore();
  const events = new EventEmitter<PoolEvents>();
  const log: string[] = [];
  const changes: [DrainMode | undefined, DrainMode | undefined, string][] = [];
  events.on('pool:drain-requested', (event) => log.push(`requested:${event.source}:${event.mode}`));
  const state = { closing: false };
  const control = new PoolDrainControl(
    {
      poolId: 'p1',
      defaultMode,
      events,
      get closing() {
        return state.closing;
      },
      changed: (before, after, source) => {
        changes.push([before, after, source]);
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
  return { store, control, log, changes, state };
}

describe('PoolDrainControl: in-process drain and the marker, composed', () => {
  it('a marker present before start is honoured by the first tick', async () => {
    const { store, control, log } = harness();
    await store.write('p1', newDrainMarker('fail', 'ops@box'));
    await control.start();
    expect(control.effective).toBe('fail');
    expect(log).toEqual(['requested:marker:fail']);
    await control.stop();
  });

  it('marker removed → resume with source marker; re-removing is a no-op', async () => {
    const { store, control, log } = harness();
    await control.start();
    await store.write('p1', newDrainMarker('wait'));
    await control.tick();
    expect(control.effective).toBe('wait');
    expect(await store.remove('p1')).toBe(true);
    expect(await store.remove('p1')).toBe(false);
    await control.tick();
    await control.tick();
    expect(control.effective).toBeUndefined();
    expect(log).toEqual(['requested:marker:wait', 'resumed:marker']);
    await control.stop();
  });

  it('drained while either asks: resume() alone does not lift a marker, nor the marker an api drain', async () => {
    const { store, control, log } = harness();
    await control.start();
    control.request('api', 'wait');
    await store.write('p1', newDrainMarker('fail'));
    await control.tick();
    expect(control.effective).toBe('fail'); // the stricter mode wins
    control.lift('api');
    expect(control.effective).toBe('fail');
    control.request('api', 'wait');
    await store.remove('p1');
    await control.tick();
    expect(control.effective).toBe('wait');
    control.lift('api');
    expect(control.effective).toBeUndefined();
    expect(log.at(-1)).toBe('resumed:api');
    await control.stop();
  });

  it('a corrupt marker drains in the default mode and counts as seen', async () => {
    const { store, control } = harness('fail');
    await control.start();
    store.readings.set('p1', { state: 'corrupt', reason: 'not JSON' });
    await control.tick();
    expect(control.effective).toBe('fail');
    const [record] = await store.listProcesses('p1');
    expect(record?.markerSeen).toBe('corrupt');
    expect(record?.draining).toBe('fail');
    expect(record?.drainedBy).toEqual(['marker']);
    await control.stop();
  });

  it('an unreachable store changes nothing', async () => {
    const { store, control } = harness();
    await control.start();
    await store.write('p1', newDrainMarker('wait'));
    await control.tick();
    store.readings.set('p1', { state: 'unknown', reason: 'connection refused' });
    await control.tick();
    expect(control.effective).toBe('wait');
    await control.stop();
  });

  it('close wins: a marker removed while the pool closes never resumes it', async () => {
    const { store, control, changes, state } = harness();
    await control.start();
    await store.write('p1', newDrainMarker('wait'));
    await control.tick();
    state.closing = true;
    await store.remove('p1');
    await control.tick();
    expect(control.effective).toBe('wait');
    expect(changes.filter(([, after]) => after === undefined)).toEqual([]);
    await control.stop();
  });

  it('a new request in the same mode is a new event and a new "seen"', async () => {
    const { store, control, log } = harness();
    await control.start();
    await store.write('p1', { ...newDrainMarker('wait'), requestedAt: '2026-01-01T00:00:00.000Z' });
    await control.tick();
    await store.write('p1', { ...newDrainMarker('wait'), requestedAt: '2026-01-02T00:00:00.000Z' });
    await control.tick();
    expect(log).toEqual(['requested:marker:wait', 'requested:marker:wait']);
    expect((await store.listProcesses('p1'))[0]?.markerSeen).toBe('2026-01-02T00:00:00.000Z');
    await control.stop();
  });

  it('stop forgets the process record', async () => {
    const { store, control } = harness();
    await control.start();
    expect(await store.listProcesses('p1')).toHaveLength(1);
    await control.stop();
    expect(await store.listProcesses('p1')).toHaveLength(0);
  });

  it("start forgets the provably dead records of its own pool id, and nobody else's", async () => {
    const { store, control } = harness();
    const record = (poolId: string, owner: string) => ({
      owner,
      poolId,
      pid: 1,
      hostname: 'box',
      backendId: 'local',
      startedAt: 'then',
      updatedAt: new Date(0).toISOString(),
      draining: undefined,
      drainedBy: [],
      markerSeen: undefined,
      leasedSlots: 0,
      hosts: [],
    });
    const dead = `${CURRENT_OWNER}.99`; // this process, an instance that never registered: SIGKILLed
    await store.recordProcess(record('p1', dead));
    await store.recordProcess(record('p1', 'other-machine.7.8.1'));
    await store.recordProcess(record('p2', dead));
    await control.start();
    await control.stop(); // waits for the sweep
    expect((await store.listProcesses('p1')).map((each) => each.owner)).toEqual(['other-machine.7.8.1']);
    expect(await store.listProcesses('p2')).toHaveLength(1);
  });
});

describe('DrainMarkerWatcher stop', () => {
  it('does not wait for a read that hangs: stop aborts it, and a pool that never recorded forgets nothing', async () => {
    const store = new MemoryDrainMarkerStore();
    let forgot = 0;
    store.read = (_poolId: string, options?: WaitOptions) =>
      new Promise<DrainMarkerReadingV1>((resolve) =>
        options?.signal?.addEventListener('abort', () => resolve({ state: 'unknown', reason: 'aborted' }), {
          once: true,
        }),
      );
    store.forgetProcess = async () => {
      forgot += 1;
    };
    const events = new EventEmitter<PoolEvents>();
    const control = new PoolDrainControl(
      {
        poolId: 'p1',
        defaultMode: 'wait',
        events,
        closing: false,
        changed: () => undefined,
        describe: () => ({
          owner: 'o',
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
    const starting = control.start(); // the first read hangs
    await control.stop();
    await starting;
    expect(control.effective).toBeUndefined();
    expect(forgot).toBe(0);
  });
});
