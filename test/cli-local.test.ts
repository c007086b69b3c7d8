/**
 * The `berth` command on the local engine, for what needs no other engine: `reap` of process
 * records whose pool has no host left, `exec` exit codes (124, 125, 130, 3) and the refusal to
 * start a pool whose warm hosts were made from another spec.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MACHINE_IDENTITY } from '@berth/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, BIN, berth, cleanEnv, uniquePoolId } from './fixtures/cli-helpers.js';

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

describe('berth exec exit codes (local)', () => {
  const pool = uniquePoolId('codes');
  // One slot: a second exec can only run once the first one released it.
  const env = cleanEnv({ ...localEnv, BERTH_POOL_ID: pool, BERTH_MAX_HOSTS: '1', BERTH_SLOTS_PER_HOST: '1' });
  afterAll(async () => {
    await berth(['resume', '--pool', pool], env);
    await berth(['reap', '--pool', pool, '--force'], env);
  });

  it('124: --timeout kills the command, says EXEC_TIMEOUT', async () => {
    const run = await berth(['exec', '-q', '--timeout', '300ms', '--', 'sleep', '30'], env);
    expect(run.code).toBe(124);
    expect(run.stderr).toMatch(/timed out.*\[EXEC_TIMEOUT\]/);
  });

  it('130: SIGINT kills the remote command and releases the slot', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'exec', '-q', '--', 'sh', '-c', 'echo started; exec sleep 30'],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await new Promise<void>((resolve) =>
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => chunk.includes('started') && resolve()),
    );
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    clearTimeout(guard);
    // The only slot was released: the next exec gets it at once.
    const next = await berth(['exec', '-q', '--acquire-timeout', '10s', '--', 'echo', 'next'], env);
    expect(next).toMatchObject({ code: 0, stdout: 'next\n' });
  });

  it('125: Berth fails around the command (the pool is drained, fail mode): the code is printed', async () => {
    expect((await berth(['drain', '--pool', pool, '--mode', 'fail'], env)).code).toBe(0);
    const run = await berth(['exec', '-q', '--', 'echo', 'never'], env);
    expect(run.code).toBe(125);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim()).toMatch(/^berth: .*berth resume --pool .*\[POOL_DRAINING\]$/);
  });
});
