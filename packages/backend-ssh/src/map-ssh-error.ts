import { AuthenticationError, BackendUnavailableError, BerthError } from '@berth/core';
import type { SshTarget } from './resolve-machines.js';

/** Network failures: the machine or the path to it is down (BACKEND_UNAVAILABLE, retryable). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** What `auth` offered, for messages (never the secrets themselves). */
export function authMethodsOf(target: SshTarget): string {
  const methods: string[] = [];
  if (target.privateKey) methods.push('publickey (the configured key)');
  if (target.agent) methods.push(target.agentOnly ? 'ssh-agent (only the configured key)' : 'ssh-agent');
  if (target.password !== undefined) methods.push('password');
  return methods.length > 0 ? methods.join(', ') : 'none (no key, agent or password configured)';
}

/**
 * Maps an ssh2 / socket failure while connecting to `target` to a Berth error: wrong user or key →
 * AUTHENTICATION; network and handshake failures → BACKEND_UNAVAILABLE naming what was tried.
 */
export function mapConnectError(error: unknown, target: SshTarget, tried: readonly string[]): BerthError {
  if (BerthError.isInstance(error)) return error;
  const err = error as Error & { level?: string; code?: string };
  const said = err?.message ?? String(error);
  if (err?.level === 'client-authentication') {
    return new AuthenticationError(
      `${target.description} refused authentication as '${target.user}' (offered: ${authMethodsOf(target)}). ` +
        'Check the user name and that the key is in its authorized_keys (or that the agent holds it).',
      { cause: error },
    );
  }
  if (err?.level === 'client-timeout' || /timed out/i.test(said)) {
    return new BackendUnavailableError(
      `SSH to ${target.description} did not complete its handshake in time (${said}); is sshd there and answering? Raise readyTimeoutMs for slow links.`,
      tried,
      { cause: error, retryable: true },
    );
  }
  if (
    (err?.code && UNREACHABLE.has(err.code)) ||
    err?.level === 'client-socket' ||
    /lost before handshake|ECONN|closed/i.test(said)
  ) {
    return new BackendUnavailableError(
      `Cannot reach sshd at ${target.description} (${said}). Check the address and port, that sshd runs, and the network path.`,
      tried,
      { cause: error, retryable: true },
    );
  }
  return new BackendUnavailableError(`SSH to ${target.description} failed: ${said}.`, tried, {
    cause: error,
    retryable: true,
  });
}

/** Handshake failures worth another attempt: sshd's MaxStartups drops excess handshakes by closing them. */
export function isDroppedHandshake(error: unknown): boolean {
  const err = error as Error & { level?: string; code?: string };
  if (BerthError.isInstance(error)) return false;
  if (err?.level === 'client-authentication') return false;
  return (
    err?.code === 'ECONNRESET' ||
    /lost before handshake|kex_exchange|Connection closed|reset/i.test(err?.message ?? '')
  );
}
