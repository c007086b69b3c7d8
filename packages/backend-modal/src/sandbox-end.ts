import type { ModalClient, Sandbox } from 'modal';
import { mapModalError } from './map-modal-error.js';

/** `modal.client.GenericResult`: how and why a sandbox finished. */
export interface SandboxEnd {
  readonly status: number;
  readonly exitcode: number;
  readonly exception: string;
}

const STATUS = {
  SUCCESS: 1,
  FAILURE: 2,
  TERMINATED: 3,
  TIMEOUT: 4,
  INIT_FAILURE: 5,
  IDLE_TIMEOUT: 7,
} as const;
const V1_SANDBOX_ID = /^sb-[0-9A-Za-z]{22}$/;

// `Sandbox.poll()` keeps only an exit code (an idle timeout reads as "exited 0"); the full result
// needs the client that made the handle, which `Sandbox` keeps private.
const clients = new WeakMap<Sandbox, ModalClient>();

export function rememberClient(sb: Sandbox, client: ModalClient): Sandbox {
  clients.set(sb, client);
  return sb;
}

/** The sandbox's result if it finished, else undefined. Errors of the lookup itself propagate. */
export async function sandboxEnd(sb: Sandbox): Promise<SandboxEnd | undefined> {
  const client = clients.get(sb);
  if (!client) {
    const code = await sb.poll();
    if (code === null) return undefined;
    const status = code === 124 ? STATUS.TIMEOUT : code === 137 ? STATUS.TERMINATED : STATUS.FAILURE;
    return { status, exitcode: code, exception: '' };
  }
  const request = { sandboxId: sb.sandboxId, timeout: 0 };
  const response = V1_SANDBOX_ID.test(sb.sandboxId)
    ? await client.cpClient.sandboxWait(request)
    : await client.cpClient.sandboxWaitV2(request);
  const result = response.result;
  if (!result?.status) return undefined;
  return { status: result.status, exitcode: result.exitcode, exception: result.exception };
}

/** Modal's reason for a finished sandbox, for HOST_LOST and health. */
export function sandboxEndReason(end: SandboxEnd): string {
  const said = end.exception ? `: ${end.exception}` : '';
  switch (end.status) {
    case STATUS.TIMEOUT:
      return `the sandbox reached its timeout (timeoutMs, or the pool hostLifetimeMs)${said}`;
    case STATUS.IDLE_TIMEOUT:
      return `the sandbox reached its idle timeout (idleTimeoutMs)${said}`;
    case STATUS.TERMINATED:
      return `the sandbox was terminated${said || ' (from the dashboard, `modal sandbox stop`, or an out-of-memory kill)'}`;
    case STATUS.INIT_FAILURE:
      return `the sandbox failed to start${said}`;
    default:
      return `the sandbox's entrypoint exited with code ${end.exitcode}${said}`;
  }
}

const LOOKUP_TIMEOUT_MS = 10_000;

/**
 * Maps an error of a call about `sb`. It becomes HOST_LOST only when Modal says so structurally
 * (SandboxTimeoutError) or the sandbox's result shows it finished: a transient failure (a timed-out
 * request) on a live sandbox must not make the pool drop it.
 */
export async function mapSandboxError(sb: Sandbox, error: unknown, operation: string): Promise<Error> {
  const mapped = mapModalError(error, { operation, sandboxId: sb.sandboxId });
  if (!['INTERNAL', 'NOT_FOUND', 'INVALID_OPTIONS', 'BACKEND_UNAVAILABLE'].includes(codeOf(mapped))) {
    return mapped;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const end = await Promise.race([
      sandboxEnd(sb),
      new Promise<'unknown'>((resolve) => {
        timer = setTimeout(() => resolve('unknown'), LOOKUP_TIMEOUT_MS);
      }),
    ]);
    if (end === undefined || end === 'unknown') return mapped;
    return mapModalError(error, { operation, sandboxId: sb.sandboxId, sandboxEnded: sandboxEndReason(end) });
  } catch (lookupError) {
    // Modal no longer knows the sandbox at all: it is gone.
    const code = (lookupError as { code?: unknown } | null)?.code;
    if ((lookupError as { name?: unknown } | null)?.name === 'NotFoundError' || code === 5) {
      return mapModalError(error, {
        operation,
        sandboxId: sb.sandboxId,
        sandboxEnded: `Modal no longer knows sandbox ${sb.sandboxId}`,
      });
    }
    return mapped;
  } finally {
    clearTimeout(timer);
  }
}

function codeOf(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : '';
}
