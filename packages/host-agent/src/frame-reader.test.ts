import { describe, expect, it } from 'vitest';
import { FRAME_EXIT, FRAME_STDERR, FRAME_STDOUT, FrameReader } from './frame-reader.js';

function frame(kind: number, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(5);
  header[0] = kind;
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

describe('FrameReader', () => {
  it('parses frames split at every byte boundary', () => {
    const wire = Buffer.concat([
      frame(FRAME_STDOUT, 'hello'),
      frame(FRAME_STDERR, ''),
      frame(FRAME_EXIT, '{"exitCode":3}'),
    ]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const reader = new FrameReader();
      const frames = [...reader.push(wire.subarray(0, cut)), ...reader.push(wire.subarray(cut))];
      expect(frames.map((f) => [f.kind, f.payload.toString()])).toEqual([
        [FRAME_STDOUT, 'hello'],
        [FRAME_STDERR, ''],
        [FRAME_EXIT, '{"exitCode":3}'],
      ]);
      expect(reader.pendingBytes).toBe(0);
    }
  });

  it('keeps a partial frame pending and rejects an absurd length', () => {
    const reader = new FrameReader();
    expect(reader.push(frame(FRAME_STDOUT, 'abc').subarray(0, 6))).toEqual([]);
    expect(reader.pendingBytes).toBe(6);
    const corrupt = Buffer.from([1, 0xff, 0xff, 0xff, 0xff]);
    expect(() => new FrameReader().push(corrupt)).toThrow(/corrupt/);
  });
});
