/**
 * The worked example of docs/writing-a-backend.md — a third-party backend in one file — passes the
 * same conformance suite as the built-in backends, so the guide cannot rot.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { poolFromEnv } from '@berth/core';
import { runBackendConformance, SHELL_PROTOCOL_LIMITS } from '@berth/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { createSubprocessBackend } from '../examples/minimal-backend/subprocess-backend.js';

const baseDirectory = mkdtempSync(path.join(os.tmpdir(), 'berth-conformance-subprocess-'));

runBackendConformance({
  name: 'subprocess (docs/writing-a-backend.md)',
  createBackend: () => createSubprocessBackend(baseDirectory),
  host: { env: { EXAMPLE: '1' } },
  // From outside the SDK: the host's directory goes away, so health() reports it gone.
  loseHost: (hostId) => rm(path.join(baseDirectory, hostId), { recursive: true, force: true }),
  skip: SHELL_PROTOCOL_LIMITS,
});

describe('subprocess backend from the environment', () => {
  it('BERTH_BACKEND=subprocess configures it through poolFromEnv', async () => {
    const env = { BERTH_BACKEND: 'subprocess', BERTH_SUBPROCESS_DIR: baseDirectory, BERTH_PERSIST: 'false' };
    const backends = { subprocess: () => import('../examples/minimal-backend/subprocess-backend.js') };
    await using pool = await poolFromEnv({ backends, handleSignals: false }, env);
    await using slot = await pool.acquire();
    expect(pool.options.backend.backendId).toBe('subprocess');
    expect((await slot.exec('echo from env')).stdout).toBe('from env\n');
  });
});

// Without listHosts the suite cannot count hosts per pool id: every pool it created must still
// have left no host directory behind.
afterAll(() => {
  const left = readdirSync(baseDirectory);
  rmSync(baseDirectory, { recursive: true, force: true });
  expect(left).toEqual([]);
});
