import { describe, expect, it } from 'vitest';
import { createLocalBackend } from '../local/create-local-backend.js';
import { resolvePoolOptions } from '../pool/pool-options.js';
import { asUserPrefix, containerUserIsolationGap, slotUser } from './slot-users.js';

describe("isolation: 'user'", () => {
  it('gives slot i uid and gid 20000 + i, and drops groups when switching', () => {
    expect(slotUser(3)).toEqual({ uid: 20_003, gid: 20_003 });
    expect(asUserPrefix(slotUser(0))).toBe('setpriv --reuid=20000 --regid=20000 --clear-groups');
  });

  it('names what a container lacks: a non-root user, or capabilities it dropped', () => {
    const hardened = {
      capDrop: ['ALL'],
      capAdd: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETUID', 'SETGID', 'KILL'],
    };
    expect(containerUserIsolationGap(hardened)).toBeUndefined();
    expect(containerUserIsolationGap({ ...hardened, user: 'root:0' })).toBeUndefined();
    expect(
      containerUserIsolationGap({ capDrop: [], capAdd: [] }),
      "Docker's defaults hold them all",
    ).toBeUndefined();
    expect(containerUserIsolationGap({ ...hardened, user: '1000' })).toMatch(/runs as `1000`.*remove `user`/);
    expect(containerUserIsolationGap({ capDrop: ['ALL'], capAdd: ['cap_chown', 'KILL'] })).toBe(
      'the container lacks CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_SETUID, CAP_SETGID; add DAC_OVERRIDE, FOWNER, SETUID, SETGID to `capAdd`',
    );
    expect(containerUserIsolationGap({ capDrop: ['SETUID'], capAdd: [] })).toMatch(/lacks CAP_SETUID;/);
  });

  it('is refused at createPool, naming the profile, where the backend cannot do it', () => {
    const backend = { ...createLocalBackend(), userIsolationUnsupported: () => 'no root here' };
    expect(() => resolvePoolOptions({ backend, profiles: { small: { isolation: 'user' } } })).toThrow(
      /profiles\.small\.isolation: no root here/,
    );
    const { userIsolationUnsupported: _, ...without } = backend;
    expect(() => resolvePoolOptions({ backend: without, isolation: 'user' })).toThrow(
      expect.objectContaining({ code: 'CAPABILITY_UNSUPPORTED' }),
    );
    expect(resolvePoolOptions({ backend }).profiles.get('default')?.isolation).toBe('directory');
    expect(() => resolvePoolOptions({ backend, isolation: 'users' as 'user' })).toThrow(
      /'directory' or 'user'/,
    );
  });
});
