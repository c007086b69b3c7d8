/** The backend contract suite (@berth/testkit) against the real dockerd, on berth-test/busybox:1. */
import { createDockerBackend } from '@berth/backend-docker';
import { runBackendConformance } from '@berth/testkit';
import { afterAll, expect } from 'vitest';
import {
  BUSYBOX_HOST,
  containersOf,
  docker,
  removeContainers,
  uniquePoolId,
} from './fixtures/docker-pool-helpers.js';

const poolId = uniquePoolId('conformance');

runBackendConformance({
  name: 'docker (busybox)',
  createBackend: () => createDockerBackend(),
  host: BUSYBOX_HOST,
  slotsPerHost: 2,
  poolId,
  // From outside the SDK, as an operator or the OOM killer would.
  loseHost: async (hostId) => {
    await docker('kill', hostId);
  },
  countHosts: async (id) => (await containersOf(id)).length,
  timeoutMs: 90_000,
});

afterAll(async () => {
  const left = await containersOf(poolId);
  await removeContainers(left);
  expect(left, 'containers left behind by the conformance suite').toEqual([]);
});
