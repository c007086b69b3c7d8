import { afterAll, describe, expect } from 'vitest';
import { ConformanceContext } from './conformance-context.js';
import type { ConformanceOptions } from './conformance-options.js';
import { registerExecContract } from './exec-contract.js';
import { registerFilesContract } from './files-contract.js';
import { registerIsolationContract } from './isolation-contract.js';
import { registerLeaseContract } from './lease-contract.js';
import { registerLifecycleContract } from './lifecycle-contract.js';
import { registerPoolContract } from './pool-contract.js';
import { registerProcessContract } from './process-contract.js';
import { registerWaitsContract } from './waits-contract.js';

/**
 * Registers the contract every backend must pass (with vitest `describe` / `it`), run through a
 * real `SlotPool` against the real engine. Call it at the top level of a test file.
 */
export function runBackendConformance<Spec>(options: ConformanceOptions<Spec>): void {
  if (typeof options?.name !== 'string' || options.name.length === 0) {
    throw new TypeError('Expected `name` to be a non-empty string, such as `local` or `docker (busybox)`.');
  }
  if (typeof options.createBackend !== 'function') {
    throw new TypeError('Expected `createBackend` to be a function returning a fresh BackendV1.');
  }
  describe(`berth backend conformance: ${options.name}`, () => {
    const context = new ConformanceContext(options);

    afterAll(async () => {
      await context.closeEverything();
      if (!context.canCountHosts) {
        console.info(
          `[berth conformance ${options.name}] leak check skipped: no countHosts option and no backend.listHosts`,
        );
        return;
      }
      const left: Record<string, number> = {};
      for (const poolId of context.usedPoolIds) {
        const count = await context.countHosts(poolId);
        if (count !== 0) left[poolId] = count;
      }
      expect(left, 'hosts left behind after the suite (pool id → count)').toEqual({});
    }, 120_000);

    registerLifecycleContract(context);
    registerExecContract(context);
    registerFilesContract(context);
    registerLeaseContract(context);
    registerProcessContract(context);
    registerIsolationContract(context);
    registerPoolContract(context);
    registerWaitsContract(context);
  });
}
