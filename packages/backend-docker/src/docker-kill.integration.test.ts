/**
 * Issue 9: `docker kill` of a container while a command runs in it is a lost host — `HOST_LOST`,
 * "acquire a new slot" — on both shell transports, never `SLOT_RUNTIME_LOST` ("retry on the same
 * slot", which would fail), and never an internal error class leaking out of the API.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { BerthError, createPool, HostLostError, SlotRuntimeLostError } from '@berth/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createDockerBackend, type DockerBackendOptions } from './create-docker-backend.js';
import { BUSYBOX_IMAGE, rawDocker } from './testing/docker-fixtures.js';

const run = promisify(execFile);
const runId = `kill${randomBytes(5).toString('hex')}`;
const backends: Array<{ dispose(): Promise<void> }> = [];

afterAll(async () => {
  // Whatever a failed assertion left behind: only this file's pools, by label.
  for (const transport of ['agent', 'exec']) {
    const left = await rawDocker.listContainers({
      all: true,
      filters: { label: [`berth.pool=${runId}-${transport}`] },
    });
    for (const container of left)
      await rawDocker
        .getContainer(container.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined);
  }
  await Promise.all(backends.map((backend) => backend.dispose()));
});

describe.each([
  { transport: 'agent' as const, expected: 'agent' },
  { transport: 'exec' as const, expected: 'exec' },
])('docker kill mid-command (shellTransport: $transport)', ({ transport, expected }) => {
  it('fails the command with HOST_LOST ("acquire a new slot"), not SLOT_RUNTIME_LOST', async () => {
    const options: DockerBackendOptions = { shellTransport: transport };
    const backend = createDockerBackend(options);
    backends.push(backend);
    const pool = await createPool({
      backend,
      poolId: `${runId}-${transport}`,
      persist: false,
      handleSignals: false,
      host: { image: BUSYBOX_IMAGE, networkMode: 'none', pull: 'never' },
      minHosts: 1,
      maxHosts: 1,
    });
    try {
      const slot = await pool.acquire();
      await slot.exec('true');
      const [host] = pool.hostsOf();
      const backendHost = host!.backendHost as { shellTransport?: { kind: string } };
      expect(backendHost.shellTransport?.kind).toBe(expected);
      const inFlight = slot.exec('sleep 4399').then(
        () => new Error('the command should have failed'),
        (error: unknown) => error,
      );
      await new Promise((resolve) => setTimeout(resolve, 300)); // the command is running
      await run('docker', ['kill', host!.id]);
      const error = await inFlight;
      expect(BerthError.isInstance(error), String(error)).toBe(true);
      expect(BerthError.hasCode(error, 'HOST_LOST'), String(error)).toBe(true);
      expect(HostLostError.isInstance(error), `${(error as Error).name}: ${String(error)}`).toBe(true);
      expect(SlotRuntimeLostError.isInstance(error)).toBe(false);
      expect((error as Error).name).toBe('HostLostError');
      expect(String(error)).toMatch(/Acquire a new slot/);
      expect(String(error)).not.toMatch(/retry (the command )?on (this|the same) slot/i);
      // The slot's next use says the same; a new acquire gets a new host.
      const next = await slot.exec('true').catch((failure: unknown) => failure);
      expect(
        BerthError.hasCode(next, 'HOST_LOST') || BerthError.hasCode(next, 'SLOT_STATE'),
        String(next),
      ).toBe(true);
      await slot.release();
      const fresh = await pool.acquire({ timeoutMs: 60_000 });
      expect(fresh.hostId).not.toBe(host!.id);
      expect((await fresh.exec('echo alive')).stdout).toBe('alive\n');
      await fresh.release();
    } finally {
      await pool.close({ forceRemove: true });
    }
  });
});
