import type { SlotPool } from '../pool/slot-pool.js';
import { debugSetting } from './debug-log.js';
import { attachDebugLog } from './debug-subscriber.js';
import { attachTelemetry } from './open-telemetry.js';

/** Subscribes the debug log (`BERTH_DEBUG`) and OpenTelemetry (`telemetry`) to a pool about to start. */
export async function observePool(pool: SlotPool): Promise<void> {
  if (debugSetting().namespaces.size > 0) attachDebugLog(pool);
  await attachTelemetry(pool);
}
