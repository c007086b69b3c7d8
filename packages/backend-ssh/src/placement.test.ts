import { describe, expect, it } from 'vitest';
import { Placement } from './placement.js';
import type { SshMachine } from './ssh-machine.js';
import { resolveTimeouts } from './ssh-options.js';

/** A machine that answers the labels listing with `hosts` markers (no SSH: placement is pure bookkeeping). */
function fakeMachine(name: string, hosts: number, maxHosts: number): SshMachine {
  const markers = Array.from({ length: hosts }, (_, index) =>
    JSON.stringify({ id: `${name}-${index}`, labels: {}, createdAtMs: 0 }),
  );
  return {
    spec: { name, maxHosts, root: '/r', target: { description: name } },
    lostReason: undefined,
    run: async () => ({ exitCode: 0, stdout: markers.join('\n'), stderr: '' }),
  } as unknown as SshMachine;
}

describe('placement', () => {
  it('spreads concurrent creates that share one probe, least-loaded first', async () => {
    const machines = [fakeMachine('a', 1, 10), fakeMachine('b', 0, 10), fakeMachine('c', 0, 10)];
    const placement = new Placement(async () => machines, resolveTimeouts({ machines: ['x'] }));
    const chosen = await Promise.all(Array.from({ length: 5 }, () => placement.loads(undefined, true)));
    const names = chosen.map((each) => each.chosen?.spec.name).sort();
    expect(names).toEqual(['a', 'b', 'b', 'c', 'c']);
  });

  it('never places past a machine cap, counting what is in flight', async () => {
    const machines = [fakeMachine('a', 1, 2), fakeMachine('b', 2, 2)];
    const placement = new Placement(async () => machines, resolveTimeouts({ machines: ['x'] }));
    const chosen = await Promise.all(Array.from({ length: 3 }, () => placement.loads(undefined, true)));
    expect(chosen.map((each) => each.chosen?.spec.name)).toEqual(['a', undefined, undefined]);
  });
});
