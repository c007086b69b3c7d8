import { type BackendFromEnv, InvalidOptionsError, numberFrom } from '@berth/core';
import { createNomadBackend, type NomadBackend } from './create-nomad-backend.js';
import type { NomadDriver, NomadHostSpecInput } from './nomad-host-spec.js';

type Env = Readonly<Record<string, string | undefined>>;

/** The `BERTH_NOMAD_*` variables `backendFromEnv` reads (the agent connection reads `NOMAD_*`). */
export const NOMAD_ENV = {
  driver: 'BERTH_NOMAD_DRIVER',
  image: 'BERTH_NOMAD_IMAGE',
  command: 'BERTH_NOMAD_COMMAND',
  cpu: 'BERTH_NOMAD_CPU_MHZ',
  memoryMiB: 'BERTH_NOMAD_MEMORY_MIB',
  datacenters: 'BERTH_NOMAD_DATACENTERS',
} as const;

/** Every `BERTH_NOMAD_*` variable this package reads: core's `poolFromEnv` reports any other as a typo. */
export const envVariables: readonly string[] = Object.values(NOMAD_ENV);

const DRIVERS: readonly NomadDriver[] = ['docker', 'raw_exec', 'exec'];

/**
 * What core's `poolFromEnv()` calls for `BERTH_BACKEND=nomad`: a backend that reaches the agent
 * through `NOMAD_ADDR`, `NOMAD_TOKEN`, `NOMAD_NAMESPACE`, `NOMAD_REGION`, `NOMAD_HTTP_AUTH`,
 * `NOMAD_CACERT`, `NOMAD_CAPATH`, `NOMAD_CLIENT_CERT`, `NOMAD_CLIENT_KEY`, `NOMAD_TLS_SERVER_NAME`
 * and `NOMAD_SKIP_VERIFY` (read as the nomad CLI reads them), and the profile host spec from
 * `BERTH_NOMAD_DRIVER` (docker | raw_exec | exec), `BERTH_NOMAD_IMAGE`, `BERTH_NOMAD_COMMAND`
 * (a JSON array, or words split on whitespace), `BERTH_NOMAD_CPU_MHZ`, `BERTH_NOMAD_MEMORY_MIB`
 * and `BERTH_NOMAD_DATACENTERS` (comma-separated). Synchronous and without I/O; every bad value
 * is an `InvalidOptionsError` naming the variable.
 */
export function backendFromEnv(env: Env = process.env): {
  backend: NomadBackend;
  host: NomadHostSpecInput;
} {
  const text = (key: string): string | undefined => {
    const value = env[key]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const host: { -readonly [K in keyof NomadHostSpecInput]: NomadHostSpecInput[K] } = {};

  const driver = text(NOMAD_ENV.driver);
  if (driver !== undefined) {
    if (!DRIVERS.includes(driver as NomadDriver)) {
      throw new InvalidOptionsError(
        NOMAD_ENV.driver,
        `expected one of ${DRIVERS.join(', ')}, got '${driver}'.`,
      );
    }
    host.driver = driver as NomadDriver;
  }
  const image = text(NOMAD_ENV.image);
  if (image !== undefined) host.image = image;
  if (host.driver === 'docker' && image === undefined) {
    throw new InvalidOptionsError(
      NOMAD_ENV.image,
      'is required with BERTH_NOMAD_DRIVER=docker: set it to the image every host runs, e.g. BERTH_NOMAD_IMAGE=python:3.12-slim.',
    );
  }
  const command = text(NOMAD_ENV.command);
  if (command !== undefined) host.command = parseCommand(command);
  const cpu = numberFrom(env, NOMAD_ENV.cpu);
  if (cpu !== undefined) host.cpu = cpu;
  const memoryMiB = numberFrom(env, NOMAD_ENV.memoryMiB);
  if (memoryMiB !== undefined) host.memoryMiB = memoryMiB;
  const datacenters = text(NOMAD_ENV.datacenters);
  if (datacenters !== undefined) {
    const list = datacenters
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    if (list.length === 0) {
      throw new InvalidOptionsError(
        NOMAD_ENV.datacenters,
        `expected comma-separated datacenter names, got '${datacenters}'.`,
      );
    }
    host.datacenters = list;
  }

  const backend = createNomadBackend({ env });
  // Validate now, so a bad value names its variable rather than `profiles.default.host.*`.
  try {
    backend.resolveHostSpec(host, 'host');
  } catch (error) {
    if (error instanceof InvalidOptionsError) {
      const variable = variableFor(error.field);
      const reason = error.message.replace(/^Invalid option `[^`]*`: /, '');
      if (variable) throw new InvalidOptionsError(variable, reason, { cause: error });
    }
    throw error;
  }
  return { backend, host } satisfies BackendFromEnv;
}

/** `["sh","-c","sleep 1d"]` (JSON, for arguments with spaces) or `sleep 2147483647` (split on whitespace). */
function parseCommand(raw: string): string[] {
  if (raw.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new InvalidOptionsError(NOMAD_ENV.command, `looks like a JSON array but does not parse: ${raw}`);
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((part) => typeof part === 'string')) {
      throw new InvalidOptionsError(
        NOMAD_ENV.command,
        `expected a non-empty JSON array of strings, got ${raw}`,
      );
    }
    return parsed as string[];
  }
  return raw.split(/\s+/);
}

function variableFor(path: string): string | undefined {
  for (const [field, variable] of Object.entries(NOMAD_ENV)) {
    if (path === `host.${field}` || path.startsWith(`host.${field}.`) || path.startsWith(`host.${field}[`))
      return variable;
  }
  return undefined;
}
