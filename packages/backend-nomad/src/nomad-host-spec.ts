import { InvalidOptionsError } from '@berth/core';
import {
  boolean,
  integer,
  oneOf,
  optionalString,
  record,
  stringArray,
  stringRecord,
} from './validate-spec-field.js';

export type NomadDriver = 'docker' | 'raw_exec' | 'exec';

/** A node constraint, as in a job's `constraint` block (`attribute`/`operator`/`value`). */
export interface NomadConstraintInput {
  /** e.g. `${attr.kernel.name}`, `${node.class}`, `${meta.rack}`. */
  attribute?: string;
  /** `=`, `!=`, `regexp`, `version`, `distinct_hosts`, `is_set`, … Default `=`. */
  operator?: string;
  value?: string;
}

/** A soft node preference, as in a job's `affinity` block; weight −100…100 (negative: avoid). */
export interface NomadAffinityInput {
  attribute: string;
  /** `=`, `!=`, `regexp`, `set_contains_any`, `version`, … Default `=`. */
  operator?: string;
  value?: string;
  /** Default 50. */
  weight?: number;
}

/**
 * The group's `migrate` block: how Nomad moves the host off a draining node. Berth's default,
 * `maxParallel: 0`, keeps the allocation where it is until the drain deadline, so running
 * commands can finish; Berth replaces the host itself (once) and removes it when it is idle.
 */
export interface NomadMigrateInput {
  maxParallel?: number;
  minHealthyTimeMs?: number;
  healthyDeadlineMs?: number;
}

/** Task restarts inside one allocation. Default: none (a dead keep-alive means a lost host). */
export interface NomadRestartInput {
  attempts?: number;
  intervalMs?: number;
  delayMs?: number;
  mode?: 'fail' | 'delay';
}

/** Rescheduling onto a new allocation. Default: none (a new allocation is a new, empty host). */
export interface NomadRescheduleInput {
  attempts?: number;
  intervalMs?: number;
  delayMs?: number;
  delayFunction?: 'constant' | 'exponential' | 'fibonacci';
  maxDelayMs?: number;
  unlimited?: boolean;
}

/** Docker task hardening; each knob can be turned off. */
export interface NomadDockerHardeningInput {
  /** Run Docker's init as PID 1 (reaps zombies, forwards SIGTERM). Default true. */
  init?: boolean;
  /** Max processes in the container; 0 = unlimited. Default 4096. */
  pidsLimit?: number;
  /** `security_opt = ["no-new-privileges"]`. Default true. */
  noNewPrivileges?: boolean;
  /** Default `["ALL"]`. */
  capDrop?: readonly string[];
  /** Default: the few a shell workload needs (chown, dac_override, fowner, fsetid, kill, setgid, setuid, net_bind_service). */
  capAdd?: readonly string[];
}

/** One profile's host, as the user writes it. */
export interface NomadHostSpecInput {
  /** Task driver. Default `docker` when `image` is set, else `raw_exec`. */
  driver?: NomadDriver;
  /** Docker image; must be present on the nodes or pullable (`force_pull` is always false). */
  image?: string;
  /** The keep-alive argv the task runs. Default: a `sleep 2147483647` that stops at SIGTERM. */
  command?: readonly string[];
  /** CPU reservation in MHz. Default 100. */
  cpu?: number;
  /** Memory reservation. Default 256. */
  memoryMiB?: number;
  /** Memory ceiling (oversubscription, if the cluster enables it). */
  memoryMaxMiB?: number;
  /** Ephemeral disk reservation. Default 300. */
  diskMiB?: number;
  /** Default `["*"]` (every datacenter). */
  datacenters?: readonly string[];
  nodePool?: string;
  constraints?: readonly NomadConstraintInput[];
  affinities?: readonly NomadAffinityInput[];
  /**
   * Prefer, for each new host, the eligible node running the fewest of this backend's hosts of the
   * pool (a soft affinity in the job; Nomad still places). Default true. Nomad's own `spread`
   * block only weighs allocations of the same job, and every Berth host is its own job.
   */
  spreadOverNodes?: boolean;
  migrate?: NomadMigrateInput;
  env?: Readonly<Record<string, string>>;
  /** User the task runs as. */
  user?: string;
  /** Scheduler priority, 1–100. Default 50. */
  priority?: number;
  restart?: NomadRestartInput;
  reschedule?: NomadRescheduleInput;
  /** Time between SIGTERM and SIGKILL when the host is stopped. Default 5000. */
  killTimeoutMs?: number;
  /**
   * Nomad collects the task's stdout/stderr (`nomad alloc logs`). Default false: the keep-alive
   * says nothing and slot output travels over exec, and without it the client starts no `logmon`
   * (nor, for docker, `docker_logger`) process per host, so hosts start faster. Turn it on for a
   * `command` whose output you want in Nomad.
   */
  taskLogs?: boolean;
  /** Absolute path inside the host for slot workspaces. Default `$NOMAD_ALLOC_DIR/data`. */
  workspaceRoot?: string;
  docker?: NomadDockerHardeningInput;
}

