import type { NomadAllocationMetric, NomadTaskEvent, NomadTaskState } from './client/nomad-types.js';

/**
 * Nomad's own words for why a task group could not be placed, phrased like `nomad job status`:
 * `Constraint "${attr.kernel.name} = plan9": 1 nodes excluded by filter`.
 */
export function describePlacementFailure(metric: NomadAllocationMetric): string[] {
  const lines: string[] = [];
  if (metric.NodesEvaluated === 0) lines.push('No nodes were eligible for evaluation');
  for (const [datacenter, available] of Object.entries(metric.NodesAvailable ?? {})) {
    if (available === 0) lines.push(`No nodes are available in datacenter "${datacenter}"`);
  }
  for (const [nodeClass, count] of Object.entries(metric.ClassFiltered ?? {})) {
    lines.push(`Class "${nodeClass}": ${count} nodes excluded by filter`);
  }
  for (const [constraint, count] of Object.entries(metric.ConstraintFiltered ?? {})) {
    lines.push(`Constraint "${constraint}": ${count} nodes excluded by filter`);
  }
  if (metric.NodesExhausted > 0) lines.push(`Resources exhausted on ${metric.NodesExhausted} nodes`);
  for (const [nodeClass, count] of Object.entries(metric.ClassExhausted ?? {})) {
    lines.push(`Class "${nodeClass}" exhausted on ${count} nodes`);
  }
  for (const [dimension, count] of Object.entries(metric.DimensionExhausted ?? {})) {
    lines.push(`Dimension "${dimension}" exhausted on ${count} nodes`);
  }
  for (const quota of metric.QuotaExhausted ?? []) lines.push(`Quota limit hit "${quota}"`);
  if (lines.length === 0) lines.push(`${metric.NodesFiltered} of ${metric.NodesEvaluated} nodes filtered`);
  return lines;
}

/** True when the failure is about resources in use (may clear later), not about eligibility. */
export function isExhaustion(metric: NomadAllocationMetric): boolean {
  return (
    metric.NodesExhausted > 0 ||
    Object.keys(metric.DimensionExhausted ?? {}).length > 0 ||
    (metric.QuotaExhausted?.length ?? 0) > 0
  );
}

/** Task event types that mean the task could not start (or was killed for good). */
const FAILURE_EVENTS = new Set([
  'Driver Failure',
  'Setup Failure',
  'Failed Validation',
  'Failed Artifact Download',
  'Not Restarting',
  'Sibling Task Failed',
]);

/** The event that explains a failed start, if any (the first failing one: later ones are echoes). */
export function findFailureEvent(state: NomadTaskState | undefined): NomadTaskEvent | undefined {
  const events = state?.Events ?? [];
  return events.find((event) => event.FailsTask || FAILURE_EVENTS.has(event.Type));
}

/** One line per task event, oldest first: `Driver Failure: Failed to pull image …`. */
export function describeTaskEvent(event: NomadTaskEvent): string {
  const detail =
    event.DriverError ||
    event.SetupError ||
    event.ValidationError ||
    event.DownloadError ||
    event.KillError ||
    event.DisplayMessage ||
    event.Message ||
    (event.Type === 'Terminated'
      ? `exit code ${event.ExitCode ?? '?'}${event.Signal ? `, signal ${event.Signal}` : ''}`
      : '');
  return detail ? `${event.Type}: ${detail}` : event.Type;
}

/** The last few task events, for messages about a task that died or never started. */
export function describeRecentEvents(state: NomadTaskState | undefined, count = 4): string {
  const events = state?.Events ?? [];
  return events.slice(-count).map(describeTaskEvent).join('; ');
}
