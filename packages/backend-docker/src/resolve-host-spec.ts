import { InvalidOptionsError } from '@berth/core';
import type Dockerode from 'dockerode';
import {
  DEFAULT_HARDENING,
  DEFAULT_KEEP_ALIVE_COMMAND,
  DEFAULT_WORKSPACE_ROOT,
  type DockerHardening,
  type DockerHostSpec,
  type DockerVolume,
} from './docker-host-spec.js';
import {
  describe,
  expectAbsolutePath,
  expectBoolean,
  expectNumber,
  expectObject,
  expectString,
  expectStringArray,
  expectStringRecord,
  isPlainObject,
  rejectUnknownKeys,
} from './validate.js';

const KEYS = [
  'image',
  'cpus',
  'memoryMiB',
  'diskMiB',
  'env',
  'forwardEnv',
  'volumes',
  'networkMode',
  'user',
  'runAsHostUser',
  'workspaceRoot',
  'keepAliveCommand',
  'hardening',
  'hostConfig',
  'pull',
] as const;
const HARDENING_KEYS = ['capDrop', 'capAdd', 'noNewPrivileges', 'init', 'pidsLimit', 'tmpfs'] as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/;
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Validates a Docker host spec (synchronously, no I/O) and fills in defaults. `path` prefixes every
 * error's field (`profiles.default.host`). A bare string is shorthand for `{ image }`.
 */
export function resolveHostSpec(input: unknown, path: string): DockerHostSpec {
  const raw =
    typeof input === 'string' ? { image: input } : expectObject(input, path, "{ image: 'python:3.12-slim' }");
  rejectUnknownKeys(raw, KEYS, path);
  const at = (key: string) => `${path}.${key}`;

  const image = expectString(raw.image, at('image'), "an image reference like 'python:3.12-slim'").trim();
  if (/\s/.test(image))
    throw new InvalidOptionsError(
      at('image'),
      `image references contain no whitespace, got ${describe(image)}.`,
    );

  if (raw.user !== undefined && raw.runAsHostUser === true) {
    throw new InvalidOptionsError(at('runAsHostUser'), 'set either `user` or `runAsHostUser`, not both.');
  }
  let user: string | undefined;
  if (raw.user !== undefined) {
    user = expectString(raw.user, at('user'), "a user like 'nobody', '1000' or '1000:1000'");
    if (!USER.test(user))
      throw new InvalidOptionsError(
        at('user'),
        `expected 'name', 'uid' or 'uid:gid', got ${describe(user)}.`,
      );
  }
  if (raw.runAsHostUser !== undefined && expectBoolean(raw.runAsHostUser, at('runAsHostUser'))) {
    if (typeof process.getuid !== 'function' || typeof process.getgid !== 'function') {
      throw new InvalidOptionsError(
        at('runAsHostUser'),
        'this platform has no POSIX uid/gid; set `user` instead.',
      );
    }
    user = `${process.getuid()}:${process.getgid()}`;
  }

  const pull = raw.pull ?? 'missing';
  if (pull !== 'missing' && pull !== 'never' && pull !== 'always') {
    throw new InvalidOptionsError(
      at('pull'),
      `expected 'missing', 'never' or 'always', got ${describe(pull)}.`,
    );
  }

  const env = raw.env === undefined ? {} : expectStringRecord(raw.env, at('env'), "{ LANG: 'C.UTF-8' }");
  for (const name of Object.keys(env)) {
    if (!ENV_NAME.test(name))
      throw new InvalidOptionsError(
        `${at('env')}.${name}`,
        'environment variable names are letters, digits and `_`, not starting with a digit.',
      );
  }
  const forwardEnv =
    raw.forwardEnv === undefined
      ? []
      : expectStringArray(raw.forwardEnv, at('forwardEnv'), "['GITHUB_TOKEN']");
  forwardEnv.forEach((name, index) => {
    if (!ENV_NAME.test(name))
      throw new InvalidOptionsError(
        `${at('forwardEnv')}[${index}]`,
        `${describe(name)} is not a valid environment variable name.`,
      );
    if (name in env)
      throw new InvalidOptionsError(
        `${at('forwardEnv')}[${index}]`,
        `\`${name}\` is also set in \`env\`; keep one.`,
      );
  });

  const keepAliveCommand =
    raw.keepAliveCommand === undefined
      ? DEFAULT_KEEP_ALIVE_COMMAND
      : expectStringArray(raw.keepAliveCommand, at('keepAliveCommand'), "['sleep', 'infinity']");
  if (keepAliveCommand.length === 0)
    throw new InvalidOptionsError(
      at('keepAliveCommand'),
      "expected at least the program, e.g. ['sleep', 'infinity'].",
    );

  let hostConfig: Dockerode.HostConfig = {};
  if (raw.hostConfig !== undefined) {
    if (!isPlainObject(raw.hostConfig))
      throw new InvalidOptionsError(
        at('hostConfig'),
        `expected an object of Docker HostConfig fields like { ShmSize: 268435456 }, got ${describe(raw.hostConfig)}.`,
      );
    hostConfig = structuredClone(raw.hostConfig) as Dockerode.HostConfig;
  }

  return stripUndefined({
    image,
    cpus:
      raw.cpus === undefined
        ? undefined
        : expectNumber(raw.cpus, at('cpus'), { min: 0.01, max: 1024, unit: 'CPUs' }),
    memoryMiB:
      raw.memoryMiB === undefined
        ? undefined
        : expectNumber(raw.memoryMiB, at('memoryMiB'), { min: 6, integer: true, unit: 'MiB' }),
    diskMiB:
      raw.diskMiB === undefined
        ? undefined
        : expectNumber(raw.diskMiB, at('diskMiB'), { min: 1, integer: true, unit: 'MiB' }),
    env,
    forwardEnv,
    volumes: raw.volumes === undefined ? [] : resolveVolumes(raw.volumes, at('volumes')),
    networkMode:
      raw.networkMode === undefined
        ? undefined
        : expectString(raw.networkMode, at('networkMode'), "'bridge', 'none', 'host' or a network name"),
    user,
    workspaceRoot:
      raw.workspaceRoot === undefined
        ? DEFAULT_WORKSPACE_ROOT
        : expectAbsolutePath(raw.workspaceRoot, at('workspaceRoot')),
    keepAliveCommand,
    hardening: resolveHardening(raw.hardening, at('hardening')),
    hostConfig,
    pull,
  });
}

