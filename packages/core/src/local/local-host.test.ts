/** The local backend's shells get a minimal environment, never the caller's secrets (real processes). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostV1 } from '../backend/v1/types.js';
import { BerthError } from '../errors/index.js';
import { createLocalBackend, type LocalBackendOptions } from './create-local-backend.js';
import { LOCAL_BASE_ENV } from './local-host-spec.js';

const root = mkdtempSync(join(tmpdir(), 'berth-local-env-'));
const hosts: HostV1[] = [];
afterAll(async () => {
  for (const host of hosts) await host.destroy({ force: true });
  rmSync(root, { recursive: true, force: true });
});

async function hostWith(spec: unknown, options: LocalBackendOptions = {}): Promise<HostV1> {
  const backend = createLocalBackend({ baseDirectory: root, ...options });
  const host = await backend.createHost({
    profile: 'default',
    spec: backend.resolveHostSpec(spec, 'host'),
    labels: { 'berth.managed': '1', 'berth.pool': 'local-env-test' },
    slotCount: 1,
  });
  hosts.push(host);
  return host;
}

/** `env` as the host's long-lived shell sees it, and as a one-shot command sees it. */
async function environments(host: HostV1): Promise<Record<string, string>[]> {
  const channel = await host.openChannel();
  // Read up to a terminator: the host drops a shell's pipes as soon as the shell exits.
  const output = await new Promise<string>((resolve) => {
    let seen = '';
    channel.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('__END__\n')) resolve(seen.slice(0, seen.indexOf('__END__\n')));
    });
    channel.stdin.write('env; echo __END__\n');
  });
  channel.close();
  const oneShot = await host.run?.(['env']);
  return [output, Buffer.from(oneShot?.stdout ?? []).toString()].map((listing) =>
    Object.fromEntries(
      listing
        .split('\n')
        .filter((line) => line.includes('='))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    ),
  );
}

describe('local backend environment', () => {
  it("a secret in the caller's environment does not reach a local command; PATH, HOME, env and forwardEnv do", async () => {
    const source = {
      PATH: process.env.PATH,
      HOME: '/home/someone',
      LANG: 'C.UTF-8',
      OPENAI_API_KEY: 'sk-secret-must-not-leak',
      FORWARDED_TOKEN: 'forwarded-value',
    };
    const host = await hostWith(
      { env: { EXTRA: 'from-spec' }, forwardEnv: ['FORWARDED_TOKEN'] },
      { env: source },
    );
    for (const env of await environments(host)) {
      expect(env.OPENAI_API_KEY).toBeUndefined();
      expect(env.PATH).toBe(process.env.PATH);
      expect(env.HOME).toBe('/home/someone');
      expect(env.LANG).toBe('C.UTF-8');
      expect(env.EXTRA).toBe('from-spec');
      expect(env.FORWARDED_TOKEN).toBe('forwarded-value');
    }
  });

  it('by default reads process.env, and still passes only the base list', async () => {
    process.env.BERTH_TEST_LOCAL_SECRET = 'caller-secret';
    try {
      const host = await hostWith({});
      for (const env of await environments(host)) {
        expect(env.BERTH_TEST_LOCAL_SECRET).toBeUndefined();
        const unexpected = Object.keys(env).filter(
          (name) => !LOCAL_BASE_ENV.includes(name) && !['PWD', 'SHLVL', 'OLDPWD', '_'].includes(name),
        );
        expect(unexpected).toEqual([]);
      }
    } finally {
      delete process.env.BERTH_TEST_LOCAL_SECRET;
    }
  });

  it('a forwardEnv name that is not set is INVALID_OPTIONS at create, as with Docker', async () => {
    const error = await hostWith({ forwardEnv: ['BERTH_TEST_SURELY_UNSET'] }, { env: {} }).catch(
      (caught: unknown) => caught,
    );
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as Error).message).toContain('BERTH_TEST_SURELY_UNSET');
  });

  it('forwardEnv names are validated, and may not repeat an `env` key', () => {
    const backend = createLocalBackend({ baseDirectory: root });
    expect(() => backend.resolveHostSpec({ forwardEnv: ['NOT-OK'] }, 'host')).toThrow(/host\.forwardEnv\.0/);
    expect(() => backend.resolveHostSpec({ env: { A: '1' }, forwardEnv: ['A'] }, 'host')).toThrow(
      /also set in `env`/,
    );
  });
});
