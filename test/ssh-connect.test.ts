/**
 * The SSH backend's connection layer against the real sshd fleet: host keys (hashed known_hosts,
 * mismatch, accept-new, pinned), auth (passphrase key, ssh-agent with IdentitiesOnly, password,
 * wrong user/key), ~/.ssh/config names, a jump host, an unreachable address.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SshBackend, SshBackendOptions } from '@berth/backend-ssh';
import { BerthError } from '@berth/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetBackend, loadFleet, type SshFleet } from './fixtures/ssh-fleet.js';

const { fleet, missing } = loadFleet();
const scratch = mkdtempSync(path.join(os.tmpdir(), 'berth-ssh-connect-'));
const pool = `t-ssh-connect-${process.pid}`;

/** Creates and removes one host: proof the connection worked end to end. */
async function roundTrip(backend: SshBackend): Promise<string> {
  try {
    const host = await backend.createHost({
      profile: 'p',
      spec: {},
      labels: { 'berth.pool': pool },
      slotCount: 1,
    });
    const name = host.labels['berth.ssh.machine']!;
    await host.destroy({ force: true });
    return name;
  } finally {
    await backend.dispose();
  }
}

async function failure(backend: SshBackend): Promise<BerthError> {
  const error = await roundTrip(backend).then(
    () => new Error('connected, but it should have been refused'),
    (caught: unknown) => caught,
  );
  if (!BerthError.isInstance(error)) throw error;
  return error;
}

const fingerprint = (file: string) =>
  execFileSync('ssh-keygen', ['-lf', file], { encoding: 'utf8' }).split(' ')[1]!;
const one = (f: SshFleet, options: Partial<SshBackendOptions> & Parameters<typeof fleetBackend>[1] = {}) =>
  fleetBackend(f, { only: ['m1'], ...options });

