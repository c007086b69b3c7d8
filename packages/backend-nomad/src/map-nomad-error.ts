/**
 * The one place where Nomad's failures become Berth errors. The Nomad client throws only the
 * `BerthError`s made here; the original failure is kept as `cause`.
 */
import {
  AbortedError,
  AuthenticationError,
  BackendUnavailableError,
  BerthError,
  CapacityError,
  InternalError,
  InvalidOptionsError,
  NotFoundError,
} from '@berth/core';
import type { RetryDecision } from './client/retry-with-backoff.js';

/** A non-2xx answer from the Nomad HTTP API (or a refused exec websocket upgrade). */
export class NomadHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly method: string,
    readonly path: string,
    readonly retryAfterMs?: number,
  ) {
    super(`Nomad answered ${status} to ${method} ${path}: ${body.trim() || '(empty body)'}`);
    this.name = 'NomadHttpError';
  }
}

/** A request that got no complete answer within `requestTimeoutMs`. */
export class NomadRequestTimeoutError extends Error {
  constructor(
    readonly timeoutMs: number,
    readonly method: string,
    readonly path: string,
  ) {
    super(`no answer to ${method} ${path} within ${timeoutMs} ms`);
    this.name = 'NomadRequestTimeoutError';
  }
}

export interface NomadErrorContext {
  /** The agent address, named in every unavailable message. */
  readonly address: string;
  /** What was being done, e.g. `register job berth-x` (no secrets). */
  readonly operation: string;
  readonly namespace?: string;
  /** The option a 400 answer blames, e.g. `spec`. */
  readonly field?: string;
  readonly connectTimeoutMs?: number;
  /** Whether a token was sent (never the token itself). */
  readonly tokenConfigured?: boolean;
  /** https address without a client certificate: a dropped connection may be a refused mTLS handshake. */
  readonly tlsWithoutClientCert?: boolean;
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** The innermost `code` of an error chain (undici wraps socket errors in `TypeError: fetch failed`). */
export function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  let code: string | undefined;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const candidate = (current as { code?: unknown }).code;
    if (typeof candidate === 'string') code = candidate;
    current = (current as { cause?: unknown }).cause;
  }
  return code;
}

function isTlsCode(code: string | undefined): boolean {
  return (
    code !== undefined &&
    (code.startsWith('ERR_TLS') ||
      code.startsWith('ERR_SSL') ||
      /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME_MISMATCH/.test(code))
  );
}

/**
 * Whether a failed attempt may be retried. Connection errors are retried for idempotent calls
 * only, except a refused connection (nothing was sent). Connect timeouts are never retried: the
 * agent is unreachable, and the caller should hear so within `connectTimeoutMs`, not minutes.
 */
