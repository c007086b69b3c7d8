/**
 * Frames of Nomad's alloc exec websocket (`/v1/client/allocation/:id/exec`), one JSON text
 * message each. Byte payloads are base64 (Go's `[]byte` JSON encoding).
 *
 * In:  `{"stdin":{"data":"…"}}`, `{"stdin":{"close":true}}`, `{"tty_size":{"height":h,"width":w}}`,
 *      and `{}` as a heartbeat (Nomad's CLI sends one every 10 s).
 * Out: `{"stdout":{"data":"…"}}`, `{"stdout":{"close":true}}`, the same for `stderr`, and
 *      `{"exited":true,"result":{"exit_code":n}}` last.
 */

export type ExecOutputFrame =
  | { readonly type: 'stdout' | 'stderr'; readonly data: Buffer }
  | { readonly type: 'stdout-close' | 'stderr-close' }
  | { readonly type: 'exited'; readonly exitCode: number }
  | { readonly type: 'heartbeat' };

/** The heartbeat frame: an empty object, which Nomad's driver layer ignores. */
export const EXEC_HEARTBEAT_FRAME = '{}';

/** Largest stdin payload per frame (Nomad's CLI sends at most 2 KiB; the server accepts more). */
export const MAX_STDIN_FRAME_BYTES = 64 * 1024;

/** Stdin frames for `bytes`, split so no frame exceeds `maxBytes` of payload. */
export function encodeStdinFrames(bytes: Uint8Array, maxBytes = MAX_STDIN_FRAME_BYTES): string[] {
  const frames: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += maxBytes) {
    const slice = bytes.subarray(offset, Math.min(bytes.length, offset + maxBytes));
    frames.push(
      JSON.stringify({
        stdin: { data: Buffer.from(slice.buffer, slice.byteOffset, slice.length).toString('base64') },
      }),
    );
  }
  return frames;
}

/** Closes the remote process's stdin (EOF). */
export function encodeStdinClose(): string {
  return JSON.stringify({ stdin: { close: true } });
}

/** Terminal size, meaningful only for `tty=true` sessions. */
export function encodeTtySize(height: number, width: number): string {
  return JSON.stringify({ tty_size: { height, width } });
}

export class ExecFrameError extends Error {
  constructor(
    message: string,
    readonly frame: string,
  ) {
    super(message);
    this.name = 'ExecFrameError';
  }
}

/** Decodes one output frame. Throws `ExecFrameError` for text that is not a Nomad exec frame. */
export function decodeExecOutputFrame(text: string): ExecOutputFrame {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ExecFrameError('exec frame is not JSON', text.slice(0, 200));
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ExecFrameError('exec frame is not a JSON object', text.slice(0, 200));
  }
  const frame = parsed as Record<string, unknown>;
  if (frame.exited === true) {
    const result = frame.result as { exit_code?: unknown } | undefined;
    const exitCode = typeof result?.exit_code === 'number' ? result.exit_code : 0;
    return { type: 'exited', exitCode };
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    const operation = frame[stream];
    if (operation === undefined || operation === null) continue;
    if (typeof operation !== 'object')
      throw new ExecFrameError(`exec frame has a malformed ${stream}`, text.slice(0, 200));
    const { data, close } = operation as { data?: unknown; close?: unknown };
    if (typeof data === 'string' && data.length > 0)
      return { type: stream, data: Buffer.from(data, 'base64') };
    if (close === true) return { type: `${stream}-close` };
    return { type: stream, data: Buffer.alloc(0) };
  }
  return { type: 'heartbeat' };
}
