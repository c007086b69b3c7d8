import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BerthError, createPool } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { createSshBackend } from './create-ssh-backend.js';

const env = { HOME: '/nonexistent', USER: 'alice' };

describe("isolation: 'user' over SSH needs a root login", () => {
  it('is offered when every machine logs in as root, however the user is given', () => {
    const backend = createSshBackend({
      machines: ['root@10.0.0.1', { host: '10.0.0.2', user: 'root' }, '10.0.0.3'],
      user: 'root',
      maxHostsPerMachine: 1,
      sshConfigPath: false,
      env,
    });
    expect(backend.userIsolationUnsupported).toBeTypeOf('function');
    expect(backend.userIsolationUnsupported?.({})).toBeUndefined();
  });

  it('fails closed at createPool with CAPABILITY_UNSUPPORTED naming the non-root machines', async () => {
    const backend = createSshBackend({
      machines: ['root@10.0.0.1', 'ci@10.0.0.2:2222', { host: '10.0.0.3', name: 'gpu' }],
      sshConfigPath: false,
      env, // gpu falls back to $USER (alice)
    });
    const reason = backend.userIsolationUnsupported?.({}) ?? '';
    expect(reason).toMatch(/10\.0\.0\.2 as `ci`, gpu as `alice`.*only a root login/);
    expect(reason).not.toMatch(/10\.0\.0\.1/);
    const error = await createPool({ backend, isolation: 'user', persist: false }).then(
      () => new Error('createPool accepted a non-root login'),
      (caught: unknown) => caught,
    );
    expect(BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED'), String(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(/isolation.*10\.0\.0\.2 as `ci`/);
  });

  it("takes the login user from ~/.ssh/config's User, as connecting does", () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'berth-ssh-config-'));
    const config = path.join(directory, 'config');
    writeFileSync(config, 'Host box\n  HostName 10.0.0.9\n  User deploy\nHost admin\n  User root\n');
    const backend = (machines: string[]) =>
      createSshBackend({ machines, sshConfigPath: config, user: 'root', maxHostsPerMachine: 1, env });
    expect(backend(['admin']).userIsolationUnsupported?.({})).toBeUndefined();
    expect(backend(['admin', 'box']).userIsolationUnsupported?.({})).toMatch(/box as `deploy`/);
  });

  it('fails closed when a machine may carry two hosts: their slots would share uids', async () => {
    const backend = createSshBackend({
      machines: ['root@10.0.0.1', { host: '10.0.0.2', user: 'root', maxHosts: 1 }],
      maxHostsPerMachine: 4,
      sshConfigPath: false,
      env,
    });
    const reason = backend.userIsolationUnsupported?.({}) ?? '';
    expect(reason).toMatch(/10\.0\.0\.1 \(4\).*maxHostsPerMachine: 1/);
    expect(reason).not.toMatch(/10\.0\.0\.2/);
    const error = await createPool({ backend, isolation: 'user', persist: false }).then(
      () => new Error('createPool accepted hosts that share slot uids'),
      (caught: unknown) => caught,
    );
    expect(BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED'), String(error)).toBe(true);
    // The default cap (16) shares too.
    const byDefault = createSshBackend({ machines: ['root@10.0.0.1'], sshConfigPath: false, env });
    expect(byDefault.userIsolationUnsupported?.({})).toMatch(/10\.0\.0\.1 \(16\)/);
  });
});
