import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackendV1 } from '../backend/v1/types.js';
import { type BackendUnavailableError, BerthError, type InvalidOptionsError } from '../errors/index.js';
import { createLocalBackend } from '../local/create-local-backend.js';
import { closestName, editDistance } from './closest-name.js';
import { backendUnsetError, loadBackendModule } from './load-env-backend.js';
import {
  type BackendEnvModule,
  booleanFrom,
  type EnvLookup,
  numberFrom,
  poolFromEnv,
  poolOptionsFromEnv,
} from './pool-from-env.js';
import { resolvePoolOptions } from './pool-options.js';

const scratch = mkdtempSync(join(tmpdir(), 'berth-from-env-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function failure(env: Record<string, string>, lookup: EnvLookup = {}): Promise<BerthError> {
  return poolOptionsFromEnv(env, lookup).then(
    () => {
      throw new Error(`expected ${JSON.stringify(env)} to be rejected`);
    },
    (error: unknown) => {
      if (!BerthError.isInstance(error)) throw error;
      return error;
    },
  );
}

/** A third-party backend module: the local backend under another name, with variables of its own. */
const acme: BackendEnvModule = {
  envVariables: ['BERTH_ACME_REGION'],
  backendFromEnv: (env) => ({
    backend: createLocalBackend({ baseDirectory: join(scratch, 'acme'), env }),
    host: { env: { REGION: env.BERTH_ACME_REGION ?? 'none' } },
  }),
};

describe('poolOptionsFromEnv: fails closed', () => {
  it('BERTH_BACKEND unset is INVALID_OPTIONS listing the backends and how to pick one (never a local fallback)', async () => {
    const envs: Record<string, string>[] = [
      {},
      { BERTH_BACKEND: '  ' },
      { BERTH_DOCKER_IMAGE: 'python:3.12-slim' },
    ];
    for (const env of envs) {
      const error = (await failure(env)) as InvalidOptionsError;
      expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
      expect(error.field).toBe('BERTH_BACKEND');
      expect(error.message).toContain('is not set');
      expect(error.message).toContain('local (built in');
      // Both packages are workspace dependencies here, so they resolve from the current directory.
      expect(error.message).toContain('docker (@berth/backend-docker, installed)');
      expect(error.message).toContain('nomad (@berth/backend-nomad, installed)');
      expect(error.message).toContain('BERTH_BACKEND=docker');
    }
  });

  it('the unset error names backends passed in `backends` too', async () => {
    const error = await failure({}, { backends: { acme } });
    expect(error.message).toContain('acme (passed in `backends`)');
  });

  it('a misspelt BERTH_BACKEND variable says so, with a did-you-mean, before anything else', async () => {
    const error = (await failure({ BERTH_BAKCEND: 'docker' })) as InvalidOptionsError;
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
    expect(error.field).toBe('BERTH_BAKCEND');
    expect(error.message).toContain('did you mean BERTH_BACKEND?');
  });

  it('any unknown BERTH_* variable is an error naming the closest known one; ignoreEnv lets one through', async () => {
    const error = (await failure({
      BERTH_BACKEND: 'local',
      BERTH_MAX_HOTS: '4',
      BERTH_WHATEVER: '1',
    })) as InvalidOptionsError;
    expect(error.field).toBe('BERTH_MAX_HOTS');
    expect(error.message).toContain('BERTH_MAX_HOTS (did you mean BERTH_MAX_HOSTS?)');
    expect(error.message).toContain('BERTH_WHATEVER');
    expect(error.message).toContain("ignoreEnv: ['BERTH_MAX_HOTS', 'BERTH_WHATEVER']");
    const options = await poolOptionsFromEnv(
      // BERTH_LEASE: what a program running inside a slot inherits from Berth itself.
      { BERTH_BACKEND: 'local', BERTH_WHATEVER: '1', BERTH_LEASE: 'abc.0.def' },
      { ignoreEnv: ['BERTH_WHATEVER'] },
    );
    expect(options.backend.backendId).toBe('local');
  });

  it("another backend's variables are not typos (one .env for several engines switches by BERTH_BACKEND)", async () => {
    const options = await poolOptionsFromEnv({
      BERTH_BACKEND: 'local',
      BERTH_DOCKER_IMAGE: 'python:3.12-slim',
      BERTH_NOMAD_DRIVER: 'raw_exec',
    });
    expect(options.backend.backendId).toBe('local');
  });

  it('BERTH_BACKEND=dockr suggests docker, never `npm install @berth/backend-dockr`', async () => {
    const error = (await failure({ BERTH_BACKEND: 'dockr' })) as InvalidOptionsError;
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
    expect(error.field).toBe('BERTH_BACKEND');
    expect(error.message).toContain('did you mean docker?');
    expect(error.message).not.toContain('npm install');
    expect((await failure({ BERTH_BACKEND: 'nomda' })).message).toContain('did you mean nomad?');
    expect((await failure({ BERTH_BACKEND: 'acm' }, { backends: { acme } })).message).toContain(
      'did you mean acme?',
    );
  });

  it('an unknown backend name is BACKEND_UNAVAILABLE listing where it looked and how to add one', async () => {
    const error = (await failure({ BERTH_BACKEND: 'nonexistent' })) as BackendUnavailableError;
    expect(BerthError.hasCode(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("No backend named 'nonexistent'");
    expect(error.message).toContain('backends: { nonexistent:');
    expect(error.message).not.toContain('npm install @berth/backend-nonexistent');
    expect(error.tried.some((entry) => entry.startsWith('@berth/backend-nonexistent from file:'))).toBe(true);
    expect(error.tried.some((entry) => entry.startsWith('berth-backend-nonexistent from file:'))).toBe(true);
  });

  it('a malformed backend name is INVALID_OPTIONS (no import of arbitrary specifiers)', async () => {
    for (const name of ['../../etc', 'Docker', '@evil/pkg', 'node:fs']) {
      const error = (await failure({ BERTH_BACKEND: name })) as InvalidOptionsError;
      expect(BerthError.hasCode(error, 'INVALID_OPTIONS'), name).toBe(true);
      expect(error.field).toBe('BERTH_BACKEND');
    }
  });

  it('a backend module without backendFromEnv is INVALID_OPTIONS saying what is missing', async () => {
    const error = await failure(
      { BERTH_BACKEND: 'acme' },
      {
        backends: { acme: {} as unknown as BackendEnvModule },
      },
    );
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
    expect(error.message).toContain('backendFromEnv');
  });
});

describe('poolOptionsFromEnv: backends from the caller', () => {
  it('a third-party backend passed in `backends` (module or loader) is used, and checks its own variables', async () => {
    for (const source of [acme, async () => acme]) {
      const options = await poolOptionsFromEnv(
        { BERTH_BACKEND: 'acme', BERTH_ACME_REGION: 'eu' },
        { backends: { acme: source } },
      );
      expect(options.backend.backendId).toBe('local');
      expect(options.host).toEqual({ env: { REGION: 'eu' } });
    }
    const error = await failure({ BERTH_BACKEND: 'acme', BERTH_ACME_REGON: 'eu' }, { backends: { acme } });
    expect(error.message).toContain('did you mean BERTH_ACME_REGION?');
  });

  it('resolves a backend package from the application (`from`), not from core: a pnpm-like layout', async () => {
    // An application directory whose node_modules core cannot see (as under pnpm's strict layout).
    const app = join(scratch, 'app');
    const pkg = join(app, 'node_modules', 'berth-backend-thirdparty');
    mkdirSync(join(pkg, 'dist'), { recursive: true });
    writeFileSync(
      join(pkg, 'package.json'),
      JSON.stringify({
        name: 'berth-backend-thirdparty',
        type: 'module',
        exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' } },
      }),
    );
    writeFileSync(
      join(pkg, 'dist', 'index.js'),
      "export const envVariables = ['BERTH_THIRDPARTY_ZONE'];\n" +
        "export function backendFromEnv(env) { return { backend: { backendId: 'thirdparty' }, host: { zone: env.BERTH_THIRDPARTY_ZONE } }; }\n",
    );
    writeFileSync(join(app, 'main.js'), '');
    const env = { BERTH_BACKEND: 'thirdparty', BERTH_THIRDPARTY_ZONE: 'z1' };
    const unreachable = (await failure(env)) as BackendUnavailableError;
    expect(BerthError.hasCode(unreachable, 'BACKEND_UNAVAILABLE')).toBe(true);
    for (const from of [pathToFileURL(join(app, 'main.js')).href, pathToFileURL(join(app, 'main.js')), app]) {
      const options = await poolOptionsFromEnv(env, { from });
      expect((options.backend as BackendV1).backendId).toBe('thirdparty');
      expect(options.host).toEqual({ zone: 'z1' });
    }
  });

  it('a known backend not installed where the application is says how to install it or pass it', async () => {
    const app = join(scratch, 'empty-app');
    mkdirSync(app, { recursive: true });
    // Only the application is searched: this repository's own packages are not visible from it.
    const error = (await loadBackendModule('docker', { from: app }, false).catch(
      (caught: unknown) => caught,
    )) as BackendUnavailableError;
    expect(BerthError.hasCode(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(error.message).toContain('npm install @berth/backend-docker');
    expect(error.message).toContain('from: import.meta.url');
    expect(error.message).not.toContain('did you mean');
    expect(error.tried).toEqual([
      `@berth/backend-docker from ${pathToFileURL(app).href}/`,
      `berth-backend-docker from ${pathToFileURL(app).href}/`,
    ]);
    expect(backendUnsetError({ from: app }, false).message).toContain(
      'docker (not installed: npm install @berth/backend-docker)',
    );
  });

  it('reads numbers, booleans and the pool id', async () => {
    const options = await poolOptionsFromEnv({
      BERTH_BACKEND: 'local',
      BERTH_POOL_ID: 'from-env',
      BERTH_PERSIST: 'false',
      BERTH_MIN_HOSTS: '2',
      BERTH_MAX_HOSTS: '5',
      BERTH_SLOTS_PER_HOST: '3',
      BERTH_ACQUIRE_TIMEOUT_MS: '1500',
      BERTH_EXEC_TIMEOUT_MS: '60000',
      BERTH_IDLE_TIMEOUT_MS: '  ',
      BERTH_LOCAL_FORWARD_ENV: 'A_TOKEN, OTHER',
    });
    expect(options).toMatchObject({
      poolId: 'from-env',
      persist: false,
      minHosts: 2,
      maxHosts: 5,
      slotsPerHost: 3,
      acquireTimeoutMs: 1500,
      execTimeoutMs: 60000,
      host: { forwardEnv: ['A_TOKEN', 'OTHER'] },
    });
    expect(options.idleTimeoutMs).toBeUndefined();
    expect((await poolOptionsFromEnv({ BERTH_BACKEND: 'local' })).persist).toBeUndefined();
  });

  it('Infinity is "no deadline" from the environment too, and the options still refuse it where it cannot mean that', async () => {
    const options = await poolOptionsFromEnv({
      BERTH_BACKEND: 'local',
      BERTH_ACQUIRE_TIMEOUT_MS: 'Infinity',
      BERTH_EXEC_TIMEOUT_MS: 'infinity',
    });
    expect(options).toMatchObject({
      acquireTimeoutMs: Number.POSITIVE_INFINITY,
      execTimeoutMs: Number.POSITIVE_INFINITY,
    });
    expect(() => resolvePoolOptions({ ...options, minHosts: Number.POSITIVE_INFINITY })).toThrow(/minHosts/);
  });

  it('a bad number or boolean is INVALID_OPTIONS naming the variable', async () => {
    const error = (await failure({ BERTH_BACKEND: 'local', BERTH_MAX_HOSTS: 'lots' })) as InvalidOptionsError;
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
    expect(error.field).toBe('BERTH_MAX_HOSTS');
    expect(error.message).toContain("'lots'");
    const flag = (await failure({ BERTH_BACKEND: 'local', BERTH_PERSIST: 'maybe' })) as InvalidOptionsError;
    expect(flag.field).toBe('BERTH_PERSIST');
  });
});

describe('poolFromEnv', () => {
  const env = { BERTH_BACKEND: 'local', BERTH_LOCAL_DIR: join(scratch, 'local'), BERTH_MAX_HOSTS: '3' };

  it('with `profiles`: the environment fills in what each profile leaves unset (it used to always throw)', async () => {
    const pool = await poolFromEnv(
      {
        poolId: 'from-env-profiles',
        persist: false,
        handleSignals: false,
        profiles: { small: { slotsPerHost: 2 }, big: { maxHosts: 1, host: { env: { BIG: '1' } } } },
      },
      env,
    );
    try {
      expect(pool.options.profiles.get('small')).toMatchObject({ maxHosts: 3, slotsPerHost: 2, minHosts: 0 });
      expect(pool.options.profiles.get('big')).toMatchObject({ maxHosts: 1, spec: { env: { BIG: '1' } } });
    } finally {
      await pool.close();
    }
  });

  it('`signal` reaches the start: an aborted one rejects with ABORTED and leaves no host', async () => {
    const directory = join(scratch, 'aborted');
    const started = poolFromEnv(
      {
        poolId: 'from-env-aborted',
        persist: false,
        handleSignals: false,
        minHosts: 1,
        signal: AbortSignal.abort(),
      },
      { ...env, BERTH_LOCAL_DIR: directory },
    );
    await expect(started).rejects.toMatchObject({ code: 'ABORTED' });
    const backend = createLocalBackend({ baseDirectory: directory });
    expect(await backend.listHosts?.({ 'berth.pool': 'from-env-aborted' })).toEqual([]);
  });

  it('an explicit `backend` needs no BERTH_BACKEND; the environment still checks its variables', async () => {
    const backend = createLocalBackend({ baseDirectory: join(scratch, 'explicit') });
    const pool = await poolFromEnv(
      { backend, handleSignals: false, persist: false },
      { BERTH_MAX_HOSTS: '2' },
    );
    try {
      expect(pool.options.profiles.get('default')?.maxHosts).toBe(2);
    } finally {
      await pool.close();
    }
    await expect(poolFromEnv({ backend, handleSignals: false }, { BERTH_MAX_HOST: '2' })).rejects.toThrow(
      /did you mean BERTH_MAX_HOSTS/,
    );
  });
});

describe('numberFrom / booleanFrom / closestName', () => {
  it('parse what they should', () => {
    expect(numberFrom({ X: '42' }, 'X')).toBe(42);
    expect(numberFrom({ X: '1e3' }, 'X')).toBe(1000);
    expect(numberFrom({}, 'X')).toBeUndefined();
    expect(numberFrom({ X: 'Infinity' }, 'X')).toBe(Number.POSITIVE_INFINITY);
    expect(() => numberFrom({ X: '-Infinity' }, 'X')).toThrow(/X/);
    expect(() => numberFrom({ X: 'NaN' }, 'X')).toThrow(/X/);
    expect(() => numberFrom({ X: '12abc' }, 'X')).toThrow(/X/);
    for (const yes of ['1', 'true', 'YES', 'on']) expect(booleanFrom({ B: yes }, 'B')).toBe(true);
    for (const no of ['0', 'false', 'No', 'off']) expect(booleanFrom({ B: no }, 'B')).toBe(false);
    expect(booleanFrom({ B: '' }, 'B')).toBeUndefined();
  });

  it('suggests only near misses', () => {
    expect(editDistance('BAKCEND', 'BACKEND')).toBe(1);
    expect(closestName('dockr', ['local', 'docker', 'nomad'])).toBe('docker');
    expect(closestName('podman', ['local', 'docker', 'nomad'])).toBeUndefined();
    expect(closestName('ab', ['local', 'docker', 'nomad'])).toBeUndefined();
  });
});
