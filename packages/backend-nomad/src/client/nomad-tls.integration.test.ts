import { BerthError, LABEL } from '@berth/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNomadBackend } from '../create-nomad-backend.js';
import { labelsFor, runScript } from '../test-support/host-test-helpers.js';
import { nomadBinary, randomSuffix } from '../test-support/nomad-test-agent.js';
import { startTlsTestAgent, type TlsTestAgent } from '../test-support/tls-test-agent.js';
import { NomadClient } from './nomad-client.js';

const binary = nomadBinary();
if (!binary) console.warn('[backend-nomad] no nomad binary; run scripts/setup-nomad.sh');

describe.skipIf(!binary)('NomadClient over mutual TLS against a real TLS-only agent', () => {
  let agent: TlsTestAgent;
  const env = () => ({
    NOMAD_ADDR: agent.address,
    NOMAD_CACERT: agent.caCert,
    NOMAD_CLIENT_CERT: agent.clientCert,
    NOMAD_CLIENT_KEY: agent.clientKey,
  });

  beforeAll(async () => {
    agent = await startTlsTestAgent(binary!);
  });

  afterAll(async () => {
    if (!agent) return;
    const client = new NomadClient({ env: env() });
    const { value: jobs } = await client.listJobs();
    await Promise.all(jobs.map((job) => client.stopJob(job.ID, { purge: true })));
    await client.close();
    await agent.stop();
    expect(jobs.map((job) => job.ID)).toEqual([]);
  });

  it('connects with the CA and client certificate from NOMAD_CACERT / NOMAD_CLIENT_CERT / NOMAD_CLIENT_KEY', async () => {
    const client = new NomadClient({ env: env() });
    expect(await client.leader()).toMatch(/^127\.0\.0\.1:\d+$/);
    const named = new NomadClient({ env: { ...env(), NOMAD_TLS_SERVER_NAME: 'server.global.nomad' } });
    expect(await named.leader()).not.toBe('');
    await Promise.all([client.close(), named.close()]);
  });

  it.each([
    ['an unknown CA', { NOMAD_CACERT: 'other' }, 'NOMAD_CACERT'],
    ['no CA at all', { NOMAD_CACERT: '' }, 'NOMAD_CACERT'],
    [
      'a server name the certificate lacks',
      { NOMAD_TLS_SERVER_NAME: 'evil.example' },
      'NOMAD_TLS_SERVER_NAME',
    ],
    ['no client certificate', { NOMAD_CLIENT_CERT: '', NOMAD_CLIENT_KEY: '' }, 'NOMAD_CLIENT_CERT'],
  ])('fails fast with BACKEND_UNAVAILABLE and a hint for %s', async (_case, override, hint) => {
    const settings: Record<string, string> = { ...env(), ...override };
    if (settings.NOMAD_CACERT === 'other') settings.NOMAD_CACERT = agent.otherCaCert;
    const client = new NomadClient({ env: settings, retries: 0 });
    const startedAt = Date.now();
    const error = await client.leader().catch((caught: unknown) => caught);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(BerthError.hasCode(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain(agent.address);
    expect((error as Error).message).toContain(hint);
    await client.close();
  });

  it('runs a host and its exec websocket (wss) over mutual TLS', async () => {
    const pool = `it-nomad-tls-${randomSuffix()}`;
    const backend = createNomadBackend({ env: env() });
    try {
      const spec = backend.resolveHostSpec(
        { driver: 'raw_exec', cpu: 50, memoryMiB: 64, killTimeoutMs: 1_000 },
        's',
      );
      const host = await backend.createHost({
        profile: 'tls',
        spec,
        labels: labelsFor(pool, 'tls'),
        slotCount: 1,
      });
      const result = await runScript(await host.openChannel(), 'echo over-wss; echo err >&2; exit 6\n');
      expect(result).toEqual({ closed: { exitCode: 6 }, stdout: 'over-wss\n', stderr: 'err\n' });
      await host.destroy({ force: true });
      expect(await backend.listHosts({ [LABEL.pool]: pool })).toEqual([]);
    } finally {
      await backend.dispose();
    }
  });
});
