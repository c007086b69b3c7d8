import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InvalidOptionsError } from '@berth/core';
import SSHConfig from 'ssh-config';
import ssh2 from 'ssh2';
import {
  assertRootPath,
  DEFAULT_MAX_HOSTS_PER_MACHINE,
  type SshBackendOptions,
  type SshMachineOptions,
} from './ssh-options.js';

/** Everything needed to open one SSH connection (secrets stay in here, never in labels or logs). */
export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKey?: Buffer;
  readonly passphrase?: string;
  /** ssh-agent socket. */
  readonly agent?: string;
  /** Offer only these public keys from the agent (IdentitiesOnly), when set. */
  readonly agentOnly?: readonly Buffer[];
  readonly password?: string;
  readonly pinnedHostKey?: string;
  readonly knownHostsFiles: readonly string[];
  /** Outermost first. */
  readonly jump: readonly SshTarget[];
  /** Identifies the connection: user, host, port, key fingerprint, jump chain (no secrets). */
  readonly key: string;
  /** `user@host:port` (via …), for messages. */
  readonly description: string;
}

export interface ResolvedMachine {
  readonly name: string;
  readonly target: SshTarget;
  readonly root: string;
  readonly maxHosts: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** `user@host:port` → its parts (IPv6 in brackets: `user@[::1]:22`). */
export function parseMachineString(text: string): { user?: string; host: string; port?: number } {
  const match = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(text.trim());
  if (!match)
    throw new InvalidOptionsError('machines', `'${text}' is not user@host:port or an ssh config name.`);
  const [, user, host, port] = match;
  return {
    ...(user ? { user } : {}),
    host: host!.replace(/^\[|\]$/g, ''),
    ...(port ? { port: Number(port) } : {}),
  };
}

function expandHome(file: string, env: Env): string {
  const home = env.HOME ?? os.homedir();
  return file === '~' ? home : file.startsWith('~/') ? path.join(home, file.slice(2)) : file;
}

/** Reads the config once; a missing default config is no config. */
export async function loadSshConfig(options: SshBackendOptions, env: Env): Promise<SSHConfig | undefined> {
  if (options.sshConfigPath === false) return undefined;
  const file = expandHome(options.sshConfigPath ?? '~/.ssh/config', env);
  try {
    return SSHConfig.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if (options.sshConfigPath === undefined && (error as NodeJS.ErrnoException).code === 'ENOENT')
      return undefined;
    throw new InvalidOptionsError('sshConfigPath', `cannot read ${file}: ${(error as Error).message}.`, {
      cause: error,
    });
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Turns inventory entries into connection targets: config aliases, keys read and checked. */
export class MachineResolver {
  constructor(
    private readonly options: SshBackendOptions,
    private readonly config: SSHConfig | undefined,
    private readonly env: Env,
  ) {}

  async machine(entry: string | SshMachineOptions, index: number): Promise<ResolvedMachine> {
    const field = `machines[${index}]`;
    const input: SshMachineOptions = typeof entry === 'string' ? parseMachineString(entry) : entry;
    const target = await this.target(input, field, 0);
    const root = input.root ?? this.options.root ?? `/var/tmp/berth-${target.user}`;
    assertRootPath(`${field}.root`, root);
    const maxHosts = input.maxHosts ?? this.options.maxHostsPerMachine ?? DEFAULT_MAX_HOSTS_PER_MACHINE;
    if (!Number.isInteger(maxHosts) || maxHosts < 1) {
      throw new InvalidOptionsError(`${field}.maxHosts`, `must be an integer ≥ 1, got ${maxHosts}.`);
    }
    return { name: input.name ?? `${target.user}@${target.host}:${target.port}`, target, root, maxHosts };
  }

  async target(input: SshMachineOptions, field: string, depth: number): Promise<SshTarget> {
    if (depth > 8)
      throw new InvalidOptionsError(`${field}.jump`, 'jump hosts nest more than 8 deep (a ProxyJump loop?).');
    if (typeof input?.host !== 'string' || input.host === '') {
      throw new InvalidOptionsError(`${field}.host`, 'must be a host name, address or ssh config alias.');
    }
    const computed = this.config?.compute(input.host, { matchExec: false }) ?? {};
    const host = first(computed.HostName) ?? input.host;
    const port = input.port ?? (first(computed.Port) ? Number(first(computed.Port)) : 22);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new InvalidOptionsError(`${field}.port`, `must be a TCP port, got ${String(port)}.`);
    }
    const user = input.user ?? first(computed.User) ?? this.options.user ?? this.env.USER ?? 'root';
    const identitiesOnly = first(computed.IdentitiesOnly)?.toLowerCase() === 'yes';
    const identityFile = [computed.IdentityFile].flat().find((file) => file !== undefined);
    const keyPath =
      input.privateKeyPath ?? (input.privateKey ? undefined : (identityFile ?? this.options.privateKeyPath));
    const passphrase =
      input.passphrase ?? (input.privateKeyPath || input.privateKey ? undefined : this.options.passphrase);
    let privateKey = input.privateKey === undefined ? undefined : Buffer.from(input.privateKey);
    if (keyPath !== undefined) {
      const file = expandHome(keyPath, this.env);
      privateKey = await readFile(file).catch((error: unknown) => {
        throw new InvalidOptionsError(
          `${field}.privateKeyPath`,
          `cannot read the key ${file}: ${(error as Error).message}.`,
          {
            cause: error,
          },
        );
      });
    }
    let publicKey: Buffer | undefined;
    if (privateKey !== undefined) {
      const parsed = ssh2.utils.parseKey(privateKey, passphrase);
      if (parsed instanceof Error) {
        const hint = /passphrase|encrypted/i.test(parsed.message)
          ? ' It is encrypted: give `passphrase` (or use ssh-agent).'
          : '';
        throw new InvalidOptionsError(
          `${field}.privateKey`,
          `the key cannot be read: ${parsed.message}.${hint}`,
        );
      }
      publicKey = (Array.isArray(parsed) ? parsed[0] : parsed).getPublicSSH();
    }
    const agentOption = input.agent ?? this.options.agent;
    const agent =
      agentOption === false
        ? undefined
        : typeof agentOption === 'string'
          ? agentOption
          : agentOption === true || privateKey === undefined || !identitiesOnly
            ? this.env.SSH_AUTH_SOCK
            : undefined;
    if (agentOption === true && !agent) {
      throw new InvalidOptionsError(
        `${field}.agent`,
        'is true but SSH_AUTH_SOCK is not set; start ssh-agent or give a socket path.',
      );
    }
    const jumpInputs =
      input.jump ??
      (first(computed.ProxyJump) && first(computed.ProxyJump) !== 'none'
        ? first(computed.ProxyJump)!
            .split(',')
            .map((part) => part.trim())
        : []);
    const jump: SshTarget[] = [];
    for (const [hop, each] of jumpInputs.entries()) {
      const hopInput = typeof each === 'string' ? parseMachineString(each) : each;
      jump.push(await this.target(hopInput, `${field}.jump[${hop}]`, depth + 1));
    }
    const userKnownHosts = [computed.UserKnownHostsFile].flat().filter((file): file is string => !!file);
    const knownHostsFiles = [
      ...(this.options.knownHostsFiles ?? ['~/.ssh/known_hosts']),
      ...userKnownHosts,
    ].map((file) => expandHome(file, this.env));
    if (input.hostKey !== undefined && !/^SHA256:[A-Za-z0-9+/]{43}$/.test(input.hostKey)) {
      throw new InvalidOptionsError(
        `${field}.hostKey`,
        'must be a SHA256 fingerprint as `ssh-keygen -lf` prints it (SHA256:…, 43 characters after the colon).',
      );
    }
    const keyId = publicKey ? createHash('sha256').update(publicKey).digest('hex').slice(0, 16) : 'nokey';
    const chain = jump.map((hop) => hop.key).join('>');
    const via =
      jump.length > 0 ? ` via ${jump.map((hop) => `${hop.user}@${hop.host}:${hop.port}`).join(', ')}` : '';
    return {
      host,
      port,
      user,
      ...(privateKey ? { privateKey } : {}),
      ...(passphrase !== undefined ? { passphrase } : {}),
      ...(agent ? { agent } : {}),
      // IdentitiesOnly: with a key named, the agent may offer only that key.
      ...(agent && publicKey ? { agentOnly: [publicKey] } : {}),
      ...(input.password !== undefined ? { password: input.password } : {}),
      ...(input.hostKey ? { pinnedHostKey: input.hostKey } : {}),
      knownHostsFiles,
      jump,
      key: `${user}@${host}:${port}#${keyId}${input.agent ? '+agent' : ''}${chain ? `<${chain}` : ''}`,
      description: `${user}@${host}:${port}${via}`,
    };
  }
}
