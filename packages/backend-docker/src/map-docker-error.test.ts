import { AbortedError, BerthError, NotFoundError } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { mapDockerError } from './map-docker-error.js';

function modemError(statusCode: number, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) unexpected - ${message} `), {
    statusCode,
    json: { message },
  });
}

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} /var/run/docker.sock`), { code });
}

const context = { action: 'create a container', address: 'unix:///var/run/docker.sock', hostId: 'abc' };

describe('mapDockerError', () => {
  it.each([
    [socketError('ECONNREFUSED'), 'BACKEND_UNAVAILABLE', /Is dockerd running/],
    [socketError('ENOENT'), 'BACKEND_UNAVAILABLE', /set DOCKER_HOST/],
    [socketError('EACCES'), 'AUTHENTICATION', /docker` group/],
    [socketError('CERT_HAS_EXPIRED'), 'AUTHENTICATION', /DOCKER_CERT_PATH/],
    [modemError(400, 'invalid CapAdd'), 'INVALID_OPTIONS', /invalid CapAdd/],
    [modemError(401, 'unauthorized'), 'AUTHENTICATION', /unauthorized/],
    [modemError(403, 'authz plugin denied'), 'AUTHENTICATION', /denied/],
    [modemError(404, 'No such container: abc'), 'NOT_FOUND', /No such container/],
    [modemError(409, 'Container abc is not running'), 'HOST_LOST', /is not running/],
    [modemError(409, 'name already in use'), 'INTERNAL', /conflict/],
    [modemError(500, 'no space left on device'), 'CAPACITY', /Free disk/],
    [modemError(500, 'fork: too many processes'), 'CAPACITY', /lower maxHosts/],
    [modemError(500, 'something odd'), 'INTERNAL', /HTTP 500: something odd/],
  ])('%s → %s', (error, code, message) => {
    const mapped = mapDockerError(error, context);
    expect(mapped.code).toBe(code);
    expect(mapped.message).toMatch(message);
    expect(mapped.cause).toBe(error);
  });

  it('lists the address for BACKEND_UNAVAILABLE and marks CAPACITY retryable with a delay', () => {
    expect(mapDockerError(socketError('ECONNREFUSED'), context)).toMatchObject({
      tried: [context.address],
      retryable: true,
    });
    expect(mapDockerError(modemError(500, 'no space left on device'), context)).toMatchObject({
      retryAfterMs: 5_000,
    });
  });

  it('passes BerthErrors through and maps AbortError', () => {
    const original = new NotFoundError('x');
    expect(mapDockerError(original, context)).toBe(original);
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    expect(mapDockerError(abort, context)).toBeInstanceOf(AbortedError);
    expect(BerthError.isInstance(mapDockerError('weird', context))).toBe(true);
  });
});
