import { InvalidOptionsError } from '@berth/core';

/** A profile's host spec for the Modal backend, as users write it (`PoolOptions.host`). */
export interface ModalHostSpecInput {
  /** Registry reference every sandbox runs, e.g. `python:3.12-slim`. Required. */
  readonly image: string;
  /** Dockerfile commands Modal builds on top of `image` (`RUN pip install numpy`, …). */
  readonly dockerfileCommands?: readonly string[];
  /** CPU cores reserved per sandbox (fractions allowed). */
  readonly cpu?: number;
  /** Memory reserved per sandbox, MiB. */
  readonly memoryMiB?: number;
  /** GPU per sandbox: `T4`, `A10G`, `A100-80GB:2`, … */
  readonly gpu?: string;
  /** Environment variables of the sandbox (never put in labels). */
  readonly env?: Readonly<Record<string, string>>;
  /** Modal secrets by name, injected as environment variables. */
  readonly secrets?: readonly string[];
  /** Mount path → Modal volume name (created if missing). */
  readonly volumes?: Readonly<Record<string, string>>;
  /** Working directory of the sandbox (absolute). */
  readonly workdir?: string;
  /** Where slot workspaces live. Default `/berth/slots`. */
  readonly workspaceRoot?: string;
  /** Regions Modal may place sandboxes in, e.g. `['us-east']`. */
  readonly regions?: readonly string[];
  /** No network at all. */
  readonly blockNetwork?: boolean;
  /** Outbound traffic only to these CIDRs. */
  readonly cidrAllowlist?: readonly string[];
  /**
   * Modal's lifetime for the sandbox. Default and maximum: the pool's `hostLifetimeMs` (Modal's own
   * default is only 5 minutes). Modal takes whole seconds: rounded up.
   */
  readonly timeoutMs?: number;
  /** Modal ends the sandbox after this long with no exec running. Rounded up to whole seconds. */
  readonly idleTimeoutMs?: number;
}

/** The resolved spec (hashed into `berth.spec`): seconds where Modal takes seconds. */
export interface ModalHostSpec {
  readonly image: string;
  readonly dockerfileCommands: readonly string[];
  readonly cpu?: number;
  readonly memoryMiB?: number;
  readonly gpu?: string;
  readonly env: Readonly<Record<string, string>>;
  readonly secrets: readonly string[];
  readonly volumes: Readonly<Record<string, string>>;
  readonly workdir?: string;
  readonly workspaceRoot: string;
  readonly regions: readonly string[];
  readonly blockNetwork: boolean;
  readonly cidrAllowlist?: readonly string[];
  readonly timeoutSeconds?: number;
  readonly idleTimeoutSeconds?: number;
}

export const DEFAULT_WORKSPACE_ROOT = '/berth/slots';
/** Modal's longest sandbox lifetime (24 h). */
export const MODAL_MAX_TIMEOUT_SECONDS = 24 * 3600;

const KEYS = new Set([
  'image',
  'dockerfileCommands',
  'cpu',
  'memoryMiB',
  'gpu',
  'env',
  'secrets',
  'volumes',
  'workdir',
  'workspaceRoot',
  'regions',
  'blockNetwork',
  'cidrAllowlist',
  'timeoutMs',
  'idleTimeoutMs',
]);

const GPU = /^[A-Za-z0-9][A-Za-z0-9-]*(?::[1-9][0-9]?)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CIDR = /^[0-9a-fA-F:.]+\/[0-9]{1,3}$/;

/**
 * Modal takes lifetimes in whole seconds: a millisecond value is validated and rounded up (never
 * down: a sandbox must not end before the time asked for).
 */
export function toWholeSeconds(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1000) {
    throw new InvalidOptionsError(
      field,
      `must be a number of milliseconds ≥ 1000 (Modal takes whole seconds; ${String(value)} given). Values are rounded up to whole seconds, e.g. 1500 → 2 s.`,
    );
  }
  return Math.ceil(value / 1000);
}

