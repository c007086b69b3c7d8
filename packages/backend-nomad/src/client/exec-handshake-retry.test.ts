import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { NomadClient } from './nomad-client.js';

/** A stand-in for Nomad's exec endpoint that refuses the first `refusals` handshakes with 429. */
async function execEndpoint(refusals: number, retryAfter: string) {
  let seen = 0;
  const server = createServer();
  const sockets = new WebSocketServer({ noServer: true });
  server.on('upgrade', (request, socket, head) => {
    seen += 1;
    if (seen <= refusals) {
      socket.end(`HTTP/1.1 429 Too Many Requests\r\nRetry-After: ${retryAfter}\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) =>
      ws.send(JSON.stringify({ exited: true, result: { exit_code: 0 } })),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    attempts: () => seen,
    close: () =>
      new Promise<void>((resolve) => {
        sockets.close();
        server.close(() => resolve());
      }),
  };
}

describe('alloc exec handshake refused with 429', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('is tried again after Retry-After, and the session opens', async () => {
    const endpoint = await execEndpoint(2, '0');
    cleanups.push(endpoint.close);
    const client = new NomadClient({ address: endpoint.address, env: {} });
    cleanups.push(() => client.close());
    const session = await client.exec('alloc-1', { task: 'shell', command: ['true'] });
    expect(endpoint.attempts()).toBe(3);
    expect((await session.exited).exitCode).toBe(0);
  });

  it('gives up after a few refusals with the 429 in the error', async () => {
    const endpoint = await execEndpoint(100, '0');
    cleanups.push(endpoint.close);
    const client = new NomadClient({ address: endpoint.address, env: {} });
    cleanups.push(() => client.close());
    await expect(client.exec('alloc-1', { task: 'shell', command: ['true'] })).rejects.toThrow(/429/);
    expect(endpoint.attempts()).toBe(5);
  });
});
