export { countProcessesScript } from './conformance-context.js';
export {
  CONFORMANCE_FEATURES,
  type ConformanceFeature,
  type ConformanceOptions,
  SHELL_PROTOCOL_LIMITS,
} from './conformance-options.js';
export { runBackendConformance } from './run-backend-conformance.js';
