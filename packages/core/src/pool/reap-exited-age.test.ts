/** The start sweep ages an exited host from its exit, not its creation (and `on` sees the sweep). */
import { describe, expect, it } from 'vitest';
import { BACKEND_SPECIFICATION_V1, type BackendV1, type HostDescriptorV1 } from '../backend/v1/types.js';
import { InternalError } from '../errors/index.js';
import { buildHostLabels, hashSpec } from '../host/labels.js';
import { createPool } from './slot-pool.js';

const POOL = 'exited-age';
const LIFETIME_MS = 1_000;

/** A backend whose engine holds only the given (stopped) hosts; it records what the sweep removes. */
function engineWith(descriptors: HostDescriptorV1[]): { backend: BackendV1; removed: string[] } {
  const removed: string[] = [];
  const backend: BackendV1 = {
    specificationVersion: BACKEND_SPECIFICATION_V1,
    backendId: 'fake-stopped',
    capabilities: {
      persistence: true,
      archive: false,
      oneShotExec: false,
      hostLossEvents: false,
      stopStart: false,
    },
    resolveHostSpec: () => ({}),
    createHost: async () => {
      throw new InternalError('not used: minHosts is 0');
    },
    listHosts: async () => descriptors.filter((descriptor) => !removed.includes(descriptor.id)),
    attachHost: async () => {
      throw new InternalError('a stopped host of a backend without stopStart is never attached');
    },
    removeHost: async (descriptor) => {
      removed.push(descriptor.id);
    },
  };
  return { backend, removed };
}

describe('reaping exited hosts', () => {
  it('an exited host ages from its exit: created long ago but exited just now, it is kept', async () => {
    const now = Date.now();
    const labels = buildHostLabels({
      poolId: POOL,
      profile: 'default',
      specHash: hashSpec({}, 1),
      owner: 'another-machine.1.1',
    });
    const descriptor = (id: string, exitedAgoMs: number | undefined): HostDescriptorV1 => ({
      id,
      labels,
      state: 'stopped',
      createdAtMs: now - 10 * LIFETIME_MS,
      ...(exitedAgoMs === undefined ? {} : { exitedAtMs: now - exitedAgoMs }),
    });
    const { backend, removed } = engineWith([
      descriptor('exited-just-now', 100),
      descriptor('exited-long-ago', 5 * LIFETIME_MS),
      descriptor('exit-time-unknown', undefined),
    ]);
    const reaped: string[] = [];
    const pool = await createPool({
      backend,
      poolId: POOL,
      hostLifetimeMs: LIFETIME_MS,
      // Past the window in which a live owner's stopped-looking host may still be being created.
      createTimeoutMs: LIFETIME_MS,
      handleSignals: false,
      on: { 'host:reaped': (event) => reaped.push(`${event.hostId}: ${event.reason}`) },
    });
    try {
      expect(removed.sort()).toEqual(['exit-time-unknown', 'exited-long-ago']);
      expect(reaped.sort()).toEqual([
        'exit-time-unknown: exited and abandoned',
        'exited-long-ago: exited and abandoned',
      ]);
    } finally {
      await pool.close();
    }
  });
});
