import { InvalidOptionsError } from '@berth/core';

/**
 * - `strict` (default): the key must be in a known_hosts file (or match `hostKey`); unknown or
 *   different keys are refused.
 * - `accept-new`: an unknown machine's key is trusted once and written to Berth's own known_hosts
 *   file (`acceptNewKnownHostsPath`); a different key for a known machine is still refused.
 * - `insecure-accept-any`: no check at all (a warning is printed once per machine). Only for
 *   throwaway machines on a network you control.
 */
export type SshHostKeyPolicy = 'strict' | 'accept-new' | 'insecure-accept-any';

/** How slots reach a machine: berth-agent (`auto` falls back to plain `sh` where it cannot run). */
export type SshTransportMode = 'auto' | 'agent' | 'sh';

/** One machine of the inventory (or a jump host). */
export interface SshMachineOptions {
  /** Address or name; an `~/.ssh/config` `Host` alias is resolved (HostName, User, Port, …). */
  readonly host: string;
  readonly port?: number;
  readonly user?: string;
  /** Name in labels, events and messages. Default `user@host:port`. */
  readonly name?: string;
  /** A private key (OpenSSH/PEM text). Never logged, never put in labels. */
  readonly privateKey?: string | Buffer;
  readonly privateKeyPath?: string;
  /** For an encrypted `privateKey` / `privateKeyPath`. */
  readonly passphrase?: string;
  /** An ssh-agent socket, or `true` for `$SSH_AUTH_SOCK`. With a key given, only that key is offered (IdentitiesOnly). */
  readonly agent?: string | boolean;
  /** Password authentication, only when given here. */
  readonly password?: string;
  /** A pinned host key fingerprint (`SHA256:…`, as `ssh-keygen -lf` prints): no known_hosts lookup. */
  readonly hostKey?: string;
  /** Jump hosts, outermost first (like `ssh -J a,b`): a string is `user@host:port` or a config alias. */
  readonly jump?: readonly (string | SshMachineOptions)[];
  /** This machine's workspace root (absolute). Default the backend's `root`. */
  readonly root?: string;
  /** Hosts this machine carries at most. Default the backend's `maxHostsPerMachine`. */
  readonly maxHosts?: number;
}

/** `SshBackendOptions.maxHostsPerMachine`'s default. */
export const DEFAULT_MAX_HOSTS_PER_MACHINE = 16;

export interface SshBackendOptions {
  /** The inventory: `user@host:port` strings, `~/.ssh/config` aliases, or objects. */
  readonly machines: readonly (string | SshMachineOptions)[];
  /** Default user. Default: the config's `User`, else `$USER`. */
  readonly user?: string;
  /** Default key for machines that name none. */
  readonly privateKeyPath?: string;
  readonly passphrase?: string;
  /** Default ssh-agent use (see `SshMachineOptions.agent`). Default: `$SSH_AUTH_SOCK` when set. */
  readonly agent?: string | boolean;
  /** known_hosts files. Default: `~/.ssh/known_hosts` (plus the config's `UserKnownHostsFile`). */
  readonly knownHostsFiles?: readonly string[];
  readonly hostKeyPolicy?: SshHostKeyPolicy;
  /** Berth's own known_hosts, written by `accept-new`. Default `~/.config/berth/known_hosts`. */
  readonly acceptNewKnownHostsPath?: string;
  /** `~/.ssh/config` to resolve names with; `false`: none. Default `~/.ssh/config` when it exists. */
  readonly sshConfigPath?: string | false;
  /** Workspace root on every machine: hosts are `<root>/<pool>/<host id>`. Default `/var/tmp/berth-<user>`. */
  readonly root?: string;
  /** Hosts one machine carries at most. Default 16. */
  readonly maxHostsPerMachine?: number;
  readonly transport?: SshTransportMode;
  /** TCP connect bound. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** SSH handshake + authentication bound (ssh2 `readyTimeout`). Default 20000. */
  readonly readyTimeoutMs?: number;
  /** Opening one exec channel or agent stream. Default 20000. */
  readonly commandStartTimeoutMs?: number;
  /** Bound on one control command (listing, removing). Default 60000. */
  readonly requestTimeoutMs?: number;
  /** SSH keepalive period; 0 turns it off. Default 5000. */
  readonly keepaliveIntervalMs?: number;
  /** Unanswered keepalives before the connection counts as dropped. Default 3. */
  readonly keepaliveCountMax?: number;
  /** Handshakes in flight per machine (sshd's MaxStartups drops the rest). Default 3. */
  readonly maxHandshakesPerMachine?: number;
  /** Attempts for a handshake sshd dropped, with jittered backoff. Default 4. */
  readonly handshakeAttempts?: number;
  /** A machine unreachable this long loses its hosts (HOST_LOST). Default 30000. */
  readonly machineLostAfterMs?: number;
  /** sshd's `MaxSessions` (channels per connection) for plain-`sh` slots. Default 10. */
  readonly maxSessionsPerConnection?: number;
  /** berth-agent's heartbeat watchdog: it kills everything and exits without the client. Default 15000. */
  readonly agentHeartbeatTimeoutMs?: number;
  /** Where `~` and `$SSH_AUTH_SOCK` / `$USER` come from. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface SshTimeouts {
  readonly connectTimeoutMs: number;
  readonly readyTimeoutMs: number;
  readonly commandStartTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveCountMax: number;
  readonly maxHandshakesPerMachine: number;
  readonly handshakeAttempts: number;
  readonly machineLostAfterMs: number;
  readonly maxSessionsPerConnection: number;
  readonly agentHeartbeatTimeoutMs: number;
}

const DEFAULTS: SshTimeouts = {
  connectTimeoutMs: 10_000,
  readyTimeoutMs: 20_000,
  commandStartTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  keepaliveIntervalMs: 5_000,
  keepaliveCountMax: 3,
  maxHandshakesPerMachine: 3,
  handshakeAttempts: 4,
  machineLostAfterMs: 30_000,
  maxSessionsPerConnection: 10,
  agentHeartbeatTimeoutMs: 15_000,
};

const MIN: Partial<Record<keyof SshTimeouts, number>> = {
  keepaliveIntervalMs: 0,
  keepaliveCountMax: 1,
  agentHeartbeatTimeoutMs: 0,
  maxSessionsPerConnection: 2,
  machineLostAfterMs: 0,
};

/** Validates the numeric options once, naming the field. */
export function resolveTimeouts(options: SshBackendOptions): SshTimeouts {
  const resolved: Record<string, number> = {};
  for (const [key, fallback] of Object.entries(DEFAULTS) as [keyof SshTimeouts, number][]) {
    const value = options[key] ?? fallback;
    const min = MIN[key] ?? 1;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      throw new InvalidOptionsError(key, `must be an integer ≥ ${min}, got ${String(value)}.`);
    }
    resolved[key] = value;
  }
  return resolved as unknown as SshTimeouts;
}

/** A POSIX path safe to put in a shell line unquoted-free: absolute, no `..`, no odd characters. */
export function assertRootPath(field: string, value: string): void {
  if (!/^\/[A-Za-z0-9._/-]*$/.test(value) || value.split('/').includes('..')) {
    throw new InvalidOptionsError(
      field,
      `must be an absolute path of letters, digits, '.', '_', '-' and '/', without '..'; got ${JSON.stringify(value)}.`,
    );
  }
}
