export {
  type FrameHeaderParser,
  type FramePiece,
  LengthPrefixedFrames,
  RAW_FRAME_KIND,
} from './backend/length-prefixed-frames.js';
export {
  assertBackendV1,
  BACKEND_SPECIFICATION_V1,
  type BackendCapabilitiesV1,
  type BackendV1,
  type ChannelCloseInfoV1,
  type CommandChannelV1,
  type CommandRequestV1,
  type CreateHostRequestV1,
  channelStdin,
  type DestroyOptionsV1,
  type DrainMarkerReadingV1,
  type DrainMarkerStoreV1,
  type DrainMarkerV1,
  type DrainProcessRecordV1,
  type HostChannelV1,
  type HostDescriptorV1,
  type HostHealthV1,
  type HostProgressV1,
  type HostStateV1,
  type HostV1,
  type LabelSelectorV1,
  type OneShotResultV1,
  type OneShotRunOptionsV1,
  type SlotCleanRequestV1,
  type SlotCleanResultV1,
  type SlotUserV1,
  type WaitOptions,
} from './backend/v1/index.js';
export {
  CombinedDrainMarkerStore,
  combineReadings,
} from './drain/combined-drain-marker-store.js';
export {
  BERTH_HOME_ENV,
  berthHome,
  currentPrincipal,
  newDrainMarker,
  parseDrainMarker,
} from './drain/drain-marker.js';
export { decideMarkerDrain, type MarkerDrain } from './drain/drain-marker-watcher.js';
export type { DrainMode, DrainSource } from './drain/drain-requests.js';
export { FileDrainMarkerStore } from './drain/file-drain-marker-store.js';
export { MemoryDrainMarkerStore } from './drain/memory-drain-marker-store.js';
export { defaultDrainMarkerStore } from './drain/pool-drain-control.js';
export {
  AbortedError,
  AcquireTimeoutError,
  AuthenticationError,
  BackendUnavailableError,
  BerthError,
  type BerthErrorCode,
  type BerthErrorOptions,
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
} from './errors/index.js';
export { type HostClaim, parseClaim } from './host/host-lease.js';
export {
  BERTH_VERSION,
  buildHostLabels,
  hashSpec,
  LABEL,
  poolSelector,
  sanitizeLabelValue,
} from './host/labels.js';
export { CURRENT_OWNER, isOwnerProvablyDead, MACHINE_IDENTITY } from './host/owner-identity.js';
export {
  containerUserIsolationGap,
  SLOT_UID_BASE,
  type SlotIsolation,
  slotUser,
  USER_ISOLATION_CAPABILITIES,
} from './host/slot-users.js';
export { createLocalBackend, type LocalBackendOptions } from './local/create-local-backend.js';
export { LOCAL_BASE_ENV, type LocalHostSpec, type ResolvedLocalHostSpec } from './local/local-host-spec.js';
export { DEBUG_NAMESPACES, type DebugNamespace } from './observability/debug-log.js';
export type { PoolTelemetryOption, PoolTelemetryProviders } from './observability/telemetry-option.js';
export { parseWithPath } from './options/parse-with-path.js';
export type { BatchItem, BatchOptions, BatchOutcome } from './pool/exec-batch.js';
export type { ExecEndEvent, HostErrorEvent, PoolEvents, PoolListeners } from './pool/pool-events.js';
export {
  type BackendEnvModule,
  type BackendFromEnv,
  type BackendLookup,
  type BackendSource,
  booleanFrom,
  type EnvLookup,
  LOCAL_ENV,
  numberFrom,
  POOL_ENV,
  type PoolFromEnvOptions,
  poolFromEnv,
  poolOptionsFromEnv,
} from './pool/pool-from-env.js';
export type { PoolHost, PoolHostSlot } from './pool/pool-hosts.js';
export type { PoolOptions, ProfileOptions, ResolvedPoolOptions } from './pool/pool-options.js';
export { resolvePoolOptions } from './pool/pool-options.js';
export type { PoolStats, ProfileStats } from './pool/pool-stats.js';
export {
  decideRunningHost,
  type ReapTimings,
  type RunningHostFacts,
  type RunningHostVerdict,
} from './pool/reap-decision.js';
export {
  type AcquireOptions,
  type CloseOptions,
  createPool,
  type DrainOptions,
  SlotPool,
} from './pool/slot-pool.js';
export { shellQuote } from './shell/shell-script.js';
export { canTransition, SLOT_STATES, SLOT_TRANSITIONS, type SlotState } from './slot/slot-states.js';
export type {
  ExecChunk,
  ExecOptions,
  ExecResult,
  ExecStream,
  FileOptions,
  ReleaseOptions,
  Slot,
  WriteFileOptions,
} from './slot/slot-types.js';
export { raceAbort } from './waits/race-abort.js';
