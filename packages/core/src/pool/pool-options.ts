import { z } from 'zod';
import { assertBackendV1 } from '../backend/v1/assert-backend.js';
import type { DrainMarkerStoreV1 } from '../backend/v1/drain-marker-store.js';
import type { BackendV1, UserIsolationProfileV1 } from '../backend/v1/types.js';
import { CapabilityUnsupportedError, InvalidOptionsError } from '../errors/index.js';
import { sanitizeLabelValue } from '../host/labels.js';
import { assertTelemetryOption, type PoolTelemetryOption } from '../observability/telemetry-option.js';
import { parseWithPath } from '../options/parse-with-path.js';
import { closestName } from './closest-name.js';
import { POOL_EVENT_NAMES, type PoolListeners } from './pool-events.js';

const ms = (name: string) =>
  z.number({ error: `expected ${name} in milliseconds` }).positive({ error: 'must be > 0 (milliseconds)' });
/** A deadline or interval where `Infinity` means "never" (timers treat ≥ 2^31 ms the same way). */
const msOrNever = (name: string) =>
  z.custom<number>((value) => typeof value === 'number' && value > 0, {
    error: `expected ${name} in milliseconds, > 0 (Infinity: no deadline)`,
  });
const count = z.number().int({ error: 'must be a whole number' });

const profileSchema = z
  .object({
    minHosts: count.nonnegative({ error: 'must be ≥ 0' }).default(0),
    maxHosts: count.positive({ error: 'must be ≥ 1' }).default(1),
    slotsPerHost: count.positive({ error: 'must be ≥ 1; a host needs at least one slot' }).default(1),
    /** Hosts idle longer than this are removed, down to `minHosts`. */
    idleTimeoutMs: msOrNever('idleTimeoutMs').optional(),
    /**
     * `directory` (default): a host's slots share its user; the host is the boundary. `user`: each
     * slot its own uid and a 0700 workspace; commands and file operations run as that uid.
     */
    isolation: z
      .enum(['directory', 'user'], { error: "expected 'directory' or 'user'" })
      .default('directory'),
    /** The backend's host spec (image, cpu, memory…), validated by the backend. */
    host: z.unknown().optional(),
  })
  .strict();

const poolSchema = z
  .object({
    poolId: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[A-Za-z0-9_.-]+$/, {
        error: 'use only letters, digits, `_`, `.` and `-` (it becomes a label)',
      })
      // It also names a directory under BERTH_HOME (the drain marker): `.`/`..` would drain for ever.
      .refine((id) => id !== '.' && id !== '..', { error: '`.` and `..` are not pool ids: use a name' })
      .default('default'),
    persist: z.boolean().default(true),
    profiles: z.record(z.string().min(1), profileSchema).optional(),
    defaultProfile: z.string().optional(),
    acquireTimeoutMs: msOrNever('acquireTimeoutMs').default(120_000),
    execTimeoutMs: msOrNever('execTimeoutMs').default(600_000),
    maxOutputBytes: count.positive().default(8 * 1024 * 1024),
    killGraceMs: z.number().nonnegative().default(1_000),
    resetOnRelease: z.boolean().default(true),
    maxConcurrentCreates: count.positive().default(4),
    idleTimeoutMs: msOrNever('idleTimeoutMs').default(300_000),
    healthCheckIntervalMs: msOrNever('healthCheckIntervalMs').default(10_000),
    leaseTtlMs: ms('leaseTtlMs').default(60_000),
    reapIntervalMs: msOrNever('reapIntervalMs').default(300_000),
    reapGraceMs: ms('reapGraceMs').optional(),
    hostLifetimeMs: msOrNever('hostLifetimeMs').default(24 * 3_600_000),
    drainMode: z.enum(['wait', 'fail']).default('wait'),
    /**
     * Where the external drain marker (`berth drain`) is watched: default the Berth home directory
     * (`BERTH_HOME`, `~/.berth`) plus the backend's shared store; `false` watches none.
     */
    drainMarker: z
      .custom<DrainMarkerStoreV1 | false>(
        (value) =>
          value === false ||
          (typeof value === 'object' &&
            value !== null &&
            typeof (value as DrainMarkerStoreV1).read === 'function' &&
            typeof (value as DrainMarkerStoreV1).recordProcess === 'function'),
        { error: 'expected a DrainMarkerStoreV1 (read, write, remove, recordProcess, …) or false' },
      )
      .optional(),
    /** How often a running pool reconciles with its drain marker. */
    drainMarkerIntervalMs: ms('drainMarkerIntervalMs').default(1_000),
    createTimeoutMs: msOrNever('createTimeoutMs').default(300_000),
    shellStartTimeoutMs: msOrNever('shellStartTimeoutMs').default(30_000),
    controlTimeoutMs: msOrNever('controlTimeoutMs').default(30_000),
    closeTimeoutMs: msOrNever('closeTimeoutMs').default(30_000),
    handleSignals: z.boolean().default(true),
  })
  .strict();

