/**
 * The minimal third-party backend (subprocess-backend.ts) behind a normal pool:
 *   node --import tsx examples/minimal-backend/run.ts
 */
import { createPool } from '@berth/core';
import { createSubprocessBackend } from './subprocess-backend.js';

await using pool = await createPool({
  backend: createSubprocessBackend(),
  poolId: 'minimal-backend-example',
  slotsPerHost: 2,
  host: { env: { GREETING: 'hello from a third-party backend' } },
});

await using slot = await pool.acquire({ trajectoryId: 'example' });
const result = await slot.exec('echo "$GREETING"; exit 3');
console.log(`exit ${result.exitCode}: ${result.stdout.trim()}`);
