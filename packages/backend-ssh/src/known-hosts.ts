import { createHash, createHmac } from 'node:crypto';

/**
 * A small OpenSSH `known_hosts` reader (no maintained one exists on npm): plain and hashed (`|1|`)
 * host fields, `[host]:port`, comma-separated patterns with `*`, `?` and `!` negation, and the
 * `@revoked` marker. `@cert-authority` lines are skipped: Berth does not verify host certificates.
 */
export interface KnownHostEntry {
  readonly marker: 'revoked' | undefined;
  /** The host field as written (plain patterns or one `|1|salt|hash`). */
  readonly hosts: string;
  readonly keyType: string;
  /** The key blob (what the server sends). */
  readonly key: Buffer;
  /** 1-based, for messages. */
  readonly line: number;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      const name = fields.shift();
      if (name !== '@revoked') return; // @cert-authority and unknown markers
      marker = 'revoked';
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64 || !/^[A-Za-z0-9+/=]+$/.test(base64)) return;
    entries.push({ marker, hosts, keyType, key: Buffer.from(base64, 'base64'), line: index + 1 });
  });
  return entries;
}

/** How `host:port` is written in known_hosts: bare for port 22, else `[host]:port`. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** OpenSSH's `SHA256:` fingerprint (unpadded base64) of a key blob. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside a key blob (`ssh-ed25519`, `ecdsa-sha2-nistp256`, …). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const length = key.readUInt32BE(0);
  return key.subarray(4, 4 + length).toString('latin1');
}

/** Whether one host field names `name` (`host` or `[host]:port`). */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return digest === hash;
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!');
    if (globMatch(negated ? pattern.slice(1) : pattern, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function globMatch(pattern: string, name: string): boolean {
  const source = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(name.toLowerCase());
}

export type HostKeyVerdict =
  | { readonly kind: 'match' }
  | { readonly kind: 'revoked'; readonly line: number }
  /** Entries for this host exist but none holds this key. */
  | { readonly kind: 'mismatch'; readonly known: readonly { fingerprint: string; line: number }[] }
  | { readonly kind: 'unknown' };

/**
 * What `entries` say about `key` offered by `host:port`, as OpenSSH decides: a revoked key is
 * refused wherever it appears; else any entry for the host with this key matches; entries for the
 * host with other keys are a mismatch; none is unknown.
 */
export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer) {
  const name = knownHostName(host, port);
  const revoked = entries.find((entry) => entry.marker === 'revoked' && entry.key.equals(key));
  if (revoked) return { kind: 'revoked', line: revoked.line } satisfies HostKeyVerdict;
  const forHost = entries.filter(
    (entry) => entry.marker === undefined && hostFieldMatches(entry.hosts, name),
  );
  if (forHost.some((entry) => entry.key.equals(key))) return { kind: 'match' } satisfies HostKeyVerdict;
  if (forHost.length > 0) {
    return {
      kind: 'mismatch',
      known: forHost.map((entry) => ({ fingerprint: fingerprintOf(entry.key), line: entry.line })),
    } satisfies HostKeyVerdict;
  }
  return { kind: 'unknown' } satisfies HostKeyVerdict;
}

/** One known_hosts line for `accept-new` (plain, as `ssh` writes with HashKnownHosts off). */
export function knownHostLine(host: string, port: number, key: Buffer): string {
  return `${knownHostName(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}\n`;
}
