/** One piece of a length-prefixed frame: a view into the chunk it arrived in, never a copy. */
export interface FramePiece {
  readonly kind: number;
  readonly data: Buffer;
  /** The frame's last piece (a frame split across chunks arrives in several). */
  readonly last: boolean;
}

/** A frame header's meaning, or `undefined` for "this is not a framed stream": the rest passes through as kind `RAW_FRAME_KIND`. */
export type FrameHeaderParser = (header: Buffer) => { kind: number; length: number } | undefined;

export const RAW_FRAME_KIND = -1;

const EMPTY = Buffer.alloc(0);

/**
 * Incremental splitter for streams of `[header][payload]` frames (Docker's multiplexed attach
 * stream, berth-agent's output frames). Payload bytes are handed out as subarrays of the chunks
 * they came in, so bulk output is never concatenated or copied on its way through; only a header
 * split across chunks is gathered. `parse` may throw (a corrupt stream).
 */
export class LengthPrefixedFrames {
  readonly #header: Buffer;
  readonly #parse: FrameHeaderParser;
  #headerFill = 0;
  #kind = 0;
  #length = 0;
  #remaining = 0;
  #inPayload = false;
  #raw = false;

  constructor(headerBytes: number, parse: FrameHeaderParser) {
    this.#header = Buffer.alloc(headerBytes);
    this.#parse = parse;
  }

  push(chunk: Buffer): FramePiece[] {
    const pieces: FramePiece[] = [];
    if (this.#raw) {
      if (chunk.length > 0) pieces.push({ kind: RAW_FRAME_KIND, data: chunk, last: false });
      return pieces;
    }
    const size = this.#header.length;
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.#inPayload) {
        const take = Math.min(size - this.#headerFill, chunk.length - offset);
        chunk.copy(this.#header, this.#headerFill, offset, offset + take);
        this.#headerFill += take;
        offset += take;
        if (this.#headerFill < size) break;
        this.#headerFill = 0;
        const parsed = this.#parse(this.#header);
        if (parsed === undefined) {
          this.#raw = true;
          pieces.push({ kind: RAW_FRAME_KIND, data: Buffer.from(this.#header), last: false });
          if (offset < chunk.length)
            pieces.push({ kind: RAW_FRAME_KIND, data: chunk.subarray(offset), last: false });
          return pieces;
        }
        this.#kind = parsed.kind;
        this.#length = parsed.length;
        this.#remaining = parsed.length;
        if (parsed.length === 0) pieces.push({ kind: parsed.kind, data: EMPTY, last: true });
        else this.#inPayload = true;
        continue;
      }
      const take = Math.min(this.#remaining, chunk.length - offset);
      this.#remaining -= take;
      pieces.push({
        kind: this.#kind,
        data: chunk.subarray(offset, offset + take),
        last: this.#remaining === 0,
      });
      offset += take;
      if (this.#remaining === 0) this.#inPayload = false;
    }
    return pieces;
  }

  /** Bytes received of a frame not yet complete: non-zero at the end of a stream means it was cut short. */
  get pendingBytes(): number {
    if (this.#inPayload) return this.#header.length + this.#length - this.#remaining;
    return this.#headerFill;
  }
}
