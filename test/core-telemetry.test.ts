/**
 * OpenTelemetry against a real pool (local backend, real child processes; and Docker), asserted through the
 * SDK's in-memory exporters: metrics (acquire wait, cold start, exec duration and outcome, hosts and
 * slots by state, creations, reaps, errors by code) and spans (`acquire`, `exec`, `host.create`,
 * `host.remove`) with their attributes and parents. Plus: importing `@berth/core` loads no
 * OpenTelemetry module, and a missing `@opentelemetry/api` is a no-op.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createDockerBackend } from '@berth/backend-docker';
import { createLocalBackend, createPool, type SlotPool } from '@berth/core';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  type DataPoint,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX_HOST, containersOf, docker, removeContainers } from './fixtures/docker-pool-helpers.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'berth-otel-'));
const poolId = `otel-${process.pid}`;

const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 3_600_000,
});
const meterProvider = new MeterProvider({ readers: [reader] });
const spanExporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });

type Points = { name: string; attributes: Record<string, unknown>; value: unknown }[];

/** Every data point exported so far, flattened (the latest collection only). */
async function collect(): Promise<Points> {
  metricExporter.reset();
  await reader.forceFlush();
  const points: Points = [];
  for (const resource of metricExporter.getMetrics())
    for (const scope of resource.scopeMetrics)
      for (const metric of scope.metrics)
        for (const point of metric.dataPoints as DataPoint<unknown>[])
          points.push({ name: metric.descriptor.name, attributes: point.attributes, value: point.value });
  return points;
}

const sum = (points: Points, name: string, attributes: Record<string, unknown> = {}) =>
  points
    .filter((point) => point.name === name)
    .filter((point) => Object.entries(attributes).every(([key, value]) => point.attributes[key] === value))
    .reduce((total, point) => {
      const value = point.value as number | { count: number };
      return total + (typeof value === 'number' ? value : value.count);
    }, 0);

const spans = (name: string): ReadableSpan[] =>
  spanExporter.getFinishedSpans().filter((span) => span.name === name);

const backend = createLocalBackend({ baseDirectory: scratch, env: { PATH: process.env.PATH ?? '' } });
let pool: SlotPool;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  // An earlier process's warm host with another spec: the start sweep replaces it (a reap).
  const earlier = await createPool({
    backend,
    poolId,
    handleSignals: false,
    telemetry: false,
    minHosts: 1,
    host: { env: { GENERATION: 'old' } },
  });
  await earlier.close();
  pool = await createPool({
    backend,
    poolId,
    handleSignals: false,
    persist: false,
    telemetry: { meterProvider, tracerProvider },
    profiles: {
      default: { maxHosts: 1, slotsPerHost: 2, host: { env: { GENERATION: 'new' } } },
      // Creation fails at once (INVALID_OPTIONS): a forwarded variable that is not set.
      broken: { maxHosts: 1, host: { forwardEnv: ['BERTH_OTEL_TEST_UNSET'] } },
    },
  });
});

afterAll(async () => {
  await pool?.close({ forceRemove: true });
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
  rmSync(scratch, { recursive: true, force: true });
});

