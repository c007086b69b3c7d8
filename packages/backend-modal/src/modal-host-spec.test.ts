import { describe, expect, it } from 'vitest';
import { resolveModalHostSpec } from './modal-host-spec.js';
import { sandboxParams } from './modal-resources.js';

const none = { secrets: [], volumes: {} };

describe('resolveModalHostSpec', () => {
  it('rounds timeouts up to whole seconds (Modal takes seconds) and keeps every option', () => {
    const spec = resolveModalHostSpec(
      {
        image: 'python:3.12-slim',
        cpu: 0.5,
        memoryMiB: 1024,
        gpu: 'A100-80GB:2',
        env: { A: '1' },
        secrets: ['hf'],
        volumes: { '/data': 'datasets' },
        workdir: '/work',
        regions: ['us-east'],
        cidrAllowlist: ['10.0.0.0/8'],
        timeoutMs: 1500,
        idleTimeoutMs: 60_000,
      },
      'host',
    );
    expect(spec).toMatchObject({
      timeoutSeconds: 2,
      idleTimeoutSeconds: 60,
      gpu: 'A100-80GB:2',
      workspaceRoot: '/berth/slots',
    });
  });

  it.each([
    [{ image: 'x', timeoutMs: 999 }, 'host.timeoutMs', /≥ 1000.*rounded up to whole seconds/],
    [{ image: 'x', idleTimeoutMs: Number.NaN }, 'host.idleTimeoutMs', /milliseconds/],
    [{ image: 'x', timeoutMs: 25 * 3600_000 }, 'host.timeoutMs', /24 h/],
    [{ image: 'x', gpu: 'A100:x' }, 'host.gpu', /matching/],
    [{ image: 'x', workdir: 'rel' }, 'host.workdir', /absolute/],
    [{ image: 'x', blockNetwork: true, cidrAllowlist: ['1.2.3.4/32'] }, 'host.cidrAllowlist', /blockNetwork/],
    [{ image: 'x', cpus: 2 }, 'host.cpus', /not a Modal host option/],
    [{}, 'host.image', /required/],
  ])('rejects %j naming the field', (input, field, message) => {
    expect(() => resolveModalHostSpec(input, 'host')).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', field }),
    );
    expect(() => resolveModalHostSpec(input, 'host')).toThrow(message);
  });
});

describe('sandboxParams', () => {
  it("always sets the lifetime: the pool's hostLifetimeMs by default, Modal's 24 h for Infinity", () => {
    const spec = resolveModalHostSpec({ image: 'x' }, 'host');
    expect(sandboxParams(spec, 3_600_000, none).timeoutMs).toBe(3_600_000);
    expect(sandboxParams(spec, 90_500, none).timeoutMs).toBe(91_000);
    expect(sandboxParams(spec, Number.POSITIVE_INFINITY, none).timeoutMs).toBe(86_400_000);
    expect(sandboxParams(spec, undefined, none).timeoutMs).toBe(86_400_000);
  });

  it('a spec timeout shorter than the pool lifetime wins; a longer one is capped by it', () => {
    const spec = resolveModalHostSpec({ image: 'x', timeoutMs: 600_000, idleTimeoutMs: 30_000 }, 'host');
    expect(sandboxParams(spec, 3_600_000, none)).toMatchObject({ timeoutMs: 600_000, idleTimeoutMs: 30_000 });
    expect(sandboxParams(spec, 60_000, none).timeoutMs).toBe(60_000);
  });
});
