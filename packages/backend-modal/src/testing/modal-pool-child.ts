/**
 * A child process for the cross-process tests in ../modal-pool.integration.test.ts:
 *   node --import tsx modal-pool-child.ts <poolId> <exit|hang-running>
 * Reaches the local control plane only through Modal's own variables (MODAL_SERVER_URL,
 * MODAL_TOKEN_ID, MODAL_TOKEN_SECRET) like a user's process. Creates a pool of one sandbox, runs a
 * command, prints `{ "ready": true, "hostId": "…", "pid": n }`, then closes normally (`exit`,
 * persistent: the sandbox keeps running) or waits to be killed with `sleep 600` running
 * (`hang-running`). BERTH_CHILD_* variables set the app, lease TTL, heartbeat and idle timeout.
 */
import { createPool } from '@berth/core';
import { createModalBackend } from '../create-modal-backend.js';

const [poolId, mode = 'exit'] = process.argv.slice(2);
if (!poolId) {
  console.error('usage: modal-pool-child.ts <poolId> <exit|hang-running>');
  process.exit(2);
}
const env = process.env;
const idleTimeoutMs = env.BERTH_CHILD_IDLE_TIMEOUT_MS ? Number(env.BERTH_CHILD_IDLE_TIMEOUT_MS) : undefined;
const pool = await createPool({
  backend: createModalBackend({
    appName: env.BERTH_CHILD_APP ?? 'berth-child',
    agentHeartbeatTimeoutMs: Number(env.BERTH_CHILD_HEARTBEAT_MS ?? 30_000),
  }),
  poolId,
  minHosts: 1,
  maxHosts: 1,
  slotsPerHost: 1,
  leaseTtlMs: Number(env.BERTH_CHILD_LEASE_TTL_MS ?? 60_000),
  handleSignals: false,
  host: { image: 'busybox:1', ...(idleTimeoutMs ? { idleTimeoutMs } : {}) },
});
const slot = await pool.acquire();
const result = await slot.exec('echo ok');
if (result.stdout !== 'ok\n') throw new Error(`unexpected output ${JSON.stringify(result)}`);
if (mode === 'hang-running') {
  slot.exec('sleep 600', { timeoutMs: 900_000 }).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 300));
} else {
  await slot.release();
}
console.log(JSON.stringify({ ready: true, hostId: slot.hostId, pid: process.pid }));
if (mode === 'hang-running') setInterval(() => undefined, 1_000);
else await pool.close();
