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
import { retryAfterOf } from './retry-after.js';

/** gRPC status codes the SDK surfaces (nice-grpc `ClientError.code`). */
const GRPC = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Where an error happened, for the message and for HOST_LOST. */
export interface ModalErrorContext {
  /** What Berth was doing: `create a sandbox`, `run a command in sandbox sb-…`. */
  readonly operation: string;
  /** The sandbox, when the call was about one. */
  readonly sandboxId?: string;
  /**
   * Modal's reason, once the sandbox's result showed it finished (see `mapSandboxError`): only
   * then, or on a structured SandboxTimeoutError, is the error HOST_LOST.
   */
  readonly sandboxEnded?: string;
  /** retryAfterMs for CAPACITY, over the delay Modal sent with the error (else 1000). */
  readonly retryAfterMs?: number;
}

const AUTH_HINT =
  'Set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET (create a token with `modal token new` or at modal.com/settings/tokens), ' +
  'or put token_id / token_secret in ~/.modal.toml (`modal token set`), or pass tokenId / tokenSecret to createModalBackend.';

function said(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const { details, message } = error as { details?: unknown; message?: unknown };
  if (typeof details === 'string' && details !== '') return details;
  return typeof message === 'string' ? message : String(error);
}

/** The one place Modal SDK errors (its own classes and nice-grpc `ClientError`s) become `BerthError`s. */
export function mapModalError(error: unknown, context: ModalErrorContext): Error {
  if (BerthError.isInstance(error)) return error;
  const { operation, sandboxId } = context;
  const name = (error as { name?: unknown } | null)?.name;
  const code = (error as { code?: unknown } | null)?.code;
  const reason = said(error);
  const where = `Could not ${operation}`;

  if (name === 'AbortError' || (name === 'ClientError' && code === GRPC.CANCELLED && /abort/i.test(reason))) {
    return new AbortedError(`${where}: aborted.`, { cause: error });
  }
  if (name === 'ClientError' && code === GRPC.PERMISSION_DENIED) {
    // The token was accepted; what it asked for is not allowed (a plan without GPUs, a region, an
    // environment the token's user may not use): a new token would not help.
    return new InvalidOptionsError(
      'host',
      `Modal denied permission to ${operation}: ${reason}. The credentials are valid, but this workspace (its plan or your role) does not allow what the host spec asks for (e.g. a GPU type, regions, an environment); change the spec or the workspace's plan/permissions at modal.com.`,
      { cause: error },
    );
  }
  if (/missing credentials/i.test(reason) || (name === 'ClientError' && code === GRPC.UNAUTHENTICATED)) {
    return new AuthenticationError(`${where}: Modal refused the credentials (${reason}). ${AUTH_HINT}`, {
      cause: error,
    });
  }
  if (name === 'ResourceExhaustedError' || (name === 'ClientError' && code === GRPC.RESOURCE_EXHAUSTED)) {
    return new CapacityError(
      `${where}: Modal is out of capacity or rate-limiting sandbox creation (${reason}). Berth retries; lower creationRatePerSecond or maxConcurrentStarts if this persists.`,
      context.retryAfterMs ?? retryAfterOf(error) ?? 1_000,
      { cause: error },
    );
  }
  if (sandboxId && context.sandboxEnded) {
    return new HostLostError(sandboxId, `Modal ended the sandbox: ${context.sandboxEnded} (${reason})`, {
      cause: error,
    });
  }
  if (sandboxId && name === 'SandboxTimeoutError') {
    return new HostLostError(sandboxId, `Modal ended the sandbox: ${reason}`, { cause: error });
  }
  if (name === 'NotFoundError' || (name === 'ClientError' && code === GRPC.NOT_FOUND)) {
    return new NotFoundError(
      `${where}: ${reason}. Check the name (app, secret, volume, image) and the Modal environment.`,
      {
        cause: error,
      },
    );
  }
  if (name === 'InvalidError' || (name === 'ClientError' && code === GRPC.INVALID_ARGUMENT)) {
    return new InvalidOptionsError(
      'host',
      `Modal rejected the sandbox settings while trying to ${operation}: ${reason}`,
      {
        cause: error,
      },
    );
  }
  if (name === 'ClientError' && (code === GRPC.UNAVAILABLE || code === GRPC.DEADLINE_EXCEEDED)) {
    return new BackendUnavailableError(
      `${where}: Modal's API did not answer (${reason}). Check the network, or MODAL_SERVER_URL if you set it.`,
      [process.env.MODAL_SERVER_URL ?? 'https://api.modal.com:443'],
      { cause: error },
    );
  }
  return new InternalError(`${where}: ${reason}`, { cause: error });
}
