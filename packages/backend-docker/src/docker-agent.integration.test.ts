/**
 * berth-agent in real containers: one `docker exec` per host whatever the slot count, the shared
 * read-only agent volume, the upload path for adopted containers, the fallback to one exec per
 * shell (and `shellTransport: 'agent'` refusing it), and an agent killed from inside.
 */
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { BerthError, CapabilityUnsupportedError, createPool, type HostChannelV1 } from '@berth/core';
import { agentBinary } from '@berth/host-agent';
import tarStream from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createDockerBackend } from './create-docker-backend.js';
import type { DockerHost } from './docker-host.js';
import type { DockerHostSpecInput } from './docker-host-spec.js';
import { dockerTestContext, rawDocker, runScript, TEST_RUN_LABEL } from './testing/docker-fixtures.js';

const run = promisify(execFile);
const context = dockerTestContext(); // shellTransport: 'auto'
const execBackend = createDockerBackend({ shellTransport: 'exec' });
const agentOnlyBackend = createDockerBackend({ shellTransport: 'agent' });
const binary = agentBinary(process.arch === 'arm64' ? 'arm64' : 'amd64');
/** A root filesystem the archive API cannot write to; the workspace lives on a tmpfs. */
const READ_ONLY_ROOT: Partial<DockerHostSpecInput> = {
  hostConfig: { ReadonlyRootfs: true },
  hardening: { tmpfs: { '/tmp': 'size=16m', '/data': 'size=16m' } },
};

afterAll(async () => {
  await context.sweep();
  const left = await context.leftovers();
  await Promise.all([context.backend.dispose(), execBackend.dispose(), agentOnlyBackend.dispose()]);
  expect(left).toEqual([]);
});

/** Exec instances running in the container right now, as `docker inspect` lists them. */
async function runningExecs(containerId: string): Promise<number> {
  const { ExecIDs } = await rawDocker.getContainer(containerId).inspect();
  const states = await Promise.all(
    (ExecIDs ?? []).map((id) =>
      rawDocker
        .getExec(id)
        .inspect()
        .then((exec) => exec.Running),
    ),
  );
  return states.filter(Boolean).length;
}

async function echoThrough(channels: HostChannelV1[]): Promise<string[]> {
  return Promise.all(
    channels.map(async (channel, index) => (await runScript(channel, `echo shell-${index}\n`)).stdout),
  );
}

/** The container as another process would find it: listed and attached by a second backend. */
async function adopt(backend: typeof execBackend, host: DockerHost): Promise<DockerHost> {
  await host.disconnect();
  const [descriptor] = await backend.listHosts({ 'berth.pool': host.labels['berth.pool']! });
  return backend.attachHost(descriptor!);
}

