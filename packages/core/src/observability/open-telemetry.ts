import type * as OpenTelemetryApi from '@opentelemetry/api';
import type { Attributes, Span } from '@opentelemetry/api';
import { BerthError, InvalidOptionsError } from '../errors/index.js';
import { BERTH_VERSION } from '../host/labels.js';
import type { ExecEndEvent, HostErrorEvent, PoolEvents } from '../pool/pool-events.js';
import type { SlotPool } from '../pool/slot-pool.js';
import { SLOT_STATES } from '../slot/slot-states.js';
import type { PoolTelemetryProviders } from './telemetry-option.js';

type Api = typeof OpenTelemetryApi;

/** The instrumentation scope every meter and tracer of Berth reports under. */
export const TELEMETRY_SCOPE = '@berth/core';

let loading: Promise<Api | undefined> | undefined;

/**
 * `@opentelemetry/api`, imported on first use — never by importing `@berth/core` — or `undefined`
 * when it is not installed (an optional peer dependency).
 */
function loadApi(): Promise<Api | undefined> {
  loading ??= import('@opentelemetry/api').then(
    (module) => module,
    () => undefined,
  );
  return loading;
}

/** Subscribes a pool's OpenTelemetry reporting, as `pool.options.telemetry` says. */
export async function attachTelemetry(pool: SlotPool): Promise<void> {
  const option = pool.options.telemetry;
  if (option === false) return;
  const api = await loadApi();
  if (api === undefined) {
    if (option === 'auto') return;
    throw new InvalidOptionsError(
      'telemetry',
      'OpenTelemetry providers were given but `@opentelemetry/api` cannot be imported: install it (`npm install @opentelemetry/api`) or pass `telemetry: false`.',
    );
  }
  instrumentPool(pool, api, option === 'auto' ? {} : option);
}

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const HOST_STATES = ['creating', 'ready', 'lost', 'removing'] as const;

/**
 * Metrics and spans from the pool's own events (plus a traced `acquire`, so its span has the
 * caller's parent and covers failures). Metric attributes stay low-cardinality (pool, backend,
 * profile, outcome, error code); host, slot and trajectory ids go on spans only.
 */
