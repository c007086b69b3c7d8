import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isClaimFree, parseClaim } from '../host/host-lease.js';
import { MACHINE_IDENTITY, registerPoolOwner } from '../host/owner-identity.js';
import { decideRunningHost, type ReapTimings, type RunningHostFacts } from './reap-decision.js';

const NOW = 10_000_000;
const timings: ReapTimings = {
  persist: true,
  reapGraceMs: 1_000,
  createTimeoutMs: 60_000,
  idleTimeoutMs: 300_000,
  hostLifetimeMs: 24 * 3_600_000,
};
const self = registerPoolOwner().owner;
const otherLive = registerPoolOwner().owner;
const closed = registerPoolOwner();
closed.release();
const deadProcess = `${MACHINE_IDENTITY}.${spawnSync(process.execPath, ['-e', '0']).pid}.1`;
const elsewhere = 'other-machine-0123456789ab.42.4242';

function facts(overrides: Partial<RunningHostFacts>): RunningHostFacts {
  return {
    self,
    creator: otherLive,
    createdAtMs: NOW - 1_000,
    claim: undefined,
    hasShell: true,
    specMatches: true,
    mayAdopt: false,
    now: NOW,
    ...overrides,
  };
}

describe('decideRunningHost', () => {
  it('never touches a host this pool created (still being set up) or holds', () => {
    for (const persist of [true, false]) {
      const rules = { ...timings, persist };
      expect(decideRunningHost(facts({ creator: self }), rules).action).toBe('leave');
      expect(decideRunningHost(facts({ creator: self, createdAtMs: 0 }), rules).action).toBe('leave');
      expect(
        decideRunningHost(
          facts({ claim: { owner: self, expiresAtMs: NOW - 1e9 }, creator: otherLive }),
          rules,
        ).action,
      ).toBe('leave');
      expect(decideRunningHost(facts({ creator: self, specMatches: false }), rules).action).toBe('leave');
    }
  });

  it('leaves a host another live owner is still creating (no claim yet), in both modes', () => {
    for (const persist of [true, false]) {
      for (const creator of [otherLive, elsewhere]) {
        const verdict = decideRunningHost(facts({ creator }), { ...timings, persist });
        expect(verdict, `${creator} persist=${persist}`).toEqual({
          action: 'leave',
          why: `held by ${creator}`,
        });
      }
    }
  });

  it('a claim-less host whose creator is dead, or past the creation window, is free', () => {
    const rules = { ...timings, persist: false };
    expect(decideRunningHost(facts({ creator: closed.owner }), rules).action).toBe('remove');
    expect(decideRunningHost(facts({ creator: deadProcess }), rules).action).toBe('remove');
    expect(decideRunningHost(facts({ creator: elsewhere, createdAtMs: NOW - 62_000 }), rules).action).toBe(
      'remove',
    );
  });

  it('leaves hosts another live owner holds, until its claim expired past the grace', () => {
    for (const persist of [true, false]) {
      const rules = { ...timings, persist };
      const held = { owner: otherLive, expiresAtMs: NOW + 10 };
      expect(decideRunningHost(facts({ claim: held }), rules).action).toBe('leave');
      expect(decideRunningHost(facts({ claim: held, specMatches: false }), rules).action).toBe('leave');
      const lapsed = { owner: elsewhere, expiresAtMs: NOW - 999 };
      expect(decideRunningHost(facts({ claim: lapsed }), rules).action).toBe('leave');
    }
  });

  it('persist: a host released warm by a live process of the pool is kept, not reaped as surplus', () => {
    const released = { owner: otherLive, expiresAtMs: NOW - 5, released: true };
    expect(decideRunningHost(facts({ claim: released }), timings)).toEqual({
      action: 'leave',
      why: 'warm, left for the next process of this pool',
    });
    // …also when its releaser has exited since: the next process adopts it.
    const byDead = { owner: deadProcess, expiresAtMs: NOW - 5, released: true };
    expect(decideRunningHost(facts({ claim: byDead }), timings).action).toBe('leave');
    expect(decideRunningHost(facts({ claim: released, mayAdopt: true }), timings).action).toBe('adopt');
  });

  it('persist: a free host unclaimed longer than idleTimeoutMs is removed', () => {
    const releasedLongAgo = { owner: otherLive, expiresAtMs: NOW - 300_001, released: true };
    expect(decideRunningHost(facts({ claim: releasedLongAgo }), timings)).toEqual({
      action: 'remove',
      reason: 'unclaimed longer than idleTimeoutMs',
      specChanged: false,
    });
    const deadOwnerFutureExpiry = { owner: deadProcess, expiresAtMs: NOW + 50_000 };
    expect(decideRunningHost(facts({ claim: deadOwnerFutureExpiry }), timings).action).toBe('leave');
  });

  it('persist: false removes free hosts, but one just released by a live process only after the grace', () => {
    const rules = { ...timings, persist: false };
    const justReleased = { owner: otherLive, expiresAtMs: NOW - 10, released: true };
    expect(decideRunningHost(facts({ claim: justReleased }), rules).action).toBe('leave');
    const releasedBeforeGrace = { ...justReleased, expiresAtMs: NOW - 1_001 };
    expect(decideRunningHost(facts({ claim: releasedBeforeGrace }), rules)).toEqual({
      action: 'remove',
      reason: 'owner gone (persist: false)',
      specChanged: false,
    });
    const releasedByClosedPool = { owner: closed.owner, expiresAtMs: NOW - 10, released: true };
    expect(decideRunningHost(facts({ claim: releasedByClosedPool }), rules).action).toBe('remove');
    const heldByDead = { owner: deadProcess, expiresAtMs: NOW + 50_000 };
    expect(decideRunningHost(facts({ claim: heldByDead }), rules).action).toBe('remove');
  });

  it('replaces a free host whose spec changed and removes one older than hostLifetimeMs', () => {
    const released = { owner: closed.owner, expiresAtMs: NOW - 10, released: true };
    expect(
      decideRunningHost(facts({ claim: released, specMatches: false, mayAdopt: true }), timings),
    ).toEqual({ action: 'remove', reason: 'spec changed', specChanged: true });
    const old = facts({ claim: released, mayAdopt: true, createdAtMs: NOW - timings.hostLifetimeMs - 1 });
    expect(decideRunningHost(old, timings)).toEqual({
      action: 'remove',
      reason: 'older than hostLifetimeMs',
      specChanged: false,
    });
  });

  it('hosts without a shell are judged by their creator alone', () => {
    const rules = { ...timings, persist: false };
    expect(decideRunningHost(facts({ hasShell: false, creator: otherLive }), rules).action).toBe('leave');
    expect(decideRunningHost(facts({ hasShell: false, creator: closed.owner }), rules).action).toBe('remove');
  });
});

