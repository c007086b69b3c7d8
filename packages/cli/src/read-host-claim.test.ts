import type { BackendV1, HostDescriptorV1 } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { readHostClaim } from './read-host-claim.js';

const descriptor = { id: 'sb-1', state: 'running', labels: {} } as unknown as HostDescriptorV1;

/** A backend whose hosts count the shell channels opened and the one-shot runs asked for. */
function fakeBackend(oneShotExec: boolean, claimText: string | undefined) {
  const calls: string[] = [];
  const host = {
    workspaceRoot: '/work',
    run: async (argv: readonly string[]) => {
      calls.push(`run ${argv.join(' ')}`);
      return claimText === undefined
        ? { exitCode: 1, stdout: new Uint8Array(), stderr: Buffer.from('No such file'), truncated: false }
        : { exitCode: 0, stdout: Buffer.from(claimText), stderr: new Uint8Array(), truncated: false };
    },
    openChannel: async () => {
      calls.push('openChannel');
      throw new Error('a shell channel would start berth-agent');
    },
    disconnect: async () => {
      calls.push('disconnect');
    },
  };
  const backend = {
    backendId: 'fake',
    capabilities: { oneShotExec },
    attachHost: async () => host,
  } as unknown as BackendV1;
  return { backend, calls };
}

describe('readHostClaim', () => {
  it('with oneShotExec, reads the claim with one `cat` argv and opens no shell channel', async () => {
    const { backend, calls } = fakeBackend(true, 'm.1.2.1 1700000000000 released\n');
    const reading = await readHostClaim(backend, descriptor, AbortSignal.timeout(5_000));
    expect(reading).toEqual({
      readable: true,
      claim: expect.objectContaining({ owner: 'm.1.2.1', expiresAtMs: 1_700_000_000_000, released: true }),
    });
    expect(calls).toEqual(['run cat /work/.berth/owner', 'disconnect']);
  });
  it('with oneShotExec and no claim file: readable, never claimed', async () => {
    const { backend } = fakeBackend(true, undefined);
    expect(await readHostClaim(backend, descriptor, AbortSignal.timeout(5_000))).toEqual({
      readable: true,
      claim: undefined,
    });
  });
  it('without oneShotExec, goes through a shell channel', async () => {
    const { backend, calls } = fakeBackend(false, 'x');
    const reading = await readHostClaim(backend, descriptor, AbortSignal.timeout(5_000));
    expect(reading.readable).toBe(false);
    expect(calls).toEqual(['openChannel', 'disconnect']);
  });
});
