import { InvalidOptionsError } from '@berth/core';
import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { resolveDockerEndpoints } from './resolve-docker-endpoints.js';

const addresses = (options: Parameters<typeof resolveDockerEndpoints>[0]) =>
  resolveDockerEndpoints(options).map((endpoint) => endpoint.address);

describe('resolveDockerEndpoints', () => {
  it('probes the usual sockets in order when nothing is configured', () => {
    expect(addresses({ env: { HOME: '/home/u', XDG_RUNTIME_DIR: '/run/user/1000' } })).toEqual([
      'unix:///var/run/docker.sock',
      'unix:///run/user/1000/docker.sock',
      'unix:///home/u/.docker/run/docker.sock',
      'unix:///home/u/.docker/desktop/docker.sock',
      'unix:///run/user/1000/podman/podman.sock',
      'unix:///run/podman/podman.sock',
    ]);
  });

  it('uses only DOCKER_HOST when it is set (fail closed, no fallback)', () => {
    const endpoints = resolveDockerEndpoints({ env: { DOCKER_HOST: 'unix:///tmp/d.sock' } });
    expect(endpoints.map((endpoint) => [endpoint.address, endpoint.explicit])).toEqual([
      ['unix:///tmp/d.sock', true],
    ]);
    expect(endpoints[0]?.create()).toMatchObject({ socketPath: '/tmp/d.sock', host: undefined });
  });

  it('parses tcp, TLS and ssh DOCKER_HOST values', () => {
    expect(addresses({ env: { DOCKER_HOST: 'tcp://10.0.0.5:2375' } })).toEqual(['tcp://10.0.0.5:2375']);
    expect(addresses({ env: { DOCKER_HOST: 'tcp://10.0.0.5:2376' } })).toEqual(['tcp://10.0.0.5:2376 (TLS)']);
    expect(addresses({ env: { DOCKER_HOST: 'tcp://h:4243', DOCKER_TLS_VERIFY: '1' } })).toEqual([
      'tcp://h:4243 (TLS)',
    ]);
    expect(addresses({ env: { DOCKER_HOST: 'tcp://h', DOCKER_TLS_VERIFY: '1' } })).toEqual([
      'tcp://h:2376 (TLS)',
    ]);
    const ssh = resolveDockerEndpoints({ env: { DOCKER_HOST: 'ssh://me@box', SSH_AUTH_SOCK: '/a.sock' } })[0];
    expect(ssh?.address).toBe('ssh://box:22');
    expect(ssh?.create()).toMatchObject({
      protocol: 'ssh',
      host: 'box',
      username: 'me',
      sshOptions: { agent: '/a.sock' },
    });
  });

  it('reads TLS material lazily from DOCKER_CERT_PATH, with a clear error', () => {
    const [endpoint] = resolveDockerEndpoints({
      env: { DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/nonexistent/certs' },
    });
    expect(() => endpoint?.create()).toThrow(/cannot read \/nonexistent\/certs\/ca\.pem/);
  });

  it('rejects a malformed DOCKER_HOST at construction', () => {
    expect(() => resolveDockerEndpoints({ env: { DOCKER_HOST: 'unix://' } })).toThrow(InvalidOptionsError);
    expect(() => resolveDockerEndpoints({ env: { DOCKER_HOST: 'ftp://h' } })).toThrow(/unsupported scheme/);
  });

  it('explicit options win over DOCKER_HOST', () => {
    expect(addresses({ socketPath: '/s.sock', env: { DOCKER_HOST: 'tcp://h:1' } })).toEqual([
      'unix:///s.sock',
    ]);
    expect(addresses({ host: 'h', port: 2375, env: { DOCKER_HOST: 'unix:///x' } })).toEqual(['tcp://h:2375']);
    const docker = new Dockerode({ socketPath: '/mine.sock' });
    expect(addresses({ docker, env: { DOCKER_HOST: 'tcp://h:1' } })).toEqual(['unix:///mine.sock']);
    expect(() => resolveDockerEndpoints({ host: 'h', port: 70_000 })).toThrow(/port/);
  });
});
