import { InvalidOptionsError } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HARDENING } from './docker-host-spec.js';
import { resolveHostSpec } from './resolve-host-spec.js';

const PATH = 'profiles.default.host';

function failure(input: unknown): InvalidOptionsError {
  try {
    resolveHostSpec(input, PATH);
  } catch (error) {
    if (error instanceof InvalidOptionsError) return error;
    throw error;
  }
  throw new Error('expected resolveHostSpec to throw');
}

describe('resolveHostSpec defaults', () => {
  it('fills in every default', () => {
    expect(resolveHostSpec({ image: 'python:3.12-slim' }, PATH)).toEqual({
      image: 'python:3.12-slim',
      env: {},
      forwardEnv: [],
      volumes: [],
      workspaceRoot: '/data',
      keepAliveCommand: ['sleep', '2147483647'],
      hardening: DEFAULT_HARDENING,
      hostConfig: {},
      pull: 'missing',
    });
  });

  it('accepts a bare image string', () => {
    expect(resolveHostSpec('busybox:1', PATH).image).toBe('busybox:1');
  });

  it('is deterministic (same input, same JSON) so core can hash it', () => {
    const input = { image: 'a', env: { B: '2', A: '1' }, volumes: ['/x:/y:ro'] };
    expect(JSON.stringify(resolveHostSpec(input, PATH))).toBe(JSON.stringify(resolveHostSpec(input, PATH)));
  });

  it('hardening: false disables it; an object overrides single knobs', () => {
    expect(resolveHostSpec({ image: 'a', hardening: false }, PATH).hardening).toBeNull();
    expect(
      resolveHostSpec({ image: 'a', hardening: { pidsLimit: null, capAdd: ['cap_net_bind_service'] } }, PATH)
        .hardening,
    ).toEqual({
      ...DEFAULT_HARDENING,
      pidsLimit: null,
      capAdd: ['NET_BIND_SERVICE'],
    });
    expect(resolveHostSpec({ image: 'a', hardening: { tmpfs: null } }, PATH).hardening?.tmpfs).toEqual({});
  });

  it('normalises volumes from strings and objects', () => {
    expect(
      resolveHostSpec(
        { image: 'a', volumes: ['/srv/cache:/cache:ro', { source: 'named', target: '/named/' }] },
        PATH,
      ).volumes,
    ).toEqual([
      { type: 'bind', source: '/srv/cache', target: '/cache', readOnly: true },
      { type: 'volume', source: 'named', target: '/named', readOnly: false },
    ]);
  });

  it('runAsHostUser resolves to this process uid:gid', () => {
    expect(resolveHostSpec({ image: 'a', runAsHostUser: true }, PATH).user).toBe(
      `${process.getuid?.()}:${process.getgid?.()}`,
    );
  });

  it('normalises workspaceRoot', () => {
    expect(resolveHostSpec({ image: 'a', workspaceRoot: '//work//slots/' }, PATH).workspaceRoot).toBe(
      '/work/slots',
    );
  });
});

describe('resolveHostSpec errors name the field path', () => {
  it.each([
    [{}, `${PATH}.image`, /expected an image reference/],
    [{ image: '' }, `${PATH}.image`, /expected an image reference/],
    [{ image: 'a b' }, `${PATH}.image`, /no whitespace/],
    [null, PATH, /expected an object/],
    [{ image: 'a', memoryMiB: 0.5 }, `${PATH}.memoryMiB`, /expected an integer ≥ 6 MiB, got 0.5/],
    [{ image: 'a', memoryMiB: '512' }, `${PATH}.memoryMiB`, /got "512"/],
    [{ image: 'a', cpus: 0 }, `${PATH}.cpus`, /between 0.01 and 1024/],
    [{ image: 'a', diskMiB: -1 }, `${PATH}.diskMiB`, /integer ≥ 1 MiB/],
    [{ image: 'a', memoryMb: 512 }, `${PATH}.memoryMb`, /Did you mean `memoryMiB`/],
    [{ image: 'a', workspaceRoot: 'data' }, `${PATH}.workspaceRoot`, /absolute path/],
    [{ image: 'a', workspaceRoot: '/data/../etc' }, `${PATH}.workspaceRoot`, /`\.\.` segments/],
    [{ image: 'a', workspaceRoot: '/' }, `${PATH}.workspaceRoot`, /not `\/` itself/],
    [{ image: 'a', env: { PORT: 8080 } }, `${PATH}.env.PORT`, /Quote numbers/],
    [{ image: 'a', env: { '1BAD': 'x' } }, `${PATH}.env.1BAD`, /names are letters/],
    [
      { image: 'a', forwardEnv: ['OK', 'NOT-OK'] },
      `${PATH}.forwardEnv[1]`,
      /not a valid environment variable/,
    ],
    [{ image: 'a', env: { A: '1' }, forwardEnv: ['A'] }, `${PATH}.forwardEnv[0]`, /also set in `env`/],
    [{ image: 'a', volumes: ['/only-one-part'] }, `${PATH}.volumes[0]`, /source:target/],
    [
      { image: 'a', volumes: [{ source: 'rel/path', target: '/x' }] },
      `${PATH}.volumes[0].source`,
      /volume name/,
    ],
    [{ image: 'a', volumes: ['/a:/x', '/b:/x'] }, `${PATH}.volumes[1].target`, /mounted twice/],
    [
      { image: 'a', volumes: [{ source: '/a', target: '/x', ro: true }] },
      `${PATH}.volumes[0].ro`,
      /unknown option/,
    ],
    [{ image: 'a', user: 'root; rm -rf /' }, `${PATH}.user`, /'uid:gid'/],
    [{ image: 'a', user: '1:1', runAsHostUser: true }, `${PATH}.runAsHostUser`, /not both/],
    [{ image: 'a', keepAliveCommand: [] }, `${PATH}.keepAliveCommand`, /at least the program/],
    [{ image: 'a', keepAliveCommand: 'sleep infinity' }, `${PATH}.keepAliveCommand`, /array of strings/],
    [{ image: 'a', hardening: 'on' }, `${PATH}.hardening`, /or false/],
    [{ image: 'a', hardening: { pidsLimit: 0 } }, `${PATH}.hardening.pidsLimit`, /or null for no limit/],
    [
      { image: 'a', hardening: { capAdd: ['NET ADMIN'] } },
      `${PATH}.hardening.capAdd[0]`,
      /not a Linux capability/,
    ],
    [
      { image: 'a', hardening: { tmpfs: { tmp: 'size=1m' } } },
      `${PATH}.hardening.tmpfs.tmp`,
      /absolute path/,
    ],
    [
      { image: 'a', hardening: { noNewPrivilege: true } },
      `${PATH}.hardening.noNewPrivilege`,
      /Did you mean `noNewPrivileges`/,
    ],
    [{ image: 'a', hostConfig: [] }, `${PATH}.hostConfig`, /HostConfig fields/],
    [{ image: 'a', pull: 'sometimes' }, `${PATH}.pull`, /'missing', 'never' or 'always'/],
  ])('%j → %s', (input, field, message) => {
    const error = failure(input);
    expect(error.field).toBe(field);
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.message).toMatch(message);
  });
});
