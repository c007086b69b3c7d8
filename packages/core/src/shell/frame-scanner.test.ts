import { describe, expect, it } from 'vitest';
import { type FrameMarker, FrameScanner } from './frame-scanner.js';

const NONCE = '0123456789abcdef01234567';
const marker = (seq: number, kind: string, value = '') => `\x1eBRT${NONCE}:${seq}:${kind}${value}\x1e\n`;

/** A sink that records data (joined) and markers, interleaved so ordering can be checked too. */
function collect() {
  const events: Array<{ data: string } | { marker: FrameMarker }> = [];
  const scanner = new FrameScanner(NONCE, {
    data: (chunk) => {
      const last = events.at(-1);
      if (last && 'data' in last) last.data += chunk.toString('latin1');
      else events.push({ data: chunk.toString('latin1') });
    },
    marker: (found) => events.push({ marker: found }),
  });
  return { scanner, events };
}

function scanChunks(chunks: readonly Buffer[]) {
  const { scanner, events } = collect();
  for (const chunk of chunks) scanner.push(chunk);
  return events;
}

function splitAt(text: string, ...cuts: number[]): Buffer[] {
  const bytes = Buffer.from(text, 'latin1');
  const out: Buffer[] = [];
  let prev = 0;
  for (const cut of cuts) {
    out.push(bytes.subarray(prev, cut));
    prev = cut;
  }
  out.push(bytes.subarray(prev));
  return out;
}

describe('FrameScanner', () => {
  const stream = `hello ${marker(3, 'P', '4242')}out\nmore${marker(3, 'E', '0')}tail`;
  const expected = [
    { data: 'hello ' },
    { marker: { seq: 3, kind: 'P', value: '4242' } },
    { data: 'out\nmore' },
    { marker: { seq: 3, kind: 'E', value: '0' } },
    { data: 'tail' },
  ];

  it('parses markers in one chunk and drops the newline after each', () => {
    expect(scanChunks([Buffer.from(stream, 'latin1')])).toEqual(expected);
  });

  it('gives the same result when the stream is split at every byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut += 1) {
      expect(scanChunks(splitAt(stream, cut)), `cut at ${cut}`).toEqual(expected);
    }
  });

  it('gives the same result when split at every pair of boundaries', () => {
    for (let a = 0; a <= stream.length; a += 1) {
      for (let b = a; b <= stream.length; b += 3) {
        expect(scanChunks(splitAt(stream, a, b)), `cuts at ${a},${b}`).toEqual(expected);
      }
    }
  });

  it('gives the same result fed one byte at a time', () => {
    const bytes = Buffer.from(stream, 'latin1');
    const chunks = [...bytes].map((byte) => Buffer.from([byte]));
    expect(scanChunks(chunks)).toEqual(expected);
  });

  it('passes lookalike \\x1e bytes through as data', () => {
    const lookalikes = [
      'a\x1eb',
      '\x1e\x1e\x1e',
      '\x1eBRT',
      `\x1eBRT${NONCE.slice(0, 10)}x`,
      `\x1eBRTffffffffffffffffffffffff:1:E0\x1e\n`, // another nonce
      `\x1eBRT${NONCE}:notanumber\x1e`, // our prefix, malformed body
      `\x1eBRT${NONCE}:1:e0\x1e`, // lower-case kind
    ];
    for (const text of lookalikes) {
      const data = `${text}${marker(1, 'E', '7')}after`;
      const events = scanChunks([Buffer.from(data, 'latin1')]);
      expect(events, JSON.stringify(text)).toEqual([
        { data: text },
        { marker: { seq: 1, kind: 'E', value: '7' } },
        { data: 'after' },
      ]);
      // Byte by byte too: a partial lookalike held back must come out as data eventually.
      const bytes = Buffer.from(data, 'latin1');
      expect(
        scanChunks([...bytes].map((byte) => Buffer.from([byte]))),
        `bytewise ${JSON.stringify(text)}`,
      ).toEqual(events);
    }
  });

  it('gives up on an over-long lookalike body rather than buffering forever', () => {
    const long = `\x1eBRT${NONCE}:${'9'.repeat(500)}`;
    const events = scanChunks([Buffer.from(long, 'latin1'), Buffer.from('x', 'latin1')]);
    expect(events).toEqual([{ data: `${long}x` }]);
  });

  it('drops the newline that follows a marker ending a chunk', () => {
    const events = scanChunks([
      Buffer.from(`before\x1eBRT${NONCE}:2:E0\x1e`, 'latin1'),
      Buffer.from('\nnext line\n', 'latin1'),
    ]);
    expect(events).toEqual([
      { data: 'before' },
      { marker: { seq: 2, kind: 'E', value: '0' } },
      { data: 'next line\n' },
    ]);
  });

  it('keeps the first byte of the next chunk when it is not a newline', () => {
    const events = scanChunks([
      Buffer.from(`\x1eBRT${NONCE}:2:E0\x1e`, 'latin1'),
      Buffer.from('xyz', 'latin1'),
    ]);
    expect(events).toEqual([{ marker: { seq: 2, kind: 'E', value: '0' } }, { data: 'xyz' }]);
  });

  it('keeps a second newline and survives an empty chunk between marker and newline', () => {
    const events = scanChunks([
      Buffer.from(`\x1eBRT${NONCE}:2:E0\x1e`, 'latin1'),
      Buffer.alloc(0),
      Buffer.from('\n\n', 'latin1'),
    ]);
    expect(events).toEqual([{ marker: { seq: 2, kind: 'E', value: '0' } }, { data: '\n' }]);
  });

  it('finds back-to-back markers and markers in the middle of a line', () => {
    const text = `abc${marker(5, 'P', '1')}${marker(5, 'E', '3')}`;
    expect(scanChunks([Buffer.from(text, 'latin1')])).toEqual([
      { data: 'abc' },
      { marker: { seq: 5, kind: 'P', value: '1' } },
      { marker: { seq: 5, kind: 'E', value: '3' } },
    ]);
  });

  it('passes binary data (every byte value) through untouched', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, byte) => byte));
    const received: Buffer[] = [];
    const scanner = new FrameScanner(NONCE, {
      data: (chunk) => received.push(Buffer.from(chunk)),
      marker: () => {},
    });
    scanner.push(all);
    scanner.push(Buffer.from(marker(1, 'E', '0'), 'latin1'));
    expect(Buffer.concat(received).equals(all)).toBe(true);
  });
});
