import { describe, expect, it } from 'vitest';
import { LengthPrefixedFrames, RAW_FRAME_KIND } from './length-prefixed-frames.js';

const parse = (header: Buffer) =>
  header[0]! > 2 ? undefined : { kind: header[0]!, length: header.readUInt16BE(1) };
const frame = (kind: number, payload: string) => {
  const body = Buffer.from(payload);
  return Buffer.concat([Buffer.from([kind, body.length >> 8, body.length & 0xff]), body]);
};
const joined = (pieces: { kind: number; data: Buffer }[]) => {
  const out: [number, string][] = [];
  for (const { kind, data } of pieces) {
    const last = out.at(-1);
    if (last && last[0] === kind) last[1] += data.toString();
    else out.push([kind, data.toString()]);
  }
  return out;
};

/** Reassembles frames from their pieces, by the `last` flag. */
const wholeFrames = (pieces: { kind: number; data: Buffer; last: boolean }[]) => {
  const out: [number, string][] = [];
  let current = '';
  for (const { kind, data, last } of pieces) {
    current += data.toString();
    if (last) {
      out.push([kind, current]);
      current = '';
    }
  }
  return out;
};

describe('LengthPrefixedFrames', () => {
  it('splits frames cut at every byte boundary, and hands out views of the chunks, not copies', () => {
    const wire = Buffer.concat([frame(1, 'hello'), frame(2, ''), frame(1, 'world!')]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const frames = new LengthPrefixedFrames(3, parse);
      const first = wire.subarray(0, cut);
      const pieces = [...frames.push(first), ...frames.push(wire.subarray(cut))];
      expect(wholeFrames(pieces)).toEqual([
        [1, 'hello'],
        [2, ''],
        [1, 'world!'],
      ]);
      expect(pieces.filter((piece) => piece.last).map((piece) => piece.kind)).toEqual([1, 2, 1]);
      for (const piece of pieces) if (piece.data.length > 0) expect(piece.data.buffer).toBe(wire.buffer);
      expect(frames.pendingBytes).toBe(0);
    }
  });

  it('counts the bytes of a frame cut short, and passes a stream that is not framed through', () => {
    const frames = new LengthPrefixedFrames(3, parse);
    frames.push(frame(1, 'abcd').subarray(0, 5));
    expect(frames.pendingBytes).toBe(5);
    const raw = new LengthPrefixedFrames(3, parse);
    expect(joined(raw.push(Buffer.from('plain text')))).toEqual([[RAW_FRAME_KIND, 'plain text']]);
    expect(joined(raw.push(Buffer.from(' more')))).toEqual([[RAW_FRAME_KIND, ' more']]);
  });
});
