import { describe, expect, it } from 'vitest';
import { OutputBuffer } from './output-buffer.js';

function pattern(length: number, offset = 0): Buffer {
  return Buffer.from(Array.from({ length }, (_, index) => (index + offset) % 251));
}

function feed(buffer: OutputBuffer, data: Buffer, chunkSizes: readonly number[]): void {
  let at = 0;
  let next = 0;
  while (at < data.length) {
    const size = chunkSizes[next++ % chunkSizes.length]!;
    buffer.push(data.subarray(at, at + size));
    at += size;
  }
}

describe('OutputBuffer', () => {
  it('keeps everything below the limit', () => {
    const buffer = new OutputBuffer(100);
    buffer.push(Buffer.from('hello '));
    buffer.push(Buffer.from('world'));
    expect(buffer.toBuffer().toString()).toBe('hello world');
    expect(buffer.truncated).toBe(false);
    expect(buffer.totalBytes).toBe(11);
  });

  it('is not truncated at exactly the limit', () => {
    const buffer = new OutputBuffer(10);
    buffer.push(Buffer.from('0123456789'));
    expect(buffer.truncated).toBe(false);
    expect(buffer.toBuffer().toString()).toBe('0123456789');
  });

  for (const maxBytes of [1, 2, 7, 10, 64, 1000]) {
    for (const chunks of [[1], [3], [7, 1, 13], [64], [999], [100_000]]) {
      it(`keeps head and tail exactly (max ${maxBytes}, chunks ${chunks.join('/')})`, () => {
        const data = pattern(5_000, maxBytes);
        const buffer = new OutputBuffer(maxBytes);
        feed(buffer, data, chunks);
        const headLength = Math.ceil(maxBytes / 2);
        const tailLength = maxBytes - headLength;
        const expected = Buffer.concat([
          data.subarray(0, headLength),
          data.subarray(data.length - tailLength),
        ]);
        expect(buffer.toBuffer().equals(expected)).toBe(true);
        expect(buffer.totalBytes).toBe(5_000);
        expect(buffer.truncated).toBe(true);
      });
    }
  }

  it('counts bytes it drops and keeps memory bounded', () => {
    const buffer = new OutputBuffer(1024);
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    for (let index = 0; index < 1_000; index += 1) buffer.push(chunk);
    expect(buffer.totalBytes).toBe(64 * 1024 * 1000);
    expect(buffer.toBuffer().length).toBe(1024);
  });

  it('copies what it keeps (callers may reuse their chunk buffers)', () => {
    const buffer = new OutputBuffer(8);
    const chunk = Buffer.from('abcd');
    buffer.push(chunk);
    chunk.fill(0x7a);
    expect(buffer.toBuffer().toString()).toBe('abcd');
  });
});
