/**
 * The backend contract suite (@berth/testkit) against the real dockerd, on berth-test/busybox:1,
 * once per shell transport: through berth-agent (the default) and one `docker exec` per shell.
 */
import { createDockerBackend, type DockerShellTransportMode } from '@berth/backend-docker';
import { runBackendConformance, SHELL_PROTOCOL_LIMITS } from '@berth/testkit';
import { afterAll, expect } from 'vitest';
import {
  BUSYBOX_HOST,
  containersOf,
  DEBIAN,
  docker,
  removeContainers,
  uniquePoolId,
} from './fixtures/docker-pool-helpers.js';

const transports: Record<Exclude<DockerShellTransportMode, 'auto'>, string> = {
  agent: 'shells through berth-agent',
  exec: 'one docker exec per shell',
};
const poolIds: string[] = [];

for (const [shellTransport, description] of Object.entries(transports)) {
  const poolId = uniquePoolId(`conformance-${shellTransport}`);
  poolIds.push(poolId);
  runBackendConformance({
    name: `docker (busybox, ${description})`,
    createBackend: () => createDockerBackend({ shellTransport: shellTransport as DockerShellTransportMode }),
    host: BUSYBOX_HOST,
    slotsPerHost: 2,
    poolId,
    // From outside the SDK, as an operator or the OOM killer would.
    loseHost: async (hostId) => {
      await docker('kill', hostId);
    },
    countHosts: async (id) => (await containersOf(id)).length,
    timeoutMs: 90_000,
    // Through the agent every command has its own pipes; one exec per shell is the shell protocol.
    skip: shellTransport === 'exec' ? SHELL_PROTOCOL_LIMITS : undefined,
    // Without the agent, switching to a slot's user needs util-linux `setpriv` (busybox's lacks --reuid).
    userIsolationHost: shellTransport === 'exec' ? { ...BUSYBOX_HOST, image: DEBIAN } : undefined,
  });
}

afterAll(async () => {
  const left = (await Promise.all(poolIds.map((poolId) => containersOf(poolId)))).flat();
  await removeContainers(left);
  expect(left, 'containers left behind by the conformance suite').toEqual([]);
});
