import type { Readable, Writable } from 'node:stream';
import { LengthPrefixedFrames } from '@berth/core';

const HEADER_BYTES = 8;
const STREAM_STDIN = 0;
const STREAM_STDOUT = 1;
const STREAM_STDERR = 2;

/**
 * Splits Docker's multiplexed attach stream (8-byte header: stream type, 3 zero bytes, big-endian
 * length; then the payload) into `stdout` and `stderr`, ending both when `source` ends or closes.
 *
 * Unlike `docker.modem.demuxStream` this honours backpressure — `source` is paused while either
 * target is full — so a slow reader bounds memory instead of buffering a command's whole output —
 * and it ends the targets, which that helper leaves to the caller.
 */
export function demuxDockerStream(source: Readable, stdout: Writable, stderr: Writable): void {
  let blocked = 0;
  let finished = false;

  const onDrain = () => {
    blocked -= 1;
    if (blocked === 0 && !finished) source.resume();
  };
  const write = (target: Writable, payload: Buffer) => {
    if (payload.length === 0 || target.destroyed || target.writableEnded) return;
    if (!target.write(payload)) {
      blocked += 1;
      // A reader that goes away (destroyed target) must not stall the other stream forever.
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        target.off('drain', release);
        target.off('close', release);
        onDrain();
      };
      target.on('drain', release);
      target.on('close', release);
      source.pause();
    }
  };

  const frames = new LengthPrefixedFrames(HEADER_BYTES, (header) => {
    const type = header.readUInt8(0);
    // Not a multiplexed stream (a TTY exec): the rest passes through as stdout.
    if (type !== STREAM_STDIN && type !== STREAM_STDOUT && type !== STREAM_STDERR) return undefined;
    return { kind: type, length: header.readUInt32BE(4) };
  });
  source.on('data', (chunk: Buffer) => {
    // Payloads are views into `chunk`: the output is never copied on its way through.
    for (const piece of frames.push(chunk)) write(piece.kind === STREAM_STDERR ? stderr : stdout, piece.data);
  });

  const finish = () => {
    if (finished) return;
    finished = true;
    if (!stdout.writableEnded) stdout.end();
    if (!stderr.writableEnded) stderr.end();
  };
  source.once('end', finish);
  source.once('close', finish);
  source.once('error', finish);
}
