import { describe, expect, it } from 'vitest';
import { buildNomadJob, hostMeta, makeJobId } from './build-nomad-job.js';
import { resolveNomadHostSpec } from './nomad-host-spec.js';

describe('makeJobId', () => {
  it('is berth-<pool>-<profile>-<random>, readable and unique', () => {
    const id = makeJobId('My Pool!', 'gpu_large');
    expect(id).toMatch(/^berth-my-pool-gpu-large-[0-9a-f]{10}$/);
    expect(makeJobId('p', 'q')).not.toBe(makeJobId('p', 'q'));
  });
  it('bounds the length for long names', () => {
    expect(makeJobId('p'.repeat(200), 'q'.repeat(200)).length).toBeLessThanOrEqual(6 + 24 + 1 + 24 + 1 + 10);
  });
});

describe('buildNomadJob', () => {
  it('builds one service job with one group of count 1 and the labels as Meta', () => {
    const spec = resolveNomadHostSpec(
      { image: 'berth-test/busybox:1', cpu: 200, memoryMiB: 128, env: { A: '1' }, datacenters: ['dc1'] },
      'spec',
    );
    const job = buildNomadJob('berth-p-q-1', spec, hostMeta({ 'berth.pool': 'p' }));
    expect(job).toMatchObject({ ID: 'berth-p-q-1', Type: 'service', Datacenters: ['dc1'] });
    expect(job.Meta).toEqual({ 'berth.pool': 'p', 'berth.backend': 'nomad' });
    expect(job.TaskGroups).toHaveLength(1);
    const group = job.TaskGroups[0]!;
    expect(group.Count).toBe(1);
    expect(group.RestartPolicy).toMatchObject({ Attempts: 0, Mode: 'fail' });
    expect(group.ReschedulePolicy).toMatchObject({ Attempts: 0, Unlimited: false });
    const task = group.Tasks[0]!;
    expect(task).toMatchObject({ Driver: 'docker', Env: { A: '1' }, Resources: { CPU: 200, MemoryMB: 128 } });
    expect(task.KillTimeout).toBe(5_000_000_000);
    // No log collection unless asked for (no logmon / docker_logger per host).
    expect(task.LogConfig).toEqual({ Disabled: true });
    const logged = buildNomadJob('berth-p-q-2', { ...spec, taskLogs: true }, {});
    expect(logged.TaskGroups[0]!.Tasks[0]!.LogConfig).toBeUndefined();
    expect(task.Config).toMatchObject({
      image: 'berth-test/busybox:1',
      force_pull: false,
      command: 'sleep',
      args: ['2147483647'],
      init: true,
      pids_limit: 4096,
      security_opt: ['no-new-privileges'],
      cap_drop: ['ALL'],
    });
  });

  it('gives raw_exec a command and args only, and maps constraints', () => {
    const spec = resolveNomadHostSpec(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
      { driver: 'raw_exec', constraints: [{ attribute: '${attr.kernel.name}', value: 'linux' }] },
      'spec',
    );
    const job = buildNomadJob('berth-x', spec, {});
    expect(job.TaskGroups[0]!.Tasks[0]!.Config).toMatchObject({
      command: '/bin/sh',
      args: ['-c', spec.command[2]],
    });
    // Drained nodes keep the allocation until the deadline (Berth replaces it, once).
    expect(job.TaskGroups[0]!.Migrate).toMatchObject({ MaxParallel: 0, HealthCheck: 'task_states' });
    expect(job.TaskGroups[0]!.Affinities).toBeUndefined();
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
    expect(job.Constraints).toEqual([{ LTarget: '${attr.kernel.name}', Operand: '=', RTarget: 'linux' }]);
  });

  it('maps affinities and the preferred node of the spread into soft affinities', () => {
    const spec = resolveNomadHostSpec(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
      { affinities: [{ attribute: '${meta.rack}', value: 'r1', weight: -30 }], migrate: { maxParallel: 1 } },
      'spec',
    );
    const job = buildNomadJob('berth-x', spec, {}, ['node-1']);
    expect(job.TaskGroups[0]!.Affinities).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
      { LTarget: '${meta.rack}', Operand: '=', RTarget: 'r1', Weight: -30 },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
      { LTarget: '${node.unique.id}', Operand: 'set_contains_any', RTarget: 'node-1', Weight: 50 },
    ]);
    expect(job.TaskGroups[0]!.Migrate?.MaxParallel).toBe(1);
    expect(() => resolveNomadHostSpec({ affinities: [{ attribute: 'x', weight: 0 }] }, 'spec')).toThrow(
      /weight/,
    );
  });
});