function resolveHardening(input: unknown, path: string): DockerHardening | null {
  if (input === undefined || input === true) return DEFAULT_HARDENING;
  if (input === false) return null;
  const raw = expectObject(input, path, '{ pidsLimit: 4096 } or false');
  rejectUnknownKeys(raw, HARDENING_KEYS, path);
  const at = (key: string) => `${path}.${key}`;
  const capabilities = (value: unknown, key: string, fallback: readonly string[]) =>
    value === undefined
      ? fallback
      : expectStringArray(value, at(key), "['NET_BIND_SERVICE']").map((name, index) => {
          const normalised = name.toUpperCase().replace(/^CAP_/, '');
          if (!/^[A-Z_]+$/.test(normalised))
            throw new InvalidOptionsError(
              `${at(key)}[${index}]`,
              `${describe(name)} is not a Linux capability name.`,
            );
          return normalised;
        });
  let pidsLimit = DEFAULT_HARDENING.pidsLimit;
  if (raw.pidsLimit === null) pidsLimit = null;
  else if (raw.pidsLimit !== undefined)
    pidsLimit = expectNumber(raw.pidsLimit, at('pidsLimit'), {
      min: 1,
      integer: true,
      unit: 'processes (or null for no limit)',
    });
  let tmpfs = DEFAULT_HARDENING.tmpfs;
  if (raw.tmpfs === null) tmpfs = {};
  else if (raw.tmpfs !== undefined) {
    tmpfs = expectStringRecord(raw.tmpfs, at('tmpfs'), "{ '/tmp': 'size=256m' }");
    for (const mountPath of Object.keys(tmpfs)) expectAbsolutePath(mountPath, `${at('tmpfs')}.${mountPath}`);
  }
  return {
    capDrop: capabilities(raw.capDrop, 'capDrop', DEFAULT_HARDENING.capDrop),
    capAdd: capabilities(raw.capAdd, 'capAdd', DEFAULT_HARDENING.capAdd),
    noNewPrivileges:
      raw.noNewPrivileges === undefined
        ? DEFAULT_HARDENING.noNewPrivileges
        : expectBoolean(raw.noNewPrivileges, at('noNewPrivileges')),
    init: raw.init === undefined ? DEFAULT_HARDENING.init : expectBoolean(raw.init, at('init')),
    pidsLimit,
    tmpfs,
  };
}

function resolveVolumes(input: unknown, path: string): DockerVolume[] {
  if (!Array.isArray(input))
    throw new InvalidOptionsError(
      path,
      `expected an array of { source, target, readOnly? } or 'source:target[:ro]', got ${describe(input)}.`,
    );
  const targets = new Set<string>();
  return input.map((item, index) => {
    const at = `${path}[${index}]`;
    let source: unknown;
    let target: unknown;
    let readOnly: unknown = false;
    if (typeof item === 'string') {
      const parts = item.split(':');
      if (
        parts.length < 2 ||
        parts.length > 3 ||
        (parts[2] !== undefined && parts[2] !== 'ro' && parts[2] !== 'rw')
      ) {
        throw new InvalidOptionsError(
          at,
          `expected 'source:target' or 'source:target:ro', got ${describe(item)}.`,
        );
      }
      [source, target] = parts;
      readOnly = parts[2] === 'ro';
    } else {
      const raw = expectObject(item, at, "{ source: '/srv/cache', target: '/cache', readOnly: true }");
      rejectUnknownKeys(raw, ['source', 'target', 'readOnly'], at);
      ({ source, target } = raw);
      if (raw.readOnly !== undefined) readOnly = expectBoolean(raw.readOnly, `${at}.readOnly`);
    }
    const sourceText = expectString(source, `${at}.source`, 'an absolute host path or a volume name');
    const type = sourceText.startsWith('/') ? 'bind' : 'volume';
    const resolvedSource =
      type === 'bind' ? expectAbsolutePath(sourceText, `${at}.source`, { allowRoot: true }) : sourceText;
    if (type === 'volume' && !VOLUME_NAME.test(sourceText)) {
      throw new InvalidOptionsError(
        `${at}.source`,
        `expected an absolute host path or a volume name, got ${describe(sourceText)}.`,
      );
    }
    const resolvedTarget = expectAbsolutePath(target, `${at}.target`);
    if (targets.has(resolvedTarget))
      throw new InvalidOptionsError(`${at}.target`, `\`${resolvedTarget}\` is mounted twice.`);
    targets.add(resolvedTarget);
    return { type, source: resolvedSource, target: resolvedTarget, readOnly: readOnly === true };
  });
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}