describe.skipIf(!fleet)(`ssh connections (${missing ?? 'real sshd fleet'})`, () => {
  const f = fleet!;

  it('accepts a machine whose entry is hashed (ssh-keygen -H)', async () => {
    expect(await roundTrip(one(f, { knownHostsFiles: [f.knownHostsHashed] }))).toBe('m1');
  });

  it('refuses a changed host key with AUTHENTICATION naming the machine and both fingerprints', async () => {
    const file = path.join(scratch, 'changed');
    // m1's address with another machine's key: what a client sees after m1's key was regenerated.
    writeFileSync(
      file,
      `10.231.1.2 ${readFileSync(f.hostKeys.m2!, 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
    );
    const error = await failure(
      one(f, { knownHostsFiles: [file], acceptNewKnownHostsPath: path.join(scratch, 'unused') }),
    );
    expect(error.code).toBe('AUTHENTICATION');
    expect(error.message).toContain('10.231.1.2');
    expect(error.message).toContain(fingerprint(f.hostKeys.m1!));
    expect(error.message).toContain(fingerprint(f.hostKeys.m2!));
    expect(error.message).toMatch(/ssh-keygen -R/);
  });

  it('refuses an unknown host by default, and accept-new writes exactly one entry', async () => {
    const empty = path.join(scratch, 'empty');
    writeFileSync(empty, '');
    const berthOwned = path.join(scratch, 'berth_known_hosts');
    const strict = await failure(one(f, { knownHostsFiles: [empty], acceptNewKnownHostsPath: berthOwned }));
    expect(strict.code).toBe('AUTHENTICATION');
    expect(strict.message).toContain(fingerprint(f.hostKeys.m1!));
    const warnings: string[] = [];
    const original = console.warn;
    console.warn = (message: string) => warnings.push(message);
    try {
      const acceptNew = () =>
        one(f, {
          knownHostsFiles: [empty],
          hostKeyPolicy: 'accept-new',
          acceptNewKnownHostsPath: berthOwned,
        });
      await Promise.all([roundTrip(acceptNew()), roundTrip(acceptNew())]);
      await roundTrip(acceptNew());
    } finally {
      console.warn = original;
    }
    const lines = readFileSync(berthOwned, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(
      execFileSync('ssh-keygen', ['-F', '10.231.1.2', '-f', berthOwned], { encoding: 'utf8' }),
    ).toContain('10.231.1.2');
    expect(warnings.join('\n')).toContain('accept-new');
  });

  it('checks a pinned SHA256 fingerprint instead of known_hosts', async () => {
    const empty = path.join(scratch, 'empty-pin');
    writeFileSync(empty, '');
    const pinned = (hostKey: string) => one(f, { knownHostsFiles: [empty], machine: { hostKey } });
    expect(await roundTrip(pinned(fingerprint(f.hostKeys.m1!)))).toBe('m1');
    const error = await failure(pinned(fingerprint(f.hostKeys.m3!)));
    expect(error.code).toBe('AUTHENTICATION');
    expect(error.message).toContain(fingerprint(f.hostKeys.m1!));
  });

  it('authenticates with an encrypted key and its passphrase; without it the options are invalid', async () => {
    expect(await roundTrip(one(f, { privateKeyPath: f.keys.encrypted, passphrase: f.keys.passphrase }))).toBe(
      'm1',
    );
    const error = await failure(one(f, { privateKeyPath: f.keys.encrypted }));
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.message).toMatch(/passphrase/);
  });

  it('wrong key or wrong user → AUTHENTICATION', async () => {
    const wrongKey = await failure(one(f, { privateKeyPath: f.keys.wrong }));
    expect(wrongKey.code).toBe('AUTHENTICATION');
    expect(wrongKey.message).toContain(f.user);
    const wrongUser = await failure(one(f, { user: 'nobody-berth' }));
    expect(wrongUser.code).toBe('AUTHENTICATION');
    expect(wrongUser.message).toContain('nobody-berth');
  });

  it('authenticates with an explicit password', async () => {
    expect(await roundTrip(one(f, { privateKeyPath: undefined, machine: { password: f.password } }))).toBe(
      'm1',
    );
  });

  describe('ssh-agent', () => {
    const socket = path.join(scratch, 'agent.sock');
    let agentPid: number | undefined;
    beforeAll(async () => {
      const child = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
      agentPid = child.pid;
      for (let i = 0; i < 50; i++) {
        try {
          execFileSync('ssh-add', ['-l'], {
            env: { ...process.env, SSH_AUTH_SOCK: socket },
            stdio: 'ignore',
          });
          break;
        } catch (error) {
          if ((error as { status?: number }).status === 1) break; // up, no identities
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      execFileSync('ssh-add', [f.keys.plain], {
        env: { ...process.env, SSH_AUTH_SOCK: socket },
        stdio: 'ignore',
      });
    });
    afterAll(() => {
      if (agentPid) process.kill(agentPid);
    });

    it('authenticates through the agent', async () => {
      expect(await roundTrip(one(f, { privateKeyPath: undefined, agent: socket }))).toBe('m1');
    });

    it('offers only the configured key from the agent (IdentitiesOnly)', async () => {
      // The agent holds the right key, but the machine names another: that one alone is offered.
      const error = await failure(one(f, { privateKeyPath: f.keys.wrong, agent: socket }));
      expect(error.code).toBe('AUTHENTICATION');
      expect(error.message).toContain('only the configured key');
    });
  });

  it('resolves an ~/.ssh/config name (HostName, User, IdentityFile, UserKnownHostsFile)', async () => {
    const config = path.join(scratch, 'ssh_config');
    writeFileSync(
      config,
      `Host fleet-m3\n  HostName 10.231.3.2\n  User ${f.user}\n  IdentityFile ${f.keys.plain}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${f.knownHosts}\n`,
    );
    const { createSshBackend } = await import('@berth/backend-ssh');
    const backend = createSshBackend({
      machines: ['fleet-m3'],
      sshConfigPath: config,
      knownHostsFiles: [],
      root: f.root,
      agent: false,
    });
    expect(await roundTrip(backend)).toBe(`${f.user}@10.231.3.2:22`);
  });

  it('reaches a machine through a jump host (forwardOut)', async () => {
    const backend = fleetBackend(f, {
      only: ['m2'],
      machine: {
        jump: [{ host: f.jump.host, port: f.jump.port, user: f.user, privateKeyPath: f.keys.plain }],
      },
    });
    expect(await roundTrip(backend)).toBe('m2');
  });

  it('an address nothing answers on → BACKEND_UNAVAILABLE naming what was tried', async () => {
    const { createSshBackend } = await import('@berth/backend-ssh');
    const backend = createSshBackend({
      machines: [{ host: '127.0.0.1', port: 1, name: 'nowhere' }],
      user: f.user,
      privateKeyPath: f.keys.plain,
      knownHostsFiles: [f.knownHosts],
      root: f.root,
      sshConfigPath: false,
      connectTimeoutMs: 2_000,
    });
    const error = await failure(backend);
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect((error as BerthError & { tried: string[] }).tried.join(' ')).toContain('127.0.0.1:1');
  });
});
