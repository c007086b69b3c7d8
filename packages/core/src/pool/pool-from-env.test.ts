import { describe, expect, it } from 'vitest';
import { type BackendUnavailableError, BerthError, type InvalidOptionsError } from '../errors/index.js';
import { booleanFrom, numberFrom, poolOptionsFromEnv } from './pool-from-env.js';

async function failure(env: Record<string, string>): Promise<unknown> {
  return poolOptionsFromEnv(env).then(
    () => {
      throw new Error(`expected ${JSON.stringify(env)} to be rejected`);
    },
    (error: unknown) => error,
  );
}

describe('poolOptionsFromEnv', () => {
  it('BERTH_BACKEND=local (and the default) gives the local backend', async () => {
    for (const env of [{ BERTH_BACKEND: 'local' }, {}, { BERTH_BACKEND: ' local ' }]) {
      const options = await poolOptionsFromEnv(env);
      expect(options.backend.backendId).toBe('local');
    }
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
    });
    expect(options).toMatchObject({
      poolId: 'from-env',
      persist: false,
      minHosts: 2,
      maxHosts: 5,
      slotsPerHost: 3,
      acquireTimeoutMs: 1500,
      execTimeoutMs: 60000,
    });
    expect(options.idleTimeoutMs).toBeUndefined();
    expect((await poolOptionsFromEnv({})).persist).toBeUndefined();
  });

  it('a bad number is INVALID_OPTIONS naming the variable', async () => {
    const error = (await failure({ BERTH_MAX_HOSTS: 'lots' })) as InvalidOptionsError;
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
    expect(error.field).toBe('BERTH_MAX_HOSTS');
    expect(error.message).toContain("'lots'");
  });

  it('a bad boolean is INVALID_OPTIONS naming the variable', async () => {
    const error = (await failure({ BERTH_PERSIST: 'maybe' })) as InvalidOptionsError;
    expect(error.field).toBe('BERTH_PERSIST');
  });

  it('BERTH_BACKEND=nonexistent is BACKEND_UNAVAILABLE naming the package, never a local fallback', async () => {
    const error = (await failure({ BERTH_BACKEND: 'nonexistent' })) as BackendUnavailableError;
    expect(BerthError.hasCode(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(error.message).toContain('@berth/backend-nonexistent');
    expect(error.message).toContain('npm install @berth/backend-nonexistent');
    expect(error.tried).toEqual(['@berth/backend-nonexistent']);
  });

  it('a malformed backend name is INVALID_OPTIONS (no import of arbitrary specifiers)', async () => {
    for (const name of ['../../etc', 'Docker', '@evil/pkg', 'node:fs']) {
      const error = (await failure({ BERTH_BACKEND: name })) as InvalidOptionsError;
      expect(BerthError.hasCode(error, 'INVALID_OPTIONS'), name).toBe(true);
      expect(error.field).toBe('BERTH_BACKEND');
    }
  });
});

describe('numberFrom / booleanFrom', () => {
  it('parse what they should', () => {
    expect(numberFrom({ X: '42' }, 'X')).toBe(42);
    expect(numberFrom({ X: '1e3' }, 'X')).toBe(1000);
    expect(numberFrom({}, 'X')).toBeUndefined();
    expect(() => numberFrom({ X: 'Infinity' }, 'X')).toThrow(/X/);
    expect(() => numberFrom({ X: '12abc' }, 'X')).toThrow(/X/);
    for (const yes of ['1', 'true', 'YES', 'on']) expect(booleanFrom({ B: yes }, 'B')).toBe(true);
    for (const no of ['0', 'false', 'No', 'off']) expect(booleanFrom({ B: no }, 'B')).toBe(false);
    expect(booleanFrom({ B: '' }, 'B')).toBeUndefined();
  });
});