export interface NomadResolvedConstraint {
  readonly attribute: string | undefined;
  readonly operator: string;
  readonly value: string | undefined;
}

export interface NomadResolvedAffinity {
  readonly attribute: string;
  readonly operator: string;
  readonly value: string | undefined;
  readonly weight: number;
}

/** The validated spec with every default filled in: what core hashes into `berth.spec`. */
export interface NomadHostSpec {
  readonly driver: NomadDriver;
  readonly image: string | undefined;
  readonly command: readonly string[];
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly memoryMaxMiB: number | undefined;
  readonly diskMiB: number;
  readonly datacenters: readonly string[];
  readonly nodePool: string | undefined;
  readonly constraints: readonly NomadResolvedConstraint[];
  readonly affinities: readonly NomadResolvedAffinity[];
  readonly spreadOverNodes: boolean;
  readonly migrate: Required<NomadMigrateInput>;
  readonly env: Readonly<Record<string, string>>;
  readonly user: string | undefined;
  readonly priority: number;
  readonly restart: Required<NomadRestartInput>;
  readonly reschedule: Required<NomadRescheduleInput>;
  readonly killTimeoutMs: number;
  readonly taskLogs: boolean;
  readonly workspaceRoot: string | undefined;
  readonly docker: Required<NomadDockerHardeningInput> | undefined;
}

const DRIVERS: readonly NomadDriver[] = ['docker', 'raw_exec', 'exec'];
const DEFAULT_CAP_ADD = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'NET_BIND_SERVICE',
];
const KNOWN_KEYS = new Set([
  'driver',
  'image',
  'command',
  'cpu',
  'memoryMiB',
  'memoryMaxMiB',
  'diskMiB',
  'datacenters',
  'nodePool',
  'constraints',
  'affinities',
  'spreadOverNodes',
  'migrate',
  'env',
  'user',
  'priority',
  'restart',
  'reschedule',
  'killTimeoutMs',
  'taskLogs',
  'workspaceRoot',
  'docker',
]);
const RENAMED: Record<string, string> = {
  memory: 'memoryMiB',
  memoryMB: 'memoryMiB',
  cpuMhz: 'cpu',
  disk: 'diskMiB',
};

/** Validates a profile's Nomad host spec, synchronously; errors name `path.field`. */
export function resolveNomadHostSpec(input: unknown, path: string): NomadHostSpec {
  const spec = record(input ?? {}, path);
  for (const key of Object.keys(spec)) {
    if (!KNOWN_KEYS.has(key)) {
      const hint = RENAMED[key]
        ? ` Did you mean \`${RENAMED[key]}\`?`
        : ` Known fields: ${[...KNOWN_KEYS].join(', ')}.`;
      throw new InvalidOptionsError(`${path}.${key}`, `unknown field.${hint}`);
    }
  }
  const image = optionalString(spec.image, `${path}.image`);
  const driver = (spec.driver ?? (image ? 'docker' : 'raw_exec')) as NomadDriver;
  if (!DRIVERS.includes(driver)) {
    throw new InvalidOptionsError(
      `${path}.driver`,
      `expected one of ${DRIVERS.join(', ')}, got ${JSON.stringify(spec.driver)}.`,
    );
  }
  if (driver === 'docker' && !image) {
    throw new InvalidOptionsError(
      `${path}.image`,
      'the docker driver needs an image, e.g. `berth-test/busybox:1`.',
    );
  }
  if (driver !== 'docker' && image) {
    throw new InvalidOptionsError(
      `${path}.image`,
      `the ${driver} driver runs no image; remove \`image\` or use driver 'docker'.`,
    );
  }
  const command =
    spec.command === undefined ? defaultKeepAlive(driver) : stringArray(spec.command, `${path}.command`, 1);
  const memoryMiB = integer(spec.memoryMiB, 256, `${path}.memoryMiB`, 10);
  const memoryMaxMiB =
    spec.memoryMaxMiB === undefined ? undefined : integer(spec.memoryMaxMiB, 0, `${path}.memoryMaxMiB`, 10);
  if (memoryMaxMiB !== undefined && memoryMaxMiB < memoryMiB) {
    throw new InvalidOptionsError(
      `${path}.memoryMaxMiB`,
      `expected \`memoryMaxMiB\` (${memoryMaxMiB}) to be ≥ \`memoryMiB\` (${memoryMiB}).`,
    );
  }
  const workspaceRoot = optionalString(spec.workspaceRoot, `${path}.workspaceRoot`);
  if (
    workspaceRoot !== undefined &&
    (!workspaceRoot.startsWith('/') || workspaceRoot.split('/').includes('..'))
  ) {
    throw new InvalidOptionsError(
      `${path}.workspaceRoot`,
      `expected an absolute path without \`..\`, got ${JSON.stringify(workspaceRoot)}.`,
    );
  }
  return {
    driver,
    image,
    command,
    cpu: integer(spec.cpu, 100, `${path}.cpu`, 1),
    memoryMiB,
    memoryMaxMiB,
    diskMiB: integer(spec.diskMiB, 300, `${path}.diskMiB`, 10),
    datacenters:
      spec.datacenters === undefined ? ['*'] : stringArray(spec.datacenters, `${path}.datacenters`, 1),
    nodePool: optionalString(spec.nodePool, `${path}.nodePool`),
    constraints: constraints(spec.constraints, `${path}.constraints`),
    affinities: affinities(spec.affinities, `${path}.affinities`),
    spreadOverNodes:
      spec.spreadOverNodes === undefined ? true : boolean(spec.spreadOverNodes, `${path}.spreadOverNodes`),
    migrate: migrate(spec.migrate, `${path}.migrate`),
    env: stringRecord(spec.env, `${path}.env`),
    user: optionalString(spec.user, `${path}.user`),
    priority: integer(spec.priority, 50, `${path}.priority`, 1, 100),
    restart: restart(spec.restart, `${path}.restart`),
    reschedule: reschedule(spec.reschedule, `${path}.reschedule`),
    killTimeoutMs: integer(spec.killTimeoutMs, 5_000, `${path}.killTimeoutMs`, 0),
    taskLogs: spec.taskLogs === undefined ? false : boolean(spec.taskLogs, `${path}.taskLogs`),
    workspaceRoot,
    docker: driver === 'docker' ? docker(spec.docker, `${path}.docker`) : undefined,
  };
}

