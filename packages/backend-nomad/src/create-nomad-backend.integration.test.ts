import type { HostProgressV1 } from '@berth/core';
import { BerthError, LABEL } from '@berth/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createNomadBackend } from './create-nomad-backend.js';
import type { NomadHost } from './nomad-host.js';
import { labelsFor, percentile, roundTrip, runScript } from './test-support/host-test-helpers.js';
import {
  NOMAD_TEST_ADDRESS,
  purgeJobsWithMeta,
  randomSuffix,
  testAgentDrivers,
  testClient,
} from './test-support/nomad-test-agent.js';

const { available, docker } = await testAgentDrivers();
if (!available)
  console.warn(`[backend-nomad] no Nomad agent at ${NOMAD_TEST_ADDRESS}; run scripts/start-nomad.sh`);

const POOL = `it-nomad-${randomSuffix()}`;
const OTHER_POOL = `${POOL}-other`;
const DOCKER_IMAGE = 'berth-test/busybox:1';

describe.skipIf(!available)('Nomad backend host layer against a real agent', () => {
  const backend = createNomadBackend({ address: NOMAD_TEST_ADDRESS, env: {}, startTimeoutMs: 90_000 });
  const rawSpec = backend.resolveHostSpec(
    { driver: 'raw_exec', cpu: 50, memoryMiB: 64, killTimeoutMs: 1_000 },
    'spec',
  );
  const hosts: NomadHost[] = [];

  afterAll(async () => {
    await Promise.all(hosts.map((host) => host.disconnect()));
    const client = testClient();
    // Everything the tests made carries the pool label; anything still registered leaked.
    const leftovers = [
      ...(await purgeJobsWithMeta(client, LABEL.pool, POOL)),
      ...(await purgeJobsWithMeta(client, LABEL.pool, OTHER_POOL)),
    ];
    await backend.dispose();
    await client.close();
    expect(leftovers).toEqual([]);
  });

  it('creates a raw_exec host, reports progress, and runs a shell with both streams and the exit code', async () => {
    const progress: HostProgressV1[] = [];
    const startedAt = performance.now();
    const host = await backend.createHost({
      profile: 'raw',
      spec: rawSpec,
      labels: labelsFor(POOL, 'raw'),
      slotCount: 2,
      onProgress: (item) => progress.push(item),
    });
    hosts.push(host);
    console.log(
      JSON.stringify({
        metric: 'nomad.createHost.raw_exec.ms',
        value: Math.round(performance.now() - startedAt),
      }),
    );
    expect(host.id).toMatch(new RegExp(`^berth-${POOL}-raw-[0-9a-f]{10}$`));
    expect(host.labels[LABEL.pool]).toBe(POOL);
    expect(host.labels['berth.backend']).toBe('nomad');
    expect(host.workspaceRoot).toMatch(/^\/.+\/alloc\/data$/);
    expect(progress.map((item) => item.phase)).toContain('placement');
    expect(progress.some((item) => item.message.includes('Started'))).toBe(true);

    const result = await runScript(
      await host.openChannel(),
      `cd ${host.workspaceRoot} && mkdir -p slot_0 && echo hello > slot_0/f && cat slot_0/f; echo oops >&2; exit 4\n`,
    );
    expect(result).toEqual({ closed: { exitCode: 4 }, stdout: 'hello\n', stderr: 'oops\n' });
    expect(await host.health()).toEqual({ alive: true });
  });

  it('runs an argv one-shot without a shell, with env, stdin and an output cap', async () => {
    const host = hosts[0]!;
    const result = await host.run(['sh', '-c', 'cat; echo "X=$X"; echo e >&2; exit 2'], {
      stdin: Buffer.from('in\n'),
      env: { X: 'forty two' },
    });
    expect(result.exitCode).toBe(2);
    expect(Buffer.from(result.stdout).toString()).toBe('in\nX=forty two\n');
    expect(Buffer.from(result.stderr).toString()).toBe('e\n');
    const capped = await host.run(['sh', '-c', 'head -c 100000 /dev/zero'], { maxOutputBytes: 1000 });
    expect(capped.stdout.length).toBe(1000);
    expect(capped.truncated).toBe(true);
    await expect(host.run(['pwd'], { cwd: '/tmp' })).rejects.toSatisfy((error) =>
      BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED'),
    );
  });

  it('measures exec latency: a fresh session vs a command on a warm one', async () => {
    const host = hosts[0]!;
    const fresh: number[] = [];
    for (let index = 0; index < 10; index++) {
      const startedAt = performance.now();
      const channel = await host.openChannel();
      await roundTrip(channel, `fresh-${index}`);
      fresh.push(performance.now() - startedAt);
      channel.close();
    }
    const channel = await host.openChannel();
    const warm: number[] = [];
    for (let index = 0; index < 30; index++) {
      const startedAt = performance.now();
      await roundTrip(channel, `warm-${index}`);
      warm.push(performance.now() - startedAt);
    }
    channel.close();
    console.log(
      JSON.stringify({
        metric: 'nomad.exec.raw_exec.ms',
        freshP50: +percentile(fresh, 0.5).toFixed(1),
        warmP50: +percentile(warm, 0.5).toFixed(1),
        warmP90: +percentile(warm, 0.9).toFixed(1),
      }),
    );
    expect(percentile(warm, 0.5)).toBeLessThan(percentile(fresh, 0.5));
  });

  it.skipIf(!docker)(
    'creates a docker host from a local image, hardened, with /alloc/data as workspace',
    async () => {
      const spec = backend.resolveHostSpec(
        { image: DOCKER_IMAGE, cpu: 50, memoryMiB: 64, killTimeoutMs: 1_000 },
        'spec',
      );
      const startedAt = performance.now();
      const host = await backend.createHost({
        profile: 'docker',
        spec,
        labels: labelsFor(POOL, 'docker'),
        slotCount: 1,
      });
      hosts.push(host);
      console.log(
        JSON.stringify({
          metric: 'nomad.createHost.docker.ms',
          value: Math.round(performance.now() - startedAt),
        }),
      );
      expect(host.workspaceRoot).toBe('/alloc/data');
      const result = await runScript(
        await host.openChannel(),
        'echo data > /alloc/data/probe && cat /alloc/data/probe; grep NoNewPrivs /proc/self/status; echo e >&2; exit 9\n',
      );
      expect(result.closed).toEqual({ exitCode: 9 });
      expect(result.stdout).toMatch(/^data\nNoNewPrivs:\s+1\n$/);
      expect(result.stderr).toBe('e\n');

      const fresh: number[] = [];
      for (let index = 0; index < 5; index++) {
        const begin = performance.now();
        const channel = await host.openChannel();
        await roundTrip(channel, `fresh-${index}`);
        fresh.push(performance.now() - begin);
        channel.close();
      }
      console.log(
        JSON.stringify({
          metric: 'nomad.exec.docker.freshP50.ms',
          value: +percentile(fresh, 0.5).toFixed(1),
        }),
      );
    },
  );

  it.skipIf(!docker)(
    'docker and raw_exec hosts carry their shells and commands over berth-agent; `exec` mode uses one exec each',
    async () => {
      const spec = backend.resolveHostSpec(
        { image: DOCKER_IMAGE, cpu: 50, memoryMiB: 64, killTimeoutMs: 1_000 },
        'spec',
      );
      const host = await backend.createHost({
        profile: 'agent',
        spec,
        labels: labelsFor(POOL, 'agent'),
        slotCount: 1,
      });
      hosts.push(host);
      // The shell's parent, seen from inside: the agent, which started it.
      const parentOf = async (target: NomadHost) =>
        (
          await runScript(await target.openChannel(), "tr '\\0' ' ' < /proc/$PPID/cmdline; echo\n")
        ).stdout.trim();
      expect(await parentOf(host)).toMatch(/berth-agent/);
      expect(host.shellTransport).toEqual({ kind: 'agent' });
      const command = await host.openCommand({ argv: ['sh', '-c', 'echo $$'], cwd: '/alloc/data' });
      command.stdin.end();
      let said = '';
      command.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
      expect(await command.closed).toEqual({ exitCode: 0 });
      expect(said.trim()).toBe(String(command.pid));
      await host.writeFile('/alloc/data/agent.txt', Buffer.from('via agent'), { mode: 0o644 });
      expect(Buffer.from(await host.readFile('/alloc/data/agent.txt')).toString()).toBe('via agent');

      // raw_exec: the agent runs on the node, started from the allocation's exec API too.
      expect(await parentOf(hosts[0]!)).toMatch(/berth-agent/);
      expect(hosts[0]!.shellTransport, 'raw_exec').toEqual({ kind: 'agent' });
      const execOnly = createNomadBackend({ address: NOMAD_TEST_ADDRESS, env: {}, shellTransport: 'exec' });
      const plain = await execOnly.createHost({
        profile: 'plain',
        spec,
        labels: labelsFor(POOL, 'plain'),
        slotCount: 1,
      });
      expect(plain.shellTransport).toEqual({ kind: 'exec', reason: 'shellTransport is `exec`' });
      expect(await parentOf(plain)).not.toMatch(/berth-agent/);
      await expect(plain.openCommand({ argv: ['true'] })).rejects.toMatchObject({
        code: 'CAPABILITY_UNSUPPORTED',
      });
      await plain.destroy({ force: true });
      await execOnly.dispose();
    },
    120_000,
  );

  it('lists hosts by labels only, not another pool’s, and attaches to a listed one', async () => {
    const other = await backend.createHost({
      profile: 'raw',
      spec: rawSpec,
      labels: labelsFor(OTHER_POOL, 'raw'),
      slotCount: 1,
    });
    try {
      const listed = await backend.listHosts({ [LABEL.managed]: '1', [LABEL.pool]: POOL });
      expect(listed.map((descriptor) => descriptor.id).sort()).toEqual(hosts.map((host) => host.id).sort());
      expect(listed.every((descriptor) => descriptor.state === 'running')).toBe(true);
      expect(listed.every((descriptor) => Math.abs(Date.now() - descriptor.createdAtMs) < 300_000)).toBe(
        true,
      );
      expect(listed.every((descriptor) => descriptor.labels[LABEL.pool] === POOL)).toBe(true);
      const byProfile = await backend.listHosts({ [LABEL.pool]: POOL, [LABEL.profile]: 'raw' });
      expect(byProfile.map((descriptor) => descriptor.id)).toEqual([hosts[0]!.id]);

      const attached = await backend.attachHost(byProfile[0]!);
      expect(attached.id).toBe(hosts[0]!.id);
      expect(attached.workspaceRoot).toBe(hosts[0]!.workspaceRoot);
      expect(attached.labels).toEqual(hosts[0]!.labels);
      const result = await runScript(
        await attached.openChannel(),
        `cat ${attached.workspaceRoot}/slot_0/f\n`,
      );
      expect(result.stdout).toBe('hello\n');
      await attached.disconnect();
    } finally {
      await other.destroy({ force: true });
    }
  });

  it('removeHost removes listed hosts, idempotently', async () => {
    for (const created of hosts.splice(0)) {
      await created.disconnect();
      const [listed] = await backend.listHosts({
        [LABEL.pool]: POOL,
        [LABEL.profile]: created.labels[LABEL.profile]!,
      });
      await backend.removeHost(listed!);
      await backend.removeHost(listed!);
      expect((await created.health()).alive).toBe(false);
    }
    expect(await backend.listHosts({ [LABEL.pool]: POOL })).toEqual([]);
  });
});
