import { LengthPrefixedFrames } from '@berth/core';

/** Frame kinds in a `/v1/spawn` response body: `[kind u8][length u32 big-endian][payload]`. */
export const FRAME_STDOUT = 1;
export const FRAME_STDERR = 2;
export const FRAME_EXIT = 3;

export interface Frame {
  readonly kind: number;
  readonly payload: Buffer;
}

const HEADER_BYTES = 5;
/** The agent writes at most 32 KiB per frame; anything far larger means a corrupt stream. */
const MAX_PAYLOAD_BYTES = 16 << 20;

/**
 * Incremental parser: feed chunks as they arrive, get frames back. Output (stdout, stderr) comes
 * as it arrives, a frame split across chunks in several pieces that view the chunks (no copy);
 * an exit frame comes whole.
 */
export class FrameReader {
  readonly #frames = new LengthPrefixedFrames(HEADER_BYTES, (header) => {
    const length = header.readUInt32BE(1);
    if (length > MAX_PAYLOAD_BYTES) throw new Error(`agent frame of ${length} bytes: the stream is corrupt`);
    return { kind: header[0]!, length };
  });
  #exit: Buffer[] = [];

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    for (const piece of this.#frames.push(chunk)) {
      if (piece.kind !== FRAME_EXIT) {
        if (piece.data.length > 0) frames.push({ kind: piece.kind, payload: piece.data });
        continue;
      }
      this.#exit.push(piece.data);
      if (!piece.last) continue;
      frames.push({ kind: FRAME_EXIT, payload: Buffer.concat(this.#exit) });
      this.#exit = [];
    }
    return frames;
  }

  /** Bytes of a frame not yet complete (non-zero at end of stream means it was cut short). */
  get pendingBytes(): number {
    return this.#frames.pendingBytes;
  }
}
