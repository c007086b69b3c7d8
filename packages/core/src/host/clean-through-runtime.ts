import type { HostV1, SlotCleanRequestV1 } from '../backend/v1/types.js';
import { BerthError } from '../errors/index.js';

export interface RuntimeCleanHost {
  readonly backendHost: HostV1;
  readonly commandRuntime: 'unknown' | 'direct' | 'shell';
}

/**
 * Sweeps (and resets) through the host's in-host runtime in one request, no process started: the
 * warnings, or `undefined` when the caller must use a control shell (no runtime, commands run in a
 * slot shell whose process group the runtime does not know, or it cannot do it here).
 */
export async function cleanThroughRuntime(
  host: RuntimeCleanHost,
  request: SlotCleanRequestV1,
  slotShellsOpen: boolean,
  signal: AbortSignal,
): Promise<readonly string[] | undefined> {
  const { backendHost } = host;
  if (!backendHost.cleanSlot || host.commandRuntime === 'shell' || slotShellsOpen) return undefined;
  try {
    return (await backendHost.cleanSlot(request, { signal })).warnings;
  } catch (error) {
    if (BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED')) return undefined;
    throw error;
  }
}
