/**
 * The backend contract suite (@berth/testkit) against the local Modal control plane, through the
 * real `modal` SDK, on both of its sandbox paths (V2: the default; V1: `MODAL_SANDBOX_V2=false`,
 * and what GPU sandboxes use). Sandboxes are Docker containers of berth-test/busybox:1.
 */
import { runBackendConformance } from '@berth/testkit';
import { afterAll, expect } from 'vitest';
import { createModalBackend } from './create-modal-backend.js';
import { LocalModal, localModalClient } from './testing/index.js';

// Started at collection: the suites build their backends (not yet connecting) while registering.
const modal = await LocalModal.start();
afterAll(async () => {
  const left = await modal.runningSandboxes();
  await modal.close();
  expect(
    left.map((sb) => sb.id),
    'sandboxes left running by the conformance suites',
  ).toEqual([]);
  expect(modal.stats.unimplemented, 'RPCs the SDK made that the local control plane lacks').toEqual([]);
});

for (const sandboxV2 of [true, false]) {
  runBackendConformance({
    name: `modal (local control plane, ${sandboxV2 ? 'V2' : 'V1'} sandboxes, berth-agent)`,
    createBackend: () =>
      createModalBackend({
        appName: `berth-conformance-${sandboxV2 ? 'v2' : 'v1'}`,
        client: localModalClient(modal, { sandboxV2 }),
        creationRatePerSecond: 50,
      }),
    host: { image: 'busybox:1' },
    slotsPerHost: 2,
    loseHost: async (hostId) => modal.terminateFromOutside(hostId),
    timeoutMs: 90_000,
  });
}