describe('OpenTelemetry (local backend, in-memory exporters)', () => {
  it('reports acquire, exec, host creation, gauges, reaps and errors', async () => {
    const tracer = tracerProvider.getTracer('test');
    const trajectory = await tracer.startActiveSpan('trajectory', async (parent) => {
      await using first = await pool.acquire({ trajectoryId: 'traj-1' });
      await using second = await pool.acquire({ trajectoryId: 'traj-2' });
      expect((await first.exec('exit 3')).exitCode).toBe(3);
      expect((await first.exec('sleep 5', { timeoutMs: 200 })).timedOut).toBe(true);
      expect((await second.exec('true')).exitCode).toBe(0);
      // Both slots of the only host are leased: a third acquire times out.
      await expect(pool.acquire({ timeoutMs: 50 })).rejects.toMatchObject({ code: 'ACQUIRE_TIMEOUT' });

      const held = await collect();
      expect(sum(held, 'berth.slots', { 'berth.profile': 'default', 'berth.slot.state': 'acquired' })).toBe(
        2,
      );
      expect(sum(held, 'berth.hosts', { 'berth.profile': 'default', 'berth.host.state': 'ready' })).toBe(1);
      parent.end();
      return parent;
    });
    await expect(pool.acquire({ profile: 'broken', timeoutMs: 10_000 })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
    });

    const points = await collect();
    const pooled = { 'berth.pool': poolId, 'berth.backend': 'local' };
    expect(sum(points, 'berth.acquire.duration', { ...pooled, 'berth.outcome': 'ok' })).toBe(2);
    expect(
      sum(points, 'berth.acquire.duration', { 'berth.outcome': 'error', 'error.type': 'ACQUIRE_TIMEOUT' }),
    ).toBe(1);
    expect(sum(points, 'berth.host.cold_start.duration', { 'berth.profile': 'default' })).toBe(1);
    expect(sum(points, 'berth.exec.duration', { 'berth.exec.outcome': 'exit_nonzero' })).toBe(1);
    expect(sum(points, 'berth.exec.duration', { 'berth.exec.outcome': 'timeout' })).toBe(1);
    expect(sum(points, 'berth.exec.duration', { 'berth.exec.outcome': 'ok' })).toBe(1);
    expect(
      sum(points, 'berth.host.creations', { 'berth.profile': 'default', 'berth.outcome': 'created' }),
    ).toBe(1);
    expect(
      sum(points, 'berth.host.creations', { 'berth.profile': 'broken', 'berth.outcome': 'failed' }),
    ).toBe(1);
    expect(sum(points, 'berth.host.reaps', { 'berth.reap.kind': 'replaced' })).toBe(1);
    expect(
      sum(points, 'berth.errors', { 'error.type': 'INVALID_OPTIONS', 'berth.operation': 'create' }),
    ).toBe(1);
    expect(
      sum(points, 'berth.errors', { 'error.type': 'ACQUIRE_TIMEOUT', 'berth.operation': 'acquire' }),
    ).toBe(1);
    // Released: the gauges follow.
    expect(sum(points, 'berth.slots', { 'berth.profile': 'default', 'berth.slot.state': 'acquired' })).toBe(
      0,
    );
    expect(sum(points, 'berth.slots', { 'berth.profile': 'default', 'berth.slot.state': 'available' })).toBe(
      2,
    );

    const acquires = spans('acquire');
    const parentId = trajectory.spanContext().spanId;
    const traj1 = acquires.find((span) => span.attributes['berth.trajectory.id'] === 'traj-1');
    expect(traj1?.attributes).toMatchObject({
      ...pooled,
      'berth.profile': 'default',
      'berth.slot.id': expect.any(String),
    });
    expect(traj1?.parentSpanContext?.spanId).toBe(parentId);
    const execs = spans('exec');
    expect(execs).toHaveLength(3);
    const exit3 = execs.find((span) => span.attributes['berth.exec.exit_code'] === 3);
    expect(exit3?.attributes).toMatchObject({
      ...pooled,
      'berth.trajectory.id': 'traj-1',
      'berth.slot.id': traj1?.attributes['berth.slot.id'],
      'berth.host.id': traj1?.attributes['berth.host.id'],
      'berth.exec.outcome': 'exit_nonzero',
    });
    expect(exit3?.parentSpanContext?.spanId).toBe(parentId);
    const creates = spans('host.create');
    expect(creates.map((span) => span.attributes['berth.profile']).sort()).toEqual(['broken', 'default']);
    expect(creates.find((span) => span.attributes['berth.profile'] === 'broken')?.status.code).toBe(2); // ERROR
    expect(spans('host.remove').map((span) => span.attributes['berth.remove.kind'])).toEqual(['replaced']);
  });

  it('ends with a host.remove span when the pool removes its hosts', async () => {
    const hostId = pool.hosts()[0]?.id;
    await pool.close({ forceRemove: true });
    const removed = spans('host.remove').find((span) => span.attributes['berth.remove.kind'] === 'removed');
    expect(removed?.attributes).toMatchObject({
      'berth.host.id': hostId,
      'berth.remove.reason': 'pool closed',
    });
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});

const dockerUp = await docker('version', '--format', '{{.Server.Version}}').then(
  () => true,
  () => false,
);
if (!dockerUp) console.info('core-telemetry: Docker tests skipped: no reachable dockerd');

describe.skipIf(!dockerUp)('OpenTelemetry on Docker (busybox)', () => {
  const dockerPoolId = `berth-obs-otel-${process.pid}`;
  afterAll(async () => removeContainers(await containersOf(dockerPoolId)));

  it('reports the same spans and metrics with berth.backend=docker', async () => {
    {
      await using dockerPool = await createPool({
        backend: createDockerBackend(),
        poolId: dockerPoolId,
        handleSignals: false,
        persist: false,
        host: BUSYBOX_HOST,
        telemetry: { meterProvider, tracerProvider },
      });
      await using slot = await dockerPool.acquire({ trajectoryId: 'docker-1' });
      expect((await slot.exec('exit 7')).exitCode).toBe(7);
      const points = await collect();
      const mine = { 'berth.pool': dockerPoolId, 'berth.backend': 'docker' };
      expect(sum(points, 'berth.host.cold_start.duration', mine)).toBe(1);
      expect(sum(points, 'berth.exec.duration', { ...mine, 'berth.exec.outcome': 'exit_nonzero' })).toBe(1);
      expect(sum(points, 'berth.slots', { ...mine, 'berth.slot.state': 'acquired' })).toBe(1);
    }
    const of = (name: string) => spans(name).filter((span) => span.attributes['berth.pool'] === dockerPoolId);
    const [created] = of('host.create');
    expect(created?.attributes).toMatchObject({
      'berth.backend': 'docker',
      'berth.host.id': expect.any(String),
    });
    expect(of('exec')[0]?.attributes).toMatchObject({
      'berth.trajectory.id': 'docker-1',
      'berth.host.id': created?.attributes['berth.host.id'],
      'berth.exec.exit_code': 7,
    });
    expect(of('host.remove').map((span) => span.attributes['berth.host.id'])).toEqual([
      created?.attributes['berth.host.id'],
    ]);
    expect(await containersOf(dockerPoolId)).toEqual([]);
  });
});

/** Runs an ES module script in a fresh Node process from the repository root. */
async function node(script: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    cwd: repoRoot,
    env: { ...process.env, BERTH_LOCAL_DIR: scratch },
    timeout: 60_000,
  });
  return stdout.trim();
}

