import { readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  berthHome,
  CapabilityUnsupportedError,
  LABEL,
  type LabelSelectorV1,
  poolSelector,
  sanitizeLabelValue,
} from '@berth/core';
import { backendFor, drainStoreFor, type Env } from '../cli-environment.js';
import { EXIT } from '../exit-codes.js';
import type { Output } from '../output.js';
import { recordLiveness } from '../owner-liveness.js';
import { readHostClaim } from '../read-host-claim.js';
import { decideReap, reapTimings } from '../reap-plan.js';
import { renderTable } from '../table.js';

export interface ReapFlags {
  pool?: string;
  profile?: string;
  dryRun?: boolean;
  olderThanMs?: number;
  force?: boolean;
  json?: boolean;
}

export interface ReapEntry {
  id: string;
  pool: string;
  profile: string;
  state: string;
  action: 'remove' | 'keep';
  reason: string;
  /** Set once removal was attempted (never on `--dry-run`). */
  removed?: boolean;
  error?: string;
}

export async function reapCommand(
  env: Env,
  flags: ReapFlags,
  output: Output,
  signal: AbortSignal,
): Promise<number> {
  const { backend, options } = await backendFor(env);
  const entries: ReapEntry[] = [];
  let deadRecords = 0;
  try {
    if (!backend.listHosts || !backend.removeHost)
      throw new CapabilityUnsupportedError(
        backend.backendId,
        'listHosts/removeHost',
        'this backend cannot list or remove its hosts',
      );
    const selector: LabelSelectorV1 =
      flags.pool !== undefined ? poolSelector(flags.pool, flags.profile) : { [LABEL.managed]: '1' };
    const profileLabel = flags.profile === undefined ? undefined : sanitizeLabelValue(flags.profile);
    const descriptors = (await backend.listHosts(selector, { signal })).filter(
      (host) => profileLabel === undefined || host.labels[LABEL.profile] === profileLabel,
    );
    const { store } = await drainStoreFor(env, backend);
    const holders = new Map<string, string>();
    const pools = new Set(descriptors.map((host) => host.labels[LABEL.pool] ?? ''));
    if (flags.pool !== undefined) pools.add(flags.pool);
    // Pools whose hosts are all gone still leave the records of SIGKILLed processes behind.
    else for (const pool of await recordedPoolIds(env)) pools.add(pool);
    for (const pool of pools) {
      if (!pool) continue;
      for (const record of await store.listProcesses(pool, { signal }).catch(() => [])) {
        const liveness = recordLiveness(record);
        // A killed process never forgot its record: a provably dead one is reaped too.
        if (liveness === 'dead') {
          if (!flags.dryRun) await store.forgetProcess(pool, record.owner, { signal }).catch(() => undefined);
          deadRecords += 1;
        }
        if (liveness === 'dead' || liveness === 'stale') continue;
        for (const host of record.hosts) holders.set(host.id, record.owner);
      }
    }
    const rules = {
      ...reapTimings(options),
      now: Date.now(),
      force: flags.force === true,
      olderThanMs: flags.olderThanMs,
    };
    for (const descriptor of descriptors) {
      const holder = holders.get(descriptor.id);
      const claim = holder
        ? { readable: false as const, why: 'held' }
        : await readHostClaim(backend, descriptor, signal);
      const verdict = decideReap(descriptor, claim, holder, { ...rules, now: Date.now() });
      const entry: ReapEntry = {
        id: descriptor.id,
        pool: descriptor.labels[LABEL.pool] ?? '',
        profile: descriptor.labels[LABEL.profile] ?? '',
        state: descriptor.state,
        ...verdict,
      };
      if (verdict.action === 'remove' && !flags.dryRun) {
        try {
          await backend.removeHost(descriptor, { signal });
          entry.removed = true;
        } catch (error) {
          entry.removed = false;
          entry.error = error instanceof Error ? error.message : String(error);
        }
      }
      entries.push(entry);
    }
  } finally {
    await backend.dispose?.().catch(() => undefined);
  }
  const failed = entries.filter((entry) => entry.removed === false);
  if (flags.json)
    output.json({ dryRun: flags.dryRun === true, hosts: entries, deadProcessRecords: deadRecords });
  else if (entries.length === 0) output.line('No managed hosts matched: nothing to reap.');
  else {
    const verb = (entry: ReapEntry) =>
      entry.action === 'keep'
        ? 'keep'
        : flags.dryRun
          ? 'would remove'
          : entry.removed
            ? 'removed'
            : `FAILED: ${entry.error ?? ''}`;
    output.line(
      renderTable(
        ['HOST', 'POOL', 'PROFILE', 'STATE', 'ACTION', 'WHY'],
        entries.map((entry) => [entry.id, entry.pool, entry.profile, entry.state, verb(entry), entry.reason]),
        output.isTTY,
      ),
    );
    const removing = entries.filter((entry) => entry.action === 'remove').length;
    output.line(
      flags.dryRun
        ? `${removing} of ${entries.length} hosts would be removed (dry run: nothing changed).`
        : `${removing - failed.length} of ${entries.length} hosts removed${failed.length ? `, ${failed.length} failed` : ''}.`,
    );
  }
  if (!flags.json && deadRecords > 0)
    output.line(
      `${deadRecords} record${deadRecords === 1 ? '' : 's'} of dead pool processes ${flags.dryRun ? 'would be' : 'were'} removed.`,
    );
  return failed.length > 0 ? EXIT.partial : EXIT.ok;
}

/** The pool ids with a directory under `$BERTH_HOME/pools` (none when it does not exist). */
async function recordedPoolIds(env: Env): Promise<string[]> {
  const entries = await readdir(path.join(berthHome(env), 'pools'), { withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
}
