import { MARKER_START } from './shell-script.js';

/** A marker found in a stream: `seq` is the command number, `kind` its letter, `value` the rest. */
export interface FrameMarker {
  seq: number;
  kind: string;
  value: string;
}

export interface FrameScannerSink {
  data(chunk: Buffer): void;
  marker(marker: FrameMarker): void;
}

const MAX_MARKER_BODY = 96;

/**
 * Splits one output stream into command data and protocol markers
 * (`\x1eBRT<nonce>:<seq>:<kind><value>\x1e\n`). Markers may arrive split across chunks and
 * anywhere in a line; bytes that only look like a marker's start are passed through as data.
 * Data is handed on as zero-copy slices of the incoming chunks.
 */
export class FrameScanner {
  private readonly prefix: Buffer;
  private pending: Buffer | undefined;
  private dropNewline = false;

  constructor(
    nonce: string,
    private readonly sink: FrameScannerSink,
  ) {
    this.prefix = Buffer.from(`\x1eBRT${nonce}:`, 'latin1');
  }

  push(input: Buffer): void {
    let chunk = input;
    if (this.pending !== undefined) {
      chunk = Buffer.concat([this.pending, input]);
      this.pending = undefined;
    }
    if (this.dropNewline && chunk.length > 0) {
      this.dropNewline = false;
      if (chunk[0] === 0x0a) chunk = chunk.subarray(1);
    }
    let start = 0;
    let search = 0;
    while (search < chunk.length) {
      const at = chunk.indexOf(MARKER_START, search);
      if (at === -1) break;
      const outcome = this.matchAt(chunk, at);
      if (outcome === 'partial') {
        if (at > start) this.sink.data(chunk.subarray(start, at));
        this.pending = Buffer.from(chunk.subarray(at));
        return;
      }
      if (outcome === undefined) {
        search = at + 1;
        continue;
      }
      if (at > start) this.sink.data(chunk.subarray(start, at));
      this.sink.marker(outcome.marker);
      start = outcome.end;
      if (start < chunk.length) {
        if (chunk[start] === 0x0a) start += 1;
      } else {
        this.dropNewline = true;
      }
      search = start;
    }
    if (start < chunk.length) this.sink.data(chunk.subarray(start));
  }

  private matchAt(chunk: Buffer, at: number): { marker: FrameMarker; end: number } | 'partial' | undefined {
    const available = chunk.length - at;
    const compare = Math.min(available, this.prefix.length);
    if (chunk.compare(this.prefix, 0, compare, at, at + compare) !== 0) return undefined;
    if (available < this.prefix.length) return 'partial';
    const bodyStart = at + this.prefix.length;
    const close = chunk.indexOf(MARKER_START, bodyStart);
    if (close === -1) return available - this.prefix.length > MAX_MARKER_BODY ? undefined : 'partial';
    const body = chunk.toString('latin1', bodyStart, close);
    const match = /^(\d+):([A-Z])(.*)$/s.exec(body);
    if (match === null) return undefined;
    return { marker: { seq: Number(match[1]), kind: match[2]!, value: match[3]! }, end: close + 1 };
  }
}
