import { describe, expect, it } from 'vitest';
import { backendFromEnv } from './backend-from-env.js';

describe('backendFromEnv (BERTH_BACKEND=modal)', () => {
  it('reads the host spec and backend settings from BERTH_MODAL_* without I/O', () => {
    const { backend, host } = backendFromEnv({
      BERTH_MODAL_APP: 'rl-batch',
      BERTH_MODAL_IMAGE: 'python:3.12-slim',
      BERTH_MODAL_CPU: '2',
      BERTH_MODAL_MEMORY_MIB: '4096',
      BERTH_MODAL_GPU: 'T4',
      BERTH_MODAL_REGIONS: 'us-east, eu-west',
      BERTH_MODAL_SECRETS: 'hf',
      BERTH_MODAL_IDLE_TIMEOUT_MS: '60000',
    });
    expect(backend.backendId).toBe('modal');
    expect(host).toEqual({
      image: 'python:3.12-slim',
      cpu: 2,
      memoryMiB: 4096,
      gpu: 'T4',
      regions: ['us-east', 'eu-west'],
      secrets: ['hf'],
      idleTimeoutMs: 60000,
    });
  });

  it('names the variable of a bad value', () => {
    expect(() => backendFromEnv({})).toThrow(expect.objectContaining({ field: 'BERTH_MODAL_IMAGE' }));
    expect(() => backendFromEnv({ BERTH_MODAL_IMAGE: 'x', BERTH_MODAL_TIMEOUT_MS: '10' })).toThrow(
      expect.objectContaining({ field: 'BERTH_MODAL_TIMEOUT_MS' }),
    );
  });
});
