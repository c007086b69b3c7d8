import { Writable } from 'node:stream';

/**
 * A channel's `stdin` for backends: forwards to `target` (a socket, an HTTP/2 stream, …) with its
 * backpressure, drops writes once `target` is gone (the channel's `closed` is how callers learn of
 * that, not a write error), and half-closes `target` on `end()`, so the shell reads EOF and exits
 * while its output still flows.
 */
export function channelStdin(target: Writable): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (target.destroyed || target.writableEnded) callback();
      else target.write(chunk, () => callback());
    },
    final(callback) {
      if (!target.destroyed && !target.writableEnded) target.end();
      callback();
    },
  });
}
