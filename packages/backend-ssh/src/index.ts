export { backendFromEnv, envVariables, SSH_ENV } from './backend-from-env.js';
export {
  createSshBackend,
  SSH_MACHINE_LABEL,
  type SshBackend,
  type SshHostSpec,
} from './create-ssh-backend.js';
export {
  checkHostKey,
  fingerprintOf,
  type HostKeyVerdict,
  type KnownHostEntry,
  knownHostName,
  parseKnownHosts,
} from './known-hosts.js';
export { LABELS_FILE, leaseTagOf, removeHostScript, SshHost } from './ssh-host.js';
export type {
  SshBackendOptions,
  SshHostKeyPolicy,
  SshMachineOptions,
  SshTransportMode,
} from './ssh-options.js';
