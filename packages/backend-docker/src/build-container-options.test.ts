import { describe, expect, it } from 'vitest';
import { buildContainerOptions, containerName } from './build-container-options.js';
import { resolveHostSpec } from './resolve-host-spec.js';

const labels = { 'berth.managed': '1', 'berth.pool': 'p' };

describe('buildContainerOptions', () => {
  it('maps a full spec to a create body, hostConfig passthrough last', () => {
    const spec = resolveHostSpec(
      {
        image: 'img:1',
        cpus: 1.5,
        memoryMiB: 512,
        diskMiB: 1024,
        env: { A: '1' },
        forwardEnv: ['TOKEN'],
        volumes: ['/src:/dst:ro'],
        networkMode: 'none',
        user: '1000:1000',
        hostConfig: { PidsLimit: 99, ShmSize: 1 },
      },
      'spec',
    );
    const body = buildContainerOptions({ name: 'n', spec, labels, hostEnv: { TOKEN: 'secret' } });
    expect(body).toMatchObject({
      name: 'n',
      Image: 'img:1',
      Entrypoint: [],
      Cmd: ['sleep', '2147483647'],
      Env: ['A=1', 'TOKEN=secret'],
      User: '1000:1000',
      Labels: { ...labels, 'berth.backend': 'docker', 'berth.docker.workspace-root': '/data' },
      HostConfig: {
        NanoCpus: 1_500_000_000,
        Memory: 512 * 1024 * 1024,
        MemorySwap: 512 * 1024 * 1024,
        StorageOpt: { size: '1024M' },
        NetworkMode: 'none',
        Mounts: [{ Type: 'bind', Source: '/src', Target: '/dst', ReadOnly: true }],
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges:true'],
        Init: true,
        PidsLimit: 99,
        ShmSize: 1,
        Tmpfs: { '/tmp': 'size=256m' },
      },
    });
  });

  it('adds no hardening when disabled and can drop the pids limit', () => {
    const bare = buildContainerOptions({
      name: 'n',
      spec: resolveHostSpec({ image: 'a', hardening: false }, 's'),
      labels,
      hostEnv: {},
    });
    expect(bare.HostConfig).toEqual({});
    const noPids = buildContainerOptions({
      name: 'n',
      spec: resolveHostSpec('a', 's'),
      labels,
      hostEnv: {},
      omitPidsLimit: true,
    });
    expect(noPids.HostConfig?.PidsLimit).toBeUndefined();
  });

  it('refuses an unset forwarded variable, naming it', () => {
    const spec = resolveHostSpec({ image: 'a', forwardEnv: ['MISSING_ONE'] }, 's');
    expect(() => buildContainerOptions({ name: 'n', spec, labels, hostEnv: {} })).toThrow(
      /`MISSING_ONE` is listed in forwardEnv/,
    );
  });

  it('names containers after the pool, safely', () => {
    expect(containerName({ 'berth.pool': 'my pool/1' }, 'default', 'abc')).toBe('berth-my_pool_1-abc');
    expect(containerName({}, 'gpu', 'abc')).toBe('berth-gpu-abc');
  });
});
