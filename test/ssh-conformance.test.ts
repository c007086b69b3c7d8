/**
 * The backend contract suite (@berth/testkit) against the real sshd fleet (scripts/start-ssh-fleet.sh),
 * once per transport: berth-agent over one exec channel per machine, and plain `sh` channels.
 */

import { runBackendConformance, SHELL_PROTOCOL_LIMITS } from '@berth/testkit';
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
        userIsolation: 'the fleet logs in as the non-root user berth-ssh, which cannot switch to slot users',
      },
    });
  }
}
