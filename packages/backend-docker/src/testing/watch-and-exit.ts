/**
 * Child-process fixture: creates a host, watches it with onLost, opens and closes a channel, and
 * then simply returns without disposing anything. The process must exit on its own: the shared
 * events stream and idle API sockets must not keep Node alive.
 * Usage: node --import tsx watch-and-exit.ts <runId> <pool>
 */
import { createDockerBackend } from '../create-docker-backend.js';
import { BUSYBOX_IMAGE, TEST_RUN_LABEL } from './docker-fixtures.js';

const runId = process.argv[2] ?? 'unlabelled';
const pool = process.argv[3] ?? runId;
const backend = createDockerBackend();
const host = await backend.createHost({
  profile: 'default',
  spec: backend.resolveHostSpec({ image: BUSYBOX_IMAGE, networkMode: 'none', pull: 'never' }, 'spec'),
  labels: { 'berth.managed': '1', 'berth.pool': pool, [TEST_RUN_LABEL]: runId },
  slotCount: 1,
});
host.onLost((reason) => console.log(JSON.stringify({ lost: reason })));
const channel = await host.openChannel();
channel.stdin.end('exit 0\n');
await channel.closed;
// Let the events stream finish connecting, so the test proves it is unref'd rather than still pending.
await new Promise((resolve) => setTimeout(resolve, 500));
console.log(JSON.stringify({ id: host.id }));
