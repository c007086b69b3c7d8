import { BerthError, InvalidOptionsError, poolOptionsFromEnv } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { backendFromEnv } from './backend-from-env.js';
import * as dockerBackendModule from './index.js';

describe('backendFromEnv', () => {
  it('needs BERTH_DOCKER_IMAGE and says how to set it', () => {
    for (const env of [{}, { BERTH_DOCKER_IMAGE: '  ' }]) {
      const error = (() => {
        try {
          backendFromEnv(env);
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect((error as InvalidOptionsError).code).toBe('INVALID_OPTIONS');
      expect((error as InvalidOptionsError).field).toBe('BERTH_DOCKER_IMAGE');
      expect((error as Error).message).toMatch(/BERTH_DOCKER_IMAGE=python/);
    }
  });

  it('reads the image and nothing else by default', () => {
    const { backend, host } = backendFromEnv({ BERTH_DOCKER_IMAGE: 'busybox:1' });
    expect(backend.backendId).toBe('docker');
    expect(host).toEqual({ image: 'busybox:1' });
    expect(backend.resolveHostSpec(host, 'host').image).toBe('busybox:1');
  });

  it('reads memory, cpus, network mode and workspace root', () => {
    const { host, backend } = backendFromEnv({
      BERTH_DOCKER_IMAGE: 'python:3.12-slim',
      BERTH_DOCKER_MEMORY_MIB: '1024',
      BERTH_DOCKER_CPUS: '1.5',
      BERTH_DOCKER_NETWORK_MODE: 'none',
      BERTH_DOCKER_WORKSPACE_ROOT: '/work',
    });
    expect(host).toEqual({
      image: 'python:3.12-slim',
      memoryMiB: 1024,
      cpus: 1.5,
      networkMode: 'none',
      workspaceRoot: '/work',
    });
    const spec = backend.resolveHostSpec(host, 'host');
    expect(spec).toMatchObject({ memoryMiB: 1024, cpus: 1.5, networkMode: 'none', workspaceRoot: '/work' });
  });

  it('names the variable when a value is bad', () => {
    const bad: Record<string, string>[] = [
      { BERTH_DOCKER_MEMORY_MIB: 'lots' },
      { BERTH_DOCKER_MEMORY_MIB: '-5' },
      { BERTH_DOCKER_CPUS: 'x' },
      { BERTH_DOCKER_CPUS: '0' },
      { BERTH_DOCKER_WORKSPACE_ROOT: 'relative/dir' },
    ];
    for (const extra of bad) {
      const variable = Object.keys(extra)[0];
      expect(() => backendFromEnv({ BERTH_DOCKER_IMAGE: 'busybox:1', ...extra }), variable).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTIONS', field: variable }),
      );
    }
  });

  it('finds the daemon through DOCKER_HOST in the given env, failing closed on a malformed one', () => {
    expect(() => backendFromEnv({ BERTH_DOCKER_IMAGE: 'busybox:1', DOCKER_HOST: 'bogus://x' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', field: 'DOCKER_HOST' }),
    );
    // A well-formed one is accepted without I/O (the daemon is only contacted on first use).
    const { backend } = backendFromEnv({ BERTH_DOCKER_IMAGE: 'busybox:1', DOCKER_HOST: 'tcp://127.0.0.1:1' });
    expect(backend.address).toBeUndefined();
  });

  it("core's poolOptionsFromEnv takes this package as a `backends` entry, and knows its variables", async () => {
    const lookup = { backends: { docker: dockerBackendModule } };
    const options = await poolOptionsFromEnv(
      { BERTH_BACKEND: 'docker', BERTH_DOCKER_IMAGE: 'busybox:1', BERTH_MAX_HOSTS: '2' },
      lookup,
    );
    expect(options.backend.backendId).toBe('docker');
    expect(options).toMatchObject({ host: { image: 'busybox:1' }, maxHosts: 2 });
    const typo = await poolOptionsFromEnv(
      { BERTH_BACKEND: 'docker', BERTH_DOCKER_IMAGE: 'busybox:1', BERTH_DOCKER_MEMORY_MB: '512' },
      lookup,
    ).catch((error: unknown) => error);
    expect(BerthError.hasCode(typo, 'INVALID_OPTIONS')).toBe(true);
    expect((typo as InvalidOptionsError).field).toBe('BERTH_DOCKER_MEMORY_MB');
    expect((typo as Error).message).toContain('did you mean BERTH_DOCKER_MEMORY_MIB?');
  });
});
