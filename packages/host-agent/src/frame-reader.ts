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

/** Incremental parser: feed chunks as they arrive, get whole frames back. */
export class FrameReader {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: Frame[] = [];
    while (data.length >= HEADER_BYTES) {
      const length = data.readUInt32BE(1);
      if (length > MAX_PAYLOAD_BYTES)
        throw new Error(`agent frame of ${length} bytes: the stream is corrupt`);
      if (data.length < HEADER_BYTES + length) break;
      frames.push({ kind: data[0]!, payload: data.subarray(HEADER_BYTES, HEADER_BYTES + length) });
      data = data.subarray(HEADER_BYTES + length);
    }
    this.#pending = data;
    return frames;
  }

  /** Bytes of a frame not yet complete (non-zero at end of stream means it was cut short). */
  get pendingBytes(): number {
    return this.#pending.length;
  }
}
