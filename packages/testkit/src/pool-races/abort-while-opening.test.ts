import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultWorld } from './test-support/fault-world.js';

let world: FaultWorld;
afterEach(async () => {
  await world?.dispose();
}, 60_000);

describe('an abort while the slot shell opens', () => {
  it('is honoured by core even when the backend ignores the signal; the late shell is closed, the command never ran', async () => {
    world = new FaultWorld();
    const backend = world.backend();
    const pool = world.pool({ backend, minHosts: 1 });
    await pool.start();
    const slot = await pool.acquire();
    // The host is set up (its control shell open); the next channel is the slot's own shell.
    const opening = backend.faults.hold('openChannel', { phase: 'after', ignoreAbort: true });
    const controller = new AbortController();
    const running = slot.exec('echo ran > ran.txt', { signal: controller.signal });
    await opening.reached();
    controller.abort();
    const result = await running;
    expect(result.aborted).toBe(true);
    expect(result.exitCode).toBe(130);
    const root = path.dirname(slot.workspace);
    const before = shellsIn(root);
    opening.release();
    // The shell that arrived after the abort is closed, not kept as the slot's shell.
    expect(await eventually(() => shellsIn(root) < before), 'the late shell was closed').toBe(true);
    expect(existsSync(path.join(slot.workspace, 'ran.txt'))).toBe(false);
    expect((await slot.exec('echo next')).stdout).toBe('next\n');
    await slot.release();
  }, 30_000);
});

/** Local shells run with the host's workspace root as their directory: count them from /proc. */
function shellsIn(root: string): number {
  let count = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readlinkSync(`/proc/${pid}/cwd`) === root) count += 1;
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return count;
}

async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}
