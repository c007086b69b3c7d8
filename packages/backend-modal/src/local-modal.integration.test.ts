import { ModalClient } from 'modal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalModal, localModalClient } from './testing/index.js';
import { waitUntil } from './testing/wait-until.js';

// Contract tests: the unmodified `modal` SDK against the local control plane, each sandbox a real
// Docker container. A call the control plane does not implement fails the suite (afterAll).
describe.each([
  { path: 'V2', sandboxV2: true },
  { path: 'V1', sandboxV2: false },
])('contract: modal SDK on the local control plane ($path sandbox path)', ({ sandboxV2 }) => {
  let modal: LocalModal;
  let client: ModalClient;
  const saved = { ...process.env };

  beforeAll(async () => {
    modal = await LocalModal.start();
    Object.assign(process.env, modal.env({ sandboxV2 }));
    client = new ModalClient();
  });
  afterAll(async () => {
    client?.close();
    await modal?.close();
    process.env = saved;
    expect(modal.stats.unimplemented).toEqual([]);
  });

  it('creates a tagged sandbox, finds it by tags, runs a command with binary stdin and stdout, terminates it', async () => {
    const app = await client.apps.fromName('berth-contract', { createIfMissing: true });
    const image = client.images.fromRegistry('debian:12');
    const sb = await client.sandboxes.create(app, image, {
      tags: { 'berth.pool': 'contract', 'berth.managed': '1' },
      env: { GREETING: 'hello' },
      timeoutMs: 60_000,
    });
    const listed: string[] = [];
    for await (const found of client.sandboxes.list({
      appId: app.appId,
      tags: { 'berth.pool': 'contract' },
    })) {
      listed.push(found.sandboxId);
    }
    expect(listed).toEqual([sb.sandboxId]);
    expect(modal.stats.calls.get(sandboxV2 ? 'SandboxCreateV2' : 'SandboxCreate')).toBe(1);
    expect(await sb.getTags()).toEqual({ 'berth.pool': 'contract', 'berth.managed': '1' });

    const proc = await sb.exec(['sh', '-c', 'printf "$GREETING "; cat; echo done >&2; exit 3'], {
      mode: 'binary',
    });
    const input = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256);
    const writer = proc.stdin.getWriter();
    await writer.write(input);
    await writer.close();
    const [stdout, stderr, exitCode] = await Promise.all([
      proc.stdout.readBytes(),
      proc.stderr.readBytes(),
      proc.wait(),
    ]);
    expect(Buffer.from(stdout).subarray(0, 6).toString()).toBe('hello ');
    expect(Buffer.compare(Buffer.from(stdout).subarray(6), Buffer.from(input))).toBe(0);
    expect(Buffer.from(stderr).toString()).toBe('done\n');
    expect(exitCode).toBe(3);

    expect(await sb.poll()).toBeNull();
    await sb.terminate();
    expect(await sb.wait()).toBe(137);
    const after: string[] = [];
    for await (const found of client.sandboxes.list({
      appId: app.appId,
      tags: { 'berth.pool': 'contract' },
    })) {
      after.push(found.sandboxId);
    }
    expect(after).toEqual([]);
  });

  it('builds Dockerfile commands on top of a registry image (locally, from the test image)', async () => {
    const app = await client.apps.fromName('berth-contract', { createIfMissing: true });
    const image = client.images.fromRegistry('busybox:1').dockerfileCommands(['RUN echo built > /built.txt']);
    const sb = await client.sandboxes.create(app, image, { timeoutMs: 60_000 });
    try {
      const proc = await sb.exec(['cat', '/built.txt']);
      expect(await proc.stdout.readText()).toBe('built\n');
      expect(await proc.wait()).toBe(0);
    } finally {
      await sb.terminate();
    }
  });
});

describe('local control plane shutdown', () => {
  it('close() ends even while a call is still open (it cuts it after a short grace)', async () => {
    const modal = await LocalModal.start({ faults: { imageBuildDelayMs: 120_000 } });
    const client = localModalClient(modal);
    const app = await client.apps.fromName('berth-shutdown-test', { createIfMissing: true });
    const build = client.images
      .fromRegistry('busybox:1')
      .build(app)
      .then(
        () => 'built',
        () => 'failed',
      );
    await waitUntil('the image build to reach the server', 10_000, () =>
      modal.stats.calls.get('ImageGetOrCreate'),
    );
    // Without the grace, close() would wait the whole 120 s build and time the test out.
    await modal.close();
    expect(await build).toBe('failed');
    client.close();
  }, 30_000);
});
