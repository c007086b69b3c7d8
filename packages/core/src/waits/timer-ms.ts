/**
 * Node's timers hold a signed 32-bit delay: anything larger (Infinity included) fires after 1 ms
 * with a TimeoutOverflowWarning. Every `*Ms` option that arms a timer goes through these, so a
 * deadline of `Infinity` (or ≥ 2^31 ms, about 24.8 days) means "no deadline" instead of "now".
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** True when `ms` is too long for a Node timer: treat it as no deadline at all. */
export function isForever(ms: number): boolean {
  return !(ms < MAX_TIMER_MS);
}

/** `setTimeout` that never fires for a deadline too long for a timer (see `isForever`). */
export function setDeadline(ms: number, fire: () => void): NodeJS.Timeout | undefined {
  return isForever(ms) ? undefined : setTimeout(fire, ms);
}

/** The delay a timer can actually hold: `ms`, clamped to MAX_TIMER_MS (for intervals and signals). */
export function timerMs(ms: number): number {
  return Math.min(ms, MAX_TIMER_MS);
}

/** `AbortSignal.timeout` that never aborts for a deadline too long for a timer. */
export function timeoutSignal(ms: number): AbortSignal {
  return isForever(ms) ? new AbortController().signal : AbortSignal.timeout(ms);
}
