import { spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BackendUnavailableError } from '@berth/core';
import Dockerode from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { createDockerBackend } from './create-docker-backend.js';
import { dockerTestContext } from './testing/docker-fixtures.js';

const context = dockerTestContext();
const { backend } = context;

afterAll(async () => {
  await context.sweep();
  const left = await context.leftovers();
  await backend.dispose();
  expect(left).toEqual([]);
});

describe('connection', () => {
  it('DOCKER_HOST at a dead socket: BackendUnavailableError listing it, fast, no fallback', async () => {
    const dead = createDockerBackend({
      env: { DOCKER_HOST: 'unix:///tmp/berth-no-such-docker.sock' },
      connectTimeoutMs: 2_000,
    });
    const started = Date.now();
    const error = await dead.listHosts({}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as BackendUnavailableError).tried).toEqual(['unix:///tmp/berth-no-such-docker.sock']);
    expect((error as Error).message).toMatch(/does not fall back/);
    expect(Date.now() - started).toBeLessThan(3_000);
    await dead.dispose();
  });

  it('a TCP address that accepts but never answers is bounded by connectTimeoutMs', async () => {
    // Accepts and reads, never answers (like a firewall that swallows, or a hung daemon).
    const server: Server = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const silent = createDockerBackend({
        host: '127.0.0.1',
        port,
        protocol: 'http',
        connectTimeoutMs: 300,
      });
      const started = Date.now();
      const error = await silent.listHosts({}).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect((error as Error).message).toMatch(/no answer within 300 ms/);
      expect(Date.now() - started).toBeLessThan(2_000);
      await silent.dispose();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('an HTTP server that is not Docker (404 on /_ping) is BACKEND_UNAVAILABLE, not NOT_FOUND', async () => {
    const web = createHttpServer((_request, response) => response.writeHead(404).end('not here'));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    const port = (web.address() as { port: number }).port;
    try {
      const wrong = createDockerBackend({
        host: '127.0.0.1',
        port,
        protocol: 'http',
        connectTimeoutMs: 2_000,
      });
      const error = await wrong.listHosts({}).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect((error as Error).message).toMatch(
        /answered HTTP 404 to \/_ping, so it is not a working Docker API/,
      );
      expect((error as BackendUnavailableError).tried).toEqual([`tcp://127.0.0.1:${port}`]);
      await wrong.dispose();
    } finally {
      web.closeAllConnections();
      await new Promise((resolve) => web.close(resolve));
    }
  });

  it('accepts a caller-provided dockerode client', async () => {
    const own = createDockerBackend({ docker: new Dockerode({ socketPath: '/var/run/docker.sock' }) });
    expect(Array.isArray(await own.listHosts({ 'berth.pool': context.runId }))).toBe(true);
    await own.dispose();
  });
});

describe('process lifetime', () => {
  it('a watched host does not keep the Node process alive', async () => {
    const script = fileURLToPath(new URL('./testing/watch-and-exit.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', script, context.runId, `${context.runId}-exit`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exitCode = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 30_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    expect({ exitCode, output }).toMatchObject({ exitCode: 0 });
    expect(output).toMatch(/"id":/);
  });
});

describe('measurements', () => {
  it('reports create+start, channel open, round trip and one-shot exec latency', async () => {
    const timings = {
      createMs: [] as number[],
      openChannelMs: [] as number[],
      roundTripMs: [] as number[],
      runMs: [] as number[],
    };
    for (let index = 0; index < 3; index += 1) {
      let started = performance.now();
      const host = await backend.createHost(context.request({}, `${context.runId}-bench`));
      timings.createMs.push(performance.now() - started);
      try {
        started = performance.now();
        const channel = await host.openChannel();
        timings.openChannelMs.push(performance.now() - started);
        let output = '';
        let waiter: (() => void) | undefined;
        channel.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          waiter?.();
        });
        for (let round = 0; round < 10; round += 1) {
          started = performance.now();
          const expected = `round-${round}\n`;
          const line = new Promise<void>((resolve) => {
            waiter = () => {
              if (output.endsWith(expected)) resolve();
            };
          });
          channel.stdin.write(`echo round-${round}\n`);
          await line;
          timings.roundTripMs.push(performance.now() - started);
        }
        channel.close();
        started = performance.now();
        await host.run(['true']);
        timings.runMs.push(performance.now() - started);
      } finally {
        await host.destroy({ force: true });
      }
    }
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
    const summary = Object.fromEntries(
      Object.entries(timings).map(([key, values]) => [key, Math.round(median(values) * 10) / 10]),
    );
    console.log(JSON.stringify({ bench: 'backend-docker', median: summary }));
    expect(summary.createMs).toBeGreaterThan(0);
  });
});
