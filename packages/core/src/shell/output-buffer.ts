/**
 * `data` itself when it is a good part (≥ 1/4) of the memory it views, else a copy: a small view
 * kept for long would pin the whole chunk it came in. Output is never reused by its producers (each
 * chunk is fresh), so bulk output is kept without copying it, pinning at most 4× what is kept.
 */
export function retainable(data: Uint8Array): Buffer {
  if (data.byteLength * 4 < data.buffer.byteLength) return Buffer.from(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Keeps the head and the tail of a stream and drops the middle once more than `maxBytes` arrive,
 * so a command printing gigabytes costs at most `maxBytes` of client memory.
 */
export class OutputBuffer {
  private readonly headLimit: number;
  private readonly tailLimit: number;
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  /** Every byte seen, kept or not. */
  totalBytes = 0;

  constructor(maxBytes: number) {
    this.headLimit = Math.ceil(maxBytes / 2);
    this.tailLimit = maxBytes - this.headLimit;
  }

  get truncated(): boolean {
    return this.totalBytes > this.headLimit + this.tailLimit;
  }

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.headLimit) {
      const take = Math.min(this.headLimit - this.headBytes, rest.length);
      this.head.push(retainable(rest.subarray(0, take)));
      this.headBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0 || this.tailLimit === 0) return;
    if (rest.length >= this.tailLimit) {
      this.tail = [retainable(rest.subarray(rest.length - this.tailLimit))];
      this.tailBytes = this.tailLimit;
      return;
    }
    this.tail.push(retainable(rest));
    this.tailBytes += rest.length;
    while (this.tailBytes - this.tail[0]!.length >= this.tailLimit) {
      this.tailBytes -= this.tail.shift()!.length;
    }
  }

  toBuffer(): Buffer {
    const tail = Buffer.concat(this.tail);
    const excess = Math.max(0, this.tailBytes - this.tailLimit);
    return Buffer.concat([...this.head, tail.subarray(excess)]);
  }
}
