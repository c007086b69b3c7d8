import { createServer } from 'node:net';
import { BerthError } from '@berth/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  aclManagementToken,
  agentAnswers,
  jobsWithMeta,
  NOMAD_ACL_TEST_ADDRESS,
  NOMAD_TEST_ADDRESS,
  purgeJobsWithMeta,
  randomSuffix,
  testClient,
} from '../test-support/nomad-test-agent.js';
import { NomadClient } from './nomad-client.js';
import type { NomadExecSession } from './nomad-exec-session.js';
import type { NomadAllocationListStub, NomadJob } from './nomad-types.js';

const available = await agentAnswers(NOMAD_TEST_ADDRESS);
if (!available)
  console.warn(`[backend-nomad] no Nomad agent at ${NOMAD_TEST_ADDRESS}; run scripts/start-nomad.sh`);
const aclToken = available ? await aclManagementToken() : undefined;

const RUN = `client-${randomSuffix()}`;
const META_KEY = 'berth.test-run';

function rawExecJob(id: string): NomadJob {
  return {
    ID: id,
    Name: id,
    Type: 'service',
    Datacenters: ['*'],
    Meta: { [META_KEY]: RUN, 'berth.pool': RUN },
    TaskGroups: [
      {
        Name: 'host',
        Count: 1,
        RestartPolicy: { Attempts: 0, Mode: 'fail', Interval: 60e9, Delay: 1e9 },
        ReschedulePolicy: { Attempts: 0, Unlimited: false },
        Tasks: [
          {
            Name: 'shell',
            Driver: 'raw_exec',
            Config: { command: '/bin/sleep', args: ['600'] },
            Resources: { CPU: 50, MemoryMB: 32 },
            KillTimeout: 1e9,
          },
        ],
      },
    ],
  };
}

async function runningAllocation(client: NomadClient, jobId: string): Promise<NomadAllocationListStub> {
  for await (const { value } of client.watch((read) => client.jobAllocations(jobId, read), {
    signal: AbortSignal.timeout(60_000),
  })) {
    const running = value.find((allocation) => allocation.ClientStatus === 'running');
    if (running) return running;
  }
  throw new Error('unreachable');
}

