import {
  AbortedError,
  AuthenticationError,
  BackendUnavailableError,
  BerthError,
  CapacityError,
  HostLostError,
  InternalError,
  InvalidOptionsError,
  NotFoundError,
} from '@berth/core';

/** What the failing call was doing, so the mapped message can say it. */
export interface DockerErrorContext {
  /** e.g. `create container`, `start container abc123`, `pull image busybox:1`. */
  readonly action: string;
  /** The Docker address in use (for `BACKEND_UNAVAILABLE`'s `tried`). */
  readonly address?: string;
  /** The container concerned, so a 409 "not running" becomes `HOST_LOST`. */
  readonly hostId?: string;
  /** The option path to blame for a 400 Bad Request (defaults to `spec`). */
  readonly field?: string;
}

/** The shape docker-modem gives its errors: `(HTTP code 404) no such container - No such container: x`. */
interface DockerModemError {
  readonly statusCode?: number;
  readonly json?: unknown;
  readonly code?: string;
  readonly name?: string;
  readonly message?: string;
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOTSOCK',
  'UND_ERR_SOCKET',
]);

const TLS_CODES = /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_OSSL)/;

/** Docker's own words, without docker-modem's `(HTTP code …) reason -` prefix. */
export function dockerMessage(error: unknown): string {
  const modem = error as DockerModemError | null;
  const json = modem?.json as { message?: unknown } | string | undefined;
  if (json && typeof json === 'object' && typeof json.message === 'string') return json.message.trim();
  if (typeof json === 'string' && json.trim() !== '') return json.trim();
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, '').trim();
}

export function dockerStatusCode(error: unknown): number | undefined {
  const status = (error as DockerModemError | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

export function isDockerNotFound(error: unknown): boolean {
  return dockerStatusCode(error) === 404 || BerthError.hasCode(error, 'NOT_FOUND');
}

export function isAbortError(error: unknown): boolean {
  const candidate = error as DockerModemError | null;
  return candidate?.name === 'AbortError' || candidate?.code === 'ABORT_ERR';
}

/**
 * The one place Docker / dockerode / socket errors become `BerthError`s. The original error is
 * kept as `cause`. An error that already is a `BerthError` passes through unchanged.
 */
export function mapDockerError(error: unknown, context: DockerErrorContext): BerthError {
  if (BerthError.isInstance(error)) return error;
  const { action } = context;
  const cause = { cause: error };
  if (isAbortError(error)) return new AbortedError(`Docker: ${action} was aborted.`, cause);

  const code = (error as DockerModemError | null)?.code;
  const status = dockerStatusCode(error);
  const said = dockerMessage(error);
  const address = context.address ?? 'the Docker daemon';

  if (status === undefined && typeof code === 'string') {
    if (code === 'EACCES' || code === 'EPERM') {
      return new AuthenticationError(
        `Docker: permission denied on ${address} while trying to ${action}. Add your user to the \`docker\` group ` +
          '(then log in again), use rootless Docker, or point DOCKER_HOST at a socket you may use.',
        cause,
      );
    }
    if (UNREACHABLE_CODES.has(code)) {
      return new BackendUnavailableError(
        `Docker did not answer at ${address} (${code}) while trying to ${action}. Is dockerd running? ` +
          'Start it (`sudo systemctl start docker`, or scripts/setup-docker.sh) or set DOCKER_HOST.',
        context.address ? [context.address] : [],
        cause,
      );
    }
    if (TLS_CODES.test(code)) {
      return new AuthenticationError(
        `Docker: TLS handshake with ${address} failed (${code}) while trying to ${action}. Check DOCKER_CERT_PATH ` +
          '(ca.pem, cert.pem, key.pem) and DOCKER_TLS_VERIFY.',
        cause,
      );
    }
  }

  switch (status) {
    case 400:
      return new InvalidOptionsError(
        context.field ?? 'spec',
        `Docker rejected the request to ${action}: ${said}. Fix the host spec (or its \`hostConfig\` passthrough).`,
        cause,
      );
    case 401:
    case 403:
      return new AuthenticationError(
        `Docker refused to ${action} (HTTP ${status}): ${said}. Check registry credentials / daemon authorization plugins.`,
        cause,
      );
    case 404:
      return new NotFoundError(`Docker: could not ${action}: ${said}.`, cause);
    case 409:
      if (context.hostId && /is not running|is paused|is restarting|marked for removal/i.test(said)) {
        return new HostLostError(context.hostId, said, cause);
      }
      return new InternalError(`Docker reported a conflict while trying to ${action}: ${said}.`, {
        ...cause,
        retryable: true,
      });
    default:
      break;
  }
  if (
    /no space left|too many|cannot allocate memory|resource temporarily unavailable|out of memory/i.test(said)
  ) {
    return new CapacityError(
      `Docker is out of resources while trying to ${action}: ${said}. Free disk/memory on the Docker host or lower maxHosts.`,
      5_000,
      cause,
    );
  }
  if (
    /permission denied|unauthorized|authentication required|access denied/i.test(said) &&
    /pull/i.test(action)
  ) {
    return new AuthenticationError(
      `Docker could not ${action}: ${said}. Log in to the registry (\`docker login\`) or pass \`registryAuth\`.`,
      cause,
    );
  }
  const detail = status === undefined ? said : `HTTP ${status}: ${said}`;
  return new InternalError(`Docker failed to ${action} (${detail}).`, {
    ...cause,
    retryable: status !== undefined && status >= 500,
  });
}
