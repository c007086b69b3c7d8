import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { demuxDockerStream } from './demux-docker-stream.js';

function frame(type: number, payload: string | Buffer): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const header = Buffer.alloc(8);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

async function text(stream: PassThrough): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}

describe('demuxDockerStream', () => {
  it('splits frames, even when headers and payloads are cut across chunks', async () => {
    const source = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    demuxDockerStream(source, stdout, stderr);
    const all = Buffer.concat([frame(1, 'hello '), frame(2, 'oops'), frame(1, 'world'), frame(1, '')]);
    for (let index = 0; index < all.length; index += 3) source.write(all.subarray(index, index + 3));
    source.end();
    expect(await Promise.all([text(stdout), text(stderr)])).toEqual(['hello world', 'oops']);
  });

  it('pauses the source while a reader is slow (backpressure)', async () => {
    const source = new PassThrough();
    const stdout = new PassThrough({ highWaterMark: 16 });
    const stderr = new PassThrough();
    demuxDockerStream(source, stdout, stderr);
    source.write(frame(1, Buffer.alloc(1024, 97)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(source.isPaused()).toBe(true);
    const drained = text(stdout);
    source.end();
    expect((await drained).length).toBe(1024);
  });

  it('ends both outputs when the source closes without ending', async () => {
    const source = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    demuxDockerStream(source, stdout, stderr);
    source.write(frame(2, 'partial'));
    source.destroy();
    expect(await Promise.all([text(stdout), text(stderr)])).toEqual(['', 'partial']);
  });

  it('does not stall when a reader is destroyed', async () => {
    const source = new PassThrough();
    const stdout = new Writable({
      highWaterMark: 1,
      write: (_chunk, _encoding, callback) => setTimeout(callback, 10_000),
    });
    const stderr = new PassThrough();
    demuxDockerStream(source, stdout, stderr);
    source.write(frame(1, 'x'.repeat(100)));
    await new Promise((resolve) => setImmediate(resolve));
    stdout.destroy();
    source.end(frame(2, 'still here'));
    expect(await text(stderr)).toBe('still here');
  });
});