export function classifyNomadFailure(error: unknown, idempotent: boolean): RetryDecision {
  if (error instanceof NomadHttpError) {
    if (error.status === 429) return { retry: true, delayMs: error.retryAfterMs };
    if (error.status >= 500) return { retry: idempotent };
    return { retry: false };
  }
  if (BerthError.isInstance(error) || error instanceof NomadRequestTimeoutError) return { retry: false };
  const code = networkErrorCode(error);
  if (code === 'ECONNREFUSED') return { retry: true };
  if (code !== undefined && CONNECTION_CODES.has(code)) return { retry: idempotent };
  return { retry: false };
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfterMs(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const dateMs = Date.parse(value);
  return Number.isNaN(dateMs) ? undefined : Math.max(0, dateMs - nowMs);
}

export function mapNomadError(error: unknown, context: NomadErrorContext): BerthError {
  if (BerthError.isInstance(error)) return error;
  const where = `Nomad at ${context.address}`;
  if (error instanceof NomadHttpError) return mapHttpError(error, context, where);
  if (error instanceof NomadRequestTimeoutError) {
    return new BackendUnavailableError(
      `${where} did not answer ${context.operation} within ${error.timeoutMs} ms (requestTimeoutMs). ` +
        'Check that the agent is healthy and has a leader (`nomad server members`).',
      [context.address],
      { cause: error },
    );
  }
  if (isAbortError(error))
    return new AbortedError(`${capitalise(context.operation)} was aborted.`, { cause: error });

  const code = networkErrorCode(error);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    return new BackendUnavailableError(
      `Could not reach ${where}: no connection within ${context.connectTimeoutMs ?? 5000} ms (connectTimeoutMs). ` +
        'Check NOMAD_ADDR (or the `address` option) and that the agent listens there.',
      [context.address],
      { cause: error },
    );
  }
  if (isTlsCode(code)) {
    return new BackendUnavailableError(
      `TLS handshake with ${where} failed (${code}). Set NOMAD_CACERT to the CA that signed the agent's ` +
        'certificate, NOMAD_TLS_SERVER_NAME if its name differs from the address, and NOMAD_CLIENT_CERT / ' +
        'NOMAD_CLIENT_KEY if the agent requires mutual TLS.',
      [context.address],
      { cause: error },
    );
  }
  const fetchFailed = error instanceof TypeError && error.message === 'fetch failed';
  if (
    fetchFailed ||
    (code !== undefined && (CONNECTION_CODES.has(code) || code === 'ENOTFOUND' || code.startsWith('UND_ERR')))
  ) {
    const detail =
      code === 'ECONNREFUSED'
        ? 'connection refused'
        : code === 'ENOTFOUND'
          ? 'host name not found'
          : (code ?? innermostMessage(error));
    const mtlsHint =
      context.tlsWithoutClientCert && code !== 'ECONNREFUSED' && code !== 'ENOTFOUND'
        ? ' The agent closed the TLS connection: if it verifies clients (verify_https_client), set ' +
          'NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY.'
        : '';
    return new BackendUnavailableError(
      `Could not reach ${where} (${detail}) while trying to ${context.operation}. Is the agent running? ` +
        `Set NOMAD_ADDR (or the \`address\` option) to its HTTP address.${mtlsHint}`,
      [context.address],
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new InternalError(`Unexpected failure talking to ${where} (${context.operation}): ${message}`, {
    cause: error,
  });
}

function mapHttpError(error: NomadHttpError, context: NomadErrorContext, where: string): BerthError {
  const said = error.body.trim().slice(0, 500) || `HTTP ${error.status}`;
  const namespace = context.namespace ?? 'default';
  switch (true) {
    case error.status === 401 || error.status === 403:
      return new AuthenticationError(
        `${where} refused to ${context.operation}: ${said}. ` +
          (context.tokenConfigured === false
            ? 'No ACL token was sent: set NOMAD_TOKEN (or the `token` option). '
            : 'Check NOMAD_TOKEN (or the `token` option): the token must exist and ') +
          `its ACL policy must allow this in namespace "${namespace}" ` +
          '(Berth needs submit-job, read-job, list-jobs, alloc-exec, and alloc-node-exec for raw_exec).',
        { cause: error },
      );
    case error.status === 404:
      return new NotFoundError(`${where} could not ${context.operation}: not found (${said}).`, {
        cause: error,
      });
    case error.status === 429:
      return new CapacityError(
        `${where} is rate-limiting requests (429: ${said}); retry after ${error.retryAfterMs ?? 1000} ms.`,
        error.retryAfterMs ?? 1000,
        { cause: error },
      );
    case error.status === 400 || error.status === 422:
      return new InvalidOptionsError(
        context.field ?? 'nomad',
        `Nomad rejected ${context.operation}: ${said}`,
        {
          cause: error,
        },
      );
    case error.status >= 500:
      return new BackendUnavailableError(
        `${where} failed to ${context.operation} (${error.status}: ${said}). ` +
          (/no (cluster )?leader/i.test(said)
            ? 'The cluster has no leader; wait for the servers to elect one.'
            : 'Retry later; check the agent logs if it persists.'),
        [context.address],
        { cause: error },
      );
    default:
      return new InternalError(`${where} answered ${error.status} to ${context.operation}: ${said}`, {
        cause: error,
      });
  }
}

/** Maps the close frame Nomad sends when an exec session fails (`1008` policy, `1011` internal). */
export function mapExecCloseError(code: number, reason: string, context: NomadErrorContext): BerthError {
  const text = reason || `websocket closed with code ${code}`;
  if (/permission denied|acl token|forbidden/i.test(text)) {
    return mapHttpError(new NomadHttpError(403, text, 'GET', 'exec'), context, `Nomad at ${context.address}`);
  }
  if (/not found|unknown allocation|unknown task/i.test(text)) {
    return new NotFoundError(`Nomad at ${context.address} could not ${context.operation}: ${text}.`);
  }
  if (/not running|terminal|is not running|task.*dead/i.test(text)) {
    return new NotFoundError(
      `Nomad at ${context.address} could not ${context.operation}: ${text}. The allocation is no longer running.`,
    );
  }
  return new BackendUnavailableError(
    `The exec session (${context.operation}) was closed by Nomad: ${text} (code ${code}).`,
    [context.address],
  );
}

function innermostMessage(error: unknown): string {
  let current: unknown = error;
  let message = '';
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    message = current.message;
    current = current.cause;
  }
  return message;
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || networkErrorCode(error) === 'ABORT_ERR');
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