/**
 * docker: `sleep` with Docker's init as PID 1 (forwards SIGTERM). exec: the task is PID 1 of its
 * own PID namespace, where SIGTERM without a handler is ignored, so a shell traps it (otherwise
 * every stop waits out the kill timeout). raw_exec: a plain `sleep` on the node.
 */
function defaultKeepAlive(driver: NomadDriver): string[] {
  if (driver === 'docker') return ['sleep', '2147483647'];
  if (driver === 'exec') return ['/bin/sh', '-c', 'trap "exit 0" TERM INT; sleep 2147483647 & wait'];
  return ['/bin/sh', '-c', RAW_EXEC_KEEP_ALIVE];
}

/**
 * raw_exec's keep-alive: when Nomad stops the task (job or allocation stopped from anywhere, a
 * drain), it kills every marked slot session of this allocation (`reap-raw-exec-sessions.ts`)
 * before it exits, so no slot shell or command outlives the host on the node.
 */
const RAW_EXEC_KEEP_ALIVE = [
  'reap() {',
  '  for d in /proc/[0-9]*; do',
  '    [ -r "$d/environ" ] || continue',
  '    n=$(tr "\\0" "\\n" < "$d/environ" 2>/dev/null | grep -cx -e "BERTH_SESSION=1" -e "NOMAD_ALLOC_ID=$NOMAD_ALLOC_ID")',
  // No `${…}`: Nomad interpolates that in task args.
  '    [ "$n" = 2 ] && kill -KILL "$(basename "$d")" 2>/dev/null',
  '  done',
  '}',
  'trap \'reap; kill "$child" 2>/dev/null; exit 0\' TERM INT',
  'sleep 2147483647 & child=$!',
  'wait "$child"',
].join('\n');

function restart(input: unknown, path: string): Required<NomadRestartInput> {
  const value = record(input ?? {}, path);
  const result = {
    attempts: integer(value.attempts, 0, `${path}.attempts`, 0),
    intervalMs: integer(value.intervalMs, 30 * 60_000, `${path}.intervalMs`, 5_000),
    delayMs: integer(value.delayMs, 15_000, `${path}.delayMs`, 0),
    mode: oneOf(value.mode, 'fail', ['fail', 'delay'] as const, `${path}.mode`),
  };
  if (result.attempts === 0 && result.mode !== 'fail') {
    throw new InvalidOptionsError(
      `${path}.mode`,
      "with 0 attempts the mode must be 'fail' (Nomad rejects anything else).",
    );
  }
  if (result.attempts * result.delayMs > result.intervalMs) {
    throw new InvalidOptionsError(
      `${path}.intervalMs`,
      `${result.attempts} restarts with a ${result.delayMs} ms delay do not fit in ${result.intervalMs} ms.`,
    );
  }
  return result;
}

