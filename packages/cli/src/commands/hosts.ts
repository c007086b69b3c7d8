import {
  CapabilityUnsupportedError,
  LABEL,
  type LabelSelectorV1,
  poolSelector,
  sanitizeLabelValue,
} from '@berth/core';
import { backendFor, drainStoreFor, type Env } from '../cli-environment.js';
import { formatDuration } from '../duration.js';
import { buildHostRows, type HostRow, summarizeSlots } from '../host-rows.js';
import type { Output } from '../output.js';
import { renderTable } from '../table.js';

export interface HostsFlags {
  pool?: string;
  profile?: string;
  json?: boolean;
}

/** Every managed host of the backend (scoped by labels), with what the pools' records say. */
export async function listHostRows(env: Env, flags: HostsFlags, signal: AbortSignal): Promise<HostRow[]> {
  const { backend } = await backendFor(env);
  try {
    if (!backend.listHosts)
      throw new CapabilityUnsupportedError(
        backend.backendId,
        'listHosts',
        'this backend cannot list its hosts',
      );
    const selector: LabelSelectorV1 =
      flags.pool !== undefined ? poolSelector(flags.pool, flags.profile) : { [LABEL.managed]: '1' };
    const profileLabel = flags.profile === undefined ? undefined : sanitizeLabelValue(flags.profile);
    // Without --pool the selector cannot name the profile alone (a pool's selector needs its id).
    const descriptors = (await backend.listHosts(selector, { signal })).filter(
      (host) => profileLabel === undefined || host.labels[LABEL.profile] === profileLabel,
    );
    const { store } = await drainStoreFor(env, backend);
    const pools = [...new Set(descriptors.map((host) => host.labels[LABEL.pool] ?? ''))].filter(Boolean);
    const records = (
      await Promise.all(pools.map((pool) => store.listProcesses(pool, { signal }).catch(() => [])))
    ).flat();
    return buildHostRows(backend.backendId, descriptors, records);
  } finally {
    await backend.dispose?.().catch(() => undefined);
  }
}

export async function hostsCommand(
  env: Env,
  flags: HostsFlags,
  output: Output,
  signal: AbortSignal,
): Promise<number> {
  const rows = await listHostRows(env, flags, signal);
  if (flags.json) {
    output.json({ hosts: rows });
    return 0;
  }
  if (rows.length === 0) {
    output.line(
      `No managed hosts${flags.pool ? ` of pool ${flags.pool}` : ''}${flags.profile ? ` (profile ${flags.profile})` : ''}.`,
    );
    return 0;
  }
  output.line(
    renderTable(
      ['HOST', 'POOL', 'PROFILE', 'STATE', 'OWNER', 'OWNER DEAD?', 'AGE', 'SPEC', 'SLOTS'],
      rows.map((row) => [
        row.id,
        row.pool,
        row.profile,
        row.state,
        `${row.owner}${row.ownerSource === 'holder' ? ' (holds)' : ' (created)'}`,
        row.ownerState === 'dead' ? 'yes' : row.ownerState === 'alive' ? 'no' : 'unknown',
        formatDuration(row.ageMs),
        row.specHash,
        summarizeSlots(row.slots),
      ]),
      output.isTTY,
    ),
  );
  return 0;
}
