/**
 * The one error base of Berth. Every error the SDK throws is a `BerthError` with a stable `code`,
 * a `retryable` flag and the engine's original error as `cause`.
 *
 * `isInstance` uses a `Symbol.for` brand rather than `instanceof`, so errors stay recognisable
 * when two copies of `@berth/core` end up in one dependency tree (a backend plugin bundling its own).
 */
const BRAND = Symbol.for('berth.error');

export type BerthErrorCode =
  | 'INVALID_OPTIONS'
  | 'BACKEND_UNAVAILABLE'
  | 'AUTHENTICATION'
  | 'NOT_FOUND'
  | 'CAPACITY'
  | 'ACQUIRE_TIMEOUT'
  | 'ABORTED'
  | 'EXEC_TIMEOUT'
  | 'SLOT_STATE'
  | 'HOST_LOST'
  | 'SLOT_RUNTIME_LOST'
  | 'POOL_CLOSED'
  | 'POOL_DRAINING'
  | 'CAPABILITY_UNSUPPORTED'
  | 'INTERNAL';

export interface BerthErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

export class BerthError extends Error {
  readonly [BRAND] = true;
  readonly code: BerthErrorCode;
  readonly retryable: boolean;

  constructor(code: BerthErrorCode, message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BerthError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }

  static isInstance(value: unknown): value is BerthError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /** True when `value` is a BerthError with the given code. */
  static hasCode<C extends BerthErrorCode>(value: unknown, code: C): value is BerthError & { code: C } {
    return BerthError.isInstance(value) && value.code === code;
  }
}
