import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AuthenticationError } from '@berth/core';
import { checkHostKey, fingerprintOf, knownHostLine, knownHostName, parseKnownHosts } from './known-hosts.js';
import type { SshTarget } from './resolve-machines.js';
import type { SshHostKeyPolicy } from './ssh-options.js';

export interface HostKeyCheck {
  readonly policy: SshHostKeyPolicy;
  /** Berth's own known_hosts (read always, written by `accept-new`). */
  readonly acceptNewPath: string;
  /** Called once per machine for `insecure-accept-any` and for every `accept-new` write. */
  readonly warn: (message: string) => void;
}

const warnedInsecure = new Set<string>();
/** One write at a time, so parallel first connections add one entry, not several. */
let writing: Promise<unknown> = Promise.resolve();

async function readEntries(files: readonly string[]) {
  const texts = await Promise.all(
    files.map((file) =>
      readFile(file, 'utf8').then(
        (text) => ({ file, text }),
        () => ({ file, text: '' }),
      ),
    ),
  );
  return texts.flatMap(({ file, text }) => parseKnownHosts(text).map((entry) => ({ ...entry, file })));
}

/**
 * Decides whether `key` may be `target`'s host key: undefined when it may, else the
 * `AuthenticationError` to fail the connection with (naming the machine and both fingerprints).
 */
export async function verifyHostKey(
  target: SshTarget,
  key: Buffer,
  check: HostKeyCheck,
): Promise<AuthenticationError | undefined> {
  const offered = fingerprintOf(key);
  const where = `${target.host}:${target.port}`;
  if (check.policy === 'insecure-accept-any') {
    if (!warnedInsecure.has(where)) {
      warnedInsecure.add(where);
      check.warn(
        `[berth ssh] hostKeyPolicy 'insecure-accept-any': NOT verifying the host key of ${where} (${offered}). Anyone on the path can impersonate it.`,
      );
    }
    return undefined;
  }
  if (target.pinnedHostKey !== undefined) {
    if (target.pinnedHostKey === offered) return undefined;
    return new AuthenticationError(
      `Host key mismatch for ${target.description}: it offered ${offered}, but hostKey pins ${target.pinnedHostKey}. ` +
        'If the machine was reinstalled, update hostKey to the new fingerprint (ssh-keygen -lf on the machine); otherwise someone may be intercepting the connection.',
    );
  }
  const files = [...target.knownHostsFiles, check.acceptNewPath];
  const run = async () => {
    const entries = await readEntries(files);
    const verdict = checkHostKey(entries, target.host, target.port, key);
    switch (verdict.kind) {
      case 'match':
        return undefined;
      case 'revoked':
        return new AuthenticationError(
          `The host key of ${target.description} (${offered}) is marked @revoked in known_hosts; refusing to connect. Give the machine a new host key.`,
        );
      case 'mismatch': {
        const known = verdict.known
          .map((each) => {
            const entry = entries.find(
              (candidate) =>
                candidate.line === each.line && fingerprintOf(candidate.key) === each.fingerprint,
            );
            return `${each.fingerprint} (${entry?.file ?? 'known_hosts'} line ${each.line})`;
          })
          .join(', ');
        return new AuthenticationError(
          `Host key mismatch for ${target.description}: it offered ${offered}, but known_hosts has ${known}. ` +
            `If the machine was reinstalled, remove the old entry (ssh-keygen -R '${knownHostName(target.host, target.port)}' -f <file>) and connect again; otherwise someone may be intercepting the connection.`,
        );
      }
      case 'unknown': {
        if (check.policy !== 'accept-new') {
          return new AuthenticationError(
            `The host key of ${target.description} (${offered}) is not in ${files.join(', ')}, and hostKeyPolicy is 'strict'. ` +
              `Add it (ssh-keyscan -p ${target.port} ${target.host} >> ~/.ssh/known_hosts, after checking the fingerprint), pin it with hostKey: '${offered}', or use hostKeyPolicy: 'accept-new'.`,
          );
        }
        await mkdir(path.dirname(check.acceptNewPath), { recursive: true, mode: 0o700 });
        await appendFile(check.acceptNewPath, knownHostLine(target.host, target.port, key), { mode: 0o600 });
        check.warn(
          `[berth ssh] accept-new: trusted ${where} with ${offered}, written to ${check.acceptNewPath}.`,
        );
        return undefined;
      }
    }
  };
  // accept-new re-reads under the lock, so two first connections write one entry.
  const result = writing.then(run, run);
  writing = result.catch(() => undefined);
  return result;
}
