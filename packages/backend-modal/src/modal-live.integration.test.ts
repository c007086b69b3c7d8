/**
 * Live smoke test against Modal's cloud: runs only when MODAL_TOKEN_ID and MODAL_TOKEN_SECRET are
 * set (and MODAL_SERVER_URL, if set, is not a local control plane). Creates one sandbox, runs a
 * command in two slots, and terminates it (a few cents at most).
 */
import { createPool } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { createModalBackend } from './create-modal-backend.js';

const local = /127\.0\.0\.1|localhost/.test(process.env.MODAL_SERVER_URL ?? '');
const skipReason =
  !process.env.MODAL_TOKEN_ID || !process.env.MODAL_TOKEN_SECRET
    ? 'MODAL_TOKEN_ID and MODAL_TOKEN_SECRET are not set'
    : local
      ? 'MODAL_SERVER_URL points at a local control plane'
      : undefined;
if (skipReason) console.info(`[modal live smoke test] skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)(
  `modal live smoke test${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('one real sandbox runs commands in two slots and is terminated', async () => {
      const pool = await createPool({
        backend: createModalBackend({ appName: 'berth-smoke' }),
        poolId: `berth-smoke-${process.pid}`,
        maxHosts: 1,
        slotsPerHost: 2,
        persist: false,
        hostLifetimeMs: 10 * 60_000,
        handleSignals: false,
        host: { image: 'python:3.12-slim' },
      });
      try {
        const [a, b] = await Promise.all([
          pool.acquire({ timeoutMs: 300_000 }),
          pool.acquire({ timeoutMs: 300_000 }),
        ]);
        expect((await a.exec('echo a; uname -s')).stdout).toBe('a\nLinux\n');
        expect((await b.exec('python3 -c "print(6*7)"')).stdout).toBe('42\n');
        await Promise.all([a.release(), b.release()]);
      } finally {
        await pool.close({ forceRemove: true });
      }
    }, 600_000);
  },
);
