/**
 * Runs the local Modal control plane until interrupted, printing the variables that point the
 * `modal` SDK (and so Berth's Modal backend) at it:
 *   node --import tsx packages/backend-modal/src/testing/serve-local-modal.ts > local-modal.env &
 * Ctrl-C (SIGINT/SIGTERM) terminates every sandbox it made (containers `berth-modal-…`).
 */
import { LocalModal } from './local-modal/local-modal-server.js';

const modal = await LocalModal.start();
for (const [key, value] of Object.entries(modal.env())) console.log(`export ${key}=${value}`);
const stop = async () => {
  await modal.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
setInterval(() => undefined, 60_000);
