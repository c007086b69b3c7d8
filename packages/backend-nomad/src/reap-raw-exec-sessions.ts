import type { NomadClient } from './client/nomad-client.js';
import { runOneShot } from './run-one-shot.js';

/**
 * raw_exec has no isolation: a process started from an exec session (`cmd &`, `setsid …`) is not
 * part of the task, so stopping the job leaves it running on the node. Berth starts every raw_exec
 * session under `env BERTH_SESSION=1`, and before a raw_exec host is stopped this script kills
 * every process that carries both that marker and the allocation's NOMAD_ALLOC_ID (inherited by
 * all descendants). The keep-alive task lacks the marker, so Nomad still stops it cleanly.
 * The alloc id comes from the script's own environment: nothing is interpolated into it.
 */
export const SESSION_MARKER = 'BERTH_SESSION=1';

const REAPER_SCRIPT = [
  'pids=',
  'for d in /proc/[0-9]*; do',
  '  [ -r "$d/environ" ] || continue',
  '  n=$(tr "\\0" "\\n" < "$d/environ" 2>/dev/null | grep -cx -e "BERTH_SESSION=1" -e "NOMAD_ALLOC_ID=$NOMAD_ALLOC_ID")',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
  '  [ "$n" = 2 ] && pids="$pids ${d#/proc/}"',
  'done',
  '[ -z "$pids" ] || kill -KILL $pids 2>/dev/null',
  'exit 0',
].join('\n');

/** The argv that starts a marked session (raw_exec only; other drivers isolate their processes). */
export function markedCommand(argv: readonly string[], env: Readonly<Record<string, string>> = {}): string[] {
  return ['env', SESSION_MARKER, ...Object.entries(env).map(([key, value]) => `${key}=${value}`), ...argv];
}

/** Best effort, bounded: a node that cannot run the reaper still gets its job stopped. */
export async function reapRawExecSessions(
  client: NomadClient,
  allocationId: string,
  task: string,
): Promise<void> {
  await runOneShot(client, allocationId, task, ['sh', '-c', REAPER_SCRIPT], {
    signal: AbortSignal.timeout(15_000),
  }).catch(() => undefined);
}
