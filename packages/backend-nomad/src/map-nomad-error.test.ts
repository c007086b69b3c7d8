import { BerthError } from '@berth/core';
import { describe, expect, it } from 'vitest';
import {
  classifyNomadFailure,
  mapExecCloseError,
  mapNomadError,
  NomadHttpError,
  NomadRequestTimeoutError,
  parseRetryAfterMs,
} from './map-nomad-error.js';

const context = { address: 'http://127.0.0.1:4646', operation: 'list jobs', namespace: 'default' };
const refused = Object.assign(new TypeError('fetch failed'), {
  cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4646'), { code: 'ECONNREFUSED' }),
});

describe('mapNomadError', () => {
  it('maps 403 to AUTHENTICATION pointing at NOMAD_TOKEN and the policy', () => {
    const error = mapNomadError(new NomadHttpError(403, 'Permission denied', 'GET', '/v1/jobs'), context);
    expect(error.code).toBe('AUTHENTICATION');
    expect(error.message).toContain('NOMAD_TOKEN');
    expect(error.message).toContain('policy');
    expect(error.cause).toBeInstanceOf(NomadHttpError);
  });

  it('says so when no token was sent at all', () => {
    const error = mapNomadError(new NomadHttpError(403, 'Permission denied', 'GET', '/v1/jobs'), {
      ...context,
      tokenConfigured: false,
    });
    expect(error.message).toContain('No ACL token was sent');
  });

  it('maps 404 to NOT_FOUND and 429 to CAPACITY with retryAfterMs', () => {
    expect(mapNomadError(new NomadHttpError(404, 'job not found', 'GET', '/v1/job/x'), context).code).toBe(
      'NOT_FOUND',
    );
    const capacity = mapNomadError(new NomadHttpError(429, 'slow down', 'GET', '/v1/jobs', 2_500), context);
    expect(capacity.code).toBe('CAPACITY');
    expect((capacity as { retryAfterMs?: number }).retryAfterMs).toBe(2_500);
    expect(capacity.retryable).toBe(true);
  });

  it('maps 400 to INVALID_OPTIONS naming the given field', () => {
    const error = mapNomadError(new NomadHttpError(400, 'Task group validation failed', 'POST', '/v1/jobs'), {
      ...context,
      field: 'spec',
    });
    expect(error.code).toBe('INVALID_OPTIONS');
    expect((error as { field?: string }).field).toBe('spec');
  });

  it('maps 5xx and "no leader" to BACKEND_UNAVAILABLE', () => {
    const error = mapNomadError(new NomadHttpError(500, 'No cluster leader', 'GET', '/v1/jobs'), context);
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.message).toContain('no leader');
  });

  it('maps a refused connection to BACKEND_UNAVAILABLE naming the address', () => {
    const error = mapNomadError(refused, context);
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.message).toContain('http://127.0.0.1:4646');
    expect(error.message).toContain('NOMAD_ADDR');
    expect((error as unknown as { tried: string[] }).tried).toEqual(['http://127.0.0.1:4646']);
  });

  it('maps connect timeouts, TLS failures and request timeouts to BACKEND_UNAVAILABLE', () => {
    const timeout = Object.assign(new TypeError('fetch failed'), {
      cause: { code: 'UND_ERR_CONNECT_TIMEOUT' },
    });
    expect(mapNomadError(timeout, { ...context, connectTimeoutMs: 5000 }).message).toContain('5000 ms');
    const tls = Object.assign(new TypeError('fetch failed'), {
      cause: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
    });
    expect(mapNomadError(tls, context).message).toContain('NOMAD_CACERT');
    const slow = mapNomadError(new NomadRequestTimeoutError(30_000, 'GET', '/v1/jobs'), context);
    expect(slow.code).toBe('BACKEND_UNAVAILABLE');
  });

  it('passes Berth errors through untouched', () => {
    const original = mapNomadError(refused, context);
    expect(mapNomadError(original, context)).toBe(original);
    expect(BerthError.isInstance(original)).toBe(true);
  });
});

describe('classifyNomadFailure', () => {
  it('retries a refused connection even for non-idempotent calls', () => {
    expect(classifyNomadFailure(refused, false).retry).toBe(true);
  });
  it('retries resets and 5xx only when idempotent', () => {
    const reset = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
    expect(classifyNomadFailure(reset, true).retry).toBe(true);
    expect(classifyNomadFailure(reset, false).retry).toBe(false);
    expect(classifyNomadFailure(new NomadHttpError(503, '', 'GET', '/'), true).retry).toBe(true);
    expect(classifyNomadFailure(new NomadHttpError(503, '', 'POST', '/'), false).retry).toBe(false);
  });
  it('retries 429 with the server delay, never 4xx or connect timeouts', () => {
    expect(classifyNomadFailure(new NomadHttpError(429, '', 'GET', '/', 700), false)).toEqual({
      retry: true,
      delayMs: 700,
    });
    expect(classifyNomadFailure(new NomadHttpError(404, '', 'GET', '/'), true).retry).toBe(false);
    const timeout = Object.assign(new TypeError('fetch failed'), {
      cause: { code: 'UND_ERR_CONNECT_TIMEOUT' },
    });
    expect(classifyNomadFailure(timeout, true).retry).toBe(false);
  });
});

describe('parseRetryAfterMs', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfterMs('3')).toBe(3000);
    expect(parseRetryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfterMs(null)).toBeUndefined();
    expect(parseRetryAfterMs('soon')).toBeUndefined();
  });
});

describe('mapExecCloseError', () => {
  it('maps the close reasons Nomad sends on exec', () => {
    expect(mapExecCloseError(1008, 'rpc error: Permission denied', context).code).toBe('AUTHENTICATION');
    expect(mapExecCloseError(1008, 'task not found', context).code).toBe('NOT_FOUND');
    expect(mapExecCloseError(1011, 'something broke', context).code).toBe('BACKEND_UNAVAILABLE');
  });
});
