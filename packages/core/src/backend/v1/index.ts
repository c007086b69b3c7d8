export { assertBackendV1 } from './assert-backend.js';
export { channelStdin } from './channel-stdin.js';
export type {
  DrainMarkerReadingV1,
  DrainMarkerStoreV1,
  DrainMarkerV1,
  DrainProcessRecordV1,
} from './drain-marker-store.js';
export {
  BACKEND_SPECIFICATION_V1,
  type BackendCapabilitiesV1,
  type BackendV1,
  type ChannelCloseInfoV1,
  type CommandChannelV1,
  type CommandRequestV1,
  type CreateHostRequestV1,
  type DestroyOptionsV1,
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
  type UserIsolationProfileV1,
  type WaitOptions,
} from './types.js';
