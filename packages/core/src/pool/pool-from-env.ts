import type { BackendV1 } from '../backend/v1/types.js';
import { defaultDrainMarkerStore } from '../drain/pool-drain-control.js';
import { InvalidOptionsError } from '../errors/index.js';
import { createLocalBackend } from '../local/create-local-backend.js';
import { closestName } from './closest-name.js';
import {
  assertBackendName,
  type BackendEnvModule,
  type BackendFromEnv,
  type BackendLookup,
  backendUnsetError,
  type Env,
  KNOWN_BACKENDS,
  loadBackendModule,
} from './load-env-backend.js';
import type { PoolOptions, ProfileOptions } from './pool-options.js';
import { createPool, type SlotPool } from './slot-pool.js';

export type { BackendEnvModule, BackendFromEnv, BackendLookup, BackendSource } from './load-env-backend.js';

/** The pool-wide variables core reads, and the field each sets. */
export const POOL_ENV = {
  backend: 'BERTH_BACKEND',
  poolId: 'BERTH_POOL_ID',
  persist: 'BERTH_PERSIST',
  minHosts: 'BERTH_MIN_HOSTS',
  maxHosts: 'BERTH_MAX_HOSTS',
  slotsPerHost: 'BERTH_SLOTS_PER_HOST',
  acquireTimeoutMs: 'BERTH_ACQUIRE_TIMEOUT_MS',
  execTimeoutMs: 'BERTH_EXEC_TIMEOUT_MS',
  idleTimeoutMs: 'BERTH_IDLE_TIMEOUT_MS',
  /** The Berth home directory: where drain markers (`berth drain`) are watched. Default `~/.berth`. */
  drainMarker: 'BERTH_HOME',
} as const;

/** What `BERTH_BACKEND=local` reads. */
export const LOCAL_ENV = {
  baseDirectory: 'BERTH_LOCAL_DIR',
  forwardEnv: 'BERTH_LOCAL_FORWARD_ENV',
} as const;

/**
 * Variables Berth sets *inside* hosts (lease and session markers): a program that uses Berth
 * while itself running in a slot inherits them, so they are never reported as unknown.
 */
const SET_BY_BERTH = ['BERTH_LEASE', 'BERTH_SESSION'];

/** Variables every pool reads itself, whatever created it (`BERTH_DEBUG`: docs/observability.md). */
const READ_BY_EVERY_POOL = ['BERTH_DEBUG'];

export interface EnvLookup extends BackendLookup {
  /** `BERTH_*` variables meant for other tools (scripts, CI): not reported as unknown. */
  ignoreEnv?: readonly string[];
}

/** `poolFromEnv` options: where backends come from, plus pool options that win over the environment. */
export interface PoolFromEnvOptions<Spec = unknown> extends Partial<PoolOptions<Spec>>, EnvLookup {
  /** Aborts the pool's start (sweep, pre-warm): it closes without leaving hosts, then rejects. */
  signal?: AbortSignal;
}

const LOCAL_MODULE: BackendEnvModule = {
  envVariables: Object.values(LOCAL_ENV),
  backendFromEnv(env) {
    const directory = env[LOCAL_ENV.baseDirectory]?.trim();
    const forward = env[LOCAL_ENV.forwardEnv]?.split(',').map((name) => name.trim());
    return {
      backend: createLocalBackend({ env, ...(directory ? { baseDirectory: directory } : {}) }),
      host: forward ? { forwardEnv: forward.filter((name) => name !== '') } : {},
    };
  },
};

/**
 * Pool options from `BERTH_*` variables, so switching engines needs no code change. Fails closed
 * (docs/lessons.md #13): `BERTH_BACKEND` is required, a backend that cannot be loaded is an error, never a
 * fallback to another, and an unknown `BERTH_*` variable (a typo) is an error with a did-you-mean.
 * Backend packages are found from the caller's side (`lookup.from`, the current directory) or
 * taken from `lookup.backends`; `backend` skips all of it (the caller chose in code).
 */
export async function poolOptionsFromEnv(
  env: Env = process.env,
  lookup: EnvLookup = {},
  backend?: BackendV1,
): Promise<PoolOptions> {
  let configured: BackendFromEnv | undefined;
  let module: BackendEnvModule | undefined;
  const raw = env[POOL_ENV.backend]?.trim();
  const name = raw === '' ? undefined : raw;
  if (backend === undefined) {
    if (name === undefined) {
      checkVariables(env, undefined, undefined, lookup); // a misspelt BERTH_BACKEND says so first
      throw backendUnsetError(lookup);
    }
    assertBackendName(name);
    module =
      name === 'local' && !lookup.backends?.local ? LOCAL_MODULE : await loadBackendModule(name, lookup);
  }
  checkVariables(env, name, module, lookup);
  if (module) configured = module.backendFromEnv(env);
  const integer = (key: string) => numberFrom(env, key);
  const chosen = backend ?? (configured as BackendFromEnv).backend;
  return {
    backend: chosen,
    host: configured?.host,
    poolId: env[POOL_ENV.poolId]?.trim() || undefined,
    persist: booleanFrom(env, POOL_ENV.persist),
    minHosts: integer(POOL_ENV.minHosts),
    maxHosts: integer(POOL_ENV.maxHosts),
    slotsPerHost: integer(POOL_ENV.slotsPerHost),
    acquireTimeoutMs: integer(POOL_ENV.acquireTimeoutMs),
    execTimeoutMs: integer(POOL_ENV.execTimeoutMs),
    idleTimeoutMs: integer(POOL_ENV.idleTimeoutMs),
    // Only when set: without it the pool reads BERTH_HOME from process.env itself.
    drainMarker: env[POOL_ENV.drainMarker]?.trim() ? defaultDrainMarkerStore(chosen, env) : undefined,
  };
}

