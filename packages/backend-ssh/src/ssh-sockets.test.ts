import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { coalesceWrites } from './ssh-sockets.js';

type Internals = net.Socket & {
  _write: (...args: unknown[]) => void;
  _writev: (chunks: { chunk: Buffer }[], callback: (error?: Error) => void) => void;
};

async function connectedPair(): Promise<{ client: Internals; received: Promise<Buffer>; close: () => void }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const received = new Promise<Buffer>((resolve) =>
    server.once('connection', (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
    }),
  );
  const client = net.connect({ port, host: '127.0.0.1' }) as Internals;
  await new Promise((resolve) => client.once('connect', resolve));
  client.setNoDelay(true);
  return { client, received, close: () => server.close() };
}

describe('coalesceWrites', () => {
  it("sends one tick's writes (ssh2 writes length, ciphertext and MAC apart) as one writev", async () => {
    const { client, received, close } = await connectedPair();
    coalesceWrites(client);
    const single: number[] = [];
    const batches: number[] = [];
    const write = client._write.bind(client);
    const writev = client._writev.bind(client);
    client._write = (...args: unknown[]) => {
      single.push(1);
      write(...args);
    };
    client._writev = (chunks, callback) => {
      batches.push(chunks.length);
      writev(chunks, callback);
    };
    client.write(Buffer.from([0, 0, 0, 3]));
    client.write(Buffer.from('abc'));
    client.write(Buffer.from('mac'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(single).toEqual([]);
    expect(batches).toEqual([3]);
    client.write(Buffer.from('next tick'));
    client.end();
    expect((await received).toString('latin1')).toBe('\u0000\u0000\u0000\u0003abcmacnext tick');
    close();
  });
});