function instrumentPool(pool: SlotPool, api: Api, providers: PoolTelemetryProviders): void {
  const meterProvider = (providers.meterProvider ??
    api.metrics.getMeterProvider()) as OpenTelemetryApi.MeterProvider;
  const tracerProvider = (providers.tracerProvider ??
    api.trace.getTracerProvider()) as OpenTelemetryApi.TracerProvider;
  const meter = meterProvider.getMeter(TELEMETRY_SCOPE, BERTH_VERSION);
  const tracer = tracerProvider.getTracer(TELEMETRY_SCOPE, BERTH_VERSION);
  const pooled: Attributes = {
    'berth.pool': pool.options.poolId,
    'berth.backend': pool.options.backend.backendId,
  };
  const of = (profile: string, extra: Attributes = {}): Attributes => ({
    ...pooled,
    'berth.profile': profile,
    ...extra,
  });
  const seconds = (description: string) => ({
    unit: 's',
    description,
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });

  const acquireDuration = meter.createHistogram(
    'berth.acquire.duration',
    seconds('Time from acquire() to a leased slot, or to its failure (berth.outcome).'),
  );
  const coldStart = meter.createHistogram(
    'berth.host.cold_start.duration',
    seconds('Time to create a host and make it ready for leases.'),
  );
  const execDuration = meter.createHistogram(
    'berth.exec.duration',
    seconds('Duration of a command, by berth.exec.outcome (ok, exit_nonzero, timeout, aborted, error).'),
  );
  const counter = (name: string, description: string) => meter.createCounter(name, { description });
  const creations = counter('berth.host.creations', 'Host creations, by berth.outcome (created, failed).');
  const adoptions = counter('berth.host.adoptions', 'Hosts adopted from an earlier process of the pool.');
  const losses = counter('berth.host.losses', 'Hosts lost (the engine or a health check says gone).');
  const reaps = counter(
    'berth.host.reaps',
    'Hosts the sweep removed, by berth.reap.kind (reaped, replaced).',
  );
  const errors = counter('berth.errors', 'Errors, by error.type (the BerthError code) and berth.operation.');
  const hostsGauge = meter.createObservableGauge('berth.hosts', {
    description: 'Hosts of the pool, by berth.host.state.',
  });
  const slotsGauge = meter.createObservableGauge('berth.slots', {
    description: 'Slots of the pool, by berth.slot.state.',
  });
  const waitingGauge = meter.createObservableGauge('berth.acquire.waiting', {
    description: 'acquire() calls waiting for a slot.',
  });

  const observe: OpenTelemetryApi.BatchObservableCallback = (result) => {
    const stats = pool.stats();
    const hosts = pool.hosts();
    for (const profile of pool.options.profiles.keys()) {
      const mine = hosts.filter((host) => host.profile === profile);
      for (const state of HOST_STATES) {
        const value =
          state === 'creating'
            ? (stats.profiles[profile]?.creating ?? 0)
            : mine.filter((host) => host.status === state).length;
        result.observe(hostsGauge, value, of(profile, { 'berth.host.state': state }));
      }
      for (const state of SLOT_STATES) {
        let value = 0;
        for (const host of mine) for (const slot of host.slots) if (slot.state === state) value += 1;
        result.observe(slotsGauge, value, of(profile, { 'berth.slot.state': state }));
      }
    }
    result.observe(waitingGauge, stats.queueDepth, pooled);
  };
  meter.addBatchObservableCallback(observe, [hostsGauge, slotsGauge, waitingGauge]);

  /** A span of something that already happened (the events say when it ended and how long it took). */
  const pastSpan = (name: string, durationMs: number, attributes: Attributes, parent: boolean): Span => {
    const now = Date.now();
    return tracer.startSpan(
      name,
      { startTime: now - Math.max(0, durationMs), attributes },
      // Host work serves many leases: its spans are roots, not children of whichever call triggered it.
      parent ? api.context.active() : api.ROOT_CONTEXT,
    );
  };
  const fail = (span: Span, error: unknown) => {
    span.setAttribute('error.type', errorType(error));
    if (error instanceof Error) span.recordException(error);
    span.setStatus({
      code: api.SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
  };
  const countError = (profile: string, operation: string, error: unknown) =>
    errors.add(1, of(profile, { 'error.type': errorType(error), 'berth.operation': operation }));

  const listeners: { [Name in keyof PoolEvents]?: PoolEvents[Name] } = {
    'host:created': (event) => {
      creations.add(1, of(event.profile, { 'berth.outcome': 'created' }));
      coldStart.record(event.coldStartMs / 1000, of(event.profile));
      pastSpan(
        'host.create',
        event.coldStartMs,
        of(event.profile, { 'berth.host.id': event.hostId }),
        false,
      ).end();
    },
    'host:error': (event: HostErrorEvent) => {
      countError(event.profile, event.operation, event.error);
      if (event.operation !== 'create') return;
      creations.add(1, of(event.profile, { 'berth.outcome': 'failed' }));
      const span = pastSpan(
        'host.create',
        event.durationMs ?? 0,
        of(event.profile, event.hostId ? { 'berth.host.id': event.hostId } : {}),
        false,
      );
      fail(span, event.error);
      span.end();
    },
    'host:adopted': (event) => adoptions.add(1, of(event.profile)),
    'host:lost': (event) => losses.add(1, of(event.profile)),
    'host:reaped': (event) => {
      reaps.add(1, of(event.profile, { 'berth.reap.kind': 'reaped' }));
      removalSpan(event, 'reaped');
    },
    'host:replaced': (event) => {
      reaps.add(1, of(event.profile, { 'berth.reap.kind': 'replaced' }));
      removalSpan(event, 'replaced');
    },
    'host:removed': (event) => removalSpan(event, 'removed'),
    'exec:end': (event: ExecEndEvent) => {
      const outcome = execOutcome(event);
      execDuration.record(
        (event.durationMs ?? 0) / 1000,
        of(event.profile, { 'berth.exec.outcome': outcome }),
      );
      const span = pastSpan(
        'exec',
        event.durationMs ?? 0,
        of(event.profile, {
          'berth.host.id': event.hostId,
          'berth.slot.id': event.slotId,
          'berth.exec.outcome': outcome,
          ...(event.trajectoryId === undefined ? {} : { 'berth.trajectory.id': event.trajectoryId }),
          ...(event.exitCode === undefined ? {} : { 'berth.exec.exit_code': event.exitCode }),
        }),
        true,
      );
      if (event.error) {
        countError(event.profile, 'exec', event.error);
        fail(span, event.error);
      } else if (event.timedOut) {
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: 'the command timed out' });
      }
      span.end();
    },
    'pool:closed': () => detach(),
  };
  const removalSpan = (
    event: { hostId: string; profile: string; reason: string; durationMs?: number },
    kind: string,
  ) =>
    pastSpan(
      'host.remove',
      event.durationMs ?? 0,
      of(event.profile, {
        'berth.host.id': event.hostId,
        'berth.remove.kind': kind,
        'berth.remove.reason': event.reason,
      }),
      false,
    ).end();
  for (const [name, listener] of Object.entries(listeners))
    pool.on(name as keyof PoolEvents, listener as (...args: unknown[]) => void);

  const untraced = pool.acquire;
  const traced: SlotPool['acquire'] = (options = {}) => {
    const profile = options.profile ?? pool.options.defaultProfile;
    const attributes = of(
      profile,
      options.trajectoryId === undefined ? {} : { 'berth.trajectory.id': options.trajectoryId },
    );
    return tracer.startActiveSpan('acquire', { attributes }, async (span) => {
      const started = performance.now();
      const took = () => (performance.now() - started) / 1000;
      try {
        const slot = await untraced.call(pool, options);
        span.setAttributes({ 'berth.host.id': slot.hostId, 'berth.slot.id': slot.id });
        acquireDuration.record(took(), of(profile, { 'berth.outcome': 'ok' }));
        return slot;
      } catch (error) {
        fail(span, error);
        acquireDuration.record(
          took(),
          of(profile, { 'berth.outcome': 'error', 'error.type': errorType(error) }),
        );
        countError(profile, 'acquire', error);
        throw error;
      } finally {
        span.end();
      }
    });
  };
  // An own property over the prototype's method: `execBatch` and every caller go through it.
  pool.acquire = traced;

  function detach(): void {
    for (const [name, listener] of Object.entries(listeners))
      pool.off(name as keyof PoolEvents, listener as (...args: unknown[]) => void);
    meter.removeBatchObservableCallback(observe, [hostsGauge, slotsGauge, waitingGauge]);
    if (pool.acquire === traced) Reflect.deleteProperty(pool, 'acquire');
  }
}

function errorType(error: unknown): string {
  if (BerthError.isInstance(error)) return error.code;
  return error instanceof Error ? error.name : 'unknown';
}

function execOutcome(event: ExecEndEvent): 'ok' | 'exit_nonzero' | 'timeout' | 'aborted' | 'error' {
  if (event.error) return 'error';
  if (event.timedOut) return 'timeout';
  if (event.aborted) return 'aborted';
  return event.exitCode === 0 ? 'ok' : 'exit_nonzero';
}
