import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../errors/index.js';
import { createPool } from '../pool/slot-pool.js';
import { createLocalBackend } from './create-local-backend.js';

const asRoot = process.getuid?.() === 0;

describe("local isolation: 'user' (slot uids are this machine's, shared by every local host)", () => {
  const baseDir = () => mkdtempSync(path.join(os.tmpdir(), 'berth-local-iso-'));
  const refusal = async (maxHosts: number) =>
    createPool({
      backend: createLocalBackend({ baseDirectory: baseDir() }),
      persist: false,
      isolation: 'user',
      minHosts: 0,
      maxHosts,
      drainMarker: false,
    }).then(
      async (pool) => {
        await pool.close({ forceRemove: true });
        return undefined;
      },
      (error: unknown) => error,
    );

  it('refuses a profile that may have two hosts: slot i of both would be one uid', async () => {
    const error = await refusal(2);
    expect(BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED'), String(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(asRoot ? /maxHosts: 1 \(maxHosts is 2\)/ : /only root/);
  });

  it.skipIf(!asRoot)('accepts maxHosts 1 as root', async () => {
    expect(await refusal(1)).toBeUndefined();
  });
  if (!asRoot)
    console.warn('local isolation: skipping the maxHosts 1 case: only root can run slots as users.');
});
