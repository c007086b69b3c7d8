import type { Readable, Writable } from 'node:stream';

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
  let pending: Buffer = Buffer.alloc(0);
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

  source.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    while (pending.length - offset >= HEADER_BYTES) {
      const type = pending.readUInt8(offset);
      const length = pending.readUInt32BE(offset + 4);
      if (type !== STREAM_STDIN && type !== STREAM_STDOUT && type !== STREAM_STDERR) {
        // Not a multiplexed stream (a TTY exec): pass the rest through as stdout.
        write(stdout, pending.subarray(offset));
        offset = pending.length;
        break;
      }
      if (pending.length - offset - HEADER_BYTES < length) break;
      const payload = pending.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length);
      write(type === STREAM_STDERR ? stderr : stdout, payload);
      offset += HEADER_BYTES + length;
    }
    // Copy the partial tail so the (possibly large) chunk it came from can be collected.
    pending = offset === pending.length ? Buffer.alloc(0) : Buffer.from(pending.subarray(offset));
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
