export { countProcessesScript } from './conformance-context.js';
export {
  CONFORMANCE_FEATURES,
  type ConformanceFeature,
  type ConformanceOptions,
  SHELL_PROTOCOL_LIMITS,
} from './conformance-options.js';
export {
  createFaultBackend,
  type FaultBackend,
  type FaultBackendOptions,
} from './fault-backend/create-fault-backend.js';
export { FaultController, type FaultMatch, type HostFaultState } from './fault-backend/fault-controller.js';
export { type FaultCall, type FaultOperation, type FaultPhase, Gate } from './fault-backend/gate.js';
export { runBackendConformance } from './run-backend-conformance.js';
