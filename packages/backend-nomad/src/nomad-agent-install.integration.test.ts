/**
 * berth-agent's start in a docker allocation against the real agent: one alloc exec checks the
 * install, uploads the build on the same stdin when it is absent and starts it (busybox and Debian
 * images); a later link finds the install and only starts it; an install altered in place is put
 * back. Skips when no agent (or no docker driver) answers.
 */
import { LABEL } from '@berth/core';
import { agentArchOf, agentBinary } from '@berth/host-agent';
import { afterAll, describe, expect, it } from 'vitest';
import { NomadClient } from './client/nomad-client.js';
import { createNomadBackend, type NomadBackend } from './create-nomad-backend.js';
import type { NomadHost } from './nomad-host.js';
import { labelsFor, runScript } from './test-support/host-test-helpers.js';
import {
  NOMAD_TEST_ADDRESS,
  purgeJobsWithMeta,
  randomSuffix,
  testAgentDrivers,
  testClient,
} from './test-support/nomad-test-agent.js';

const { docker } = await testAgentDrivers();
if (!docker)
  console.warn(`[backend-nomad] agent install tests skipped: no docker driver at ${NOMAD_TEST_ADDRESS}`);

const POOL = `it-nomad-install-${randomSuffix()}`;

/**
 * Every alloc exec opened was the one-exec start (the install check, the upload and the start in
 * one script): never the separate `uname` / `wc -c` / upload / start execs of before. A start the
 * link retried after a transient failure under load (seen once in CI: two start execs) is still one
 * exec per attempt.
 */
function expectOnlyStartExecs(execs: string[][]): void {
  const described = execs.map((argv) => argv.join(' ').slice(0, 80));
  expect(execs.length, `alloc exec sessions opened: ${JSON.stringify(described)}`).toBeGreaterThanOrEqual(1);
  expect(execs.length, `alloc exec sessions opened: ${JSON.stringify(described)}`).toBeLessThanOrEqual(2);
  for (const argv of execs) {
    expect(argv[0], `an exec other than the start: ${JSON.stringify(described)}`).toBe('sh');
    expect(argv[2], `an exec other than the start: ${JSON.stringify(described)}`).toContain(
      'berth-agent-start',
    );
  }
}

/** A backend whose client counts the alloc exec sessions it opens (their argv). */
function countingBackend(): { backend: NomadBackend; execs: string[][] } {
  const client = new NomadClient({ address: NOMAD_TEST_ADDRESS, env: {} });
  const execs: string[][] = [];
  const exec = client.exec.bind(client);
  client.exec = (allocationId, options) => {
    execs.push([...options.command]);
    return exec(allocationId, options);
  };
  return { backend: createNomadBackend({ client, startTimeoutMs: 90_000 }), execs };
}

describe.skipIf(!docker)('berth-agent install in a Nomad docker allocation', () => {
  const backends: NomadBackend[] = [];
  const hosts: NomadHost[] = [];
  const created: NomadHost[] = [];
  afterAll(async () => {
    await Promise.all(hosts.map((host) => host.disconnect()));
    await Promise.all(created.map((host) => host.destroy({ force: true })));
    const client = testClient();
    const leftovers = await purgeJobsWithMeta(client, LABEL.pool, POOL);
    for (const backend of backends) {
      await backend.dispose();
      await backend.client.close();
    }
    await client.close();
    expect(leftovers).toEqual([]);
  });

  const open = () => {
    const made = countingBackend();
    backends.push(made.backend);
    return made;
  };

  for (const image of ['berth-test/busybox:1', 'berth-test/debian:12']) {
    it(`starts the agent in one exec on a fresh ${image} allocation; a later link only starts it`, async () => {
      const first = open();
      const spec = first.backend.resolveHostSpec(
        { image, cpu: 50, memoryMiB: 64, killTimeoutMs: 1_000 },
        'spec',
      );
      const host = await first.backend.createHost({
        profile: image.includes('debian') ? 'debian' : 'busybox',
        spec,
        labels: labelsFor(POOL, image.includes('debian') ? 'debian' : 'busybox'),
        slotCount: 1,
      });
      created.push(host);
      // The dev agent's node is this machine: its CPU picks the build.
      const binary = agentBinary(agentArchOf(process.arch === 'x64' ? 'amd64' : process.arch)!);
      const said = await runScript(
        await host.openChannel(),
        `sha256sum ${binary.installPath}; ls -i ${binary.installPath}\n`,
      );
      expect(host.shellTransport).toEqual({ kind: 'agent' });
      expectOnlyStartExecs(first.execs);
      expect(said.stdout).toContain(binary.sha256);
      const inode = said.stdout.trim().split('\n').at(-1)!.trim().split(/\s+/)[0];

      // Another process attaching to the host: the install is found, nothing is uploaded again.
      const second = open();
      const [descriptor] = await second.backend.listHosts({
        [LABEL.pool]: POOL,
        [LABEL.profile]: host.labels[LABEL.profile]!,
      });
      const attached = await second.backend.attachHost(descriptor!);
      hosts.push(attached);
      const again = await runScript(await attached.openChannel(), `ls -i ${binary.installPath}\n`);
      expect(attached.shellTransport).toEqual({ kind: 'agent' });
      expectOnlyStartExecs(second.execs);
      expect(again.stdout.trim().split(/\s+/)[0], 'same file: not uploaded again').toBe(inode);

      // Same size, other bytes (the running copy is busy: altered beside it, renamed over): the
      // agent's digest gives it away and the build is put back.
      const path = binary.installPath;
      const altered = await runScript(
        await host.openChannel(),
        `cp ${path} ${path}.x && printf x | dd of=${path}.x bs=1 seek=${binary.size - 1} conv=notrunc 2>/dev/null && mv -f ${path}.x ${path} && sha256sum ${path}\n`,
      );
      expect(altered.stdout).not.toContain(binary.sha256);
      const third = open();
      const reattached = await third.backend.attachHost(descriptor!);
      hosts.push(reattached);
      const restored = await runScript(await reattached.openChannel(), `sha256sum ${binary.installPath}\n`);
      expect(reattached.shellTransport).toEqual({ kind: 'agent' });
      expect(restored.stdout).toContain(binary.sha256);
    }, 120_000);
  }
});
