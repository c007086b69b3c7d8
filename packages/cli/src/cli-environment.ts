import {
  type BackendV1,
  BERTH_HOME_ENV,
  berthHome,
  type DrainMarkerStoreV1,
  defaultDrainMarkerStore,
  FileDrainMarkerStore,
  POOL_ENV,
  type PoolOptions,
  poolOptionsFromEnv,
} from '@berth/core';

export type Env = Record<string, string | undefined>;

/** Flags every command takes; each one is the same as its variable. */
export interface GlobalFlags {
  backend?: string;
  home?: string;
}

/** The environment `poolFromEnv` would see, with the flags applied over it. */
export function environmentFor(flags: GlobalFlags, base: Env = process.env): Env {
  const env: Env = { ...base };
  if (flags.backend !== undefined) env[POOL_ENV.backend] = flags.backend;
  if (flags.home !== undefined) env[BERTH_HOME_ENV] = flags.home;
  return env;
}

/**
 * The backend `BERTH_BACKEND` names, configured exactly as `poolFromEnv` would configure it
 * (its `BERTH_<NAME>_*` variables and the engine's own), found from the current directory and
 * from this CLI's own dependencies. Fails closed like `poolFromEnv`.
 */
export async function backendFor(
  env: Env,
): Promise<{ backend: BackendV1; host: unknown; options: PoolOptions }> {
  const options = await poolOptionsFromEnv(env, { from: import.meta.url });
  return { backend: options.backend, host: options.host, options };
}

/**
 * Where drain markers are: the Berth home directory, plus the backend's shared store when
 * `BERTH_BACKEND` is set and its engine has one (Nomad Variables), so every machine sees them.
 */
export async function drainStoreFor(
  env: Env,
  backend?: BackendV1,
): Promise<{ store: DrainMarkerStoreV1; close(): Promise<void> }> {
  if (backend) return { store: defaultDrainMarkerStore(backend, env), close: async () => undefined };
  if (!env[POOL_ENV.backend]?.trim())
    return { store: new FileDrainMarkerStore(berthHome(env)), close: async () => undefined };
  const loaded = (await backendFor(env)).backend;
  return {
    store: defaultDrainMarkerStore(loaded, env),
    // The backend's clients (a Nomad HTTP agent) would keep the process alive.
    close: async () => {
      await loaded.dispose?.().catch(() => undefined);
    },
  };
}

/** `--pool` or `BERTH_POOL_ID`. */
export function poolIdFrom(flag: string | undefined, env: Env): string | undefined {
  const value = flag ?? env[POOL_ENV.poolId];
  return value?.trim() ? value.trim() : undefined;
}
