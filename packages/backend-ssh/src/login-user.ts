import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SSHConfig from 'ssh-config';
import { parseMachineString } from './resolve-machines.js';
import {
  DEFAULT_MAX_HOSTS_PER_MACHINE,
  type SshBackendOptions,
  type SshMachineOptions,
} from './ssh-options.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The user each inventory machine logs in as, decided synchronously (for `userIsolationUnsupported`,
 * which core calls at `createPool`): the same order as `MachineResolver` — the entry's `user`, the
 * ssh config's `User`, the backend's `user`, `$USER`, `root`. The config is read at most once.
 */
export function loginUsers(
  options: SshBackendOptions,
  env: Env,
): { machine: string; user: string; maxHosts: number }[] {
  let config: SSHConfig | undefined;
  let read = false;
  const configUser = (host: string): string | undefined => {
    if (options.sshConfigPath === false) return undefined;
    if (!read) {
      read = true;
      const home = env.HOME ?? os.homedir();
      const file = (options.sshConfigPath ?? '~/.ssh/config').replace(/^~(?=\/|$)/, home);
      try {
        config = SSHConfig.parse(readFileSync(path.resolve(file), 'utf8'));
      } catch {
        config = undefined; // an unreadable config fails later, at first use, with its own error
      }
    }
    const user = config?.compute(host, { matchExec: false }).User;
    return Array.isArray(user) ? user[0] : user;
  };
  return options.machines.map((entry) => {
    let input: SshMachineOptions | undefined;
    try {
      input = typeof entry === 'string' ? parseMachineString(entry) : entry;
    } catch {
      input = undefined; // reported as INVALID_OPTIONS when the machine is resolved
    }
    const host = input?.host ?? String(entry);
    const user = input?.user ?? configUser(host) ?? options.user ?? env.USER ?? 'root';
    const maxHosts = input?.maxHosts ?? options.maxHostsPerMachine ?? DEFAULT_MAX_HOSTS_PER_MACHINE;
    return { machine: input?.name ?? host, user, maxHosts };
  });
}

/**
 * Why this inventory cannot run `isolation: 'user'`, or `undefined`: every machine must log in as
 * root, since only root can give each slot its own uid, own its workspace and sweep its processes.
 */
export function sshUserIsolationGap(options: SshBackendOptions, env: Env): string | undefined {
  const machines = loginUsers(options, env);
  const others = machines.filter((each) => each.user !== 'root');
  if (others.length > 0) {
    const named = others.map((each) => `${each.machine} as \`${each.user}\``).join(', ');
    return `the SSH inventory logs in to ${named}, and only a root login can run each slot as its own user; log in as root (\`user: 'root'\`, with PermitRootLogin prohibit-password on those machines)`;
  }
  // Slot i of every host runs as uid 20000 + i: two hosts on one machine (of any pool under its
  // root) would share those uids, so each could read the other's workspaces and a release would
  // kill the other's processes. One host per machine keeps the uids its own.
  const shared = machines.filter((each) => each.maxHosts > 1);
  if (shared.length === 0) return undefined;
  const named = shared.map((each) => `${each.machine} (${each.maxHosts})`).join(', ');
  return `slot uids are the same on every host of a machine, so user-isolated hosts must not share one: ${named} may carry more than one host; set \`maxHostsPerMachine: 1\` (or the machine's \`maxHosts: 1\`), and keep other user-isolated pools off these machines`;
}
