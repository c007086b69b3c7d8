/**
 * The backend contract (@berth/testkit) for the Nomad backend on the multi-node test cluster
 * (scripts/start-nomad-cluster.sh), once per driver: docker (through berth-agent) and raw_exec.
 * Skips with the reason printed when the cluster is not up, unless CI is set: then it fails.
 */
import { createNomadBackend } from '@berth/backend-nomad';
import { runBackendConformance } from '@berth/testkit';
import { afterAll, describe } from 'vitest';
import { BUSYBOX, DEBIAN, jobsOfPool, outsideClient, stopJobFromOutside } from './fixtures/nomad-agent.js';
import { clusterAvailable } from './fixtures/nomad-cluster.js';

const cluster = await clusterAvailable('nomad-cluster-conformance');
const address = cluster?.address ?? 'http://127.0.0.1:1';
const client = outsideClient(address);
afterAll(() => client.close());

const common = {
  createBackend: () =>
    createNomadBackend({ address, env: {}, startTimeoutMs: 60_000, destroyTimeoutMs: 30_000 }),
  loseHost: (hostId: string) => stopJobFromOutside(client, hostId, true),
  countHosts: async (poolId: string) => (await jobsOfPool(client, poolId)).length,
  timeoutMs: 90_000,
};

describe.skipIf(!cluster)('nomad cluster, docker driver', () => {
  runBackendConformance({
    ...common,
    name: 'nomad cluster (docker, busybox, through berth-agent)',
    host: { image: BUSYBOX },
    userIsolationHost: { image: DEBIAN },
  });
});

describe.skipIf(!cluster)('nomad cluster, raw_exec driver', () => {
  runBackendConformance({
    ...common,
    // Through berth-agent on the node: the full process model, no shell-protocol limits.
    name: 'nomad cluster (raw_exec, through berth-agent)',
    host: { driver: 'raw_exec' },
  });
});
