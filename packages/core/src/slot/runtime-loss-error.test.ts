import { describe, expect, it } from 'vitest';
import { HostLostError, SlotRuntimeLostError } from '../errors/index.js';
import { ShellClosedError } from '../shell/shell-session.js';
import { runtimeLossError } from './run-command.js';
import type { SlotRecord } from './slot-record.js';

/** A slot on a host that answers health checks and sweeps as told; `retiredReason` as the backend set it. */
function slotOn(host: { retiredReason?: string; sweeps: boolean; retiresWhenAsked?: string }) {
  const fake = {
    id: 'host-1',
    status: 'ready' as const,
    retiredReason: host.retiredReason,
    async verifyAlive() {
      if (host.retiresWhenAsked !== undefined) fake.retiredReason ??= host.retiresWhenAsked;
      return true;
    },
    async sweepSlot() {
      if (!host.sweeps) throw new Error('cannot reach the host');
    },
  };
  return { id: 'host-1/slot_0', host: fake, pendingSweep: false } as unknown as SlotRecord;
}

const cutOff = () => new ShellClosedError('The shell exited.');

describe('a command cut off on a retired host', () => {
  it('is SLOT_RUNTIME_LOST when the host was retired only because its node drains (it still answers)', async () => {
    const error = await runtimeLossError(
      slotOn({ retiredReason: 'its node n1 is draining', sweeps: true }),
      cutOff(),
    );
    expect(SlotRuntimeLostError.isInstance(error)).toBe(true);
  });

  it('is HOST_LOST, naming the retirement, when the retired host no longer answers', async () => {
    const error = await runtimeLossError(
      slotOn({ retiredReason: 'its node n1 is unreachable (Nomad: No path to node)', sweeps: false }),
      cutOff(),
    );
    expect(HostLostError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('its node n1 is unreachable');
  });

  it('is HOST_LOST when asking the engine retired the host (its node is unreachable)', async () => {
    const error = await runtimeLossError(
      slotOn({ sweeps: true, retiresWhenAsked: 'its node n2 is unreachable (Nomad: No path to node)' }),
      cutOff(),
    );
    expect(HostLostError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('its node n2 is unreachable');
  });

  it('is SLOT_RUNTIME_LOST on a host nobody retired that still answers', async () => {
    const error = await runtimeLossError(slotOn({ sweeps: true }), cutOff());
    expect(SlotRuntimeLostError.isInstance(error)).toBe(true);
  });
});
