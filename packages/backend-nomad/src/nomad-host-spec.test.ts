import { BerthError } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { resolveNomadHostSpec } from './nomad-host-spec.js';

describe('resolveNomadHostSpec', () => {
  it('fills defaults for a docker host', () => {
    const spec = resolveNomadHostSpec({ image: 'berth-test/busybox:1' }, 'profiles.default.spec');
    expect(spec).toMatchObject({
      driver: 'docker',
      image: 'berth-test/busybox:1',
      command: ['sleep', '2147483647'],
      cpu: 100,
      memoryMiB: 256,
      diskMiB: 300,
      datacenters: ['*'],
      priority: 50,
      killTimeoutMs: 5000,
      taskLogs: false,
      restart: { attempts: 0, mode: 'fail' },
      reschedule: { attempts: 0, unlimited: false },
      docker: { init: true, pidsLimit: 4096, noNewPrivileges: true, capDrop: ['ALL'] },
    });
  });

  it('defaults to raw_exec without an image, with an absolute keep-alive', () => {
    const spec = resolveNomadHostSpec({}, 'spec');
    expect(spec.driver).toBe('raw_exec');
    // A shell that kills the allocation's slot sessions when Nomad stops the task, then exits.
    expect(spec.command.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(spec.command[2]).toContain('BERTH_SESSION=1');
    expect(spec.command[2]).toContain('trap');
    expect(spec.docker).toBeUndefined();
  });

  it('is deterministic, so the spec hash is stable', () => {
    const input = {
      image: 'x:1',
      env: { A: '1' },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
      constraints: [{ attribute: '${attr.kernel.name}', value: 'linux' }],
    };
    expect(resolveNomadHostSpec(input, 's')).toEqual(resolveNomadHostSpec(structuredClone(input), 's'));
  });

  it.each([
    [{ driver: 'docker' }, 'p.image', 'needs an image'],
    [{ driver: 'raw_exec', image: 'x:1' }, 'p.image', 'runs no image'],
    [{ driver: 'podman' }, 'p.driver', 'expected one of'],
    [{ memory: 512 }, 'p.memory', 'Did you mean `memoryMiB`'],
    [{ cpu: 0 }, 'p.cpu', 'integer'],
    [{ memoryMiB: 512, memoryMaxMiB: 256 }, 'p.memoryMaxMiB', '≥ `memoryMiB`'],
    [{ priority: 101 }, 'p.priority', 'between 1 and 100'],
    [{ command: [] }, 'p.command', 'at least one'],
    [{ env: { 'BAD-NAME': 'x' } }, 'p.env.BAD-NAME', 'environment variable name'],
    [{ env: { A: 1 } }, 'p.env.A', 'string'],
    [{ constraints: [{ value: 'x' }] }, 'p.constraints[0].attribute', 'expected e.g.'],
    [{ restart: { attempts: 0, mode: 'delay' } }, 'p.restart.mode', "must be 'fail'"],
    [{ restart: { attempts: 5, delayMs: 60_000, intervalMs: 60_000 } }, 'p.restart.intervalMs', 'do not fit'],
    [{ reschedule: { attempts: 2 } }, 'p.reschedule.intervalMs', 'must be set'],
    [{ reschedule: { delayMs: 1000 } }, 'p.reschedule.delayMs', '≥ 5000'],
    [{ workspaceRoot: 'relative/path' }, 'p.workspaceRoot', 'absolute'],
    [{ workspaceRoot: '/data/../etc' }, 'p.workspaceRoot', 'absolute'],
    [{ image: 'x:1', docker: { init: 'yes' } }, 'p.docker.init', 'true or false'],
    ['docker', 'p', 'expected an object'],
  ])('rejects %j naming %s', (input, field, message) => {
    let caught: unknown;
    try {
      resolveNomadHostSpec(input, 'p');
    } catch (error) {
      caught = error;
    }
    expect(BerthError.hasCode(caught, 'INVALID_OPTIONS')).toBe(true);
    expect((caught as { field: string }).field).toBe(field);
    expect((caught as Error).message).toContain(message);
  });
});
