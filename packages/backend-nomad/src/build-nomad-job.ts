import { randomBytes } from 'node:crypto';
import { sanitizeLabelValue } from '@berth/core';
import type { NomadJob, NomadTask } from './client/nomad-types.js';
import type { NomadHostSpec } from './nomad-host-spec.js';

/** Every Berth job's ID starts with this (listing narrows by it; ownership is decided by Meta). */
export const JOB_ID_PREFIX = 'berth-';
export const TASK_GROUP_NAME = 'host';
export const TASK_NAME = 'shell';
export const BACKEND_LABEL = 'berth.backend';

const MS = 1_000_000; // nanoseconds per millisecond

/** `berth-<pool>-<profile>-<random>`: readable in `nomad job status`, unique per host. */
export function makeJobId(pool: string, profile: string): string {
  return `${poolJobPrefix(pool)}${jobIdPart(profile)}-${randomBytes(5).toString('hex')}`;
}

/**
 * What every job ID of `pool` starts with (`berth-<pool>-`; only `[a-z0-9-]`, so safe in a regular
 * expression). A longer pool name sharing the truncated part matches too: harmless for a watch.
 */
export function poolJobPrefix(pool: string): string {
  return `${JOB_ID_PREFIX}${jobIdPart(pool)}-`;
}

function jobIdPart(value: string): string {
  return (
    sanitizeLabelValue(value)
      .replace(/[^A-Za-z0-9-]/g, '-')
      .replace(/-+/g, '-')
      .replace(/^-|-$/g, '')
      .toLowerCase()
      .slice(0, 24) || 'x'
  );
}

/** The labels a host carries as job Meta: the request's plus `berth.backend=nomad`. */
export function hostMeta(labels: Readonly<Record<string, string>>): Record<string, string> {
  return { ...labels, [BACKEND_LABEL]: 'nomad' };
}

/**
 * One service job per host: one group, count 1, one task running a keep-alive command. The pool
 * removes a host by stopping and purging its job, never by changing a count (Nomad would pick
 * which allocation dies).
 */
export function buildNomadJob(
  jobId: string,
  spec: NomadHostSpec,
  meta: Readonly<Record<string, string>>,
  /** Node IDs this host should prefer (from `spreadOverNodes`): a soft affinity, Nomad still places. */
  preferredNodes: readonly string[] = [],
): NomadJob {
  const affinities = [
    ...spec.affinities.map((affinity) => ({
      LTarget: affinity.attribute,
      Operand: affinity.operator,
      ...(affinity.value === undefined ? {} : { RTarget: affinity.value }),
      Weight: affinity.weight,
    })),
    ...(preferredNodes.length === 0
      ? []
      : [
          {
            // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
            LTarget: '${node.unique.id}',
            Operand: 'set_contains_any',
            RTarget: preferredNodes.join(','),
            Weight: 50,
          },
        ]),
  ];
  const task: NomadTask = {
    Name: TASK_NAME,
    Driver: spec.driver,
    Config: taskConfig(spec),
    Env: { ...spec.env },
    Resources: {
      CPU: spec.cpu,
      MemoryMB: spec.memoryMiB,
      ...(spec.memoryMaxMiB === undefined ? {} : { MemoryMaxMB: spec.memoryMaxMiB }),
    },
    KillTimeout: spec.killTimeoutMs * MS,
    // Off by default: two fewer helper processes (logmon, docker_logger) start per host.
    ...(spec.taskLogs ? {} : { LogConfig: { Disabled: true } }),
    ...(spec.user === undefined ? {} : { User: spec.user }),
  };
  return {
    ID: jobId,
    Name: jobId,
    Type: 'service',
    Priority: spec.priority,
    Datacenters: [...spec.datacenters],
    ...(spec.nodePool === undefined ? {} : { NodePool: spec.nodePool }),
    Constraints: spec.constraints.map((constraint) => ({
      ...(constraint.attribute === undefined ? {} : { LTarget: constraint.attribute }),
      Operand: constraint.operator,
      ...(constraint.value === undefined ? {} : { RTarget: constraint.value }),
    })),
    Meta: { ...meta },
    TaskGroups: [
      {
        Name: TASK_GROUP_NAME,
        Count: 1,
        RestartPolicy: {
          Attempts: spec.restart.attempts,
          Interval: spec.restart.intervalMs * MS,
          Delay: spec.restart.delayMs * MS,
          Mode: spec.restart.mode,
        },
        ReschedulePolicy: {
          Attempts: spec.reschedule.attempts,
          Interval: spec.reschedule.intervalMs * MS,
          Delay: spec.reschedule.delayMs * MS,
          DelayFunction: spec.reschedule.delayFunction,
          MaxDelay: spec.reschedule.maxDelayMs * MS,
          Unlimited: spec.reschedule.unlimited,
        },
        EphemeralDisk: { SizeMB: spec.diskMiB },
        ...(affinities.length === 0 ? {} : { Affinities: affinities }),
        Migrate: {
          MaxParallel: spec.migrate.maxParallel,
          HealthCheck: 'task_states',
          MinHealthyTime: spec.migrate.minHealthyTimeMs * MS,
          HealthyDeadline: spec.migrate.healthyDeadlineMs * MS,
        },
        Tasks: [task],
      },
    ],
  };
}

function taskConfig(spec: NomadHostSpec): Record<string, unknown> {
  const [command, ...args] = spec.command;
  if (spec.driver !== 'docker') return { command, args };
  const hardening = spec.docker!;
  return {
    image: spec.image,
    // Never pull: images are local (or pulled by the operator); a `latest` tag still pulls.
    force_pull: false,
    command,
    args,
    init: hardening.init,
    ...(hardening.pidsLimit > 0 ? { pids_limit: hardening.pidsLimit } : {}),
    ...(hardening.noNewPrivileges ? { security_opt: ['no-new-privileges'] } : {}),
    ...(hardening.capDrop.length > 0 ? { cap_drop: [...hardening.capDrop] } : {}),
    ...(hardening.capAdd.length > 0 ? { cap_add: [...hardening.capAdd] } : {}),
  };
}
