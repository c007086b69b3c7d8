import { BerthError, type BerthErrorOptions } from './berth-error.js';

/** Options failed validation. `field` is the dotted path of the offending option. */
export class InvalidOptionsError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.InvalidOptionsError');
  readonly field: string;
  constructor(field: string, message: string, options?: BerthErrorOptions) {
    super('INVALID_OPTIONS', `Invalid option \`${field}\`: ${message}`, options);
    this.name = 'InvalidOptionsError';
    this.field = field;
  }
}

/** The engine could not be reached. `tried` lists every address/socket attempted. */
export class BackendUnavailableError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.BackendUnavailableError');
  readonly tried: readonly string[];
  constructor(message: string, tried: readonly string[], options?: BerthErrorOptions) {
    const list = tried.length > 0 ? ` Tried: ${tried.join(', ')}.` : '';
    super('BACKEND_UNAVAILABLE', `${message}${list}`, { retryable: true, ...options });
    this.name = 'BackendUnavailableError';
    this.tried = tried;
  }
}

export class AuthenticationError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.AuthenticationError');
  constructor(message: string, options?: BerthErrorOptions) {
    super('AUTHENTICATION', message, options);
    this.name = 'AuthenticationError';
  }
}

export class NotFoundError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.NotFoundError');
  constructor(message: string, options?: BerthErrorOptions) {
    super('NOT_FOUND', message, options);
    this.name = 'NotFoundError';
  }
}

/** The engine refused for lack of capacity; try again after `retryAfterMs`. */
export class CapacityError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.CapacityError');
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number, options?: BerthErrorOptions) {
    super('CAPACITY', message, { retryable: true, ...options });
    this.name = 'CapacityError';
    this.retryAfterMs = retryAfterMs;
  }
}

export class AcquireTimeoutError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.AcquireTimeoutError');
  constructor(message: string, options?: BerthErrorOptions) {
    super('ACQUIRE_TIMEOUT', message, { retryable: true, ...options });
    this.name = 'AcquireTimeoutError';
  }
}

export class AbortedError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.AbortedError');
  constructor(message = 'The operation was aborted.', options?: BerthErrorOptions) {
    super('ABORTED', message, options);
    this.name = 'AbortedError';
  }
}

export class ExecTimeoutError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.ExecTimeoutError');
  constructor(message: string, options?: BerthErrorOptions) {
    super('EXEC_TIMEOUT', message, options);
    this.name = 'ExecTimeoutError';
  }
}

/** An illegal slot state transition, or a stale lease used after release. */
export class SlotStateError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.SlotStateError');
  constructor(message: string, options?: BerthErrorOptions) {
    super('SLOT_STATE', message, options);
    this.name = 'SlotStateError';
  }
}

/** The host under a slot died (container killed, allocation stopped, shell gone). */
export class HostLostError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.HostLostError');
  readonly hostId: string;
  constructor(hostId: string, reason: string, options?: BerthErrorOptions) {
    super(
      'HOST_LOST',
      `Host ${hostId} was lost: ${reason}. Acquire a new slot; the pool replaces the host.`,
      {
        retryable: true,
        ...options,
      },
    );
    this.name = 'HostLostError';
    this.hostId = hostId;
  }
}

/**
 * Whatever carried a slot's commands (its shell, or the connection to it) went away while a command
 * ran, but the host is fine: the slot swept what the command left and reopens its runtime on next
 * use. Retry the command on the same slot.
 */
export class SlotRuntimeLostError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.SlotRuntimeLostError');
  readonly slotId: string;
  constructor(slotId: string, reason: string, options?: BerthErrorOptions) {
    super(
      'SLOT_RUNTIME_LOST',
      `The command on slot ${slotId} was cut off: ${reason.replace(/\.$/, '')}. The host is fine and what ` +
        'the command left running is killed before the slot runs anything else; retry the command on the same slot.',
      { retryable: true, ...options },
    );
    this.name = 'SlotRuntimeLostError';
    this.slotId = slotId;
  }
}

export class PoolClosedError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.PoolClosedError');
  constructor(
    message = 'The pool is closed; create a new pool to acquire slots.',
    options?: BerthErrorOptions,
  ) {
    super('POOL_CLOSED', message, options);
    this.name = 'PoolClosedError';
  }
}

export class PoolDrainingError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.PoolDrainingError');
  constructor(
    message = 'The pool is draining and configured to fail fast; call pool.resume() to accept acquires again.',
    options?: BerthErrorOptions,
  ) {
    super('POOL_DRAINING', message, { retryable: true, ...options });
    this.name = 'PoolDrainingError';
  }
}

export class CapabilityUnsupportedError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.CapabilityUnsupportedError');
  readonly capability: string;
  constructor(backendId: string, capability: string, hint?: string) {
    super(
      'CAPABILITY_UNSUPPORTED',
      `The ${backendId} backend does not support \`${capability}\`.${hint ? ` ${hint}` : ''}`,
    );
    this.name = 'CapabilityUnsupportedError';
    this.capability = capability;
  }
}

export class InternalError extends BerthError {
  static override readonly brand: symbol = Symbol.for('berth.error.InternalError');
  constructor(message: string, options?: BerthErrorOptions) {
    super('INTERNAL', message, options);
    this.name = 'InternalError';
  }
}

/** Throws an `AbortedError` carrying the signal's reason when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'The operation'): void {
  if (signal?.aborted) {
    throw BerthError.isInstance(signal.reason)
      ? signal.reason
      : new AbortedError(`${what} was aborted.`, { cause: signal.reason });
  }
}
