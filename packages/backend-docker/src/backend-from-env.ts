import { type BackendFromEnv, InvalidOptionsError, numberFrom } from '@berth/core';
import { createDockerBackend, type DockerBackend } from './create-docker-backend.js';
import type { DockerHostSpecInput } from './docker-host-spec.js';

type Env = Readonly<Record<string, string | undefined>>;

/** The `BERTH_DOCKER_*` variables `backendFromEnv` reads (daemon discovery also reads `DOCKER_*`). */
export const DOCKER_ENV = {
  image: 'BERTH_DOCKER_IMAGE',
  memoryMiB: 'BERTH_DOCKER_MEMORY_MIB',
  cpus: 'BERTH_DOCKER_CPUS',
  networkMode: 'BERTH_DOCKER_NETWORK_MODE',
  workspaceRoot: 'BERTH_DOCKER_WORKSPACE_ROOT',
} as const;

/** Every `BERTH_DOCKER_*` variable this package reads: core's `poolFromEnv` reports any other as a typo. */
export const envVariables: readonly string[] = Object.values(DOCKER_ENV);

/**
 * What core's `poolFromEnv()` calls for `BERTH_BACKEND=docker`: a backend that finds the daemon
 * through `DOCKER_HOST` / `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH` (or the usual sockets) in `env`,
 * and the profile host spec from `BERTH_DOCKER_IMAGE` (required), `BERTH_DOCKER_MEMORY_MIB`,
 * `BERTH_DOCKER_CPUS`, `BERTH_DOCKER_NETWORK_MODE` and `BERTH_DOCKER_WORKSPACE_ROOT`.
 * Synchronous and without I/O; every bad value is an `InvalidOptionsError` naming the variable.
 */
export function backendFromEnv(env: Env = process.env): {
  backend: DockerBackend;
  host: DockerHostSpecInput;
} {
  const text = (key: string): string | undefined => {
    const value = env[key]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const image = text(DOCKER_ENV.image);
  if (image === undefined) {
    throw new InvalidOptionsError(
      DOCKER_ENV.image,
      'is required with BERTH_BACKEND=docker: set it to the image every host runs, e.g. BERTH_DOCKER_IMAGE=python:3.12-slim.',
    );
  }
  const host: { -readonly [K in keyof DockerHostSpecInput]: DockerHostSpecInput[K] } = { image };
  const memoryMiB = numberFrom(env, DOCKER_ENV.memoryMiB);
  if (memoryMiB !== undefined) host.memoryMiB = memoryMiB;
  const cpus = numberFrom(env, DOCKER_ENV.cpus);
  if (cpus !== undefined) host.cpus = cpus;
  const networkMode = text(DOCKER_ENV.networkMode);
  if (networkMode !== undefined) host.networkMode = networkMode;
  const workspaceRoot = text(DOCKER_ENV.workspaceRoot);
  if (workspaceRoot !== undefined) host.workspaceRoot = workspaceRoot;

  const backend = createDockerBackend({ env });
  // Validate now, so a bad value names its variable rather than `profiles.default.host.*`.
  try {
    backend.resolveHostSpec(host, 'host');
  } catch (error) {
    if (error instanceof InvalidOptionsError) {
      const field = error.field.replace(/^host\./, '').split('.')[0] ?? '';
      const variable = (DOCKER_ENV as Record<string, string>)[field];
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
