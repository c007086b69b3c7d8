import type { BackendV1 } from '../backend/v1/types.js';
import { BackendUnavailableError, InvalidOptionsError } from '../errors/index.js';
import { createLocalBackend } from '../local/create-local-backend.js';
import type { PoolOptions } from './pool-options.js';
import { createPool, type SlotPool } from './slot-pool.js';

/** What a backend package exports so `BERTH_BACKEND=<name>` can configure it from the environment. */
export interface BackendFromEnv {
  backend: BackendV1;
  /** The profile host spec read from `BERTH_<NAME>_*` variables. */
  host: unknown;
}

type Env = Readonly<Record<string, string | undefined>>;

const NAME = /^[a-z][a-z0-9-]*$/;

/**
 * Pool options from `BERTH_*` variables, so switching engines needs no code change:
 * `BERTH_BACKEND` (default `local`), `BERTH_POOL_ID`, `BERTH_PERSIST`, `BERTH_MIN_HOSTS`,
 * `BERTH_MAX_HOSTS`, `BERTH_SLOTS_PER_HOST`, `BERTH_ACQUIRE_TIMEOUT_MS`, `BERTH_EXEC_TIMEOUT_MS`,
 * `BERTH_IDLE_TIMEOUT_MS`, plus the backend's own `BERTH_<NAME>_*` (e.g. `BERTH_DOCKER_IMAGE`).
 * A backend that cannot be loaded is an error, never a silent fallback to another (LESSONS #13).
 */
export async function poolOptionsFromEnv(env: Env = process.env): Promise<PoolOptions> {
  const name = (env.BERTH_BACKEND ?? 'local').trim();
  if (!NAME.test(name)) {
    throw new InvalidOptionsError(
      'BERTH_BACKEND',
      `'${name}' is not a backend name; use e.g. local, docker or nomad.`,
    );
  }
  let configured: BackendFromEnv;
  if (name === 'local') {
    configured = { backend: createLocalBackend(), host: {} };
  } else {
    const specifier = `@berth/backend-${name}`;
    let module: { backendFromEnv?: (env: Env) => BackendFromEnv };
    try {
      module = (await import(specifier)) as typeof module;
    } catch (error) {
      throw new BackendUnavailableError(
        `BERTH_BACKEND=${name} needs the package ${specifier}; install it with \`npm install ${specifier}\`.`,
        [specifier],
        { cause: error, retryable: false },
      );
    }
    if (typeof module.backendFromEnv !== 'function') {
      throw new InvalidOptionsError(
        'BERTH_BACKEND',
        `${specifier} does not export backendFromEnv(); upgrade it.`,
      );
    }
    configured = module.backendFromEnv(env);
  }
  const integer = (key: string) => numberFrom(env, key);
  return {
    backend: configured.backend,
    host: configured.host,
    poolId: env.BERTH_POOL_ID,
    persist: env.BERTH_PERSIST === undefined ? undefined : booleanFrom(env, 'BERTH_PERSIST'),
    minHosts: integer('BERTH_MIN_HOSTS'),
    maxHosts: integer('BERTH_MAX_HOSTS'),
    slotsPerHost: integer('BERTH_SLOTS_PER_HOST'),
    acquireTimeoutMs: integer('BERTH_ACQUIRE_TIMEOUT_MS'),
    execTimeoutMs: integer('BERTH_EXEC_TIMEOUT_MS'),
    idleTimeoutMs: integer('BERTH_IDLE_TIMEOUT_MS'),
  };
}

/** `createPool()` from `BERTH_*` variables; `overrides` win over the environment. */
export async function poolFromEnv(
  overrides: Partial<PoolOptions> = {},
  env: Env = process.env,
): Promise<SlotPool> {
  const fromEnv = await poolOptionsFromEnv(env);
  const merged = Object.fromEntries(
    Object.entries({ ...fromEnv, ...overrides }).filter(([, value]) => value !== undefined),
  ) as unknown as PoolOptions;
  return createPool(merged);
}

export function numberFrom(env: Env, key: string): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new InvalidOptionsError(key, `expected a number, got '${raw}'.`);
  return value;
}

export function booleanFrom(env: Env, key: string): boolean | undefined {
  const raw = env[key]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return undefined;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new InvalidOptionsError(key, `expected true or false, got '${env[key]}'.`);
}
