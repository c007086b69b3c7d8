import { type BackendFromEnv, InvalidOptionsError } from '@berth/core';
import { createSshBackend, type SshBackend, type SshHostSpec } from './create-ssh-backend.js';
import type { SshHostKeyPolicy, SshTransportMode } from './ssh-options.js';

type Env = Readonly<Record<string, string | undefined>>;

/** The `BERTH_SSH_*` variables `backendFromEnv` reads. */
export const SSH_ENV = {
  hosts: 'BERTH_SSH_HOSTS',
  key: 'BERTH_SSH_KEY',
  knownHosts: 'BERTH_SSH_KNOWN_HOSTS',
  root: 'BERTH_SSH_ROOT',
  user: 'BERTH_SSH_USER',
  hostKeyPolicy: 'BERTH_SSH_HOST_KEY_POLICY',
  maxHostsPerMachine: 'BERTH_SSH_MAX_HOSTS_PER_MACHINE',
  transport: 'BERTH_SSH_TRANSPORT',
} as const;

/** Every `BERTH_SSH_*` variable this package reads: core's `poolFromEnv` reports any other as a typo. */
export const envVariables: readonly string[] = Object.values(SSH_ENV);

/**
 * What core's `poolFromEnv()` calls for `BERTH_BACKEND=ssh`: `BERTH_SSH_HOSTS` (required,
 * comma-separated `user@host:port` or ssh config names), `BERTH_SSH_KEY` (a key *file*; the key
 * itself never goes through the environment or a log), `BERTH_SSH_KNOWN_HOSTS` (comma-separated
 * files), `BERTH_SSH_ROOT`, `BERTH_SSH_USER`, `BERTH_SSH_HOST_KEY_POLICY`,
 * `BERTH_SSH_MAX_HOSTS_PER_MACHINE`, `BERTH_SSH_TRANSPORT`. Synchronous, no I/O.
 */
export function backendFromEnv(env: Env = process.env): { backend: SshBackend; host: SshHostSpec } {
  const text = (key: string): string | undefined => {
    const value = env[key]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const hosts = text(SSH_ENV.hosts);
  if (hosts === undefined) {
    throw new InvalidOptionsError(
      SSH_ENV.hosts,
      'is required with BERTH_BACKEND=ssh: comma-separated machines, e.g. BERTH_SSH_HOSTS=ci@10.0.0.5,gpu-box-2 (ssh config names work).',
    );
  }
  const list = (value: string) =>
    value
      .split(',')
      .map((each) => each.trim())
      .filter((each) => each !== '');
  const max = text(SSH_ENV.maxHostsPerMachine);
  const maxHostsPerMachine = max === undefined ? undefined : Number(max);
  if (maxHostsPerMachine !== undefined && (!Number.isInteger(maxHostsPerMachine) || maxHostsPerMachine < 1)) {
    throw new InvalidOptionsError(
      SSH_ENV.maxHostsPerMachine,
      `must be an integer ≥ 1 (from ${SSH_ENV.maxHostsPerMachine}=${max}).`,
    );
  }
  const policy = text(SSH_ENV.hostKeyPolicy);
  const transport = text(SSH_ENV.transport);
  const key = text(SSH_ENV.key);
  const knownHosts = text(SSH_ENV.knownHosts);
  const root = text(SSH_ENV.root);
  const user = text(SSH_ENV.user);
  const backend = createSshBackend({
    machines: list(hosts),
    env,
    ...(key ? { privateKeyPath: key } : {}),
    ...(knownHosts ? { knownHostsFiles: list(knownHosts) } : {}),
    ...(root ? { root } : {}),
    ...(user ? { user } : {}),
    ...(policy ? { hostKeyPolicy: policy as SshHostKeyPolicy } : {}),
    ...(transport ? { transport: transport as SshTransportMode } : {}),
    ...(maxHostsPerMachine ? { maxHostsPerMachine } : {}),
  });
  return { backend, host: {} } satisfies BackendFromEnv;
}
