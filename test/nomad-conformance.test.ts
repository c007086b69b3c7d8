/**
 * The backend contract (@berth/testkit) for the Nomad backend against the real agent, once per
 * driver: docker (berth-test/busybox:1, commands through berth-agent) and raw_exec (the shell
 * protocol). A lost host is a job stopped and purged
 * from outside (`nomad job stop -purge`, over the HTTP API). Skips with the reason printed when no
 * agent answers, unless CI is set: then it fails.
 */
import { createNomadBackend } from '@berth/backend-nomad';
import { runBackendConformance, SHELL_PROTOCOL_LIMITS } from '@berth/testkit';
import { afterAll, describe } from 'vitest';
import {
  BUSYBOX,
  DEBIAN,
  dockerDriverHealthy,
  jobsOfPool,
  NOMAD_ADDRESS,
  nomadAvailable,
  outsideClient,
  stopJobFromOutside,
} from './fixtures/nomad-agent.js';

const available = await nomadAvailable('nomad-conformance');
const client = outsideClient();
const docker = available && (await dockerDriverHealthy(client));
if (available && !docker) {
  const reason =
    'the docker driver of the Nomad agent is not healthy (scripts/setup-docker.sh, build-test-images.sh)';
  if (process.env.CI)
    throw new Error(`nomad-conformance: ${reason}; CI is set, so this fails instead of skipping.`);
  console.warn(`[nomad-conformance] docker driver skipped: ${reason}.`);
}

afterAll(() => client.close());

const common = {
  createBackend: () =>
    createNomadBackend({ address: NOMAD_ADDRESS, env: {}, startTimeoutMs: 60_000, destroyTimeoutMs: 30_000 }),
  loseHost: (hostId: string) => stopJobFromOutside(client, hostId, true),
  // Every job still registered counts, stopped or not: a clean run leaves none.
  countHosts: async (poolId: string) => (await jobsOfPool(client, poolId)).length,
  timeoutMs: 90_000,
};

describe.skipIf(!available || !docker)('nomad docker driver', () => {
  runBackendConformance({
    ...common,
    name: 'nomad (docker, busybox, through berth-agent)',
    host: { image: BUSYBOX },
    // Commands run through berth-agent, which switches users itself; the Debian image also has
    // util-linux `setpriv` for a host that falls back to the shell protocol.
    userIsolationHost: { image: DEBIAN },
  });
});

describe.skipIf(!available)('nomad raw_exec driver', () => {
  runBackendConformance({
    ...common,
    name: 'nomad (raw_exec)',
    host: { driver: 'raw_exec' },
    skip: {
      ...SHELL_PROTOCOL_LIMITS,
      runtimeLoss:
        "Nomad reports a raw_exec exec's end only once its output pipes close, and the command a killed slot shell started still holds them: the loss shows when that command ends or times out",
    },
  });
});
