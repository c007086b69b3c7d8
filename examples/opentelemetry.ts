/**
 * OpenTelemetry metrics and spans of a pool, printed from in-memory exporters (in production: an
 * OTLP exporter). `node --import tsx examples/opentelemetry.ts`
 */
import { createLocalBackend, createPool } from '@berth/core';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 60_000 });
const meterProvider = new MeterProvider({ readers: [reader] });
const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });

{
  await using pool = await createPool({
    backend: createLocalBackend(),
    poolId: 'otel-example',
    persist: false,
    // Omit `telemetry` to use the global providers your OpenTelemetry SDK registered.
    telemetry: { meterProvider, tracerProvider },
  });
  await using slot = await pool.acquire({ trajectoryId: 'example-1' });
  await slot.exec('echo hello; exit 2');
  await reader.forceFlush();
}

const names = metrics
  .getMetrics()
  .flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.descriptor.name)));
console.log('metrics:', [...new Set(names)].sort().join(', '));
for (const span of spans.getFinishedSpans())
  console.log(
    `span ${span.name}`,
    span.attributes['berth.exec.outcome'] ?? '',
    span.attributes['berth.trajectory.id'] ?? '',
  );
