/**
 * Drain markers in Nomad Variables against the real dev agent: written atomically and read back,
 * removal idempotent, process records listed per pool, a corrupt variable read as present, and an
 * agent that cannot be reached read as `unknown` (pools keep what they knew), one that refuses
 * (403, the ACL agent without a token) as `unknown` and `forbidden`. Skips (saying why)
 * when no agent answers, unless CI is set.
 */
import { randomBytes } from 'node:crypto';
import { newDrainMarker } from '@berth/core';
import { afterAll, describe, expect, it } from 'vitest';
import { NomadClient } from './client/nomad-client.js';
import { NomadDrainMarkerStore } from './nomad-drain-marker-store.js';

const ADDRESS = 'http://127.0.0.1:4646';

async function agentAnswers(): Promise<boolean> {
  try {
    return (await fetch(`${ADDRESS}/v1/status/leader`, { signal: AbortSignal.timeout(3_000) })).ok;
  } catch {
    if (process.env.CI)
      throw new Error(`no Nomad agent on ${ADDRESS} (CI is set, so this fails instead of skipping)`);
    console.warn(`skipping: no Nomad agent answers on ${ADDRESS}; run scripts/start-nomad.sh`);
    return false;
  }
}

const available = await agentAnswers();

describe.skipIf(!available)('NomadDrainMarkerStore (real agent)', () => {
  const client = new NomadClient({ address: ADDRESS, env: {} });
  const store = new NomadDrainMarkerStore(client);
  const poolId = `berth-cli-vars.${randomBytes(3).toString('hex')}`; // a dot: Nomad paths forbid it
  afterAll(async () => {
    await store.remove(poolId).catch(() => undefined);
    await client.close();
  });

  it('write, read, remove (idempotent)', async () => {
    expect(await store.read(poolId)).toEqual({ state: 'absent' });
    const marker = newDrainMarker('fail', 'ops@box');
    await store.write(poolId, marker);
    expect(await store.read(poolId)).toEqual({ state: 'present', marker });
    expect(await store.remove(poolId)).toBe(true);
    expect(await store.remove(poolId)).toBe(false);
    expect(await store.read(poolId)).toEqual({ state: 'absent' });
  });

  it('a variable whose item does not parse is corrupt (counts as present)', async () => {
    await client.putVariable(`berth/pools/${poolId.replace(/\./g, '~')}/drain`, { marker: '{"action":' });
    expect((await store.read(poolId)).state).toBe('corrupt');
    await client.putVariable(`berth/pools/${poolId.replace(/\./g, '~')}/drain`, { other: 'x' });
    expect((await store.read(poolId)).state).toBe('corrupt');
    await store.remove(poolId);
  });

  it('process records are listed per pool and forgotten', async () => {
    const record = {
      owner: 'machine-1.12.34.1',
      poolId,
      pid: 12,
      hostname: 'box',
      backendId: 'nomad',
      startedAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      draining: undefined,
      drainedBy: [],
      markerSeen: undefined,
      leasedSlots: 0,
      hosts: [],
    };
    await store.recordProcess(record);
    await store.recordProcess({ ...record, owner: 'machine-1.13.34.1' });
    expect((await store.listProcesses(poolId)).map((each) => each.owner).sort()).toEqual([
      'machine-1.12.34.1',
      'machine-1.13.34.1',
    ]);
    await store.forgetProcess(poolId, 'machine-1.12.34.1');
    await store.forgetProcess(poolId, 'machine-1.13.34.1');
    await store.forgetProcess(poolId, 'machine-1.13.34.1');
    expect(await store.listProcesses(poolId)).toEqual([]);
  });

  it('an agent that cannot be reached reads as unknown, never throws', async () => {
    const nowhere = new NomadClient({
      address: 'http://127.0.0.1:9',
      env: {},
      retries: 0,
      connectTimeoutMs: 500,
    });
    const reading = await new NomadDrainMarkerStore(nowhere).read(poolId, {
      signal: AbortSignal.timeout(5_000),
    });
    expect(reading.state).toBe('unknown');
    await nowhere.close();
  });
});

const aclAgent = await fetch('http://127.0.0.1:4746/v1/status/leader', {
  signal: AbortSignal.timeout(3_000),
}).then(
  (response) => response.ok,
  () => false,
);
if (!aclAgent && !process.env.CI)
  console.warn('skipping the 403 case: no ACL agent on 127.0.0.1:4746 (scripts/start-nomad-acl.sh)');

describe.skipIf(!aclAgent && !process.env.CI)(
  'NomadDrainMarkerStore against the ACL agent, without a token',
  () => {
    it('a 403 reads as unknown and forbidden (a configuration problem, not an outage), never throws', async () => {
      const anonymous = new NomadClient({ address: 'http://127.0.0.1:4746', env: {}, retries: 0 });
      try {
        const reading = await new NomadDrainMarkerStore(anonymous).read('berth-cli-forbidden', {
          signal: AbortSignal.timeout(10_000),
        });
        expect(reading).toMatchObject({ state: 'unknown', forbidden: true });
      } finally {
        await anonymous.close();
      }
    });
  },
);