describe('berth-agent in Docker', () => {
  it('carries every shell of a host over one docker exec; shellTransport exec uses one each', async () => {
    const host = await context.backend.createHost(context.request({}, `${context.runId}-one`));
    const perShell = await execBackend.createHost(context.request({}, `${context.runId}-each`));
    try {
      const viaAgent = await Promise.all(Array.from({ length: 8 }, () => host.openChannel()));
      const viaExec = await Promise.all(Array.from({ length: 8 }, () => perShell.openChannel()));
      for (const channel of [...viaAgent, ...viaExec]) channel.stdin.write('true\n'); // shells are up
      expect(await runningExecs(host.id)).toBe(1);
      expect(await runningExecs(perShell.id)).toBe(8);
      expect(host.shellTransport).toEqual({ kind: 'agent' });
      expect(perShell.shellTransport.kind).toBe('exec');
      expect(await echoThrough(viaAgent)).toEqual(viaAgent.map((_, index) => `shell-${index}\n`));
      expect(await echoThrough(viaExec)).toEqual(viaExec.map((_, index) => `shell-${index}\n`));
    } finally {
      await Promise.all([host.destroy({ force: true }), perShell.destroy({ force: true })]);
    }
  });

  it('mounts the shared agent volume read-only, so a read-only root filesystem still gets the agent', async () => {
    const host = await context.backend.createHost(context.request(READ_ONLY_ROOT, `${context.runId}-ro`));
    try {
      const info = await rawDocker.getContainer(host.id).inspect();
      expect(info.HostConfig.ReadonlyRootfs).toBe(true);
      expect(info.Mounts).toContainEqual(
        expect.objectContaining({
          Type: 'volume',
          Name: `berth-agent-${binary.sha256.slice(0, 16)}`,
          Destination: binary.installDirectory,
          RW: false,
        }),
      );
      const volume = await rawDocker.getVolume(`berth-agent-${binary.sha256.slice(0, 16)}`).inspect();
      expect(volume.Labels).toMatchObject({ 'berth.managed': 'true', 'berth.component': 'agent' });
      const result = await runScript(await host.openChannel(), `touch /x 2>/dev/null || echo read-only\n`);
      expect(result.stdout).toBe('read-only\n');
      expect(host.shellTransport).toEqual({ kind: 'agent' });
    } finally {
      await host.destroy({ force: true });
    }
  });

  it('uploads the agent into an adopted container that has no agent volume', async () => {
    const created = await execBackend.createHost(context.request({}, `${context.runId}-upload`));
    const adopted = await adopt(context.backend, created);
    try {
      const result = await runScript(await adopted.openChannel(), `ls -l ${binary.installPath}\n`);
      expect(result.stdout).toMatch(/^-rwxr-xr-x .* root +root +\d+ .*berth-agent\n$/);
      expect(adopted.shellTransport).toEqual({ kind: 'agent' });
      expect(await runningExecs(adopted.id)).toBe(1);
    } finally {
      await adopted.destroy({ force: true });
    }
  });

  it('replaces an agent binary cut short (wrong size) in an adopted container', async () => {
    const created = await execBackend.createHost(context.request({}, `${context.runId}-cut`));
    const cut = tarStream.pack();
    cut.entry({ name: binary.installPath.slice(1), mode: 0o755 }, Buffer.alloc(1000));
    cut.finalize();
    await created.putArchive('/', Readable.from(cut));
    const adopted = await adopt(context.backend, created);
    try {
      expect((await runScript(await adopted.openChannel(), 'echo ok\n')).stdout).toBe('ok\n');
      expect(adopted.shellTransport).toEqual({ kind: 'agent' });
      const size = await runScript(await adopted.openChannel(), `wc -c < ${binary.installPath}\n`);
      expect(Number(size.stdout.trim())).toBe(binary.size);
    } finally {
      await adopted.destroy({ force: true });
    }
  });

  it('fills the agent volume again when it was removed while the backend ran (docker volume prune)', async () => {
    const backend = createDockerBackend();
    try {
      const first = await backend.createHost(context.request({}, `${context.runId}-prune`));
      await first.destroy({ force: true });
      const volume = `berth-agent-${binary.sha256.slice(0, 16)}`;
      await rawDocker.getVolume(volume).remove();
      const second = await backend.createHost(context.request({}, `${context.runId}-prune`));
      try {
        expect((await runScript(await second.openChannel(), 'echo refilled\n')).stdout).toBe('refilled\n');
        expect(second.shellTransport).toEqual({ kind: 'agent' });
      } finally {
        await second.destroy({ force: true });
      }
      // Worse: pruned, and another container names it meanwhile, so Docker makes an empty, unlabelled
      // one that is in use. It is not mounted again; the host gets the agent by upload instead.
      await rawDocker.getVolume(volume).remove();
      const squatter = await rawDocker.createContainer({
        Image: 'berth-test/busybox:1',
        Cmd: ['true'],
        Labels: { [TEST_RUN_LABEL]: context.runId },
        HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: '/squat' }] },
      });
      try {
        const third = await backend.createHost(context.request({}, `${context.runId}-prune`));
        try {
          const inspected = await rawDocker.getContainer(third.id).inspect();
          expect(inspected.Mounts.some((mount) => mount.Name === volume)).toBe(false);
          expect((await runScript(await third.openChannel(), 'echo uploaded\n')).stdout).toBe('uploaded\n');
          expect(third.shellTransport).toEqual({ kind: 'agent' });
        } finally {
          await third.destroy({ force: true });
        }
      } finally {
        await squatter.remove({ force: true });
        await rawDocker
          .getVolume(volume)
          .remove()
          .catch(() => undefined);
      }
    } finally {
      await backend.dispose();
    }
  });

  it('falls back to one exec per shell where the agent cannot go, and says why; `agent` mode refuses', async () => {
    const created = await execBackend.createHost(
      context.request(READ_ONLY_ROOT, `${context.runId}-fallback`),
    );
    const adopted = await adopt(context.backend, created);
    try {
      const result = await runScript(await adopted.openChannel(), 'echo still-works\n');
      expect(result.stdout).toBe('still-works\n');
      expect(adopted.shellTransport.kind).toBe('exec');
      expect(adopted.shellTransport.reason).toMatch(/read-only root filesystem/);
      const strict = await adopt(agentOnlyBackend, adopted);
      try {
        const failure = strict.openChannel();
        await expect(failure).rejects.toBeInstanceOf(CapabilityUnsupportedError);
        await expect(failure).rejects.toThrow(/read-only root filesystem/);
      } finally {
        await strict.disconnect();
      }
    } finally {
      await adopted.destroy({ force: true });
    }
  });

  it('an agent killed inside the container drops its channels, not the host; the next channel reconnects', async () => {
    const host = await context.backend.createHost(context.request({}, `${context.runId}-kill`));
    try {
      const channel = await host.openChannel();
      channel.stdin.write('sleep 30\n');
      await run('docker', ['exec', host.id, 'sh', '-c', 'kill -9 $(pidof berth-agent)']);
      expect(await channel.closed).toMatchObject({ transportDropped: true });
      expect(await host.health()).toEqual({ alive: true });
      const again = await runScript(await host.openChannel(), 'echo reconnected\n');
      expect(again.stdout).toBe('reconnected\n');
      expect(host.shellTransport).toEqual({ kind: 'agent' });
    } finally {
      await host.destroy({ force: true });
    }
  });

  it('in a pool: a command in flight when the agent dies fails; the slot and host carry on', async () => {
    const pool = await createPool({
      backend: context.backend,
      poolId: `${context.runId}-pool`,
      persist: false,
      handleSignals: false,
      host: { image: 'berth-test/busybox:1', networkMode: 'none', pull: 'never' },
      minHosts: 1,
      maxHosts: 1,
      slotsPerHost: 2,
    });
    try {
      await using slot = await pool.acquire();
      await slot.exec('true');
      const [hostBefore] = pool.hostsOf();
      const inFlight = slot.exec('sleep 4399').then(
        () => new Error('the command should have failed'),
        (error: unknown) => error,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      await run('docker', ['exec', hostBefore!.id, 'sh', '-c', 'kill -9 $(pidof berth-agent)']);
      const error = await inFlight;
      expect(BerthError.hasCode(error, 'SLOT_RUNTIME_LOST'), String(error)).toBe(true);
      expect(String(error)).toMatch(/The host is fine .* retry the command on the same slot/);
      // The slot swept what the cut-off command left (a SIGKILLed agent could not).
      // By its arguments: `pidof sleep` would count the container's own keep-alive process.
      const left = await run('docker', [
        'exec',
        hostBefore!.id,
        'sh',
        '-c',
        'grep -l "sleep.[4]399" /proc/[0-9]*/cmdline || true',
      ]);
      expect(left.stdout.trim()).toBe('');
      expect((await slot.exec('echo carried-on')).stdout).toBe('carried-on\n');
      expect(pool.hostsOf().map((host) => host.id)).toEqual([hostBefore!.id]);
    } finally {
      await pool.close({ forceRemove: true });
    }
  });
});