/** Validates a profile's host spec without I/O; every message names the field. */
export function resolveModalHostSpec(input: unknown, path: string): ModalHostSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidOptionsError(path, "must be an object like { image: 'python:3.12-slim' }.");
  }
  const spec = input as Record<string, unknown>;
  for (const key of Object.keys(spec)) {
    if (!KEYS.has(key)) {
      throw new InvalidOptionsError(
        `${path}.${key}`,
        `is not a Modal host option; use one of ${[...KEYS].join(', ')}.`,
      );
    }
  }
  const field = (key: string) => `${path}.${key}`;
  const string = (key: string, pattern?: RegExp): string | undefined => {
    const value = spec[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.trim() === '' || (pattern && !pattern.test(value))) {
      throw new InvalidOptionsError(
        field(key),
        `must be a non-empty string${pattern ? ` matching ${pattern}` : ''}.`,
      );
    }
    return value;
  };
  const strings = (key: string, pattern?: RegExp): string[] | undefined => {
    const value = spec[key];
    if (value === undefined) return undefined;
    if (
      !Array.isArray(value) ||
      value.some((item) => typeof item !== 'string' || item === '' || (pattern && !pattern.test(item)))
    ) {
      throw new InvalidOptionsError(
        field(key),
        `must be an array of non-empty strings${pattern ? ` matching ${pattern}` : ''}.`,
      );
    }
    return [...(value as string[])];
  };
  const record = (key: string, keyPattern: RegExp | undefined, what: string): Record<string, string> => {
    const value = spec[key];
    if (value === undefined) return {};
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new InvalidOptionsError(field(key), `must be an object of ${what}.`);
    }
    const out: Record<string, string> = {};
    for (const [name, item] of Object.entries(value)) {
      if (typeof item !== 'string' || (keyPattern && !keyPattern.test(name))) {
        throw new InvalidOptionsError(`${field(key)}.${name}`, `must be ${what}.`);
      }
      out[name] = item;
    }
    return out;
  };
  const positive = (key: string, integer: boolean): number | undefined => {
    const value = spec[key];
    if (value === undefined) return undefined;
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value <= 0 ||
      (integer && !Number.isInteger(value))
    ) {
      throw new InvalidOptionsError(field(key), `must be a positive ${integer ? 'integer' : 'number'}.`);
    }
    return value;
  };
  const absolute = (key: string): string | undefined => {
    const value = string(key);
    if (value !== undefined && !value.startsWith('/')) {
      throw new InvalidOptionsError(field(key), `must be an absolute path, got ${value}.`);
    }
    return value;
  };

  const image = string('image');
  if (!image)
    throw new InvalidOptionsError(
      field('image'),
      "is required: the registry image every sandbox runs, e.g. 'python:3.12-slim'.",
    );
  const blockNetwork = spec.blockNetwork ?? false;
  if (typeof blockNetwork !== 'boolean')
    throw new InvalidOptionsError(field('blockNetwork'), 'must be a boolean.');
  const cidrAllowlist = strings('cidrAllowlist', CIDR);
  if (blockNetwork && cidrAllowlist) {
    throw new InvalidOptionsError(
      field('cidrAllowlist'),
      'cannot be combined with blockNetwork: true (no network at all).',
    );
  }
  const volumes = record('volumes', /^\/.*/, 'Modal volume names keyed by absolute mount path');
  const cpu = positive('cpu', false);
  const memoryMiB = positive('memoryMiB', true);
  const gpu = string('gpu', GPU);
  const workdir = absolute('workdir');
  const timeoutSeconds =
    spec.timeoutMs === undefined ? undefined : toWholeSeconds(spec.timeoutMs, field('timeoutMs'));
  if (timeoutSeconds !== undefined && timeoutSeconds > MODAL_MAX_TIMEOUT_SECONDS) {
    throw new InvalidOptionsError(
      field('timeoutMs'),
      `must be at most ${MODAL_MAX_TIMEOUT_SECONDS * 1000} (Modal's 24 h limit).`,
    );
  }
  const idleTimeoutSeconds =
    spec.idleTimeoutMs === undefined ? undefined : toWholeSeconds(spec.idleTimeoutMs, field('idleTimeoutMs'));
  return {
    image,
    dockerfileCommands: strings('dockerfileCommands') ?? [],
    ...(cpu === undefined ? {} : { cpu }),
    ...(memoryMiB === undefined ? {} : { memoryMiB }),
    ...(gpu === undefined ? {} : { gpu }),
    env: record('env', ENV_NAME, 'strings keyed by environment variable names'),
    secrets: strings('secrets') ?? [],
    volumes,
    ...(workdir === undefined ? {} : { workdir }),
    workspaceRoot: absolute('workspaceRoot') ?? DEFAULT_WORKSPACE_ROOT,
    regions: strings('regions') ?? [],
    blockNetwork,
    ...(cidrAllowlist === undefined ? {} : { cidrAllowlist }),
    ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }),
    ...(idleTimeoutSeconds === undefined ? {} : { idleTimeoutSeconds }),
  };
}
