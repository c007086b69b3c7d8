import { type BackendFromEnv, BerthError, poolOptionsFromEnv } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { backendFromEnv } from './backend-from-env.js';
import * as nomadBackendModule from './index.js';

function invalidField(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
    return (error as { field: string }).field;
  }
  return undefined;
}

describe('backendFromEnv', () => {
  it('fits core’s BackendFromEnv and reads NOMAD_* like the CLI', () => {
    const configured: BackendFromEnv = backendFromEnv({
      NOMAD_ADDR: 'http://10.0.0.5:4646/',
      NOMAD_TOKEN: 'secret',
      NOMAD_NAMESPACE: 'agents',
      NOMAD_REGION: 'eu',
    });
    const { backend } = backendFromEnv({
      NOMAD_ADDR: 'http://10.0.0.5:4646/',
      NOMAD_TOKEN: 'secret',
      NOMAD_NAMESPACE: 'agents',
      NOMAD_REGION: 'eu',
    });
    expect(configured.backend.backendId).toBe('nomad');
    expect(backend.client.config.address).toBe('http://10.0.0.5:4646');
    expect(backend.client.config.token).toBe('secret');
    expect(backend.client.config.namespace).toBe('agents');
    expect(backend.client.config.region).toBe('eu');
  });

  it('does not read the process environment when given an env', () => {
    const { backend, host } = backendFromEnv({});
    expect(backend.client.config.address).toBe('http://127.0.0.1:4646');
    expect(backend.client.config.token).toBeUndefined();
    expect(host).toEqual({});
    expect(backend.resolveHostSpec(host, 'host').driver).toBe('raw_exec');
  });

  it('builds the host spec from BERTH_NOMAD_*', () => {
    const { backend, host } = backendFromEnv({
      BERTH_NOMAD_DRIVER: 'docker',
      BERTH_NOMAD_IMAGE: ' berth-test/busybox:1 ',
      BERTH_NOMAD_COMMAND: 'sleep 1000',
      BERTH_NOMAD_CPU_MHZ: '250',
      BERTH_NOMAD_MEMORY_MIB: '512',
      BERTH_NOMAD_DATACENTERS: 'dc1, dc2,',
    });
    expect(host).toEqual({
      driver: 'docker',
      image: 'berth-test/busybox:1',
      command: ['sleep', '1000'],
      cpu: 250,
      memoryMiB: 512,
      datacenters: ['dc1', 'dc2'],
    });
    const spec = backend.resolveHostSpec(host, 'host');
    expect(spec).toMatchObject({ driver: 'docker', image: 'berth-test/busybox:1', cpu: 250, memoryMiB: 512 });
  });

  it('takes BERTH_NOMAD_COMMAND as a JSON array for arguments with spaces', () => {
    const { host } = backendFromEnv({ BERTH_NOMAD_COMMAND: '["/bin/sh","-c","sleep 1000"]' });
    expect(host.command).toEqual(['/bin/sh', '-c', 'sleep 1000']);
    expect(invalidField(() => backendFromEnv({ BERTH_NOMAD_COMMAND: '["sh",' }))).toBe('BERTH_NOMAD_COMMAND');
    expect(invalidField(() => backendFromEnv({ BERTH_NOMAD_COMMAND: '[1]' }))).toBe('BERTH_NOMAD_COMMAND');
  });

  it('treats empty variables as unset', () => {
    const { host } = backendFromEnv({
      BERTH_NOMAD_DRIVER: '',
      BERTH_NOMAD_IMAGE: ' ',
      BERTH_NOMAD_CPU_MHZ: '',
    });
    expect(host).toEqual({});
  });

  it('names the variable of every bad value', () => {
    expect(invalidField(() => backendFromEnv({ BERTH_NOMAD_DRIVER: 'podman' }))).toBe('BERTH_NOMAD_DRIVER');
    expect(invalidField(() => backendFromEnv({ BERTH_NOMAD_DRIVER: 'docker' }))).toBe('BERTH_NOMAD_IMAGE');
    expect(
      invalidField(() => backendFromEnv({ BERTH_NOMAD_DRIVER: 'raw_exec', BERTH_NOMAD_IMAGE: 'x:1' })),
    ).toBe('BERTH_NOMAD_IMAGE');
    expect(invalidField(() => backendFromEnv({ BERTH_NOMAD_CPU_MHZ: 'lots' }))).toBe('BERTH_NOMAD_CPU_MHZ');
    expect(invalidField(() => backendFromEnv({ BERTH_NOMAD_CPU_MHZ: '-5' }))).toBe('BERTH_NOMAD_CPU_MHZ');
    expect(invalidField(() => backendFromEnv({ BERTH_NOMAD_MEMORY_MIB: '1.5' }))).toBe(
      'BERTH_NOMAD_MEMORY_MIB',
    );
    expect(invalidField(() => backendFromEnv({ BERTH_NOMAD_DATACENTERS: ' , ' }))).toBe(
      'BERTH_NOMAD_DATACENTERS',
    );
  });

  it('never puts the token in an error message', () => {
    try {
      backendFromEnv({ NOMAD_TOKEN: 'do-not-print-me', BERTH_NOMAD_CPU_MHZ: 'x' });
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('do-not-print-me');
    }
  });

  it("core's poolOptionsFromEnv takes this package as a `backends` entry, and knows its variables", async () => {
    const lookup = { backends: { nomad: nomadBackendModule } };
    const env = { BERTH_BACKEND: 'nomad', NOMAD_ADDR: 'http://127.0.0.1:1', BERTH_NOMAD_DRIVER: 'raw_exec' };
    const options = await poolOptionsFromEnv(env, lookup);
    expect(options.backend.backendId).toBe('nomad');
    expect(options.host).toMatchObject({ driver: 'raw_exec' });
    const typo = await poolOptionsFromEnv({ ...env, BERTH_NOMAD_DRVIER: 'exec' }, lookup).catch(
      (error: unknown) => error,
    );
    expect(BerthError.hasCode(typo, 'INVALID_OPTIONS')).toBe(true);
    expect((typo as Error).message).toContain('did you mean BERTH_NOMAD_DRIVER?');
  });
});
