import { readFileSync, statSync } from 'node:fs';
import * as nodeModule from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BackendV1 } from '../backend/v1/types.js';
import { BackendUnavailableError, InvalidOptionsError } from '../errors/index.js';
import { closestName } from './closest-name.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** What a backend's `backendFromEnv(env)` returns for `BERTH_BACKEND=<name>`. */
export interface BackendFromEnv {
  backend: BackendV1;
  /** The profile host spec read from `BERTH_<NAME>_*` variables. */
  host: unknown;
}

/** What a backend package exports so `BERTH_BACKEND=<name>` can configure it from the environment. */
export interface BackendEnvModule {
  backendFromEnv(env: Env): BackendFromEnv;
  /**
   * Every `BERTH_<NAME>_*` variable `backendFromEnv` reads. When given, any other variable with
   * that prefix is reported as unknown (with a did-you-mean) instead of being silently ignored.
   */
  readonly envVariables?: readonly string[];
}

/** A backend module, or a function loading it (`() => import('@berth/backend-docker')`). */
export type BackendSource = BackendEnvModule | (() => BackendEnvModule | Promise<BackendEnvModule>);

/** Where `poolFromEnv` finds backends, from the caller's side. */
export interface BackendLookup {
  /** Backends by `BERTH_BACKEND` name; wins over packages. Third-party names work. */
  backends?: Readonly<Record<string, BackendSource>>;
  /**
   * The application's module URL or directory (`import.meta.url`): backend packages are resolved
   * from there, as the application's own `import` would (pnpm's strict layout included).
   * Default: the current directory, then `@berth/core`'s own location.
   */
  from?: string | URL;
}

/** Backends Berth ships; `local` is built into core. */
export const KNOWN_BACKENDS: readonly string[] = ['local', 'docker', 'nomad', 'modal', 'ssh'];

const NAME = /^[a-z][a-z0-9-]*$/;

/** The packages `BERTH_BACKEND=<name>` may name: ours, then the community convention. */
export function packagesFor(name: string): string[] {
  return [`@berth/backend-${name}`, `berth-backend-${name}`];
}

export function assertBackendName(name: string): void {
  if (!NAME.test(name)) {
    throw new InvalidOptionsError(
      'BERTH_BACKEND',
      `'${name}' is not a backend name (lowercase letters, digits and '-'); use e.g. local, docker or nomad.`,
    );
  }
}

/** The error for `BERTH_BACKEND` unset: which backends are there and how to pick one. */
export function backendUnsetError(lookup: BackendLookup, searchDefaults = true): InvalidOptionsError {
  const choices = KNOWN_BACKENDS.map((name) => {
    if (name === 'local') return 'local (built in: commands run on this machine, no isolation)';
    if (lookup.backends?.[name]) return `${name} (passed in \`backends\`)`;
    const specifier = `@berth/backend-${name}`;
    return findPackage(specifier, lookup, searchDefaults).found
      ? `${name} (${specifier}, installed)`
      : `${name} (not installed: npm install ${specifier})`;
  });
  for (const name of Object.keys(lookup.backends ?? {}))
    if (!KNOWN_BACKENDS.includes(name)) choices.push(`${name} (passed in \`backends\`)`);
  return new InvalidOptionsError(
    'BERTH_BACKEND',
    `is not set, and Berth never picks a backend for you. Set it to one of: ${choices.join('; ')}. ` +
      'For example BERTH_BACKEND=docker BERTH_DOCKER_IMAGE=python:3.12-slim.',
  );
}

/**
 * Loads the backend module `BERTH_BACKEND=<name>` names, from the caller's side. `searchDefaults`
 * false looks only at `lookup` (tests: the current directory and core see this repository's packages).
 */
