import { BerthError } from '../errors/index.js';

/**
 * `BERTH_DEBUG` namespaces. `pool`: scaling, drain, close; `host`: creations, retries and their
 * causes, losses, removals; `reaper`: what the start sweep and the interval reaper did with every
 * host of the pool id, and why (adopted, replaced, reaped, left alone); `exec`: every command's end;
 * `slot`: every slot state change.
 */
export const DEBUG_NAMESPACES = ['pool', 'host', 'reaper', 'exec', 'slot'] as const;
export type DebugNamespace = (typeof DEBUG_NAMESPACES)[number];

/** What `BERTH_DEBUG=1` turns on: the lifecycle decisions, not one line per command. */
const LIFECYCLE: readonly DebugNamespace[] = ['pool', 'host', 'reaper'];

export interface DebugSetting {
  namespaces: ReadonlySet<DebugNamespace>;
  /** Names in the setting that are no namespace (reported once, never fatal: it is a debug aid). */
  unknown: readonly string[];
}

/**
 * `BERTH_DEBUG`: unset, `0`, `false`, `off` → nothing; `1`, `true`, `on` → `pool,host,reaper`;
 * `*` or `all` → every namespace; otherwise a comma-separated list of namespaces (`reaper,host`).
 */
export function parseDebugSetting(value: string | undefined): DebugSetting {
  const text = (value ?? '').trim().toLowerCase();
  if (['', '0', 'false', 'off', 'no'].includes(text)) return { namespaces: new Set(), unknown: [] };
  if (['1', 'true', 'on', 'yes'].includes(text)) return { namespaces: new Set(LIFECYCLE), unknown: [] };
  const namespaces = new Set<DebugNamespace>();
  const unknown: string[] = [];
  for (const name of text.split(',').map((part) => part.trim())) {
    if (name === '') continue;
    if (name === '*' || name === 'all') for (const each of DEBUG_NAMESPACES) namespaces.add(each);
    else if ((DEBUG_NAMESPACES as readonly string[]).includes(name)) namespaces.add(name as DebugNamespace);
    else unknown.push(name);
  }
  return { namespaces, unknown };
}

let cached: { raw: string | undefined; setting: DebugSetting } | undefined;

/** The current `BERTH_DEBUG` setting (re-read when the variable changes, parsed once per value). */
export function debugSetting(): DebugSetting {
  const raw = process.env.BERTH_DEBUG;
  if (cached !== undefined && cached.raw === raw) return cached.setting;
  const setting = parseDebugSetting(raw);
  if (setting.unknown.length > 0) {
    process.stderr.write(
      `berth: BERTH_DEBUG names unknown namespace(s) ${setting.unknown.join(', ')}; known: ${DEBUG_NAMESPACES.join(', ')} (or 1, *).\n`,
    );
  }
  cached = { raw, setting };
  return setting;
}

export function debugEnabled(namespace: DebugNamespace): boolean {
  return debugSetting().namespaces.has(namespace);
}

/**
 * One line on stderr, `berth:<namespace> <time> [<pool id>] <message>`, when the namespace is on.
 * Callers pass decisions and identifiers only — never a host spec, an environment, a command or its
 * output — so secrets cannot reach the log.
 */
export function debugLog(namespace: DebugNamespace, poolId: string, message: string): void {
  if (!debugEnabled(namespace)) return;
  process.stderr.write(`berth:${namespace} ${new Date().toISOString()} [${poolId}] ${oneLine(message)}\n`);
}

/** `CODE: message` on one line. */
export function describeForLog(error: unknown): string {
  const code = BerthError.isInstance(error) ? `${error.code}: ` : '';
  return oneLine(`${code}${error instanceof Error ? error.message : String(error)}`);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ⏎ ');
}
