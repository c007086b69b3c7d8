/**
 * The one error base of Berth. Every error the SDK throws is a `BerthError` with a stable `code`,
 * a `retryable` flag and the engine's original error as `cause`.
 *
 * `isInstance` uses `Symbol.for` brands rather than `instanceof`, so errors stay recognisable
 * when two copies of `@berth/core` end up in one dependency tree (a backend plugin bundling its own).
 * Every class has a brand of its own (its static `brand`); an instance carries the brands of its
 * class and of every class above it, so `HostLostError.isInstance(error)` is true only for a
 * `HostLostError` (or a subclass), and `BerthError.isInstance(error)` for any Berth error.
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

/** A class of Berth error, as seen by `isInstance`: its brand and its instances' type. */
interface BrandedClass<T> {
  readonly brand: symbol;
  readonly prototype: T;
}

export class BerthError extends Error {
  /** The brand of this class; each subclass declares its own (`Symbol.for('berth.error.<Name>')`). */
  static readonly brand: symbol = BRAND;
  readonly code: BerthErrorCode;
  readonly retryable: boolean;

  constructor(code: BerthErrorCode, message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BerthError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    // Stamp the brand of every class from the constructed one up to BerthError.
    const stamps = this as unknown as Record<symbol, boolean>;
    for (let cls: unknown = new.target; typeof cls === 'function'; cls = Object.getPrototypeOf(cls)) {
      if (Object.hasOwn(cls, 'brand')) stamps[(cls as unknown as BrandedClass<unknown>).brand] = true;
      if (cls === BerthError) break;
    }
  }

  /** True when `value` is an instance of this class (or a subclass), from any copy of `@berth/core`. */
  static isInstance<T>(this: BrandedClass<T>, value: unknown): value is T {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class asked, so its own brand is checked.
    const brand = this.brand;
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }

  /** True when `value` is a BerthError with the given code. */
  static hasCode<C extends BerthErrorCode>(value: unknown, code: C): value is BerthError & { code: C } {
    return BerthError.isInstance(value) && value.code === code;
  }
}
