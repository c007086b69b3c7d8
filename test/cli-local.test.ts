/**
 * The `berth` command on the local engine, for what needs no other engine: `reap` of process
 * records whose pool has no host left, `exec` exit codes (124, 125, 130, 3) and the refusal to
 * start a pool whose warm hosts were made from another spec.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MACHINE_IDENTITY } from '@berth/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, berth, cleanEnv, uniquePoolId } from './fixtures/cli-helpers.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'berth-cli-local-'));
const home = path.join(scratch, 'home');
const localEnv = { BERTH_BACKEND: 'local', BERTH_LOCAL_DIR: path.join(scratch, 'hosts'), BERTH_HOME: home };
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
beforeAll(() => assertBuilt());

describe('berth reap and process records', () => {
  it('without --pool, forgets the records of dead processes of pools that have no host left', async () => {
    const pool = uniquePoolId('gone');
    const processes = path.join(home, 'pools', pool, 'processes');
    mkdirSync(processes, { recursive: true });
    // A SIGKILLed process of this machine (no such pid) never forgot its record.
    const owner = `${MACHINE_IDENTITY}.999999999.1.1`;
    const record = {
      owner,
      poolId: pool,
      pid: 999999999,
      hostname: os.hostname(),
      backendId: 'local',
      startedAt: new Date(0).toISOString(),
      updatedAt: new Date(0).toISOString(),
      draining: undefined,
      drainedBy: [],
      markerSeen: undefined,
      leasedSlots: 0,
      hosts: [],
    };
    writeFileSync(path.join(processes, `${owner}.json`), JSON.stringify(record));
    const env = cleanEnv(localEnv);
    const dry = JSON.parse((await berth(['reap', '--dry-run', '--json'], env)).stdout) as {
      deadProcessRecords: number;
    };
    expect(dry.deadProcessRecords).toBe(1);
    expect(readdirSync(processes)).toHaveLength(1); // a dry run changes nothing
    const reaped = JSON.parse((await berth(['reap', '--json'], env)).stdout) as typeof dry;
    expect(reaped.deadProcessRecords).toBe(1);
    expect(readdirSync(path.join(home, 'pools'))).not.toContain(pool);
  });
});

describe('berth exec next to the program running the pool', () => {
  it("refuses (exit 3, SPEC_MISMATCH) to start a pool that would replace another spec's warm hosts; --replace does", async () => {
    const pool = uniquePoolId('spec');
    const production = cleanEnv({ ...localEnv, BERTH_POOL_ID: pool, BERTH_SLOTS_PER_HOST: '2' });
    const operator = cleanEnv({ ...localEnv, BERTH_POOL_ID: pool, BERTH_SLOTS_PER_HOST: '1' });
    const hostIds = async () =>
      (
        JSON.parse((await berth(['hosts', '--pool', pool, '--json'], production)).stdout) as {
          hosts: { id: string }[];
        }
      ).hosts.map((host) => host.id);
    expect((await berth(['exec', '-q', '--', 'true'], production)).code).toBe(0);
    const warm = await hostIds();
    expect(warm).toHaveLength(1); // persist: the warm host stays for the next process
    const refused = await berth(['exec', '-q', '--', 'true'], operator);
    expect(refused.code).toBe(3);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(new RegExp(`${warm[0]}.*--replace.*\\[SPEC_MISMATCH\\]$`, 'm'));
    expect(await hostIds()).toEqual(warm);
    expect((await berth(['exec', '-q', '--replace', '--', 'true'], operator)).code).toBe(0);
    expect(await hostIds()).not.toContain(warm[0]);
    await berth(['reap', '--pool', pool, '--force'], operator);
  });
});
