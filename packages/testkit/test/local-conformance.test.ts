import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLocalBackend } from '@berth/core';
import { runBackendConformance, SHELL_PROTOCOL_LIMITS } from '@berth/testkit';
import { afterAll } from 'vitest';

const baseDirectory = mkdtempSync(path.join(os.tmpdir(), 'berth-conformance-local-'));
// isolation 'user' (when this runs as root): each slot's user must be able to reach its workspace.
chmodSync(baseDirectory, 0o711);

runBackendConformance({
  name: 'local',
  createBackend: () => createLocalBackend({ baseDirectory }),
  // From outside the SDK: the host's directory goes away, so the engine (health) reports it gone.
  loseHost: async (hostId) => rm(path.join(baseDirectory, hostId), { recursive: true, force: true }),
  skip: SHELL_PROTOCOL_LIMITS,
});

afterAll(() => rmSync(baseDirectory, { recursive: true, force: true }));
