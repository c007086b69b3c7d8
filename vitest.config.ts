import { defineConfig } from 'vitest/config';

// Unit tests (pure logic, *.test.ts beside the code) and integration tests (*.integration.test.ts,
// real engines) are separate projects so `npm run test:unit` stays fast.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts'],
          exclude: ['**/*.integration.test.ts', '**/node_modules/**', '**/dist/**'],
        },
      },
      {
        test: {
          name: 'integration',
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