async function collect(session: NomadExecSession) {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  session.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  session.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exit = await session.exited;
  return { exit, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
}

describe.skipIf(!available)('NomadClient against a real agent', () => {
  const client = testClient();
  const jobId = `berth-it-${RUN}`;
  let allocation: NomadAllocationListStub;

  beforeAll(async () => {
    await client.registerJob(rawExecJob(jobId));
    allocation = await runningAllocation(client, jobId);
  });

  afterAll(async () => {
    const leftovers = await purgeJobsWithMeta(client, META_KEY, RUN);
    await client.close();
    // The lifecycle test purges its own job; anything still registered here leaked.
    expect(leftovers).toEqual([jobId]);
    expect(await jobsWithMeta(testClient(), META_KEY, RUN).catch(() => [])).toEqual([]);
  });

  it('reads the leader', async () => {
    expect(await client.leader()).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('registers, reads, lists by Meta filter, stops and purges a raw_exec job', async () => {
    const id = `berth-it-${RUN}-life`;
    const registration = await client.registerJob(rawExecJob(id));
    expect(registration.EvalID).toMatch(/^[0-9a-f-]{36}$/);
    const { value: job, index } = await client.readJob(id);
    expect(job.Meta?.[META_KEY]).toBe(RUN);
    expect(index).toBeGreaterThan(0);

    const mine = await client.listJobs({ prefix: 'berth-it-', filter: `Meta["berth.pool"] == "${RUN}"` });
    expect(mine.value.map((stub) => stub.ID).sort()).toEqual([jobId, id].sort());
    expect(mine.value[0]?.Meta?.['berth.pool']).toBe(RUN);
    const other = await client.listJobs({
      prefix: 'berth-it-',
      filter: 'Meta["berth.pool"] == "someone-else"',
    });
    expect(other.value).toEqual([]);

    await runningAllocation(client, id);
    await client.stopJob(id);
    expect((await client.readJob(id)).value.Stop).toBe(true);
    await client.stopJob(id, { purge: true });
    await expect(client.readJob(id)).rejects.toSatisfy((error) => BerthError.hasCode(error, 'NOT_FOUND'));
    // Nomad answers a purge of an unknown job with 200 and no evaluation: stopping is idempotent.
    await expect(client.stopJob(id, { purge: true })).resolves.toMatchObject({ EvalID: '' });
  });

  it('lists nodes, allocations and evaluations', async () => {
    const { value: nodes } = await client.listNodes();
    expect(nodes.some((node) => node.Status === 'ready' && node.Drivers?.raw_exec?.Healthy)).toBe(true);
    const { value: allocations } = await client.listAllocations({ prefix: allocation.ID.slice(0, 8) });
    expect(allocations.map((item) => item.ID)).toContain(allocation.ID);
    const { value: evaluations } = await client.jobEvaluations(jobId);
    const { value: evaluation } = await client.readEvaluation(evaluations[0]!.ID);
    expect(evaluation.JobID).toBe(jobId);
  });

  it('blocking query: holds until the data changes, then returns the new index', async () => {
    const id = `berth-it-${RUN}-block`;
    await client.registerJob(rawExecJob(id));
    try {
      await runningAllocation(client, id);
      await new Promise((resolve) => setTimeout(resolve, 500)); // let the job status settle
      const first = await client.readJob(id);
      const startedAt = Date.now();
      setTimeout(() => void client.stopJob(id), 500);
      const changed = await client.readJob(id, { index: first.index, waitMs: 30_000 });
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(450);
      expect(Date.now() - startedAt).toBeLessThan(10_000);
      expect(changed.index).toBeGreaterThan(first.index);
      expect(changed.value.Stop).toBe(true);
    } finally {
      await client.stopJob(id, { purge: true });
    }
  });

  it('blocking query: an abort ends the wait at once with AbortedError', async () => {
    const { index } = await client.readAllocation(allocation.ID);
    const controller = new AbortController();
    const startedAt = Date.now();
    const blocked = client.readAllocation(allocation.ID, {
      index,
      waitMs: 60_000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 200);
    await expect(blocked).rejects.toSatisfy((error) => BerthError.hasCode(error, 'ABORTED'));
    expect(Date.now() - startedAt).toBeLessThan(2_000);
  });

  it('watch() yields the current state, then changes, and stops on abort', async () => {
    const id = `berth-it-${RUN}-watch`;
    await client.registerJob(rawExecJob(id));
    const controller = new AbortController();
    const seen: string[] = [];
    try {
      for await (const { value } of client.watch((read) => client.readJob(id, read), {
        signal: controller.signal,
      })) {
        seen.push(value.Stop ? 'stopped' : 'live');
        if (seen.length === 1) await client.stopJob(id);
        if (value.Stop) controller.abort();
      }
    } catch (error) {
      expect(BerthError.hasCode(error, 'ABORTED')).toBe(true);
    } finally {
      await client.stopJob(id, { purge: true });
    }
    expect(seen[0]).toBe('live');
    expect(seen.at(-1)).toBe('stopped');
  });

  it('exec websocket: stdout and stderr apart, stdin in, exit code out', async () => {
    const oneShot = await client.exec(allocation.ID, {
      task: 'shell',
      command: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 7'],
    });
    oneShot.stdin.end();
    expect(await collect(oneShot)).toEqual({ exit: { exitCode: 7 }, stdout: 'to-out\n', stderr: 'to-err\n' });

    const reader = await client.exec(allocation.ID, {
      task: 'shell',
      command: ['sh', '-c', 'read line; echo "got $line"; echo bad >&2; exit 3'],
    });
    const result = collect(reader);
    reader.stdin.end('hello\n');
    expect(await result).toEqual({ exit: { exitCode: 3 }, stdout: 'got hello\n', stderr: 'bad\n' });

    const shell = await client.exec(allocation.ID, { task: 'shell', command: ['sh'] });
    const shellResult = collect(shell);
    shell.stdin.write('echo one\n');
    shell.stdin.write('echo two >&2\n');
    shell.stdin.end('exit 4\n');
    expect(await shellResult).toEqual({ exit: { exitCode: 4 }, stdout: 'one\n', stderr: 'two\n' });
  });

  it('exec websocket: carries large output completely', async () => {
    const session = await client.exec(allocation.ID, {
      task: 'shell',
      command: ['sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" "x"'],
    });
    session.stdin.end();
    const { exit, stdout } = await collect(session);
    expect(exit).toEqual({ exitCode: 0 });
    expect(stdout.length).toBe(3_000_000);
  });

  it('exec websocket: a slow consumer that pulls with read() past the buffer limit never stalls it', async () => {
    // The way a stream wrapper (Duplex.from, http2 over the session) reads: `readable` + read().
    // Readable asks for more (`_read`) before it hands out what it holds, so a resume that waits for
    // the asking stream's own length to drop would never come (the agent over Nomad hung so).
    const session = await client.exec(allocation.ID, {
      task: 'shell',
      command: ['sh', '-c', 'head -c 12000000 /dev/zero'],
    });
    session.stdin.end();
    session.stderr.resume();
    let received = 0;
    const done = new Promise<void>((resolve) => session.stdout.once('end', () => resolve()));
    // A consumer slower than the output: the buffer fills past its limit and the socket pauses.
    const drain = () => {
      for (
        let chunk = session.stdout.read() as Buffer | null;
        chunk;
        chunk = session.stdout.read() as Buffer | null
      )
        received += chunk.length;
    };
    session.stdout.on('readable', () => undefined);
    const poll = setInterval(drain, 50);
    await done.finally(() => clearInterval(poll));
    expect(received).toBe(12_000_000);
    expect(await session.exited).toEqual({ exitCode: 0 });
  }, 60_000);

  it('exec websocket: an idle session survives heartbeats', async () => {
    const session = await client.exec(allocation.ID, {
      task: 'shell',
      command: ['sh'],
      heartbeatIntervalMs: 300,
    });
    const result = collect(session);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    session.stdin.end('echo still-here\n');
    expect(await result).toEqual({ exit: { exitCode: 0 }, stdout: 'still-here\n', stderr: '' });
  });

  it('exec websocket: an unknown task is NOT_FOUND', async () => {
    const session = await client.exec(allocation.ID, { task: 'no-such-task', command: ['true'] });
    const { exit } = await collect(session);
    expect(BerthError.hasCode(exit.error, 'NOT_FOUND')).toBe(true);
  });

  it('a wrong address fails fast with BACKEND_UNAVAILABLE naming it', async () => {
    const port = await closedPort();
    const address = `http://127.0.0.1:${port}`;
    const wrong = new NomadClient({ address, env: {} });
    const startedAt = Date.now();
    const error = await wrong.leader().catch((caught: unknown) => caught);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(BerthError.hasCode(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain(address);
    expect((error as { tried: string[] }).tried).toEqual([address]);
    const execError = await wrong
      .exec('00000000-0000-0000-0000-000000000000', { task: 'shell', command: ['sh'] })
      .catch((caught: unknown) => caught);
    expect(BerthError.hasCode(execError, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((execError as Error).message).toContain(address);
    await wrong.close();
  });

  it('a missing job is NOT_FOUND', async () => {
    await expect(client.readJob(`berth-it-${RUN}-missing`)).rejects.toSatisfy((error) =>
      BerthError.hasCode(error, 'NOT_FOUND'),
    );
  });
});

describe.skipIf(!aclToken)('NomadClient against the ACL agent', () => {
  it('a wrong token is AUTHENTICATION with a hint, the right one works', async () => {
    const wrong = new NomadClient({
      address: NOMAD_ACL_TEST_ADDRESS,
      token: '00000000-0000-0000-0000-000000000000',
      env: {},
    });
    const error = await wrong.listJobs().catch((caught: unknown) => caught);
    expect(BerthError.hasCode(error, 'AUTHENTICATION')).toBe(true);
    expect((error as Error).message).toContain('NOMAD_TOKEN');
    expect((error as Error).message).not.toContain('00000000-0000');
    await wrong.close();

    const none = new NomadClient({ address: NOMAD_ACL_TEST_ADDRESS, env: {} });
    const missing = await none.listJobs().catch((caught: unknown) => caught);
    expect((missing as Error).message).toContain('No ACL token was sent');
    await none.close();

    const right = new NomadClient({ address: NOMAD_ACL_TEST_ADDRESS, env: { NOMAD_TOKEN: aclToken } });
    expect(Array.isArray((await right.listJobs()).value)).toBe(true);
    await right.close();
  });
});

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
