export {
  CONFORMANCE_FEATURES,
  type ConformanceFeature,
  type ConformanceOptions,
} from './conformance-options.js';
export { runBackendConformance } from './run-backend-conformance.js';
