import { type BackendFromEnv, booleanFrom, InvalidOptionsError, numberFrom } from '@berth/core';
import { createModalBackend, type ModalBackend } from './create-modal-backend.js';
import type { ModalHostSpecInput } from './modal-host-spec.js';

type Env = Readonly<Record<string, string | undefined>>;

/** The `BERTH_MODAL_*` variables `backendFromEnv` reads; the SDK itself reads Modal's `MODAL_*` ones. */
export const MODAL_ENV = {
  app: 'BERTH_MODAL_APP',
  image: 'BERTH_MODAL_IMAGE',
  cpu: 'BERTH_MODAL_CPU',
  memoryMiB: 'BERTH_MODAL_MEMORY_MIB',
  gpu: 'BERTH_MODAL_GPU',
  regions: 'BERTH_MODAL_REGIONS',
  secrets: 'BERTH_MODAL_SECRETS',
  workdir: 'BERTH_MODAL_WORKDIR',
  blockNetwork: 'BERTH_MODAL_BLOCK_NETWORK',
  timeoutMs: 'BERTH_MODAL_TIMEOUT_MS',
  idleTimeoutMs: 'BERTH_MODAL_IDLE_TIMEOUT_MS',
  creationRatePerSecond: 'BERTH_MODAL_CREATION_RATE',
  maxConcurrentStarts: 'BERTH_MODAL_MAX_CONCURRENT_STARTS',
} as const;

/** Every `BERTH_MODAL_*` variable this package reads: core's `poolFromEnv` reports any other as a typo. */
export const envVariables: readonly string[] = Object.values(MODAL_ENV);

/**
 * What core's `poolFromEnv()` calls for `BERTH_BACKEND=modal`: the profile host spec from
 * `BERTH_MODAL_IMAGE` (required), `…_CPU`, `…_MEMORY_MIB`, `…_GPU`, `…_REGIONS` and `…_SECRETS`
 * (comma-separated), `…_WORKDIR`, `…_BLOCK_NETWORK`, `…_TIMEOUT_MS`, `…_IDLE_TIMEOUT_MS`; the backend
 * from `BERTH_MODAL_APP`, `…_CREATION_RATE`, `…_MAX_CONCURRENT_STARTS`. Credentials, environment and
 * server come from Modal's own `MODAL_TOKEN_ID`, `MODAL_TOKEN_SECRET`, `MODAL_ENVIRONMENT`, … or
 * ~/.modal.toml. Synchronous and without I/O; a bad value is an `InvalidOptionsError` naming its variable.
 */
export function backendFromEnv(env: Env = process.env): { backend: ModalBackend; host: ModalHostSpecInput } {
  const text = (key: string): string | undefined => {
    const value = env[key]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const list = (key: string) =>
    text(key)
      ?.split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  const image = text(MODAL_ENV.image);
  if (image === undefined) {
    throw new InvalidOptionsError(
      MODAL_ENV.image,
      'is required with BERTH_BACKEND=modal: set it to the registry image every sandbox runs, e.g. BERTH_MODAL_IMAGE=python:3.12-slim.',
    );
  }
  const host: { -readonly [K in keyof ModalHostSpecInput]: ModalHostSpecInput[K] } = { image };
  const cpu = numberFrom(env, MODAL_ENV.cpu);
  if (cpu !== undefined) host.cpu = cpu;
  const memoryMiB = numberFrom(env, MODAL_ENV.memoryMiB);
  if (memoryMiB !== undefined) host.memoryMiB = memoryMiB;
  const gpu = text(MODAL_ENV.gpu);
  if (gpu !== undefined) host.gpu = gpu;
  const regions = list(MODAL_ENV.regions);
  if (regions) host.regions = regions;
  const secrets = list(MODAL_ENV.secrets);
  if (secrets) host.secrets = secrets;
  const workdir = text(MODAL_ENV.workdir);
  if (workdir !== undefined) host.workdir = workdir;
  const blockNetwork = booleanFrom(env, MODAL_ENV.blockNetwork);
  if (blockNetwork !== undefined) host.blockNetwork = blockNetwork;
  const timeoutMs = numberFrom(env, MODAL_ENV.timeoutMs);
  if (timeoutMs !== undefined) host.timeoutMs = timeoutMs;
  const idleTimeoutMs = numberFrom(env, MODAL_ENV.idleTimeoutMs);
  if (idleTimeoutMs !== undefined) host.idleTimeoutMs = idleTimeoutMs;

  const appName = text(MODAL_ENV.app);
  const creationRatePerSecond = numberFrom(env, MODAL_ENV.creationRatePerSecond);
  const maxConcurrentStarts = numberFrom(env, MODAL_ENV.maxConcurrentStarts);
  const backend = createModalBackend({
    ...(appName ? { appName } : {}),
    ...(creationRatePerSecond === undefined ? {} : { creationRatePerSecond }),
    ...(maxConcurrentStarts === undefined ? {} : { maxConcurrentStarts }),
  });
  try {
    backend.resolveHostSpec(host, 'host');
  } catch (error) {
    if (error instanceof InvalidOptionsError) {
      const field = error.field.replace(/^host\./, '').split('.')[0] ?? '';
      const variable = (MODAL_ENV as Record<string, string>)[field];
      if (variable) {
        const reason = error.message.replace(/^Invalid option `[^`]*`: /, '');
        throw new InvalidOptionsError(variable, `${reason} (from ${variable}=${env[variable] ?? ''})`, {
          cause: error,
        });
      }
    }
    throw error;
  }
  return { backend, host } satisfies BackendFromEnv;
}
