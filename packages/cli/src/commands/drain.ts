import {
  type DrainMarkerReadingV1,
  type DrainMarkerStoreV1,
  type DrainProcessRecordV1,
  newDrainMarker,
} from '@berth/core';
import { drainStoreFor, type Env } from '../cli-environment.js';
import { formatDuration } from '../duration.js';
import { CliError, EXIT } from '../exit-codes.js';
import type { Output } from '../output.js';
import { recordLiveness } from '../owner-liveness.js';
import { renderTable } from '../table.js';

export interface DrainFlags {
  pool: string;
  mode?: 'wait' | 'fail';
  wait?: boolean;
  waitTimeoutMs?: number;
  json?: boolean;
}

const POLL_MS = 100;

async function withStore(env: Env, work: (store: DrainMarkerStoreV1) => Promise<number>): Promise<number> {
  const { store, close } = await drainStoreFor(env);
  try {
    return await work(store);
  } finally {
    await close();
  }
}

function liveRecords(records: readonly DrainProcessRecordV1[]): DrainProcessRecordV1[] {
  return records.filter((record) => {
    const liveness = recordLiveness(record);
    return liveness !== 'dead' && liveness !== 'stale';
  });
}

/** Polls the process records until `done` holds for every live process, or the deadline passes. */
async function waitForProcesses(
  store: DrainMarkerStoreV1,
  poolId: string,
  done: (record: DrainProcessRecordV1) => boolean,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ ok: boolean; records: DrainProcessRecordV1[]; elapsedMs: number }> {
  const started = performance.now();
  for (;;) {
    const records = liveRecords(await store.listProcesses(poolId, { signal }));
    const elapsedMs = performance.now() - started;
    if (records.every(done)) return { ok: true, records, elapsedMs };
    if (elapsedMs > timeoutMs || signal.aborted) return { ok: false, records, elapsedMs };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export function drainCommand(
  env: Env,
  flags: DrainFlags,
  output: Output,
  signal: AbortSignal,
): Promise<number> {
  return withStore(env, (store) => drainCommandWith(store, flags, output, signal));
}

async function drainCommandWith(
  store: DrainMarkerStoreV1,
  flags: DrainFlags,
  output: Output,
  signal: AbortSignal,
): Promise<number> {
  const mode = flags.mode ?? 'wait';
  if (mode !== 'wait' && mode !== 'fail')
    throw new CliError(`--mode must be wait or fail, got '${String(mode)}'.`, 'INVALID_OPTIONS', EXIT.usage);
  const marker = newDrainMarker(mode);
  await store.write(flags.pool, marker, { signal });
  if (!flags.wait) {
    if (flags.json) output.json({ pool: flags.pool, marker, store: store.description });
    else
      output.line(
        `Drain requested for pool ${flags.pool} (mode ${mode}) in ${store.description}; running processes apply it within about a second. Check with: berth status --pool ${flags.pool}`,
      );
    return EXIT.ok;
  }
  const waited = await waitForProcesses(
    store,
    flags.pool,
    (record) => record.markerSeen === marker.requestedAt && record.draining !== undefined,
    flags.waitTimeoutMs ?? 10_000,
    signal,
  );
  if (flags.json)
    output.json({
      pool: flags.pool,
      marker,
      store: store.description,
      seenByAll: waited.ok,
      elapsedMs: Math.round(waited.elapsedMs),
      processes: waited.records,
    });
  else {
    const seen = waited.records.filter((record) => record.markerSeen === marker.requestedAt).length;
    output.line(
      `Drain requested for pool ${flags.pool} (mode ${mode}); ${seen} of ${waited.records.length} live processes drained after ${Math.round(waited.elapsedMs)} ms.`,
    );
  }
  return waited.ok ? EXIT.ok : EXIT.waitTimedOut;
}

export function resumeCommand(
  env: Env,
  flags: DrainFlags,
  output: Output,
  signal: AbortSignal,
): Promise<number> {
  return withStore(env, (store) => resumeCommandWith(store, flags, output, signal));
}

async function resumeCommandWith(
  store: DrainMarkerStoreV1,
  flags: DrainFlags,
  output: Output,
  signal: AbortSignal,
): Promise<number> {
  const removed = await store.remove(flags.pool, { signal });
  const message = removed
    ? `Drain marker of pool ${flags.pool} removed; running processes resume within about a second (unless drained in-process).`
    : `Pool ${flags.pool} had no drain marker: nothing to resume.`;
  if (!flags.wait) {
    if (flags.json) output.json({ pool: flags.pool, removed });
    else output.line(message);
    return EXIT.ok;
  }
  const waited = await waitForProcesses(
    store,
    flags.pool,
    (record) => record.markerSeen === undefined,
    flags.waitTimeoutMs ?? 10_000,
    signal,
  );
  if (flags.json)
    output.json({
      pool: flags.pool,
      removed,
      resumedByAll: waited.ok,
      elapsedMs: Math.round(waited.elapsedMs),
      processes: waited.records,
    });
  else
    output.line(
      `${message} ${waited.records.filter((record) => record.markerSeen === undefined).length} of ${waited.records.length} live processes no longer see it after ${Math.round(waited.elapsedMs)} ms.`,
    );
  return waited.ok ? EXIT.ok : EXIT.waitTimedOut;
}

function describeMarker(reading: DrainMarkerReadingV1): string {
  switch (reading.state) {
    case 'absent':
      return 'none (the pool serves acquires)';
    case 'present':
      return `drain, mode ${reading.marker.mode}, by ${reading.marker.principal} at ${reading.marker.requestedAt}`;
    case 'corrupt':
      return `present but unreadable (${reading.reason}): processes treat it as a drain; berth resume removes it`;
    case 'unknown':
      return `could not be read (${reading.reason}): processes keep what they last saw`;
  }
}

export function statusCommand(
  env: Env,
  flags: DrainFlags,
  output: Output,
  signal: AbortSignal,
): Promise<number> {
  return withStore(env, (store) => statusCommandWith(store, flags, output, signal));
}

async function statusCommandWith(
  store: DrainMarkerStoreV1,
  flags: DrainFlags,
  output: Output,
  signal: AbortSignal,
): Promise<number> {
  const [reading, records] = await Promise.all([
    store.read(flags.pool, { signal }),
    store.listProcesses(flags.pool, { signal }),
  ]);
  const now = Date.now();
  const expected =
    reading.state === 'present'
      ? reading.marker.requestedAt
      : reading.state === 'corrupt'
        ? 'corrupt'
        : undefined;
  const processes = records.map((record) => ({
    ...record,
    liveness: recordLiveness(record, now),
    seenCurrentMarker: expected !== undefined && record.markerSeen === expected,
  }));
  if (flags.json) {
    output.json({ pool: flags.pool, store: store.description, marker: reading, processes });
    return EXIT.ok;
  }
  output.line(`Pool ${flags.pool} — drain marker: ${describeMarker(reading)}`);
  output.line(`Store: ${store.description}`);
  if (processes.length === 0) {
    output.line('No running processes of this pool have reported (they do once they start, every 5 s).');
    return EXIT.ok;
  }
  output.line(
    renderTable(
      ['PROCESS', 'PID', 'MACHINE', 'BACKEND', 'LIVE', 'DRAINING', 'SEEN MARKER', 'LEASED', 'UPDATED'],
      processes.map((record) => [
        record.owner,
        String(record.pid),
        record.hostname,
        record.backendId,
        record.liveness === 'unknown'
          ? 'yes (remote)'
          : record.liveness === 'alive'
            ? 'yes'
            : record.liveness,
        record.draining ? `${record.draining} (${record.drainedBy.join('+')})` : 'no',
        expected === undefined
          ? record.markerSeen
            ? 'still applied'
            : '-'
          : record.seenCurrentMarker
            ? 'yes'
            : 'NOT YET',
        String(record.leasedSlots),
        `${formatDuration(now - Date.parse(record.updatedAt))} ago`,
      ]),
      output.isTTY,
    ),
  );
  return EXIT.ok;
}