function reschedule(input: unknown, path: string): Required<NomadRescheduleInput> {
  const value = record(input ?? {}, path);
  const result = {
    attempts: integer(value.attempts, 0, `${path}.attempts`, 0),
    intervalMs: integer(value.intervalMs, 0, `${path}.intervalMs`, 0),
    delayMs: integer(value.delayMs, 30_000, `${path}.delayMs`, 5_000),
    delayFunction: oneOf(
      value.delayFunction,
      'exponential',
      ['constant', 'exponential', 'fibonacci'] as const,
      `${path}.delayFunction`,
    ),
    maxDelayMs: integer(value.maxDelayMs, 3_600_000, `${path}.maxDelayMs`, 0),
    unlimited: value.unlimited === undefined ? false : boolean(value.unlimited, `${path}.unlimited`),
  };
  if (result.attempts > 0 && result.intervalMs === 0) {
    throw new InvalidOptionsError(`${path}.intervalMs`, 'must be set when `attempts` > 0.');
  }
  if (result.attempts > 0 && result.unlimited) {
    throw new InvalidOptionsError(
      `${path}.unlimited`,
      'cannot be true when `attempts` > 0 (Nomad calls it ambiguous).',
    );
  }
  return result;
}

function docker(input: unknown, path: string): Required<NomadDockerHardeningInput> {
  const value = record(input ?? {}, path);
  return {
    init: value.init === undefined ? true : boolean(value.init, `${path}.init`),
    pidsLimit: integer(value.pidsLimit, 4096, `${path}.pidsLimit`, 0),
    noNewPrivileges:
      value.noNewPrivileges === undefined ? true : boolean(value.noNewPrivileges, `${path}.noNewPrivileges`),
    capDrop: value.capDrop === undefined ? ['ALL'] : stringArray(value.capDrop, `${path}.capDrop`, 0),
    capAdd: value.capAdd === undefined ? DEFAULT_CAP_ADD : stringArray(value.capAdd, `${path}.capAdd`, 0),
  };
}

function constraints(input: unknown, path: string): NomadResolvedConstraint[] {
  if (input === undefined) return [];
  if (!Array.isArray(input))
    throw new InvalidOptionsError(path, 'expected an array of { attribute, operator, value }.');
  return input.map((item, index) => {
    const value = record(item, `${path}[${index}]`);
    const operator = optionalString(value.operator, `${path}[${index}].operator`) ?? '=';
    const attribute = optionalString(value.attribute, `${path}[${index}].attribute`);
    if (attribute === undefined && operator !== 'distinct_hosts' && operator !== 'distinct_property') {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
      throw new InvalidOptionsError(`${path}[${index}].attribute`, 'expected e.g. `${attr.kernel.name}`.');
    }
    return { attribute, operator, value: optionalString(value.value, `${path}[${index}].value`) };
  });
}

function affinities(input: unknown, path: string): NomadResolvedAffinity[] {
  if (input === undefined) return [];
  if (!Array.isArray(input))
    throw new InvalidOptionsError(path, 'expected an array of { attribute, operator, value, weight }.');
  return input.map((item, index) => {
    const value = record(item, `${path}[${index}]`);
    const attribute = optionalString(value.attribute, `${path}[${index}].attribute`);
    if (!attribute)
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
      throw new InvalidOptionsError(`${path}[${index}].attribute`, 'expected e.g. `${meta.rack}`.');
    const weight = integer(value.weight, 50, `${path}[${index}].weight`, -100, 100);
    if (weight === 0) throw new InvalidOptionsError(`${path}[${index}].weight`, 'must not be 0.');
    return {
      attribute,
      operator: optionalString(value.operator, `${path}[${index}].operator`) ?? '=',
      value: optionalString(value.value, `${path}[${index}].value`),
      weight,
    };
  });
}

function migrate(input: unknown, path: string): Required<NomadMigrateInput> {
  const value = record(input ?? {}, path);
  const result = {
    maxParallel: integer(value.maxParallel, 0, `${path}.maxParallel`, 0),
    minHealthyTimeMs: integer(value.minHealthyTimeMs, 1_000, `${path}.minHealthyTimeMs`, 0),
    healthyDeadlineMs: integer(value.healthyDeadlineMs, 300_000, `${path}.healthyDeadlineMs`, 1),
  };
  if (result.minHealthyTimeMs >= result.healthyDeadlineMs) {
    throw new InvalidOptionsError(`${path}.minHealthyTimeMs`, 'must be shorter than `healthyDeadlineMs`.');
  }
  return result;
}