export async function loadBackendModule(
  name: string,
  lookup: BackendLookup,
  searchDefaults = true,
): Promise<BackendEnvModule> {
  const given = lookup.backends?.[name];
  if (given !== undefined) return checkModule(typeof given === 'function' ? await given() : given, name);
  const tried: string[] = [];
  for (const specifier of packagesFor(name)) {
    const found = findPackage(specifier, lookup, searchDefaults);
    tried.push(...found.tried);
    if (found.url === undefined) continue;
    let module: unknown;
    try {
      module = await import(found.url);
    } catch (error) {
      throw new BackendUnavailableError(
        `BERTH_BACKEND=${name}: ${specifier} is installed but could not be loaded (${String(error)}); reinstall it.`,
        tried,
        { cause: error, retryable: false },
      );
    }
    return checkModule(module, specifier);
  }
  const known = [...new Set([...KNOWN_BACKENDS, ...Object.keys(lookup.backends ?? {})])];
  const typo = known.includes(name) ? undefined : closestName(name, known);
  if (typo !== undefined) {
    throw new InvalidOptionsError('BERTH_BACKEND', `'${name}' is not a backend; did you mean ${typo}?`);
  }
  const passIt = `poolFromEnv({ backends: { ${name.includes('-') ? `'${name}'` : name}: await import('…') } })`;
  const message = KNOWN_BACKENDS.includes(name)
    ? `BERTH_BACKEND=${name} needs the package @berth/backend-${name} in your application: npm install @berth/backend-${name}. ` +
      `If it is installed but cannot be found from here (pnpm, a bundler), pass \`from: import.meta.url\` or ${passIt}.`
    : `No backend named '${name}' is installed. Berth's backends are ${known.join(', ')}; a third-party backend is a ` +
      `package named @berth/backend-${name} or berth-backend-${name} in your application, or a module passed as ${passIt}.`;
  throw new BackendUnavailableError(message, tried, { retryable: false });
}

function checkModule(module: unknown, source: string): BackendEnvModule {
  const candidate = module as Partial<BackendEnvModule> | undefined;
  if (typeof candidate?.backendFromEnv !== 'function') {
    throw new InvalidOptionsError(
      'BERTH_BACKEND',
      `${source} does not export backendFromEnv(env); upgrade it, or pass a module that does.`,
    );
  }
  return candidate as BackendEnvModule;
}

/** Where each package is looked up from: the caller's `from`, the current directory, core itself. */
function parents(lookup: BackendLookup, searchDefaults: boolean): string[] {
  const list: string[] = [];
  if (lookup.from !== undefined) list.push(parentUrl(lookup.from));
  if (searchDefaults) list.push(pathToFileURL(`${process.cwd()}${path.sep}`).href, import.meta.url);
  return [...new Set(list)];
}

function parentUrl(from: string | URL): string {
  const text = from instanceof URL ? from.href : from;
  const file = text.startsWith('file:') ? fileURLToPath(text) : path.resolve(text);
  let directory = false;
  try {
    directory = statSync(file).isDirectory();
  } catch {
    // A module URL need not exist on disk (bundlers); resolve from its directory.
  }
  return pathToFileURL(directory ? `${file}${path.sep}` : file).href;
}

/** Finds `specifier`'s entry point as an ESM `import` from each parent would, without importing it. */
function findPackage(
  specifier: string,
  lookup: BackendLookup,
  searchDefaults: boolean,
): { url?: string; found: boolean; tried: string[] } {
  const tried: string[] = [];
  for (const parent of parents(lookup, searchDefaults)) {
    tried.push(`${specifier} from ${parent}`);
    if (parent === import.meta.url) {
      // From core itself, Node's own resolution is exact (it is what `import()` here would do).
      try {
        return { url: import.meta.resolve(specifier), found: true, tried };
      } catch {
        continue;
      }
    }
    const manifestPath = packageJsonOf(specifier, parent);
    if (manifestPath === undefined) continue;
    try {
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
        exports?: unknown;
        module?: string;
        main?: string;
      };
      const entry = exportTarget(manifest.exports) ?? manifest.module ?? manifest.main ?? 'index.js';
      return { url: pathToFileURL(path.join(path.dirname(manifestPath), entry)).href, found: true, tried };
    } catch {
      // An unreadable manifest: try the next parent.
    }
  }
  return { found: false, tried };
}

function packageJsonOf(specifier: string, parent: string): string | undefined {
  try {
    // Node ≥ 22.14: the package's own package.json, found as `import` finds packages.
    const find = (nodeModule as { findPackageJSON?: (specifier: string, base: string) => string | undefined })
      .findPackageJSON;
    if (typeof find === 'function') return find(specifier, parent);
    return nodeModule.createRequire(parent).resolve(`${specifier}/package.json`);
  } catch {
    return undefined;
  }
}

/** The `.` entry of an `exports` field for an ESM import in Node. */
function exportTarget(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    for (const each of value) {
      const target = exportTarget(each);
      if (target !== undefined) return target;
    }
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const record = value as Record<string, unknown>;
  if ('.' in record) return exportTarget(record['.']);
  if (Object.keys(record).some((key) => key.startsWith('.'))) return undefined;
  for (const [condition, target] of Object.entries(record)) {
    if (condition !== 'node' && condition !== 'import' && condition !== 'default') continue;
    const resolved = exportTarget(target);
    if (resolved !== undefined) return resolved;
  }
  return undefined;
}
