export { backendFromEnv, envVariables, NOMAD_ENV } from './backend-from-env.js';
export {
  BACKEND_LABEL,
  buildNomadJob,
  JOB_ID_PREFIX,
  makeJobId,
  TASK_GROUP_NAME,
  TASK_NAME,
} from './build-nomad-job.js';
export {
  decodeExecOutputFrame,
  EXEC_HEARTBEAT_FRAME,
  ExecFrameError,
  type ExecOutputFrame,
  encodeStdinClose,
  encodeStdinFrames,
  encodeTtySize,
} from './client/exec-frame-codec.js';
export { type CallOptions, type ListOptions, NomadClient, type ReadOptions } from './client/nomad-client.js';
export { type NomadExecExit, type NomadExecOptions, NomadExecSession } from './client/nomad-exec-session.js';
export type { NomadQueryResult } from './client/nomad-http-transport.js';
export type {
  NomadAllocation,
  NomadAllocationListStub,
  NomadAllocationMetric,
  NomadClientStatus,
  NomadConstraint,
  NomadDesiredStatus,
  NomadEvaluation,
  NomadJob,
  NomadJobDeregisterResponse,
  NomadJobListStub,
  NomadJobRegisterResponse,
  NomadJobSummary,
  NomadNodeListStub,
  NomadReschedulePolicy,
  NomadResources,
  NomadRestartPolicy,
  NomadTask,
  NomadTaskEvent,
  NomadTaskGroup,
  NomadTaskState,
  NomadVariable,
} from './client/nomad-types.js';
export {
  DEFAULT_NOMAD_ADDRESS,
  type NomadClientOptions,
  type NomadTlsOptions,
  parseGoBool,
  type ResolvedNomadClientConfig,
  type ResolvedNomadTls,
  resolveNomadClientConfig,
} from './client/resolve-nomad-client-config.js';
export {
  type BlockingQuery,
  type BlockingQueryOptions,
  nextIndex,
  type WatchOptions,
  watchBlockingQuery,
} from './client/watch-blocking-query.js';
export {
  createNomadBackend,
  jobState,
  metaFilter,
  NOMAD_CAPABILITIES,
  type NomadBackend,
  type NomadBackendOptions,
} from './create-nomad-backend.js';
export {
  classifyNomadFailure,
  mapExecCloseError,
  mapNomadError,
  type NomadErrorContext,
  NomadHttpError,
  NomadRequestTimeoutError,
} from './map-nomad-error.js';
export { NOMAD_DRAIN_PREFIX, NomadDrainMarkerStore, variableSegment } from './nomad-drain-marker-store.js';
export { allocationLossReason, NomadHost, type NomadHostInit } from './nomad-host.js';
export {
  type NomadConstraintInput,
  type NomadDockerHardeningInput,
  type NomadDriver,
  type NomadHostSpec,
  type NomadHostSpecInput,
  type NomadRescheduleInput,
  type NomadResolvedConstraint,
  type NomadRestartInput,
  resolveNomadHostSpec,
} from './nomad-host-spec.js';
