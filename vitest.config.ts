import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

// Every test (and every child it spawns) keeps drain markers and process records in a scratch
// Berth home, never the real ~/.berth; test/setup/berth-home.ts removes it at the end.
const berthHome = mkdtempSync(path.join(os.tmpdir(), 'berth-test-home-'));
process.env.BERTH_HOME = berthHome;

// Unit tests (pure logic, *.test.ts beside the code) and integration tests (*.integration.test.ts,
// real engines) are separate projects so `npm run test:unit` stays fast.
export default defineConfig({
  test: {
    globalSetup: ['test/setup/berth-home.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          env: { BERTH_HOME: berthHome },
          include: ['packages/*/src/**/*.test.ts'],
          exclude: ['**/*.integration.test.ts', '**/node_modules/**', '**/dist/**'],
        },
      },
      {
        test: {
          name: 'integration',
          env: { BERTH_HOME: berthHome },
          include: [
            'packages/*/src/**/*.integration.test.ts',
            'test/**/*.test.ts',
            'packages/*/test/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', '**/dist/**'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          pool: 'forks',
          // One engine-heavy file at a time: on 2 cores, parallel suites would measure each other.
          fileParallelism: false,
        },
      },
    ],
  },
});
