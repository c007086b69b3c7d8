import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BerthError, CapacityError, createLocalBackend } from '@berth/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createFaultBackend } from './create-fault-backend.js';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function setup() {
  const baseDirectory = mkdtempSync(path.join(os.tmpdir(), 'berth-fault-backend-'));
  directories.push(baseDirectory);
  const backend = createFaultBackend(createLocalBackend({ baseDirectory }));
  const spec = backend.resolveHostSpec(undefined, 'host');
  const create = (signal?: AbortSignal) =>
    backend.createHost({ profile: 'default', spec, labels: { 'berth.pool': 'p' }, slotCount: 1 }, { signal });
  return { backend, create, hosts: () => readdirSync(baseDirectory) };
}

async function outcome(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => 'resolved',
    (error: unknown) => error,
  );
}

describe('createFaultBackend', () => {
  it('is a v1 backend over the inner one, logging every call in order', async () => {
    const { backend, create } = setup();
    expect(backend.specificationVersion).toBe('berth-backend-v1');
    expect(backend.backendId).toBe('fault-local');
    expect(backend.capabilities.persistence).toBe(true);
    const host = await create();
    expect((await host.health()).alive).toBe(true);
    await host.destroy({ force: true });
    expect(backend.faults.calls.map((call) => `${call.operation}:${call.phase}`)).toEqual([
      'createHost:before',
      'createHost:after',
      'health:before',
      'health:after',
      'destroy:before',
      'destroy:after',
    ]);
    expect(backend.faults.callsOf('destroy')[0]?.hostId).toBe(host.id);
  });

  it('hold: the call waits at the gate, in the after phase the host already exists', async () => {
    const { backend, create, hosts } = setup();
    const gate = backend.faults.hold('createHost', { phase: 'after' });
    let settled = false;
    const creating = create().finally(() => (settled = true));
    const [call] = await gate.reached();
    expect(hosts()).toEqual([call!.hostId]);
    expect(settled).toBe(false);
    gate.release();
    const host = await creating;
    expect(host.id).toBe(call!.hostId);
    // A released gate holds nothing more: `times` was 1.
    await (await create()).destroy({ force: true });
    await host.destroy({ force: true });
  });

  it('an abort while held rejects with ABORTED and removes what the create made', async () => {
    const { backend, create, hosts } = setup();
    const gate = backend.faults.hold('createHost', { phase: 'after' });
    const controller = new AbortController();
    const creating = outcome(create(controller.signal));
    await gate.reached();
    controller.abort();
    const error = await creating;
    expect(BerthError.hasCode(error, 'ABORTED')).toBe(true);
    expect(hosts()).toEqual([]);
  });

  it('fail: the next `times` matching calls throw the given error (CAPACITY with retryAfterMs)', async () => {
    const { backend, create, hosts } = setup();
    backend.faults.fail('createHost', () => new CapacityError('quota reached', 250), { times: 2 });
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const error = await outcome(create());
      expect(BerthError.hasCode(error, 'CAPACITY')).toBe(true);
      expect((error as CapacityError).retryAfterMs).toBe(250);
    }
    const host = await create();
    expect(hosts()).toEqual([host.id]);
    await host.destroy({ force: true });
  });

  it('a create failed after the engine made the host removes it (as the spec requires)', async () => {
    const { backend, create, hosts } = setup();
    backend.faults.fail('createHost', new Error('placement failed'), { phase: 'after' });
    expect(String(await outcome(create()))).toMatch(/placement failed/);
    expect(hosts()).toEqual([]);
  });

  it('pause holds channel input until resume; dropTransport ends channels with transportDropped', async () => {
    const { backend, create } = setup();
    const host = await create();
    const other = await create();
    const channel = await host.openChannel();
    const output: Buffer[] = [];
    channel.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    backend.faults.pause(host.id);
    let forwarded = false;
    channel.stdin.write('echo one\n', () => (forwarded = true));
    // A full round trip through another (running) host's shell: the paused write stays unforwarded.
    const probe = await other.openChannel();
    await new Promise<void>((resolve) => {
      probe.stdout.once('data', () => resolve());
      probe.stdin.write('echo probe\n');
    });
    expect(forwarded).toBe(false);
    expect(output).toEqual([]);
    backend.faults.resume(host.id);
    channel.stdin.write('echo two\n');
    await new Promise<void>((resolve) => {
      const check = () => (Buffer.concat(output).toString() === 'one\ntwo\n' ? resolve() : undefined);
      channel.stdout.on('data', check);
      check();
    });
    expect(forwarded).toBe(true);
    await backend.faults.dropTransport(host.id);
    expect(await channel.closed).toMatchObject({ transportDropped: true });
    await host.destroy({ force: true });
    await other.destroy({ force: true });
  });

  it('vanish: onLost listeners hear it, health says gone, the engine no longer has it', async () => {
    const { backend, create, hosts } = setup();
    const host = await create();
    const reasons: string[] = [];
    host.onLost?.((reason) => reasons.push(reason));
    const channel = await host.openChannel();
    await backend.faults.vanish(host.id, 'node drained');
    expect(reasons).toEqual(['node drained']);
    expect(await host.health()).toEqual({ alive: false, reason: 'node drained' });
    expect((await channel.closed).transportDropped).toBeUndefined();
    expect(hosts()).toEqual([]);
    expect(await backend.listHosts?.({ 'berth.pool': 'p' })).toEqual([]);
  });
});
