import {
  AbortedError,
  BerthError,
  type HostProgressV1,
  InvalidOptionsError,
  NotFoundError,
} from '@berth/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BUSYBOX_IMAGE,
  dockerTestContext,
  rawDocker,
  runScript,
  TEST_RUN_LABEL,
} from './testing/docker-fixtures.js';

const context = dockerTestContext();
const { backend } = context;

afterAll(async () => {
  await context.sweep();
  const left = await context.leftovers();
  await backend.dispose();
  expect(left).toEqual([]);
});

describe('listHosts / attachHost / removeHost', () => {
  it('lists by labels, and not another pool', async () => {
    const mine = await backend.createHost(context.request({}, `${context.runId}-a`));
    const other = await backend.createHost(context.request({}, `${context.runId}-b`));
    try {
      const listed = await backend.listHosts({ 'berth.managed': '1', 'berth.pool': `${context.runId}-a` });
      expect(listed.map((descriptor) => descriptor.id)).toEqual([mine.id]);
      expect(listed[0]).toMatchObject({ state: 'running', labels: { 'berth.pool': `${context.runId}-a` } });
      expect(Math.abs((listed[0]?.createdAtMs ?? 0) - Date.now())).toBeLessThan(120_000);
    } finally {
      await Promise.all([mine.destroy({ force: true }), other.destroy({ force: true })]);
    }
  });

  it('attachHost starts a stopped container and the host works', async () => {
    const created = await backend.createHost(
      context.request({ workspaceRoot: '/data/ws' }, `${context.runId}-stop`),
    );
    await created.disconnect();
    await rawDocker.getContainer(created.id).stop({ t: 0 });
    const stoppedAt = Date.now();
    const [descriptor] = await backend.listHosts({ 'berth.pool': `${context.runId}-stop` });
    expect(descriptor?.state).toBe('stopped');
    // The reaper ages an exited host from its exit: the descriptor says when that was.
    expect(descriptor?.exitedAtMs).toBeGreaterThanOrEqual(descriptor?.createdAtMs ?? Number.NaN);
    expect(Math.abs((descriptor?.exitedAtMs ?? 0) - stoppedAt)).toBeLessThan(60_000);
    const attached = await backend.attachHost(descriptor!);
    try {
      expect(attached.workspaceRoot).toBe('/data/ws');
      expect((await rawDocker.getContainer(created.id).inspect()).State.Running).toBe(true);
      const result = await runScript(await attached.openChannel(), 'echo attached\n');
      expect(result.stdout).toBe('attached\n');
    } finally {
      await attached.destroy({ force: true });
    }
  });

  it('removeHost is idempotent', async () => {
    const host = await backend.createHost(context.request({}, `${context.runId}-rm`));
    const [descriptor] = await backend.listHosts({ 'berth.pool': `${context.runId}-rm` });
    await backend.removeHost(descriptor!);
    await backend.removeHost(descriptor!);
    expect(await backend.listHosts({ 'berth.pool': `${context.runId}-rm` })).toEqual([]);
    await host.destroy({ force: true }); // also fine after removal
  });

  it('refuses to adopt a container Berth did not create', async () => {
    const foreign = await rawDocker.createContainer({
      Image: BUSYBOX_IMAGE,
      Cmd: ['sleep', '600'],
      Labels: { [TEST_RUN_LABEL]: context.runId },
      HostConfig: { NetworkMode: 'none' },
    });
    try {
      const descriptor = { id: foreign.id, labels: {}, state: 'stopped' as const, createdAtMs: Date.now() };
      await expect(backend.attachHost(descriptor)).rejects.toBeInstanceOf(InvalidOptionsError);
    } finally {
      await foreign.remove({ force: true });
    }
  });
});