export type ProfileOptions = z.input<typeof profileSchema>;
export type ResolvedProfileOptions = z.output<typeof profileSchema> & { name: string };

type PoolScalars = Omit<z.input<typeof poolSchema>, 'profiles'>;

export interface PoolOptions<Spec = unknown> extends PoolScalars {
  backend: BackendV1<Spec>;
  /** Named host profiles; when omitted, the top-level `minHosts`/`maxHosts`/`slotsPerHost`/`host` form profile `default`. */
  profiles?: Record<string, ProfileOptions>;
  minHosts?: number;
  maxHosts?: number;
  slotsPerHost?: number;
  host?: unknown;
  /** Shorthand for the `default` profile's `isolation`. */
  isolation?: 'directory' | 'user';
  /**
   * Listeners attached before the pool starts, so events of the start sweep (`host:adopted`,
   * `host:reaped`, `host:replaced`) and of pre-warming are observable.
   */
  on?: PoolListeners;
  /**
   * OpenTelemetry metrics and spans (docs/observability.md). `'auto'` (default): through the global
   * providers when `@opentelemetry/api` is installed, nothing otherwise; `false`: never; or the
   * providers to use (`{ meterProvider, tracerProvider }`).
   */
  telemetry?: PoolTelemetryOption;
}

export interface ResolvedPoolOptions<Spec = unknown>
  extends Omit<z.output<typeof poolSchema>, 'profiles' | 'reapGraceMs'> {
  backend: BackendV1<Spec>;
  profiles: Map<string, ResolvedProfileOptions & { spec: Spec }>;
  defaultProfile: string;
  reapGraceMs: number;
  telemetry: PoolTelemetryOption;
}

