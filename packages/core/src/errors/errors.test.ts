import { describe, expect, it } from 'vitest';
import { ShellClosedError } from '../shell/shell-session.js';
import { BerthError } from './berth-error.js';
import {
  AbortedError,
  AcquireTimeoutError,
  AuthenticationError,
  BackendUnavailableError,
  CapabilityUnsupportedError,
  CapacityError,
  ExecTimeoutError,
  HostLostError,
  InternalError,
  InvalidOptionsError,
  NotFoundError,
  PoolClosedError,
  PoolDrainingError,
  SlotRuntimeLostError,
  SlotStateError,
} from './errors.js';

/** One instance of every error class, with the code it must carry. */
const samples = [
  { cls: InvalidOptionsError, error: new InvalidOptionsError('x', 'bad'), code: 'INVALID_OPTIONS' },
  {
    cls: BackendUnavailableError,
    error: new BackendUnavailableError('down', []),
    code: 'BACKEND_UNAVAILABLE',
  },
  { cls: AuthenticationError, error: new AuthenticationError('no'), code: 'AUTHENTICATION' },
  { cls: NotFoundError, error: new NotFoundError('gone'), code: 'NOT_FOUND' },
  { cls: CapacityError, error: new CapacityError('full', 10), code: 'CAPACITY' },
  { cls: AcquireTimeoutError, error: new AcquireTimeoutError('late'), code: 'ACQUIRE_TIMEOUT' },
  { cls: AbortedError, error: new AbortedError(), code: 'ABORTED' },
  { cls: ExecTimeoutError, error: new ExecTimeoutError('late'), code: 'EXEC_TIMEOUT' },
  { cls: SlotStateError, error: new SlotStateError('stale'), code: 'SLOT_STATE' },
  { cls: HostLostError, error: new HostLostError('h', 'killed'), code: 'HOST_LOST' },
  {
    cls: SlotRuntimeLostError,
    error: new SlotRuntimeLostError('h/slot_0', 'dropped'),
    code: 'SLOT_RUNTIME_LOST',
  },
  { cls: PoolClosedError, error: new PoolClosedError(), code: 'POOL_CLOSED' },
  { cls: PoolDrainingError, error: new PoolDrainingError(), code: 'POOL_DRAINING' },
  {
    cls: CapabilityUnsupportedError,
    error: new CapabilityUnsupportedError('x', 'y'),
    code: 'CAPABILITY_UNSUPPORTED',
  },
  { cls: InternalError, error: new InternalError('bug'), code: 'INTERNAL' },
  { cls: ShellClosedError, error: new ShellClosedError('closed'), code: 'HOST_LOST' },
] as const;

describe('error brands', () => {
  it('every class recognises its own instances and no other class’s', () => {
    for (const checker of samples) {
      for (const sample of samples) {
        const expected = checker.cls === sample.cls;
        expect(
          checker.cls.isInstance(sample.error),
          `${checker.cls.name}.isInstance(new ${sample.cls.name}())`,
        ).toBe(expected);
      }
    }
  });

  it('BerthError recognises every class; nothing recognises plain values or foreign errors', () => {
    for (const { cls, error, code } of samples) {
      expect(BerthError.isInstance(error), cls.name).toBe(true);
      expect(error.code, cls.name).toBe(code);
      expect(error.name, cls.name).toBe(cls.name);
      expect(cls.isInstance(new Error('plain')), cls.name).toBe(false);
      expect(cls.isInstance(null), cls.name).toBe(false);
      expect(cls.isInstance({ code }), cls.name).toBe(false);
    }
    expect(BerthError.isInstance(new Error('plain'))).toBe(false);
  });

  it('brands are registered symbols, so a second copy of core recognises the errors (no instanceof)', () => {
    // An error made by "another copy": a plain object carrying the registered brands.
    const foreign = Object.assign(new Error('other copy'), {
      [Symbol.for('berth.error')]: true,
      [Symbol.for('berth.error.HostLostError')]: true,
      code: 'HOST_LOST',
    });
    expect(HostLostError.isInstance(foreign)).toBe(true);
    expect(BerthError.isInstance(foreign)).toBe(true);
    expect(PoolClosedError.isInstance(foreign)).toBe(false);
  });

  it('a subclass declared outside core keeps its parents’ brands', () => {
    class AgentLikeError extends InternalError {}
    const error = new AgentLikeError('x');
    expect(InternalError.isInstance(error)).toBe(true);
    expect(BerthError.isInstance(error)).toBe(true);
    expect(HostLostError.isInstance(error)).toBe(false);
  });
});
