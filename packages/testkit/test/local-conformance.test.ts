import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLocalBackend } from '@berth/core';
import { runBackendConformance } from '@berth/testkit';
import { afterAll } from 'vitest';

const baseDirectory = mkdtempSync(path.join(os.tmpdir(), 'berth-conformance-local-'));

runBackendConformance({
  name: 'local',
  createBackend: () => createLocalBackend({ baseDirectory }),
});

afterAll(() => rmSync(baseDirectory, { recursive: true, force: true }));
