export { BerthError, type BerthErrorCode, type BerthErrorOptions } from './berth-error.js';
export {
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
  throwIfAborted,
} from './errors.js';
