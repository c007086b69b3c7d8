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
      // Output may come in pieces (views of the chunks); an empty one is dropped, an exit is whole.
      const joined: [number, string][] = [];
      for (const { kind, payload } of frames) {
        const last = joined.at(-1);
        if (last && last[0] === kind && kind !== FRAME_EXIT) last[1] += payload.toString();
        else joined.push([kind, payload.toString()]);
      }
      expect(joined).toEqual([
        [FRAME_STDOUT, 'hello'],
        [FRAME_EXIT, '{"exitCode":3}'],
      ]);
      expect(frames.filter((f) => f.kind === FRAME_EXIT)).toHaveLength(1);
      expect(reader.pendingBytes).toBe(0);
    }
  });

  it('keeps a partial frame pending and rejects an absurd length', () => {
    const reader = new FrameReader();
    expect(reader.push(frame(FRAME_STDOUT, 'abc').subarray(0, 6)).map((f) => f.payload.toString())).toEqual([
      'a',
    ]);
    expect(reader.pendingBytes).toBe(6);
    const exitReader = new FrameReader();
    expect(exitReader.push(frame(FRAME_EXIT, '{"exitCode":0}').subarray(0, 9))).toEqual([]);
    expect(exitReader.pendingBytes).toBe(9);
    const corrupt = Buffer.from([1, 0xff, 0xff, 0xff, 0xff]);
    expect(() => new FrameReader().push(corrupt)).toThrow(/corrupt/);
  });
});
