import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BerthError, type InvalidOptionsError } from '../errors/index.js';
import { createLocalBackend } from '../local/create-local-backend.js';
import { type PoolOptions, resolvePoolOptions } from './pool-options.js';
import { SlotPool } from './slot-pool.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'berth-options-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const backend = createLocalBackend({ baseDirectory: base });

function invalid(options: Record<string, unknown>): InvalidOptionsError {
  try {
    resolvePoolOptions({ backend, ...options } as PoolOptions);
  } catch (error) {
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS'), String(error)).toBe(true);
    return error as InvalidOptionsError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be rejected`);
}

describe('resolvePoolOptions', () => {
  it('fills defaults and forms profile `default` from the shorthand', () => {
    const resolved = resolvePoolOptions({ backend, minHosts: 1, maxHosts: 3, slotsPerHost: 2 });
    expect(resolved.defaultProfile).toBe('default');
    expect(resolved.poolId).toBe('default');
    expect(resolved.persist).toBe(true);
    const profile = resolved.profiles.get('default')!;
    expect(profile).toMatchObject({ minHosts: 1, maxHosts: 3, slotsPerHost: 2, name: 'default' });
    expect(profile.spec).toEqual({ shell: '/bin/sh', env: {} });
    expect(resolved.reapGraceMs).toBe(resolved.leaseTtlMs);
  });

  it('minHosts > maxHosts names profiles.default.maxHosts and both numbers', () => {
    const error = invalid({ minHosts: 5, maxHosts: 2 });
    expect(error.field).toBe('profiles.default.maxHosts');
    expect(error.message).toContain('5');
    expect(error.message).toContain('2');
    expect(error.message).toMatch(/raise maxHosts or lower minHosts/);
  });

  it('names the profile in the field for named profiles', () => {
    const error = invalid({ profiles: { gpu: { minHosts: 3, maxHosts: 1 } } });
    expect(error.field).toBe('profiles.gpu.maxHosts');
  });

  it('slotsPerHost: 0 names the field and the fix', () => {
    const error = invalid({ slotsPerHost: 0 });
    expect(error.field).toBe('profiles.default.slotsPerHost');
    expect(error.message).toMatch(/at least one slot/);
  });

  it('rejects non-integer host counts', () => {
    expect(invalid({ maxHosts: 1.5 }).field).toBe('profiles.default.maxHosts');
    expect(invalid({ minHosts: -1 }).field).toBe('profiles.default.minHosts');
  });

  it('rejects negative and zero timeouts, naming each field', () => {
    for (const field of [
      'acquireTimeoutMs',
      'execTimeoutMs',
      'idleTimeoutMs',
      'createTimeoutMs',
      'closeTimeoutMs',
      'leaseTtlMs',
    ]) {
      for (const value of [-1, 0]) {
        const error = invalid({ [field]: value });
        expect(error.field).toBe(field);
        expect(error.message).toMatch(/milliseconds/);
      }
    }
    expect(invalid({ killGraceMs: -5 }).field).toBe('killGraceMs');
    expect(invalid({ profiles: { a: { idleTimeoutMs: -1 } } }).field).toBe('profiles.a.idleTimeoutMs');
  });

  it('rejects a timeout of the wrong type', () => {
    expect(invalid({ acquireTimeoutMs: '100' }).field).toBe('acquireTimeoutMs');
  });

  it('rejects unknown option keys, naming them', () => {
    const error = invalid({ minHost: 1 });
    expect(error.message).toContain('`minHost`');
    expect(error.message).toMatch(/check the spelling/);
    const nested = invalid({ profiles: { a: { slotPerHost: 2 } } });
    expect(nested.field).toBe('profiles.a');
    expect(nested.message).toContain('`slotPerHost`');
  });

  it('rejects unknown host spec keys through the backend, with the path', () => {
    const error = invalid({ host: { image: 'alpine' } });
    expect(error.field).toBe('profiles.default.host');
    expect(error.message).toContain('`image`');
  });

  it('rejects shorthand and profiles together', () => {
    expect(invalid({ minHosts: 1, profiles: { a: {} } }).field).toBe('profiles');
  });

  it('rejects profile names that sanitise to the same label, naming them (restarts used to replace one)', () => {
    const error = invalid({ profiles: { 'a/b': {}, a_b: {}, 'c d': {}, c_d: {}, e: {} } });
    expect(error.field).toBe('profiles');
    expect(error.message).toContain("'a/b' and 'a_b' share the label berth.profile=a_b");
    expect(error.message).toContain("'c d' and 'c_d' share the label berth.profile=c_d");
    expect(error.message).not.toContain("'e'");
    // Long names that differ only past the 63-character limit keep distinct labels (a hash tail).
    expect(() =>
      resolvePoolOptions({ backend, profiles: { [`${'x'.repeat(70)}1`]: {}, [`${'x'.repeat(70)}2`]: {} } }),
    ).not.toThrow();
  });

  it('rejects `on` listeners for unknown events (with a did-you-mean) and non-functions', () => {
    const typo = invalid({ on: { 'host:adoptd': () => {} } });
    expect(typo.field).toBe('on.host:adoptd');
    expect(typo.message).toContain("did you mean 'host:adopted'?");
    expect(invalid({ on: { 'host:adopted': 'yes' } }).field).toBe('on.host:adopted');
    expect(invalid({ on: 5 }).field).toBe('on');
  });

  it('rejects an unknown defaultProfile, listing the known ones', () => {
    const error = invalid({ profiles: { a: {}, b: {} }, defaultProfile: 'c' });
    expect(error.field).toBe('defaultProfile');
    expect(error.message).toContain('a, b');
  });

  it('rejects bad pool ids', () => {
    for (const poolId of ['', 'has space', 'slash/y', 'x'.repeat(64), 'ünï']) {
      expect(invalid({ poolId }).field).toBe('poolId');
    }
    expect(invalid({ poolId: 'a b' }).message).toMatch(/letters, digits/);
    // They pass the label rule but name no directory for the drain marker (it would read corrupt).
    for (const poolId of ['.', '..']) expect(invalid({ poolId }).message).toMatch(/not pool ids/);
    expect(resolvePoolOptions({ backend, poolId: '..a' }).poolId).toBe('..a');
  });

  it('rejects a missing or foreign backend', () => {
    expect(() => resolvePoolOptions({} as PoolOptions)).toThrow();
    expect(() => resolvePoolOptions({ backend: {} } as PoolOptions)).toThrow();
    expect(() => resolvePoolOptions(null as unknown as PoolOptions)).toThrow(/options/);
  });
});

describe('acquire input validation (no hosts needed)', () => {
  const pool = new SlotPool({
    backend,
    poolId: 'unit-acquire',
    handleSignals: false,
    profiles: { a: {}, b: {} },
  });

  it('an unknown profile names the known ones', async () => {
    const error = await pool.acquire({ profile: 'nope' }).catch((caught: unknown) => caught);
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as InvalidOptionsError).field).toBe('profile');
    expect((error as Error).message).toContain("'nope'");
    expect((error as Error).message).toContain('a, b');
  });

  it('a non-positive timeoutMs is rejected', async () => {
    for (const timeoutMs of [0, -1, Number.NaN]) {
      const error = await pool.acquire({ profile: 'a', timeoutMs }).catch((caught: unknown) => caught);
      expect((error as InvalidOptionsError).field).toBe('timeoutMs');
    }
  });

  it('an already-aborted signal rejects with ABORTED', async () => {
    const error = await pool
      .acquire({ profile: 'a', signal: AbortSignal.abort() })
      .catch((caught: unknown) => caught);
    expect(BerthError.hasCode(error, 'ABORTED')).toBe(true);
  });
});
