import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkHostKey,
  fingerprintOf,
  hostFieldMatches,
  knownHostLine,
  parseKnownHosts,
} from './known-hosts.js';

const keygen = spawnSync('ssh-keygen', ['-?']).error ? undefined : 'ssh-keygen';
const directory = mkdtempSync(path.join(os.tmpdir(), 'berth-known-hosts-'));

/** A fresh host key made by OpenSSH: its blob and what `ssh-keygen -lf` says its fingerprint is. */
function hostKey(name: string): { line: string; blob: Buffer; fingerprint: string } {
  const file = path.join(directory, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  const line = readFileSync(`${file}.pub`, 'utf8').trim();
  const fingerprint = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { line, blob: Buffer.from(line.split(' ')[1]!, 'base64'), fingerprint };
}

if (!keygen) console.info('known_hosts tests skipped: no ssh-keygen on PATH (apt install openssh-client)');

describe.skipIf(!keygen)('known_hosts reader against OpenSSH ssh-keygen', () => {
  const a = keygen ? hostKey('a') : undefined!;
  const b = keygen ? hostKey('b') : undefined!;
  const keyText = (key: typeof a) => key.line.split(' ').slice(0, 2).join(' ');

  it('fingerprints as ssh-keygen -l does', () => {
    expect(fingerprintOf(a.blob)).toBe(a.fingerprint);
  });

  it('finds the same entries as ssh-keygen -F, plain and hashed by ssh-keygen -H', () => {
    const file = path.join(directory, 'known_hosts');
    writeFileSync(
      file,
      [
        `10.0.0.5 ${keyText(a)}`,
        `[10.0.0.6]:2222,alias.example ${keyText(b)}`,
        `*.lab.example,!bad.lab.example ${keyText(a)}`,
        '# comment',
        '',
      ].join('\n'),
    );
    const queries: [string, number, boolean][] = [
      ['10.0.0.5', 22, true],
      ['10.0.0.6', 2222, true],
      ['10.0.0.6', 22, false],
      ['alias.example', 22, true],
      ['gpu.lab.example', 22, true],
      ['bad.lab.example', 22, false],
      ['10.0.0.7', 22, false],
    ];
    const plain = parseKnownHosts(readFileSync(file, 'utf8'));
    for (const [host, port, expected] of queries) {
      const name = port === 22 ? host : `[${host}]:${port}`;
      const found = spawnSync('ssh-keygen', ['-F', name, '-f', file]).status === 0;
      expect(found, `ssh-keygen -F ${name}`).toBe(expected);
      expect(
        plain.some((entry) => hostFieldMatches(entry.hosts, name)),
        `ours for ${name}`,
      ).toBe(expected);
    }
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file]);
    const hashedText = readFileSync(file, 'utf8');
    expect(hashedText).toContain('|1|');
    const hashed = parseKnownHosts(hashedText);
    // Hashing turns each name of a line into its own hashed line; wildcard lines stay plain.
    for (const [host, port, expected] of queries) {
      const name = port === 22 ? host : `[${host}]:${port}`;
      expect(
        spawnSync('ssh-keygen', ['-F', name, '-f', file]).status === 0,
        `ssh-keygen -F ${name} (hashed)`,
      ).toBe(expected);
      expect(
        hashed.some((entry) => hostFieldMatches(entry.hosts, name)),
        `ours for ${name} (hashed)`,
      ).toBe(expected);
    }
    expect(checkHostKey(hashed, '10.0.0.6', 2222, b.blob)).toEqual({ kind: 'match' });
  });

  it('reports a mismatch with the known fingerprint, unknown hosts, and @revoked keys', () => {
    const entries = parseKnownHosts(`10.0.0.5 ${keyText(a)}\n@revoked * ${keyText(b)}\n`);
    expect(checkHostKey(entries, '10.0.0.5', 22, a.blob)).toEqual({ kind: 'match' });
    expect(checkHostKey(entries, '10.0.0.9', 22, a.blob)).toEqual({ kind: 'unknown' });
    const other = hostKey('c');
    expect(checkHostKey(entries, '10.0.0.5', 22, other.blob)).toEqual({
      kind: 'mismatch',
      known: [{ fingerprint: a.fingerprint, line: 1 }],
    });
    expect(checkHostKey(entries, '10.0.0.5', 22, b.blob)).toEqual({ kind: 'revoked', line: 2 });
  });

  it('writes lines ssh-keygen -F finds', () => {
    const file = path.join(directory, 'written');
    writeFileSync(file, knownHostLine('10.1.2.3', 2200, a.blob));
    expect(spawnSync('ssh-keygen', ['-F', '[10.1.2.3]:2200', '-f', file]).status).toBe(0);
  });
});
