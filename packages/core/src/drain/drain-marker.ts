import os from 'node:os';
import path from 'node:path';
import type { DrainMarkerReadingV1, DrainMarkerV1 } from '../backend/v1/drain-marker-store.js';
import { InvalidOptionsError } from '../errors/index.js';

/** The variable naming the Berth home directory (drain markers, process records). */
export const BERTH_HOME_ENV = 'BERTH_HOME';

/** `BERTH_HOME`, default `~/.berth`. */
export function berthHome(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const configured = env[BERTH_HOME_ENV]?.trim();
  return path.resolve(configured ? configured : path.join(os.homedir(), '.berth'));
}

/** Who is asking, for the marker's `principal`: `user@machine`. */
export function currentPrincipal(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry for this uid (containers): keep `unknown`.
  }
  return `${user}@${os.hostname()}`;
}

/** A marker for `berth drain`. */
export function newDrainMarker(mode: 'wait' | 'fail', principal = currentPrincipal()): DrainMarkerV1 {
  if (mode !== 'wait' && mode !== 'fail')
    throw new InvalidOptionsError('mode', `expected 'wait' or 'fail', got '${String(mode)}'.`);
  return { action: 'drain', mode, requestedAt: new Date().toISOString(), principal };
}

/** Text of a marker file or variable → a reading. Anything not a whole valid marker is `corrupt`. */
export function parseDrainMarker(text: string): DrainMarkerReadingV1 {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { state: 'corrupt', reason: 'the marker is not valid JSON' };
  }
  const marker = value as Partial<Record<keyof DrainMarkerV1, unknown>> | null;
  if (marker === null || typeof marker !== 'object')
    return { state: 'corrupt', reason: 'the marker is not a JSON object' };
  if (marker.action !== 'drain')
    return { state: 'corrupt', reason: `unknown action ${JSON.stringify(marker.action)}` };
  if (marker.mode !== 'wait' && marker.mode !== 'fail')
    return { state: 'corrupt', reason: `unknown mode ${JSON.stringify(marker.mode)}` };
  if (typeof marker.requestedAt !== 'string' || typeof marker.principal !== 'string')
    return { state: 'corrupt', reason: 'requestedAt and principal must be strings' };
  return {
    state: 'present',
    marker: {
      action: 'drain',
      mode: marker.mode,
      requestedAt: marker.requestedAt,
      principal: marker.principal,
    },
  };
}

/** Pool ids become file and variable names: the same characters labels allow. */
export function assertPoolIdForMarker(poolId: string): void {
  if (!/^[A-Za-z0-9_.-]{1,63}$/.test(poolId) || poolId === '.' || poolId === '..') {
    throw new InvalidOptionsError(
      'poolId',
      `'${poolId}' is not a pool id: use 1–63 letters, digits, '_', '.' or '-'.`,
    );
  }
}
