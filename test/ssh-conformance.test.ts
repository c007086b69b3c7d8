/**
 * The backend contract suite (@berth/testkit) against the real sshd fleet (scripts/start-ssh-fleet.sh),
 * once per transport: berth-agent over one exec channel per machine, and plain `sh` channels.
 */

import { CONFORMANCE_FEATURES, runBackendConformance, SHELL_PROTOCOL_LIMITS } from '@berth/testkit';
import { describe, it } from 'vitest';
import { fleetBackend, loadFleet, loseFleetHost } from './fixtures/ssh-fleet.js';

const { fleet, missing } = loadFleet();
if (!fleet) {
  describe('ssh conformance', () => it.skip(missing ?? 'no fleet', () => undefined));
} else {
  for (const transport of ['agent', 'sh'] as const) {
    const poolId = `conf-ssh-${transport}-${process.pid}`;
    runBackendConformance({
      name: `ssh (${transport === 'agent' ? 'berth-agent over one channel per machine' : 'plain sh channels'})`,
      createBackend: () => fleetBackend(fleet, { transport, machineLostAfterMs: 5_000 }),
      slotsPerHost: 2,
      poolId,
      loseHost: (hostId) => loseFleetHost(fleet, hostId),
      timeoutMs: 60_000,
      skip: {
        ...(transport === 'sh' ? SHELL_PROTOCOL_LIMITS : {}),
        userIsolation: 'this run logs in as the non-root user berth-ssh; the root-login run below covers it',
      },
    });
  }
  // isolation: 'user' needs a root login: only its contract runs again, as root (the rest is above).
  // Its own root directory, so root never owns what the berth-ssh runs install under theirs.
  runBackendConformance({
    name: 'ssh (root login, berth-agent, isolation user)',
    createBackend: () =>
      fleetBackend(fleet, {
        transport: 'agent',
        user: 'root',
        root: `${fleet.root}/root-login`,
        maxHostsPerMachine: 1, // user-isolated hosts never share a machine's slot uids
      }),
    slotsPerHost: 2,
    poolId: `conf-ssh-root-${process.pid}`,
    timeoutMs: 60_000,
    skip: Object.fromEntries(
      CONFORMANCE_FEATURES.filter((feature) => feature !== 'userIsolation').map((feature) => [
        feature,
        'covered by the berth-ssh login runs above',
      ]),
    ),
  });
}
