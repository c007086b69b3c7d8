import { describe, expect, it } from 'vitest';
import {
  decodeExecOutputFrame,
  EXEC_HEARTBEAT_FRAME,
  ExecFrameError,
  encodeStdinClose,
  encodeStdinFrames,
  encodeTtySize,
} from './exec-frame-codec.js';

describe('exec frame codec', () => {
  it('encodes stdin as base64 data frames, split at the frame limit', () => {
    const bytes = Buffer.from('hello\nworld\n');
    expect(encodeStdinFrames(bytes)).toEqual([JSON.stringify({ stdin: { data: bytes.toString('base64') } })]);
    const frames = encodeStdinFrames(Buffer.alloc(10, 7), 4);
    expect(frames).toHaveLength(3);
    const decoded = Buffer.concat(frames.map((frame) => Buffer.from(JSON.parse(frame).stdin.data, 'base64')));
    expect(decoded).toEqual(Buffer.alloc(10, 7));
    expect(encodeStdinFrames(new Uint8Array(0))).toEqual([]);
  });

  it('encodes a subarray without leaking bytes around it', () => {
    const whole = Buffer.from('xxabcxx');
    const [frame] = encodeStdinFrames(whole.subarray(2, 5));
    expect(Buffer.from(JSON.parse(frame!).stdin.data, 'base64').toString()).toBe('abc');
  });

  it('encodes close, tty size and the heartbeat exactly as Nomad expects', () => {
    expect(encodeStdinClose()).toBe('{"stdin":{"close":true}}');
    expect(encodeTtySize(24, 80)).toBe('{"tty_size":{"height":24,"width":80}}');
    expect(EXEC_HEARTBEAT_FRAME).toBe('{}');
  });

  it('decodes stdout, stderr, stream closes and the exit frame', () => {
    expect(decodeExecOutputFrame('{"stdout":{"data":"aGkK"}}')).toEqual({
      type: 'stdout',
      data: Buffer.from('hi\n'),
    });
    expect(decodeExecOutputFrame('{"stderr":{"data":"b29wcwo="}}')).toEqual({
      type: 'stderr',
      data: Buffer.from('oops\n'),
    });
    expect(decodeExecOutputFrame('{"stdout":{"close":true}}')).toEqual({ type: 'stdout-close' });
    expect(decodeExecOutputFrame('{"stderr":{"close":true}}')).toEqual({ type: 'stderr-close' });
    expect(decodeExecOutputFrame('{"exited":true,"result":{"exit_code":5}}')).toEqual({
      type: 'exited',
      exitCode: 5,
    });
    // Go omits a zero exit code from the JSON.
    expect(decodeExecOutputFrame('{"exited":true,"result":{}}')).toEqual({ type: 'exited', exitCode: 0 });
  });

  it('treats an empty object as a heartbeat and empty data as no bytes', () => {
    expect(decodeExecOutputFrame('{}')).toEqual({ type: 'heartbeat' });
    expect(decodeExecOutputFrame('{"stdout":{}}')).toEqual({ type: 'stdout', data: Buffer.alloc(0) });
  });

  it('rejects text that is not an exec frame', () => {
    expect(() => decodeExecOutputFrame('not json')).toThrow(ExecFrameError);
    expect(() => decodeExecOutputFrame('[1,2]')).toThrow(ExecFrameError);
    expect(() => decodeExecOutputFrame('{"stdout":"x"}')).toThrow(ExecFrameError);
  });

  it('round-trips arbitrary bytes', () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
    const [frame] = encodeStdinFrames(bytes);
    const payload = JSON.parse(frame!).stdin.data as string;
    expect(decodeExecOutputFrame(JSON.stringify({ stdout: { data: payload } }))).toEqual({
      type: 'stdout',
      data: bytes,
    });
  });
});
