/**
 * The `berth` command against real engines (local, Docker, Nomad dev agent): `hosts` and its
 * `--json` shape, `reap --dry-run` changing nothing, `exec` exit codes and streaming, and the
 * external drain (§13) of two running pool *processes*: seen by both, in-flight commands finishing,
 * `status`, a corrupt marker draining, `resume`, and close winning over a resume.
 * Docker and Nomad parts skip (with the reason printed) when their engine does not answer, unless
 * CI is set.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, berth, cleanEnv, type Env, PoolProcess, uniquePoolId } from './fixtures/cli-helpers.js';
import { nomadAvailable } from './fixtures/nomad-agent.js';

/** Tests that apply to some engines only are not registered for the others (not "skipped"). */
const onlyIf = (applies: boolean): typeof it => (applies ? it : ((() => undefined) as unknown as typeof it));

const scratch = mkdtempSync(path.join(os.tmpdir(), 'berth-cli-'));
const home = path.join(scratch, 'home');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
beforeAll(() => assertBuilt());

async function dockerAnswers(): Promise<boolean> {
  try {
    await promisify(execFile)('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 10_000 });
    return true;
  } catch {
    if (process.env.CI)
      throw new Error('cli: dockerd does not answer (CI is set, so this fails instead of skipping).');
    console.warn('cli: skipping the Docker part: `docker info` failed; start dockerd.');
    return false;
  }
}

const engines: { name: string; available: boolean; env: Env }[] = [
  {
    name: 'local',
    available: true,
    env: { BERTH_BACKEND: 'local', BERTH_LOCAL_DIR: path.join(scratch, 'hosts') },
  },
  {
    name: 'docker',
    available: await dockerAnswers(),
    env: {
      BERTH_BACKEND: 'docker',
      BERTH_DOCKER_IMAGE: 'berth-test/busybox:1',
      BERTH_DOCKER_NETWORK_MODE: 'none',
    },
  },
  {
    name: 'nomad',
    available: await nomadAvailable('cli'),
    env: { BERTH_BACKEND: 'nomad', NOMAD_ADDR: 'http://127.0.0.1:4646', BERTH_NOMAD_DRIVER: 'raw_exec' },
  },
];

for (const engine of engines) {
  describe.skipIf(!engine.available)(`berth hosts / reap / exec (${engine.name})`, () => {
    const pool = uniquePoolId(engine.name);
    const env = cleanEnv({ ...engine.env, BERTH_HOME: home, BERTH_POOL_ID: pool });

    afterAll(async () => {
      // Nothing left behind, removed through the CLI itself (scoped by the pool label).
      await berth(['reap', '--pool', pool, '--force'], env);
      const left = JSON.parse((await berth(['hosts', '--pool', pool, '--json'], env)).stdout) as {
        hosts: unknown[];
      };
      expect(left.hosts).toEqual([]);
    });

    it('exec streams output as it comes, keeps stdout and stderr apart and passes on the exit code', async () => {
      const run = await berth(
        ['exec', '--pool', pool, '--', 'sh', '-c', 'echo first; sleep 1; echo err >&2; echo second; exit 3'],
        env,
      );
      expect(run.code).toBe(3);
      expect(run.stdout).toBe('first\nsecond\n');
      // Buffered output would arrive in one piece at the end; streamed, `first` comes alone.
      expect(run.chunks[0]).toBe('first\n');
      expect(run.stderr).toContain('err\n');
      expect(run.stderr).not.toContain('first');
      // Not a TTY: progress comes as plain `berth: …` lines on stderr (a spinner on a terminal).
      expect(run.stderr).toMatch(/^berth: (creating a default host|reusing host )/m);
      if (engine.name !== 'local') return; // the exit-code path is the same on every engine
      const missing = await berth(['exec', '--pool', pool, '-q', '--', 'no-such-command-here'], env);
      expect(missing.code).toBe(127);
    });

    it('hosts lists the warm host with pool, profile, state, owner, age and spec; --json has the documented shape', async () => {
      const json = JSON.parse((await berth(['hosts', '--pool', pool, '--json'], env)).stdout) as {
        hosts: Record<string, unknown>[];
      };
      expect(json.hosts).toHaveLength(1);
      const [host] = json.hosts;
      expect(host).toMatchObject({
        backend: engine.name,
        pool,
        profile: 'default',
        state: 'running',
        ownerSource: 'creator',
        // The `berth exec` that created it has exited: its owner is provably dead on this machine.
        ownerProvablyDead: true,
        ownerState: 'dead',
        slots: null,
      });
      expect(host?.id).toBeTypeOf('string');
      expect(host?.specHash).toMatch(/^[0-9a-f]{16}$/);
      expect(host?.ageMs).toBeTypeOf('number');
      const table = await berth(['hosts', '--pool', pool], env);
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(
        /^HOST\s+POOL\s+PROFILE\s+STATE\s+OWNER\s+OWNER DEAD\?\s+AGE\s+SPEC\s+SLOTS$/,
      );
      expect(table.stdout).toContain(String(host?.id));
      console.log(`berth hosts (${engine.name}):\n${table.stdout}`);
    });

    it('reap --dry-run says what it would remove and why, and changes nothing', async () => {
      const before = JSON.parse((await berth(['hosts', '--pool', pool, '--json'], env)).stdout) as {
        hosts: { id: string }[];
      };
      const warm = JSON.parse((await berth(['reap', '--pool', pool, '--dry-run', '--json'], env)).stdout) as {
        dryRun: boolean;
        hosts: { id: string; action: string; reason: string; removed?: boolean }[];
      };
      expect(warm.dryRun).toBe(true);
      expect(warm.hosts).toEqual([
        expect.objectContaining({
          id: before.hosts[0]?.id,
          action: 'keep',
          reason: expect.stringContaining('warm'),
        }),
      ]);
      const forced = JSON.parse(
        (await berth(['reap', '--pool', pool, '--dry-run', '--force', '--json'], env)).stdout,
      ) as typeof warm;
      expect(forced.hosts).toEqual([
        expect.objectContaining({ action: 'remove', reason: expect.stringContaining('owner gone') }),
      ]);
      expect(forced.hosts[0]?.removed).toBeUndefined();
      const after = JSON.parse(
        (await berth(['hosts', '--pool', pool, '--json'], env)).stdout,
      ) as typeof before;
      expect(after.hosts.map((host) => host.id)).toEqual(before.hosts.map((host) => host.id));
    });
  });
}

for (const engine of engines) {
  // Local: every rule. Docker: the drain of two processes. Nomad: the two processes get homes of
  // their own, as if on two machines: only the marker in Nomad Variables reaches both.
  const everyRule = engine.name === 'local';
  const sharedStoreOnly = engine.name === 'nomad';
  describe.skipIf(!engine.available)(
    `berth drain / status / resume of two pool processes (${engine.name})`,
    () => {
      const pool = uniquePoolId(`drain-${engine.name}`);
      const poolEnv = { ...engine.env, BERTH_POOL_ID: pool, BERTH_MIN_HOSTS: '1', BERTH_SLOTS_PER_HOST: '3' };
      const homeOf = (who: string) => (sharedStoreOnly ? path.join(scratch, `home-${who}`) : home);
      const env = cleanEnv({ ...poolEnv, BERTH_HOME: homeOf('cli') });
      const processes: PoolProcess[] = [];

      beforeAll(async () => {
        for (const who of ['first', 'second'])
          processes.push(new PoolProcess(cleanEnv({ ...poolEnv, BERTH_HOME: homeOf(who) })));
        await Promise.all(processes.map((each) => each.next('ready', undefined, 0, 120_000)));
      });
      afterAll(async () => {
        await Promise.all(processes.map((each) => each.kill()));
        await berth(['resume', '--pool', pool], env);
        // Removes the hosts, and the records the killed processes could not forget.
        const reaped = JSON.parse(
          (await berth(['reap', '--pool', pool, '--force', '--json'], env)).stdout,
        ) as {
          deadProcessRecords: number;
        };
        // Local: both processes closed (and forgot their records); elsewhere both were SIGKILLed.
        expect(reaped.deadProcessRecords).toBe(everyRule ? 0 : 2);
        expect(existsSync(path.join(homeOf('cli'), 'pools', pool))).toBe(false);
        const status = JSON.parse((await berth(['status', '--pool', pool, '--json'], env)).stdout) as {
          processes: unknown[];
        };
        expect(status.processes).toEqual([]);
      });

      it('drain is seen by both processes within 2 s; in-flight commands finish; new acquires fail', async () => {
        const [first, second] = processes as [PoolProcess, PoolProcess];
        const startedMs = Date.now();
        const drain = await berth(
          ['drain', '--pool', pool, '--mode', 'fail', '--wait', '--wait-timeout', '2s', '--json'],
          env,
        );
        expect(drain.stderr).toBe('');
        expect(drain.code).toBe(0);
        const report = JSON.parse(drain.stdout) as {
          seenByAll: boolean;
          elapsedMs: number;
          processes: unknown[];
        };
        expect(report).toMatchObject({ seenByAll: true });
        expect(report.processes).toHaveLength(2);
        const requestedAtMs = Date.parse(
          (JSON.parse(drain.stdout) as { marker: { requestedAt: string } }).marker.requestedAt,
        );
        const seen = await Promise.all(
          processes.map((each) => each.next('drain-requested', (event) => event.source === 'marker')),
        );
        console.log(
          `drain of two ${engine.name} pool processes: berth drain --wait returned after ${report.elapsedMs} ms (after the marker write); ` +
            `each process applied it ${seen.map((event) => event.atMs - requestedAtMs).join(' ms / ')} ms after the marker was written ` +
            `(${seen.map((event) => event.atMs - startedMs).join(' ms / ')} ms after \`berth drain\` was started, node start-up included)`,
        );
        for (const each of [first, second]) {
          each.send('acquire');
          expect(await each.next('acquire')).toMatchObject({ ok: false, code: 'POOL_DRAINING' });
          // In-flight work goes on while drained: a leased slot still runs commands, and the
          // command started before the drain finishes untouched.
          expect(each.events.some((event) => event.event === 'inflight')).toBe(false);
          each.send('finish');
          expect(await each.next('finish')).toMatchObject({ exitCode: 0 });
          expect(await each.next('inflight')).toMatchObject({ exitCode: 0, stdout: 'in-flight-done\n' });
        }
        const status = JSON.parse((await berth(['status', '--pool', pool, '--json'], env)).stdout) as {
          marker: { state: string };
          processes: { seenCurrentMarker: boolean; draining: string; liveness: string }[];
        };
        if (sharedStoreOnly) expect(JSON.stringify(status)).toContain('nomad-variables');
        expect(status.marker.state).toBe('present');
        expect(status.processes).toHaveLength(2);
        for (const each of status.processes)
          expect(each).toMatchObject({ seenCurrentMarker: true, draining: 'fail', liveness: 'alive' });
        const table = await berth(['status', '--pool', pool], env);
        console.log(`berth status (${engine.name}):\n${table.stdout}`);

        // While they run, `hosts` shows each host's holder and its slot states from the records
        // (rewritten at the next reconcile after a slot changes state).
        type Hosts = { hosts: { ownerSource: string; ownerState: string; slots: string[] | null }[] };
        let hosts: Hosts = { hosts: [] };
        for (let attempt = 0; attempt < 20; attempt += 1) {
          hosts = JSON.parse((await berth(['hosts', '--pool', pool, '--json'], env)).stdout) as Hosts;
          if (hosts.hosts.every((host) => host.slots?.join() === 'acquired,acquired,available')) break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        expect(hosts.hosts).toHaveLength(2);
        for (const host of hosts.hosts)
          expect(host).toMatchObject({
            ownerSource: 'holder',
            ownerState: 'alive',
            slots: ['acquired', 'acquired', 'available'],
          });
        console.log(
          `berth hosts with two live pools (${engine.name}):\n${(await berth(['hosts', '--pool', pool], env)).stdout}`,
        );
      });

      onlyIf(sharedStoreOnly)('resume reaches both processes through the shared store', async () => {
        const marks = processes.map((each) => each.events.length);
        const resume = await berth(
          ['resume', '--pool', pool, '--wait', '--wait-timeout', '2s', '--json'],
          env,
        );
        expect(resume.code).toBe(0);
        expect(JSON.parse(resume.stdout)).toMatchObject({ removed: true, resumedByAll: true });
        for (const [index, each] of processes.entries()) {
          expect(await each.next('resumed', undefined, marks[index])).toMatchObject({ source: 'marker' });
          each.send('acquire');
          expect(await each.next('acquire', undefined, marks[index])).toMatchObject({ ok: true });
        }
      });

      onlyIf(everyRule)(
        'a corrupt marker keeps them drained (fail safe); resume then serves acquires again',
        async () => {
          const marks = processes.map((each) => each.events.length);
          writeFileSync(path.join(home, 'pools', pool, 'drain.json'), '{"action":"drain","mode":');
          for (const [index, each] of processes.entries()) {
            const event = await each.next(
              'drain-requested',
              (candidate) => typeof candidate.corrupt === 'string',
              marks[index],
            );
            expect(event.corrupt).toMatch(/JSON/);
            each.send('acquire');
            // The pools' drainMode is `wait` (the default), so an unreadable marker makes acquires queue.
            expect(await each.next('acquire', undefined, marks[index])).toMatchObject({
              ok: false,
              code: 'ACQUIRE_TIMEOUT',
            });
          }
          const status = JSON.parse((await berth(['status', '--pool', pool, '--json'], env)).stdout) as {
            marker: { state: string };
          };
          expect(status.marker.state).toBe('corrupt');

          const afterDrain = processes.map((each) => each.events.length);
          const resume = await berth(
            ['resume', '--pool', pool, '--wait', '--wait-timeout', '2s', '--json'],
            env,
          );
          expect(resume.code).toBe(0);
          expect(JSON.parse(resume.stdout)).toMatchObject({ removed: true, resumedByAll: true });
          for (const [index, each] of processes.entries()) {
            expect(await each.next('resumed', undefined, afterDrain[index])).toMatchObject({
              source: 'marker',
            });
            each.send('acquire');
            expect(await each.next('acquire', undefined, afterDrain[index])).toMatchObject({ ok: true });
          }
          // Resuming again is a no-op, not an error.
          expect((await berth(['resume', '--pool', pool], env)).stdout).toContain('nothing to resume');
        },
      );

      onlyIf(everyRule)(
        'close wins: a pool closing while drained does not resume when the marker is removed',
        async () => {
          const [first, second] = processes as [PoolProcess, PoolProcess];
          const mark = first.events.length;
          expect((await berth(['drain', '--pool', pool, '--wait', '--wait-timeout', '2s'], env)).code).toBe(
            0,
          );
          first.send('close-held');
          await first.next('closing', undefined, mark);
          expect((await berth(['resume', '--pool', pool], env)).code).toBe(0);
          // The other process resumes: proof the removal was seen while the first one was closing.
          await second.next('resumed', undefined, second.events.length - 1);
          await new Promise((resolve) => setTimeout(resolve, 1_200));
          first.send('check');
          expect(await first.next('check', undefined, mark)).toMatchObject({ resumedSinceClose: false });
          await first.next('closed', undefined, mark);
          second.send('close');
          await second.next('closed');
        },
      );
    },
  );
}

const scriptAvailable = await promisify(execFile)('script', ['--version']).then(
  () => true,
  () => {
    console.warn(
      'cli: skipping the TTY progress test: util-linux `script` (to get a terminal) is not installed.',
    );
    return false;
  },
);

describe.skipIf(!scriptAvailable)('berth exec on a terminal', () => {
  it('shows a spinner while the host is created, then the output, and keeps the exit code', async () => {
    const env = cleanEnv({
      ...(engines[0]?.env ?? {}),
      BERTH_HOME: home,
      BERTH_PERSIST: 'false',
      BERTH_POOL_ID: uniquePoolId('tty'),
    });
    // ora animates only where `is-interactive` says so, and that is never under CI=true (as CI
    // runs this suite): the terminal here is a user's, not a CI log.
    delete env.CI;
    const bin = path.resolve(import.meta.dirname, '..', 'packages', 'cli', 'bin', 'berth.js');
    // `script` gives the CLI a pseudo-terminal; stty gives it a width (a spinner needs one).
    const inner = `stty cols 100 rows 30; '${process.execPath}' '${bin}' exec -- sh -c 'echo hi; exit 4'`;
    const run = await promisify(execFile)('script', ['-qec', inner, '/dev/null'], {
      env,
      timeout: 60_000,
    }).then(
      (result) => ({ code: 0, stdout: result.stdout }),
      (error: { code?: number; stdout?: string }) => ({ code: error.code, stdout: error.stdout ?? '' }),
    );
    expect(run.code).toBe(4);
    expect(run.stdout).toMatch(/[\u2800-\u28ff]/); // a spinner frame
    expect(run.stdout).toContain('hi');
    expect(run.stdout).not.toContain('berth: creating'); // no plain progress lines on a terminal
  });
});

describe('berth --help and errors', () => {
  it('--help works from the bin; a usage error is one line plus the code, exit 2; config errors exit 3', async () => {
    const env = cleanEnv({ BERTH_HOME: home });
    const help = await berth(['--help'], env);
    expect(help.code).toBe(0);
    for (const command of ['hosts', 'reap', 'exec', 'drain', 'resume', 'status'])
      expect(help.stdout).toContain(`  ${command} `);
    expect(help.stdout).toContain('Exit codes:');
    const wrong = await berth(['drain', '--pool', 'x', '--mode', 'later'], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.split('\n')[0]).toMatch(/^berth: .*--mode.*\[USAGE\]$/);
    const unset = await berth(['hosts'], env);
    expect(unset.code).toBe(3);
    expect(unset.stderr.trim().split('\n')).toHaveLength(1);
    expect(unset.stderr).toMatch(/BERTH_BACKEND.*\[INVALID_OPTIONS\]$/m);
  });
});
