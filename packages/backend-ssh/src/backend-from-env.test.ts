import { BerthError } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { backendFromEnv, envVariables } from './backend-from-env.js';
import { createSshBackend } from './create-ssh-backend.js';
import { parseMachineString } from './resolve-machines.js';

describe('backendFromEnv (BERTH_BACKEND=ssh)', () => {
  it('needs BERTH_SSH_HOSTS and says what to set', () => {
    expect(() => backendFromEnv({})).toThrow(/BERTH_SSH_HOSTS.*required/);
  });

  it('builds a backend without I/O and lists every variable it reads', () => {
    const { backend, host } = backendFromEnv({
      BERTH_SSH_HOSTS: 'ci@10.0.0.5:2222, gpu-box',
      BERTH_SSH_KEY: '/nonexistent/key', // read on first use, not here
      BERTH_SSH_ROOT: '/srv/berth',
      BERTH_SSH_MAX_HOSTS_PER_MACHINE: '4',
    });
    expect(backend.backendId).toBe('ssh');
    expect(host).toEqual({});
    expect(envVariables).toContain('BERTH_SSH_KNOWN_HOSTS');
  });

  it('rejects a bad cap and a bad policy naming the field', () => {
    expect(() => backendFromEnv({ BERTH_SSH_HOSTS: 'a', BERTH_SSH_MAX_HOSTS_PER_MACHINE: '0' })).toThrow(
      /BERTH_SSH_MAX_HOSTS_PER_MACHINE/,
    );
    const error = (() => {
      try {
        backendFromEnv({ BERTH_SSH_HOSTS: 'a', BERTH_SSH_HOST_KEY_POLICY: 'yolo' });
      } catch (caught) {
        return caught;
      }
    })();
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
  });
});

describe('machine strings', () => {
  it('parses user@host:port, IPv6 in brackets and bare names', () => {
    expect(parseMachineString('ci@10.0.0.5:2222')).toEqual({ user: 'ci', host: '10.0.0.5', port: 2222 });
    expect(parseMachineString('root@[::1]:22')).toEqual({ user: 'root', host: '::1', port: 22 });
    expect(parseMachineString('gpu-box')).toEqual({ host: 'gpu-box' });
    expect(() => parseMachineString('a b')).toThrow(/user@host:port/);
  });

  it('validates options at construction', () => {
    expect(() => createSshBackend({ machines: [] })).toThrow(/at least one machine/);
    expect(() => createSshBackend({ machines: ['a'], keepaliveCountMax: 0 })).toThrow(/keepaliveCountMax/);
    expect(() => createSshBackend({ machines: ['a'], transport: 'telnet' as never })).toThrow(/transport/);
  });
});
