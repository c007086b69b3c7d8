import { readFileSync } from 'node:fs';
import { BerthError, LABEL } from '@berth/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NomadClient } from './client/nomad-client.js';
import { createNomadBackend } from './create-nomad-backend.js';
import { labelsFor, runScript } from './test-support/host-test-helpers.js';
import {
  aclManagementToken,
  MINIMAL_POLICY_RULES,
  minimalPolicyToken,
  NOMAD_ACL_TEST_ADDRESS,
  purgeJobsWithMeta,
  randomSuffix,
} from './test-support/nomad-test-agent.js';

const managementToken = await aclManagementToken();
if (!managementToken) console.warn('[backend-nomad] no ACL agent; run scripts/start-nomad-acl.sh');

const POOL = `it-nomad-acl-${randomSuffix()}`;

describe.skipIf(!managementToken)('Nomad backend on an ACL-enabled agent', () => {
  let token: { secret: string; remove: () => Promise<void> };

  beforeAll(async () => {
    token = await minimalPolicyToken(managementToken!);
  });

  afterAll(async () => {
    const admin = new NomadClient({ address: NOMAD_ACL_TEST_ADDRESS, token: managementToken, env: {} });
    const leftovers = await purgeJobsWithMeta(admin, LABEL.pool, POOL);
    await token?.remove();
    await admin.close();
    expect(leftovers).toEqual([]);
  });

  it('the policy tested here is the one the README documents', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(`\`\`\`hcl\n${MINIMAL_POLICY_RULES}\n\`\`\``);
  });

  it('runs the whole host lifecycle with only the documented minimal policy', async () => {
    const backend = createNomadBackend({
      address: NOMAD_ACL_TEST_ADDRESS,
      env: { NOMAD_TOKEN: token.secret },
    });
    try {
      const spec = backend.resolveHostSpec(
        { driver: 'raw_exec', cpu: 50, memoryMiB: 64, killTimeoutMs: 1_000 },
        's',
      );
      const host = await backend.createHost({
        profile: 'acl',
        spec,
        labels: labelsFor(POOL, 'acl'),
        slotCount: 1,
      });
      const result = await runScript(await host.openChannel(), 'echo through-acl\n');
      expect(result).toMatchObject({ closed: { exitCode: 0 }, stdout: 'through-acl\n' });
      expect((await backend.listHosts({ [LABEL.pool]: POOL })).map((item) => item.id)).toEqual([host.id]);
      expect(await host.health()).toEqual({ alive: true });
      // The one cluster watch (allocations and nodes) works with this policy: a stop from outside is seen.
      const lost = new Promise<string>((resolve) => host.onLost(resolve));
      const admin = new NomadClient({ address: NOMAD_ACL_TEST_ADDRESS, token: managementToken, env: {} });
      await admin.stopAllocation(host.allocationId);
      await admin.close();
      expect(await lost).toMatch(/stop|complete/);
      await host.destroy({ force: false });
      expect(await backend.listHosts({ [LABEL.pool]: POOL })).toEqual([]);
    } finally {
      await backend.dispose();
    }
  });

  it('a wrong token fails createHost with AUTHENTICATION before anything is registered', async () => {
    const backend = createNomadBackend({
      address: NOMAD_ACL_TEST_ADDRESS,
      token: '00000000-0000-0000-0000-000000000000',
      env: {},
    });
    const spec = backend.resolveHostSpec({ driver: 'raw_exec' }, 's');
    const error = await backend
      .createHost({ profile: 'denied', spec, labels: labelsFor(POOL, 'denied'), slotCount: 1 })
      .catch((caught: unknown) => caught);
    expect(BerthError.hasCode(error, 'AUTHENTICATION')).toBe(true);
    expect((error as Error).message).toContain('NOMAD_TOKEN');
    await backend.dispose();
  });
});
