import os from 'node:os';
import path from 'node:path';
import {
  CURRENT_OWNER,
  createLocalBackend,
  type HostDescriptorV1,
  LABEL,
  MACHINE_IDENTITY,
} from '@berth/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_REAP_RULES, decideReap, type ReapRules, reapTimings } from './reap-plan.js';

const now = 10 * 86_400_000;
// A pid that cannot be running (above Linux's pid_max), on this machine: provably dead.
const deadOwner = `${MACHINE_IDENTITY}.99999999.1.1`;
const liveOwner = CURRENT_OWNER;
const rules: ReapRules = { ...DEFAULT_REAP_RULES, now, force: false, olderThanMs: undefined };

function host(
  overrides: Partial<HostDescriptorV1> & { ageMs?: number; owner?: string } = {},
): HostDescriptorV1 {
  const createdAtMs = now - (overrides.ageMs ?? 3_600_000);
  return {
    id: 'h1',
    state: overrides.state ?? 'running',
    createdAtMs,
    ...(overrides.exitedAtMs !== undefined ? { exitedAtMs: overrides.exitedAtMs } : {}),
    labels: {
      [LABEL.managed]: '1',
      [LABEL.pool]: 'p',
      [LABEL.owner]: overrides.owner ?? deadOwner,
      [LABEL.createdAt]: String(createdAtMs),
    },
  };
}

describe('decideReap: what the reaper would do, from outside every pool', () => {
  it('a host a live process reports holding is kept, even with --force', () => {
    expect(
      decideReap(host(), { readable: true, claim: undefined }, 'someone', { ...rules, force: true }),
    ).toMatchObject({ action: 'keep' });
  });

  it('a running host held by a live claim is kept', () => {
    const claim = { owner: liveOwner, expiresAtMs: now + 60_000 };
    expect(decideReap(host(), { readable: true, claim }, undefined, { ...rules, force: true }).action).toBe(
      'keep',
    );
  });

  it('a warm host released a minute ago is kept (persist), removed with --force', () => {
    const claim = { owner: deadOwner, expiresAtMs: now - 60_000, released: true };
    expect(decideReap(host(), { readable: true, claim }, undefined, rules)).toMatchObject({
      action: 'keep',
      reason: expect.stringContaining('--force'),
    });
    expect(decideReap(host(), { readable: true, claim }, undefined, { ...rules, force: true }).action).toBe(
      'remove',
    );
  });

  it('a warm host unclaimed past idleTimeoutMs is removed', () => {
    const claim = { owner: deadOwner, expiresAtMs: now - 600_000, released: true };
    expect(decideReap(host(), { readable: true, claim }, undefined, rules)).toMatchObject({
      action: 'remove',
    });
  });

  it('a claim that cannot be read keeps the host (owner unknown)', () => {
    expect(
      decideReap(host(), { readable: false, why: 'timeout' }, undefined, { ...rules, force: true }),
    ).toMatchObject({ action: 'keep', reason: expect.stringContaining('timeout') });
  });

  it('--older-than: younger hosts are kept whatever else holds', () => {
    const verdict = decideReap(host({ ageMs: 60_000 }), { readable: true, claim: undefined }, undefined, {
      ...rules,
      force: true,
      olderThanMs: 3_600_000,
    });
    expect(verdict).toMatchObject({ action: 'keep', reason: expect.stringContaining('younger') });
  });

  it('stopped hosts: removed past 2 × hostLifetimeMs, kept for adoption before, --force removes them', () => {
    const old = host({ state: 'stopped', ageMs: 5 * 86_400_000, exitedAtMs: now - 3 * 86_400_000 });
    expect(decideReap(old, { readable: false, why: 'stopped' }, undefined, rules).action).toBe('remove');
    const recent = host({ state: 'stopped', exitedAtMs: now - 60_000 });
    expect(decideReap(recent, { readable: false, why: 'stopped' }, undefined, rules).action).toBe('keep');
    expect(
      decideReap(recent, { readable: false, why: 'stopped' }, undefined, { ...rules, force: true }).action,
    ).toBe('remove');
  });

  it('a stopped host a live creator is still creating is kept, even with --force', () => {
    const creating = host({ state: 'stopped', ageMs: 1_000, owner: liveOwner });
    expect(
      decideReap(creating, { readable: false, why: 'stopped' }, undefined, { ...rules, force: true }).action,
    ).toBe('keep');
  });
});

describe('reapTimings', () => {
  const backend = createLocalBackend({ baseDirectory: path.join(os.tmpdir(), 'berth-reap-timings') });
  it("are a pool's own: core's defaults (DEFAULT_REAP_RULES stays equal to them) and the BERTH_* values", () => {
    expect(reapTimings({ backend })).toEqual(DEFAULT_REAP_RULES);
    expect(reapTimings({ backend, idleTimeoutMs: 1_000 })).toEqual({
      ...DEFAULT_REAP_RULES,
      idleTimeoutMs: 1_000,
    });
  });
  it('follow leaseTtlMs for the grace when none is given, as a pool does', () => {
    expect(reapTimings({ backend, leaseTtlMs: 5_000 }).reapGraceMs).toBe(5_000);
  });
});
