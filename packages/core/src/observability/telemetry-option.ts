import { InvalidOptionsError } from '../errors/index.js';

/**
 * The OpenTelemetry providers a pool reports to. Typed structurally, so these types compile without
 * `@opentelemetry/api` installed; pass the SDK's `MeterProvider` / `TracerProvider` (or any object
 * with `getMeter` / `getTracer`).
 */
export interface PoolTelemetryProviders {
  /** Default: the global meter provider of `@opentelemetry/api`. */
  meterProvider?: { getMeter(name: string, version?: string): unknown };
  /** Default: the global tracer provider of `@opentelemetry/api`. */
  tracerProvider?: { getTracer(name: string, version?: string): unknown };
}

/** `'auto'`: report when `@opentelemetry/api` is installed; `false`: never; or explicit providers. */
export type PoolTelemetryOption = 'auto' | false | PoolTelemetryProviders;

export function assertTelemetryOption(value: unknown): asserts value is PoolTelemetryOption | undefined {
  if (value === undefined || value === 'auto' || value === false) return;
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionsError(
      'telemetry',
      `expected 'auto', false or { meterProvider?, tracerProvider? }, got ${JSON.stringify(value)}.`,
    );
  }
  for (const [key, method] of [
    ['meterProvider', 'getMeter'],
    ['tracerProvider', 'getTracer'],
  ] as const) {
    const provider = (value as Record<string, unknown>)[key];
    if (provider === undefined) continue;
    if (typeof (provider as Record<string, unknown> | null)?.[method] !== 'function') {
      throw new InvalidOptionsError(
        `telemetry.${key}`,
        `expected an OpenTelemetry ${key === 'meterProvider' ? 'MeterProvider' : 'TracerProvider'} (an object with ${method}()).`,
      );
    }
  }
  const unknown = Object.keys(value).filter((key) => key !== 'meterProvider' && key !== 'tracerProvider');
  if (unknown.length > 0) {
    throw new InvalidOptionsError(
      `telemetry.${unknown[0]}`,
      'unknown key; telemetry takes meterProvider and tracerProvider.',
    );
  }
}