describe('createHost failures leave no container', () => {
  const expectNothingLeft = async (pool: string) =>
    expect(await rawDocker.listContainers({ all: true, filters: { label: [`berth.pool=${pool}`] } })).toEqual(
      [],
    );

  it('when start fails (hostConfig passthrough)', async () => {
    const pool = `${context.runId}-badstart`;
    const request = context.request(
      {
        hostConfig: {
          Devices: [
            { PathOnHost: '/dev/berth-no-such-device', PathInContainer: '/dev/x', CgroupPermissions: 'rwm' },
          ],
        },
      },
      pool,
    );
    await expect(backend.createHost(request)).rejects.toBeInstanceOf(BerthError);
    await expectNothingLeft(pool);
  });

  it('when aborted mid-create', async () => {
    const pool = `${context.runId}-abort`;
    const controller = new AbortController();
    const request = {
      ...context.request({}, pool),
      onProgress: (progress: HostProgressV1) => {
        if (progress.phase === 'start') controller.abort();
      },
    };
    await expect(backend.createHost(request, { signal: controller.signal })).rejects.toBeInstanceOf(
      AbortedError,
    );
    await expectNothingLeft(pool);
  });

  it('when the keep-alive command is missing or exits at once', async () => {
    const pool = `${context.runId}-keepalive`;
    const missing = await backend
      .createHost(context.request({ keepAliveCommand: ['/no/such/binary'] }, pool))
      .catch((error) => error);
    expect(missing).toBeInstanceOf(InvalidOptionsError);
    expect((missing as InvalidOptionsError).field).toBe('keepAliveCommand');
    const exits = await backend
      .createHost(context.request({ keepAliveCommand: ['true'] }, pool))
      .catch((error) => error);
    expect(exits).toBeInstanceOf(InvalidOptionsError);
    expect((exits as Error).message).toMatch(/exited right after start/);
    await expectNothingLeft(pool);
  });

  it('when the image is missing and pulling is off', async () => {
    const error = await backend
      .createHost(context.request({ image: 'berth-test/does-not-exist:1', pull: 'never' }))
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toMatch(/not available locally.*docker build/);
  });

  it('when a forwarded variable is unset (before anything is created)', async () => {
    const error = await backend
      .createHost(context.request({ forwardEnv: ['BERTH_TEST_SURELY_UNSET'] }))
      .catch((caught) => caught);
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS', field: 'forwardEnv' });
  });

  it('diskMiB either applies or fails clearly naming the storage driver', async () => {
    const pool = `${context.runId}-disk`;
    const outcome = await backend
      .createHost(context.request({ diskMiB: 512 }, pool))
      .catch((error: unknown) => error);
    if (BerthError.isInstance(outcome)) {
      expect(outcome.code).toBe('CAPABILITY_UNSUPPORTED');
      expect(outcome.message).toMatch(/storage driver \(\w+\)/);
    } else {
      const host = outcome as Awaited<ReturnType<typeof backend.createHost>>;
      expect((await rawDocker.getContainer(host.id).inspect()).HostConfig.StorageOpt).toEqual({
        size: '512M',
      });
      await host.destroy({ force: true });
    }
    await expectNothingLeft(pool);
  });
});

describe('createHost options', () => {
  it('applies resources, env, forwarded env, mounts and overrides an image ENTRYPOINT', async () => {
    const base = await backend.createHost(context.request({}));
    const tag = context.runId;
    await rawDocker
      .getContainer(base.id)
      .commit({ repo: 'berth-test/entrypoint', tag, changes: ['ENTRYPOINT ["/bin/false"]'] });
    await base.destroy({ force: true });
    process.env.BERTH_TEST_FORWARDED = 'forwarded-value';
    const host = await backend.createHost(
      context.request({
        image: `berth-test/entrypoint:${tag}`,
        cpus: 0.5,
        memoryMiB: 64,
        env: { PLAIN: 'plain-value' },
        forwardEnv: ['BERTH_TEST_FORWARDED'],
        volumes: [{ source: `berth-test-${tag}`, target: '/cache' }],
      }),
    );
    try {
      const info = await rawDocker.getContainer(host.id).inspect();
      expect(info.HostConfig.NanoCpus).toBe(500_000_000);
      expect(info.HostConfig.Memory).toBe(64 * 1024 * 1024);
      const result = await runScript(
        await host.openChannel(),
        'echo "$PLAIN $BERTH_TEST_FORWARDED"; touch /cache/ok && echo mounted\n',
      );
      expect(result.stdout).toBe('plain-value forwarded-value\nmounted\n');
    } finally {
      delete process.env.BERTH_TEST_FORWARDED;
      await host.destroy({ force: true });
      await rawDocker.getImage(`berth-test/entrypoint:${tag}`).remove({ force: true });
      await rawDocker
        .getVolume(`berth-test-${tag}`)
        .remove()
        .catch(() => undefined);
    }
  });

  it('creates hosts concurrently without clashes', async () => {
    const hosts = await Promise.all(
      [1, 2, 3, 4].map(() => backend.createHost(context.request({}, `${context.runId}-par`))),
    );
    try {
      expect(new Set(hosts.map((host) => host.id)).size).toBe(4);
    } finally {
      await Promise.all(hosts.map((host) => host.destroy({ force: true })));
    }
  });
});
