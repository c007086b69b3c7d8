import { BerthError } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { parseGoBool, resolveNomadClientConfig } from './resolve-nomad-client-config.js';

describe('resolveNomadClientConfig', () => {
  it('defaults to the local agent when nothing is set', () => {
    const config = resolveNomadClientConfig({ env: {} });
    expect(config.address).toBe('http://127.0.0.1:4646');
    expect(config.token).toBeUndefined();
    expect(config.namespace).toBeUndefined();
    expect(config.usesTls).toBe(false);
    expect(config.connectTimeoutMs).toBe(5_000);
    expect(config.retries).toBe(3);
    expect(config.execHeartbeatIntervalMs).toBe(10_000);
  });

  it('reads every NOMAD_* variable the Nomad CLI reads', () => {
    const config = resolveNomadClientConfig({
      env: {
        NOMAD_ADDR: 'https://nomad.example:4646/',
        NOMAD_TOKEN: 'secret-token',
        NOMAD_NAMESPACE: 'berth',
        NOMAD_REGION: 'eu',
        NOMAD_CACERT: '/etc/nomad/ca.pem',
        NOMAD_CAPATH: '/etc/nomad/cas',
        NOMAD_CLIENT_CERT: '/etc/nomad/cli.pem',
        NOMAD_CLIENT_KEY: '/etc/nomad/cli-key.pem',
        NOMAD_TLS_SERVER_NAME: 'server.global.nomad',
        NOMAD_SKIP_VERIFY: 'true',
        NOMAD_HTTP_AUTH: 'user:pass',
      },
    });
    expect(config).toMatchObject({
      address: 'https://nomad.example:4646',
      token: 'secret-token',
      namespace: 'berth',
      region: 'eu',
      httpAuth: 'user:pass',
      usesTls: true,
      tls: {
        caCert: '/etc/nomad/ca.pem',
        caPath: '/etc/nomad/cas',
        clientCert: '/etc/nomad/cli.pem',
        clientKey: '/etc/nomad/cli-key.pem',
        serverName: 'server.global.nomad',
        insecureSkipVerify: true,
      },
    });
  });

  it('treats empty variables as unset, like the CLI', () => {
    const config = resolveNomadClientConfig({
      env: { NOMAD_ADDR: '', NOMAD_TOKEN: '', NOMAD_NAMESPACE: '' },
    });
    expect(config.address).toBe('http://127.0.0.1:4646');
    expect(config.token).toBeUndefined();
    expect(config.namespace).toBeUndefined();
  });

  it('lets explicit options win over the environment', () => {
    const config = resolveNomadClientConfig({
      address: 'http://10.0.0.1:4646',
      token: 'explicit',
      namespace: 'other',
      env: { NOMAD_ADDR: 'http://127.0.0.1:4646', NOMAD_TOKEN: 'from-env', NOMAD_NAMESPACE: 'env-ns' },
    });
    expect(config).toMatchObject({ address: 'http://10.0.0.1:4646', token: 'explicit', namespace: 'other' });
  });

  it('parses NOMAD_SKIP_VERIFY with Go strconv.ParseBool rules and ignores junk', () => {
    expect(parseGoBool('1')).toBe(true);
    expect(parseGoBool('T')).toBe(true);
    expect(parseGoBool('False')).toBe(false);
    expect(parseGoBool('yes')).toBeUndefined();
    const junk = resolveNomadClientConfig({
      env: { NOMAD_ADDR: 'https://x:4646', NOMAD_SKIP_VERIFY: 'yes' },
    });
    expect(junk.tls.insecureSkipVerify).toBe(false);
  });

  it('ignores TLS variables for an http address, as the CLI does', () => {
    const config = resolveNomadClientConfig({ env: { NOMAD_CACERT: '/ca.pem' } });
    expect(config.usesTls).toBe(false);
  });

  it.each([
    [{ address: '127.0.0.1:4646' }, 'nomad.address', 'include the scheme'],
    [{ address: 'unix:///var/run/nomad.sock' }, 'nomad.address', 'unix socket'],
    [{ address: 'ftp://x' }, 'nomad.address', 'http:// or https://'],
    [{ address: 'http://u:p@x:4646' }, 'nomad.address', 'credentials'],
    [{ connectTimeoutMs: 0 }, 'nomad.connectTimeoutMs', 'positive integer'],
    [{ retries: -1 }, 'nomad.retries', 'non-negative'],
    [{ retryMinDelayMs: 500, retryMaxDelayMs: 100 }, 'nomad.retryMaxDelayMs', '≥ `retryMinDelayMs`'],
    [{ address: 'https://x', tls: { clientCert: '/c.pem' } }, 'nomad.tls.clientKey', 'both'],
    [{ tls: { caCert: '/ca.pem' } }, 'nomad.address', 'plain http'],
    [{ token: 'a\nb' }, 'nomad.token', 'single-line'],
  ])('rejects %j naming %s', (options, field, message) => {
    const error = captureError(() => resolveNomadClientConfig({ env: {}, ...options }));
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as { field: string }).field).toBe(field);
    expect((error as Error).message).toContain(message);
  });

  it('names NOMAD_ADDR when the bad address came from the environment', () => {
    const error = captureError(() => resolveNomadClientConfig({ env: { NOMAD_ADDR: 'nomad:4646' } }));
    expect((error as Error).message).toContain('from NOMAD_ADDR');
  });

  it('never puts the token into an error message', () => {
    const error = captureError(() =>
      resolveNomadClientConfig({ token: 'top-secret', connectTimeoutMs: -5, env: {} }),
    );
    expect((error as Error).message).not.toContain('top-secret');
  });
});

function captureError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