/**
 * `createPool()` from `BERTH_*` variables; the pool options in `options` win over the environment.
 * With `profiles`, the environment's host spec and `BERTH_MIN_HOSTS`/`BERTH_MAX_HOSTS`/
 * `BERTH_SLOTS_PER_HOST` fill in what each profile leaves unset.
 */
export async function poolFromEnv<Spec = unknown>(
  options: PoolFromEnvOptions<Spec> = {},
  env: Env = process.env,
): Promise<SlotPool<Spec>> {
  const { backends, from, ignoreEnv, signal, ...overrides } = options;
  const fromEnv = await poolOptionsFromEnv(env, { backends, from, ignoreEnv }, overrides.backend);
  const { minHosts, maxHosts, slotsPerHost, host, ...poolWide } = fromEnv;
  const shorthand = { minHosts, maxHosts, slotsPerHost, host };
  let merged: Record<string, unknown>;
  if (overrides.profiles) {
    const profiles: Record<string, ProfileOptions> = {};
    for (const [profileName, profile] of Object.entries(overrides.profiles))
      profiles[profileName] = { ...defined(shorthand), ...defined(profile) };
    merged = { ...defined(poolWide), ...defined(overrides), profiles };
  } else {
    merged = { ...defined(fromEnv), ...defined(overrides) };
  }
  return createPool(merged as unknown as PoolOptions<Spec>, signal);
}

/** Every `BERTH_*` variable must be one someone reads: a typo must not silently change nothing. */
function checkVariables(
  env: Env,
  selected: string | undefined,
  module: BackendEnvModule | undefined,
  lookup: EnvLookup,
): void {
  const known = new Set<string>([...Object.values(POOL_ENV), ...(module?.envVariables ?? [])]);
  if (selected !== 'local') for (const variable of LOCAL_MODULE.envVariables ?? []) known.add(variable);
  const ignored = new Set([...SET_BY_BERTH, ...READ_BY_EVERY_POOL, ...(lookup.ignoreEnv ?? [])]);
  const backendNames = new Set([...KNOWN_BACKENDS, ...Object.keys(lookup.backends ?? {})]);
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('BERTH_') || value === undefined || known.has(key) || ignored.has(key)) continue;
    const prefix = key.slice('BERTH_'.length).split('_')[0]?.toLowerCase() ?? '';
    // The selected backend did not list its variables: its namespace is its own business.
    if (prefix === selected && module?.envVariables === undefined) continue;
    // Another backend's variable: a `.env` for several engines switches by BERTH_BACKEND alone.
    if (prefix !== selected && backendNames.has(prefix) && closestName(key, known) === undefined) continue;
    unknown.push(key);
  }
  if (unknown.length === 0) return;
  const described = unknown.map((key) => {
    const suggestion = closestName(key, known);
    return suggestion ? `${key} (did you mean ${suggestion}?)` : key;
  });
  throw new InvalidOptionsError(
    unknown[0] as string,
    `${described.join(', ')}: not ${unknown.length === 1 ? 'a variable' : 'variables'} Berth reads` +
      `${selected ? ` with BERTH_BACKEND=${selected}` : ''}. Known: ${[...known].sort().join(', ')}. ` +
      `Fix the name, or if it is meant for another tool pass poolFromEnv({ ignoreEnv: [${unknown.map((key) => `'${key}'`).join(', ')}] }).`,
  );
}

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, each]) => each !== undefined)) as Partial<T>;
}

export function numberFrom(env: Env, key: string): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return undefined;
  // `Infinity` for the deadlines that accept "none" (the option's own validation says which).
  if (raw.trim().toLowerCase() === 'infinity') return Number.POSITIVE_INFINITY;
  const value = Number(raw);
  if (!Number.isFinite(value))
    throw new InvalidOptionsError(key, `expected a number (or Infinity for no deadline), got '${raw}'.`);
  return value;
}

export function booleanFrom(env: Env, key: string): boolean | undefined {
  const raw = env[key]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return undefined;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new InvalidOptionsError(key, `expected true or false, got '${env[key]}'.`);
}
