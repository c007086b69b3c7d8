import { BerthError, LABEL } from '@berth/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createNomadBackend } from './create-nomad-backend.js';
import { labelsFor, processesRunning, roundTrip } from './test-support/host-test-helpers.js';
import {
  NOMAD_TEST_ADDRESS,
  nomadBinary,
  nomadCliStop,
  purgeJobsWithMeta,
  randomSuffix,
  testAgentDrivers,
  testClient,
} from './test-support/nomad-test-agent.js';

const { available, docker } = await testAgentDrivers();
if (!available)
  console.warn(`[backend-nomad] no Nomad agent at ${NOMAD_TEST_ADDRESS}; run scripts/start-nomad.sh`);

const POOL = `it-nomad-life-${randomSuffix()}`;

describe.skipIf(!available)('Nomad host lifecycle and failures against a real agent', () => {
  const backend = createNomadBackend({ address: NOMAD_TEST_ADDRESS, env: {}, startTimeoutMs: 90_000 });
  const rawSpec = backend.resolveHostSpec(
    { driver: 'raw_exec', cpu: 50, memoryMiB: 64, killTimeoutMs: 1_000 },
    'spec',
  );

  afterAll(async () => {
    const client = testClient();
    // Everything the tests made carries the pool label; anything still registered leaked.
    const leftovers = [...(await purgeJobsWithMeta(client, LABEL.pool, POOL))];
    await backend.dispose();
    await client.close();
    expect(leftovers).toEqual([]);
  });

  it.skipIf(!nomadBinary())(
    '`nomad job stop` from outside fires onLost once and health turns false',
    async () => {
      const host = await backend.createHost({
        profile: 'lost',
        spec: rawSpec,
        labels: labelsFor(POOL, 'lost'),
        slotCount: 1,
      });
      const reasons: string[] = [];
      const lost = new Promise<string>((resolve) => host.onLost((reason) => resolve(reason)));
      host.onLost((reason) => reasons.push(reason));
      await nomadCliStop(host.id);
      const reason = await lost;
      expect(reason).toMatch(/stop/);
      const health = await host.health();
      expect(health.alive).toBe(false);
      expect(health.reason).toBeTruthy();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(reasons).toHaveLength(1);
      // A listener added after the loss still hears about it.
      expect(await new Promise<string>((resolve) => host.onLost(resolve))).toBe(reason);
      const [descriptor] = await backend.listHosts({ [LABEL.pool]: POOL, [LABEL.profile]: 'lost' });
      expect(descriptor?.state).toBe('stopped');
      // The reaper ages an exited host from its exit: the descriptor says when that was.
      expect(descriptor?.exitedAtMs).toBeGreaterThanOrEqual(descriptor?.createdAtMs ?? Number.NaN);
      expect(Math.abs((descriptor?.exitedAtMs ?? 0) - Date.now())).toBeLessThan(120_000);
      await expect(backend.attachHost(descriptor!)).rejects.toSatisfy((error) =>
        BerthError.hasCode(error, 'NOT_FOUND'),
      );
      await host.destroy({ force: false });
    },
  );

  it('an impossible constraint fails with Nomad’s reason and leaves no job behind', async () => {
    const spec = backend.resolveHostSpec(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
      { driver: 'raw_exec', constraints: [{ attribute: '${attr.kernel.name}', value: 'plan9' }] },
      'spec',
    );
    const error = await backend
      .createHost({ profile: 'impossible', spec, labels: labelsFor(POOL, 'impossible'), slotCount: 1 })
      .catch((caught: unknown) => caught);
    expect(BerthError.hasCode(error, 'CAPACITY')).toBe(true);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
    expect((error as Error).message).toContain('Constraint "${attr.kernel.name} = plan9"');
    expect((error as Error).message).toContain('excluded by filter');
    expect(await backend.listHosts({ [LABEL.pool]: POOL, [LABEL.profile]: 'impossible' })).toEqual([]);
  });

  it.skipIf(!docker)('a missing image fails with the driver’s reason and leaves no job behind', async () => {
    const spec = backend.resolveHostSpec({ image: 'berth-test/does-not-exist:1' }, 'spec');
    const error = await backend
      .createHost({ profile: 'noimage', spec, labels: labelsFor(POOL, 'noimage'), slotCount: 1 })
      .catch((caught: unknown) => caught);
    expect(BerthError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('Failed to pull `berth-test/does-not-exist:1`');
    expect(await backend.listHosts({ [LABEL.pool]: POOL, [LABEL.profile]: 'noimage' })).toEqual([]);
  });

  it('an abort during createHost throws ABORTED and purges the half-made job', async () => {
    const controller = new AbortController();
    const pending = backend.createHost(
      {
        profile: 'aborted',
        spec: rawSpec,
        labels: labelsFor(POOL, 'aborted'),
        slotCount: 1,
        onProgress: (item) => {
          if (item.message.startsWith('Registered job')) controller.abort();
        },
      },
      { signal: controller.signal },
    );
    await expect(pending).rejects.toSatisfy((error) => BerthError.hasCode(error, 'ABORTED'));
    expect(await backend.listHosts({ [LABEL.pool]: POOL, [LABEL.profile]: 'aborted' })).toEqual([]);
  });

  it('destroy and removeHost are idempotent and leave nothing running, not even background processes', async () => {
    const host = await backend.createHost({
      profile: 'gone',
      spec: rawSpec,
      labels: labelsFor(POOL, 'gone'),
      slotCount: 1,
    });
    const channel = await host.openChannel();
    // raw_exec runs on this machine: a process a session left behind would be visible here.
    const seconds = 700_000 + Math.floor(Math.random() * 99_999);
    await roundTrip(channel, 'started', `sleep ${seconds} & echo started`);
    // The background child may not have exec'd `sleep` yet when `echo` answers: wait for it.
    for (let tries = 0; tries < 50 && !processesRunning(`sleep ${seconds}`); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(processesRunning(`sleep ${seconds}`)).toBe(true);
    await Promise.all([host.destroy({ force: false }), host.destroy({ force: true })]);
    await host.destroy({ force: true });
    // destroy() closed the channel this process had open; `closed` resolves rather than hanging.
    expect(await channel.closed).toBeDefined();
    const { value: allocation } = await testClient()
      .readAllocation(host.allocationId)
      .catch(() => ({ value: { ClientStatus: 'gone' } }));
    expect(allocation.ClientStatus).not.toBe('running');
    expect(await backend.listHosts({ [LABEL.pool]: POOL, [LABEL.profile]: 'gone' })).toEqual([]);
    expect(processesRunning(`sleep ${seconds}`)).toBe(false);
    const descriptor = {
      id: host.id,
      labels: host.labels,
      state: 'stopped' as const,
      createdAtMs: Date.now(),
    };
    await backend.removeHost(descriptor);
    await backend.removeHost(descriptor);
    expect((await host.health()).alive).toBe(false);

    expect(await backend.listHosts({ [LABEL.pool]: POOL })).toEqual([]);
  });
});