/** Validates pool options once, at construction; every error names the field and the fix. */
export function resolvePoolOptions<Spec>(input: PoolOptions<Spec>): ResolvedPoolOptions<Spec> {
  if (typeof input !== 'object' || input === null)
    throw new InvalidOptionsError('options', 'expected an options object.');
  const { backend, minHosts, maxHosts, slotsPerHost, host, isolation, on, telemetry, ...rest } = input;
  assertBackendV1(backend);
  assertListeners(on);
  assertTelemetryOption(telemetry);
  const shorthand = [minHosts, maxHosts, slotsPerHost, host, isolation].some((value) => value !== undefined);
  if (shorthand && rest.profiles) {
    throw new InvalidOptionsError(
      'profiles',
      'give either `profiles` or the top-level `minHosts`/`maxHosts`/`slotsPerHost`/`host`/`isolation` shorthand, not both.',
    );
  }
  const profilesInput = rest.profiles ?? { default: { minHosts, maxHosts, slotsPerHost, host, isolation } };
  const parsed = parseWithPath(poolSchema, { ...rest, profiles: profilesInput }, '');
  const profiles = new Map<string, ResolvedProfileOptions & { spec: Spec }>();
  for (const [name, profile] of Object.entries(parsed.profiles ?? {})) {
    const path = `profiles.${name}`;
    if (profile.maxHosts < profile.minHosts) {
      throw new InvalidOptionsError(
        `${path}.maxHosts`,
        `expected \`maxHosts\` (${profile.maxHosts}) to be ≥ \`minHosts\` (${profile.minHosts}); raise maxHosts or lower minHosts.`,
      );
    }
    const spec = (backend as BackendV1<Spec>).resolveHostSpec(profile.host, `${path}.host`);
    if (profile.isolation === 'user')
      assertUserIsolation(backend as BackendV1<Spec>, spec, path, { maxHosts: profile.maxHosts });
    profiles.set(name, { ...profile, name, spec });
  }
  assertDistinctLabels([...profiles.keys()]);
  const defaultProfile =
    parsed.defaultProfile ?? (profiles.has('default') ? 'default' : [...profiles.keys()][0]);
  if (defaultProfile === undefined || !profiles.has(defaultProfile)) {
    throw new InvalidOptionsError(
      'defaultProfile',
      `unknown profile '${String(defaultProfile)}'; known profiles: ${[...profiles.keys()].join(', ') || '(none)'}.`,
    );
  }
  return {
    ...parsed,
    backend: backend as BackendV1<Spec>,
    profiles,
    defaultProfile,
    reapGraceMs: parsed.reapGraceMs ?? parsed.leaseTtlMs,
    telemetry: telemetry ?? 'auto',
  };
}

/** Fails closed at `createPool`: a profile asking for per-slot users gets them or an error. */
function assertUserIsolation<Spec>(
  backend: BackendV1<Spec>,
  spec: Spec,
  path: string,
  profile: UserIsolationProfileV1,
): void {
  const reason = backend.userIsolationUnsupported
    ? backend.userIsolationUnsupported(spec, profile)
    : 'it cannot run slots as separate users';
  if (reason === undefined) return;
  throw new CapabilityUnsupportedError(
    backend.backendId,
    "isolation: 'user'",
    `${path}.isolation: ${reason}. Use isolation 'directory' (slots share the host's user), or a backend that supports it.`,
  );
}

/** Hosts find their profile by its sanitised label: two names with one label would take each other's hosts. */
function assertDistinctLabels(names: readonly string[]): void {
  const byLabel = new Map<string, string[]>();
  for (const name of names) {
    const label = sanitizeLabelValue(name);
    byLabel.set(label, [...(byLabel.get(label) ?? []), name]);
  }
  const collisions = [...byLabel].filter(([, same]) => same.length > 1);
  if (collisions.length === 0) return;
  const described = collisions
    .map(
      ([label, same]) =>
        `${same.map((name) => `'${name}'`).join(' and ')} share the label berth.profile=${label}`,
    )
    .join('; ');
  throw new InvalidOptionsError(
    'profiles',
    `profile names must stay distinct as host labels (only letters, digits, \`_\`, \`.\` and \`-\` survive, ≤ 63 characters): ${described}. Rename one of them.`,
  );
}

function assertListeners(on: unknown): void {
  if (on === undefined) return;
  if (typeof on !== 'object' || on === null)
    throw new InvalidOptionsError('on', 'expected an object of listeners by event name.');
  for (const [name, listener] of Object.entries(on)) {
    if (!(POOL_EVENT_NAMES as readonly string[]).includes(name)) {
      const suggestion = closestName(name, POOL_EVENT_NAMES);
      throw new InvalidOptionsError(
        `on.${name}`,
        `unknown event${suggestion ? `; did you mean '${suggestion}'?` : ''} Events: ${POOL_EVENT_NAMES.join(', ')}.`,
      );
    }
    if (typeof listener !== 'function')
      throw new InvalidOptionsError(`on.${name}`, `expected a function, got ${typeof listener}.`);
  }
}