// A sync resolve hook records every OpenTelemetry module a process resolves; `HIDE` makes
// `@opentelemetry/api` missing, as in an application that does not install it.
const HOOK = `
import { registerHooks } from 'node:module';
const seen = [];
registerHooks({ resolve(specifier, context, next) {
  if (specifier.startsWith('@opentelemetry/')) {
    seen.push(specifier);
    if (process.env.HIDE) throw Object.assign(new Error('not installed'), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
} });
const { createPool, createLocalBackend } = await import('@berth/core');
const open = (telemetry) => createPool({ backend: createLocalBackend(), poolId: 'otel-load-' + process.pid, persist: false, handleSignals: false, telemetry });
`;

describe('OpenTelemetry is optional', () => {
  it('importing @berth/core and a pool with telemetry: false load no OpenTelemetry module; auto loads the API', async () => {
    const output = await node(`${HOOK}
      const quiet = await open(false); await quiet.close();
      const afterFalse = seen.length;
      const auto = await open('auto'); await auto.close();
      console.log(JSON.stringify({ afterFalse, afterAuto: seen }));`);
    expect(JSON.parse(output)).toEqual({ afterFalse: 0, afterAuto: ['@opentelemetry/api'] });
  });

  it('without @opentelemetry/api installed: auto is a no-op, explicit providers are INVALID_OPTIONS', async () => {
    const output = await node(`process.env.HIDE = '1';${HOOK}
      const auto = await open('auto');
      const slot = await auto.acquire();
      const exit = (await slot.exec('exit 4')).exitCode;
      await slot.release(); await auto.close();
      const error = await open({ meterProvider: { getMeter() {} } }).catch((error) => error);
      console.log(JSON.stringify({ exit, code: error.code, field: error.field }));`);
    expect(JSON.parse(output)).toEqual({ exit: 4, code: 'INVALID_OPTIONS', field: 'telemetry' });
  });
});