describe('claims', () => {
  it('parses held and released claims, keeping the text a swap expects', () => {
    expect(parseClaim('a.1.2.3 1234')).toEqual({ owner: 'a.1.2.3', expiresAtMs: 1234, text: 'a.1.2.3 1234' });
    expect(parseClaim('a.1.2.3 1234 released\n')).toEqual({
      owner: 'a.1.2.3',
      expiresAtMs: 1234,
      released: true,
      text: 'a.1.2.3 1234 released',
    });
    expect(parseClaim('')).toBeUndefined();
    expect(parseClaim('lonely')).toBeUndefined();
  });

  it('a released claim is free to adopt at once; a held one only when lapsed or its owner is dead', () => {
    const context = { self, graceMs: 1_000, now: NOW };
    expect(isClaimFree({ owner: otherLive, expiresAtMs: NOW, released: true }, context)).toBe(true);
    expect(isClaimFree({ owner: otherLive, expiresAtMs: NOW }, context)).toBe(false);
    expect(isClaimFree({ owner: otherLive, expiresAtMs: NOW - 1_001 }, context)).toBe(true);
    expect(isClaimFree({ owner: closed.owner, expiresAtMs: NOW + 1e6 }, context)).toBe(true);
    expect(isClaimFree({ owner: self, expiresAtMs: 0 }, context)).toBe(true);
    expect(isClaimFree(undefined, context)).toBe(true);
    expect(isClaimFree(undefined, { ...context, creator: { owner: otherLive, untilMs: NOW } })).toBe(false);
  });
});
