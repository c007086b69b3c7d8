import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { BerthError, CapabilityUnsupportedError } from '@berth/core';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerHost } from './docker-host.js';
import {
  collect,
  dockerTestContext,
  eventually,
  NOSH_IMAGE,
  rawDocker,
  runScript,
} from './testing/docker-fixtures.js';

const context = dockerTestContext();
const { backend } = context;
let host: DockerHost;

beforeAll(async () => {
  host = await backend.createHost(context.request({}));
});

afterAll(async () => {
  await host?.destroy({ force: true });
  await context.sweep();
  const left = await context.leftovers();
  await backend.dispose();
  expect(left).toEqual([]);
});

describe('DockerHost channel', () => {
  it('splits stdout and stderr and reports the shell exit code', async () => {
    const channel = await host.openChannel();
    const result = await runScript(channel, 'echo hi; echo err >&2; exit 3\n');
    expect(result).toEqual({ stdout: 'hi\n', stderr: 'err\n', closed: { exitCode: 3 } });
  });

  it('keeps one shell across commands, and stdin.end() lets it exit cleanly', async () => {
    const channel = await host.openChannel();
    const result = await runScript(channel, 'x=42\ncd /tmp\necho "$x $(pwd)"\n');
    expect(result.stdout).toBe('42 /tmp\n');
    expect(result.closed).toEqual({ exitCode: 0 });
  });

  it('carries large binary-safe output intact through the demultiplexer', async () => {
    const channel = await host.openChannel();
    const result = await runScript(
      channel,
      'head -c 3000000 /dev/zero | tr "\\0" "a"; echo; echo done >&2\n',
    );
    expect(result.stdout.length).toBe(3_000_001);
    expect(result.stderr).toBe('done\n');
  });

  it('close() tears the transport down and closed still resolves', async () => {
    const channel = await host.openChannel();
    channel.stdin.write('sleep 30\n');
    channel.close();
    channel.close(); // idempotent
    const info = await channel.closed;
    expect(info.exitCode === undefined || typeof info.exitCode === 'number').toBe(true);
  });

  it('honours an already-aborted signal', async () => {
    await expect(host.openChannel({ signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ABORTED',
    });
  });
});

describe('DockerHost one-shot run', () => {
  it('runs an argv with stdin, env and cwd', async () => {
    const result = await host.run(['sh', '-c', 'cat; echo "$GREETING from $(pwd)" >&2; exit 5'], {
      stdin: new TextEncoder().encode('piped'),
      env: { GREETING: 'hello' },
      cwd: '/tmp',
    });
    expect(result.exitCode).toBe(5);
    expect(Buffer.from(result.stdout).toString()).toBe('piped');
    expect(Buffer.from(result.stderr).toString()).toBe('hello from /tmp\n');
    expect(result.truncated).toBe(false);
  });

  it('caps output per stream and says so', async () => {
    const result = await host.run(['sh', '-c', 'head -c 100000 /dev/zero'], { maxOutputBytes: 1000 });
    expect(result.exitCode).toBe(0);
    expect(result.stdout.length).toBe(1000);
    expect(result.truncated).toBe(true);
  });

  it('reports a missing program as exit code 126/127, not a hang', async () => {
    const result = await host.run(['/no/such/program']);
    expect([126, 127]).toContain(result.exitCode);
  });
});

describe('DockerHost archives', () => {
  it('round-trips binary data through putArchive / getArchive', async () => {
    const payload = randomBytes(256 * 1024);
    const pack = tarStream.pack();
    pack.entry({ name: 'blob.bin', mode: 0o644 }, payload);
    pack.entry({ name: 'nested/note.txt', mode: 0o600 }, 'hello');
    pack.finalize();
    await host.putArchive(host.workspaceRoot, Readable.from(pack));

    const check = await host.run([
      'sh',
      '-c',
      `wc -c < ${host.workspaceRoot}/blob.bin; cat ${host.workspaceRoot}/nested/note.txt`,
    ]);
    expect(Buffer.from(check.stdout).toString().trim().split('\n')).toEqual(['262144', 'hello']);

    const archive = await host.getArchive(`${host.workspaceRoot}/blob.bin`);
    const files = new Map<string, Buffer>();
    const extract = tarStream.extract();
    extract.on('entry', (header, stream, next) => {
      collect(stream as unknown as Readable).then((data) => {
        files.set(header.name, data);
        next();
      }, next);
    });
    archive.pipe(extract as unknown as NodeJS.WritableStream);
    await new Promise((resolve, reject) => {
      extract.on('finish', () => resolve(undefined));
      extract.on('error', reject);
    });
    expect(files.get('blob.bin')?.equals(payload)).toBe(true);
  });

  it('says NOT_FOUND for a missing path', async () => {
    await expect(host.getArchive('/definitely/not/here')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const empty = tarStream.pack();
    empty.finalize();
    await expect(host.putArchive('/definitely/not/here', Readable.from(empty))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('DockerHost hardening', () => {
  it('is visible in docker inspect', async () => {
    const info = await rawDocker.getContainer(host.id).inspect();
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.CapAdd).toEqual(
      expect.arrayContaining(['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'SETUID', 'SETGID', 'KILL']),
    );
    expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges:true');
    expect(info.HostConfig.Init).toBe(true);
    expect(info.HostConfig.PidsLimit).toBe(1024);
    expect(info.HostConfig.Tmpfs).toEqual({ '/tmp': 'size=256m' });
    expect(info.Config.Labels).toMatchObject({ 'berth.backend': 'docker', 'berth.pool': context.runId });
  });

  it('takes effect inside the container', async () => {
    const result = await host.run(['sh', '-c', 'grep -E "^(CapEff|NoNewPrivs)" /proc/self/status']);
    const status = Buffer.from(result.stdout).toString();
    expect(status).toMatch(/NoNewPrivs:\s+1/);
    // 7 capabilities: CHOWN(0) DAC_OVERRIDE(1) FOWNER(3) FSETID(4) KILL(5) SETGID(6) SETUID(7) = 0xfb
    expect(status).toMatch(/CapEff:\s+0+fb\b/);
  });

  it('hardening: false leaves Docker defaults; single knobs override', async () => {
    const plain = await backend.createHost(context.request({ hardening: false }));
    const tuned = await backend.createHost(
      context.request({ hardening: { pidsLimit: 64, tmpfs: null, capAdd: ['chown'] } }),
    );
    try {
      const plainInfo = await rawDocker.getContainer(plain.id).inspect();
      expect(plainInfo.HostConfig.CapDrop ?? []).toEqual([]);
      expect(plainInfo.HostConfig.Init ?? false).toBe(false);
      const tunedInfo = await rawDocker.getContainer(tuned.id).inspect();
      expect(tunedInfo.HostConfig.PidsLimit).toBe(64);
      expect(tunedInfo.HostConfig.CapAdd).toEqual(['CHOWN']);
      expect(tunedInfo.HostConfig.Tmpfs ?? {}).toEqual({});
      expect(tunedInfo.HostConfig.SecurityOpt).toContain('no-new-privileges:true');
    } finally {
      await Promise.all([plain.destroy({ force: true }), tuned.destroy({ force: true })]);
    }
  });
});

describe('DockerHost workspace root', () => {
  it('creates a writable workspace root for a non-root numeric user', async () => {
    const nonRoot = await backend.createHost(
      context.request({ user: '4321:4321', workspaceRoot: '/srv/berth/ws' }),
    );
    try {
      const result = await nonRoot.run([
        'sh',
        '-c',
        'id -u; touch /srv/berth/ws/ok && stat -c %u /srv/berth/ws',
      ]);
      expect(result.exitCode).toBe(0);
      expect(Buffer.from(result.stdout).toString().split('\n').slice(0, 2)).toEqual(['4321', '4321']);
    } finally {
      await nonRoot.destroy({ force: true });
    }
  });
});

describe('DockerHost without a shell', () => {
  it('openChannel fails fast with CAPABILITY_UNSUPPORTED and run() still works', async () => {
    const nosh = await backend.createHost(
      context.request({ image: NOSH_IMAGE, keepAliveCommand: ['/bin/busybox', 'sleep', '2147483647'] }),
    );
    try {
      const started = Date.now();
      const error = await nosh.openChannel().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(CapabilityUnsupportedError);
      expect((error as CapabilityUnsupportedError).capability).toBe('shell');
      expect((error as Error).message).toMatch(/no \/bin\/sh/);
      expect(Date.now() - started).toBeLessThan(5_000);
      const result = await nosh.run(['/bin/busybox', 'echo', 'hi']);
      expect(result).toMatchObject({ exitCode: 0, truncated: false });
      expect(Buffer.from(result.stdout).toString()).toBe('hi\n');
    } finally {
      await nosh.destroy({ force: true });
    }
  });
});

describe('DockerHost loss', () => {
  it('a docker kill from outside fires onLost once and health() says not alive', async () => {
    const victim = await backend.createHost(context.request({}));
    try {
      expect(await victim.health()).toEqual({ alive: true });
      const reasons: string[] = [];
      const lost = new Promise<string>((resolve) => {
        victim.onLost((reason) => {
          reasons.push(reason);
          resolve(reason);
        });
      });
      await eventually(
        async () => (backend as unknown as { address?: string }).address,
        (value) => value !== undefined,
      );
      // Give the shared events stream a moment to connect before the kill (reconcile covers it anyway).
      await new Promise((resolve) => setTimeout(resolve, 200));
      await rawDocker.getContainer(victim.id).kill();
      expect(await lost).toMatch(/exited/);
      const health = await victim.health();
      expect(health.alive).toBe(false);
      expect(health.reason).toMatch(/exited/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(reasons).toHaveLength(1);
    } finally {
      await victim.destroy({ force: true });
    }
    expect(await victim.health()).toEqual({ alive: false, reason: 'container was removed' });
  });

  it('our own destroy() is not reported as a loss', async () => {
    const host = await backend.createHost(context.request({}));
    const heard: string[] = [];
    host.onLost((reason) => heard.push(reason));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await host.destroy({ force: true });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(heard).toEqual([]);
  });

  it('a command killed by the OOM killer does not cost the host', async () => {
    const host = await backend.createHost(context.request({ memoryMiB: 32 }));
    try {
      const heard: string[] = [];
      host.onLost((reason) => heard.push(reason));
      // busybox tail keeps a newline-free stream in memory until the cgroup limit kills it.
      const hog = await host.run(['sh', '-c', 'head -c 80000000 /dev/zero | tail -c 60000000 > /dev/null']);
      expect(hog.exitCode).toBe(137); // SIGKILL from the OOM killer
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(heard).toEqual([]);
      expect(await host.health()).toEqual({ alive: true });
      const after = await runScript(await host.openChannel(), 'echo still-here\n');
      expect(after.stdout).toBe('still-here\n');
    } finally {
      await host.destroy({ force: true });
    }
  });

  it('methods of a destroyed host fail with a clear error; destroy stays idempotent', async () => {
    const doomed = await backend.createHost(context.request({}));
    await doomed.destroy({ force: false });
    await doomed.destroy({ force: true });
    const error = await doomed.openChannel().catch((caught: unknown) => caught);
    expect(BerthError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/destroyed/);
  });
});
