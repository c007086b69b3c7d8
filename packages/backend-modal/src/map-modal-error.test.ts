import { describe, expect, it } from 'vitest';
import { mapModalError } from './map-modal-error.js';

function clientError(code: number, details: string) {
  return Object.assign(new Error(`/modal.client.ModalClient/X: ${details}`), {
    name: 'ClientError',
    code,
    details,
  });
}
function sdkError(name: string, message: string) {
  return Object.assign(new Error(message), { name });
}

describe('mapModalError', () => {
  it('a refused or missing token is AUTHENTICATION saying how to set one', () => {
    for (const error of [
      clientError(16, 'Token ID or secret is invalid'),
      new Error('Profile is missing credentials. Please set them in .modal.toml'),
    ]) {
      const mapped = mapModalError(error, { operation: 'create a Modal sandbox' });
      expect(mapped).toMatchObject({ code: 'AUTHENTICATION' });
      expect(mapped.message).toMatch(/MODAL_TOKEN_ID and MODAL_TOKEN_SECRET/);
      expect(mapped.message).toMatch(/~\/\.modal\.toml/);
    }
  });

  it('PERMISSION_DENIED (valid token, not allowed on this plan) is INVALID_OPTIONS, not a token problem', () => {
    const mapped = mapModalError(clientError(7, 'GPU type A100 is not available on your plan'), {
      operation: 'create a Modal sandbox',
    });
    expect(mapped).toMatchObject({ code: 'INVALID_OPTIONS', field: 'host' });
    expect(mapped.message).toMatch(/GPU type A100 is not available on your plan/);
    expect(mapped.message).toMatch(/credentials are valid/);
    expect(mapped.message).not.toMatch(/MODAL_TOKEN_ID/);
  });

  it('RESOURCE_EXHAUSTED is CAPACITY with retryAfterMs', () => {
    expect(mapModalError(clientError(8, 'rate limit'), { operation: 'x', retryAfterMs: 250 })).toMatchObject({
      code: 'CAPACITY',
      retryAfterMs: 250,
    });
    expect(
      mapModalError(sdkError('ResourceExhaustedError', 'Insufficient capacity'), { operation: 'x' }),
    ).toMatchObject({
      code: 'CAPACITY',
      retryAfterMs: 1000,
    });
  });

  it('HOST_LOST only on a structured signal, never from the text of an error alone', () => {
    for (const error of [
      clientError(9, 'Sandbox sb-1 is not running'),
      clientError(5, 'Sandbox sb-1 not found'),
      clientError(4, 'request timed out'),
      new Error('sandbox terminated'),
    ]) {
      expect(mapModalError(error, { operation: 'x', sandboxId: 'sb-1' })).not.toMatchObject({
        code: 'HOST_LOST',
      });
    }
    const confirmed = mapModalError(clientError(9, 'Sandbox sb-1 is not running'), {
      operation: 'x',
      sandboxId: 'sb-1',
      sandboxEnded: 'the sandbox was terminated: Sandbox terminated from the dashboard',
    });
    expect(confirmed).toMatchObject({ code: 'HOST_LOST' });
    expect(confirmed.message).toMatch(/terminated from the dashboard/);
    expect(
      mapModalError(sdkError('SandboxTimeoutError', 'Sandbox operation timed out'), {
        operation: 'x',
        sandboxId: 'sb-1',
      }),
    ).toMatchObject({ code: 'HOST_LOST' });
  });

  it('not found and invalid arguments keep their meaning; unknown errors are INTERNAL', () => {
    expect(
      mapModalError(sdkError('NotFoundError', "Secret 'hf' not found"), { operation: 'x' }),
    ).toMatchObject({ code: 'NOT_FOUND' });
    expect(mapModalError(clientError(3, 'bad gpu'), { operation: 'x' })).toMatchObject({
      code: 'INVALID_OPTIONS',
    });
    expect(mapModalError(clientError(14, 'connection refused'), { operation: 'x' })).toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
    });
    expect(mapModalError(new Error('boom'), { operation: 'x' })).toMatchObject({ code: 'INTERNAL' });
  });
});
