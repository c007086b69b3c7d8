import { SlotStateError } from '../errors/index.js';
import type { OutputSink } from './run-command.js';
import type { ExecChunk } from './slot-types.js';

/** Queued bytes above which the shell is paused until the consumer catches up. */
const HIGH_WATER_BYTES = 1024 * 1024;

/**
 * Bridges pushed output to a pulled async iterator with backpressure: when the consumer falls
 * more than HIGH_WATER_BYTES behind, the shell's streams are paused, so the command blocks on
 * its pipe instead of growing client memory.
 *
 * Nobody may be pulling, though: a caller that awaits only `result` must not deadlock. So once
 * `result` was asked for, the command is paused only while an iterator is running; without one,
 * at most HIGH_WATER_BYTES are held for an iterator that starts late, the rest goes only into the
 * result, and that iterator fails at the gap instead of skipping it silently.
 */
export class ExecStreamQueue implements OutputSink {
  private readonly chunks: ExecChunk[] = [];
  private queuedBytes = 0;
  private droppedBytes = 0;
  private paused = false;
  private done = false;
  private failure: unknown;
  private iterating = false;
  private resultWanted = false;
  private cancelled = false;
  private wake: (() => void) | undefined;
  private controls: { pause(): void; resume(): void } | undefined;

  /** @param onCancel called when the consumer stops iterating before the command ended. */
  constructor(private readonly onCancel: () => void) {}

  attach(controls: { pause(): void; resume(): void }): void {
    this.controls = controls;
    if (this.paused) controls.pause();
  }

  /** Someone awaits the result: from now on, never pause without an iterator pulling. */
  wantResult(): void {
    if (this.resultWanted) return;
    this.resultWanted = true;
    if (!this.iterating) this.setPaused(false);
  }

  chunk(chunk: ExecChunk): void {
    if (this.cancelled) return;
    if (
      this.droppedBytes > 0 ||
      (this.resultWanted && !this.iterating && this.queuedBytes > HIGH_WATER_BYTES)
    ) {
      this.droppedBytes += chunk.data.byteLength;
      return;
    }
    // A view, not a copy: queued output is handed on at once, and the queue is bounded.
    this.chunks.push(chunk);
    this.queuedBytes += chunk.data.byteLength;
    if (this.queuedBytes > HIGH_WATER_BYTES && (this.iterating || !this.resultWanted)) this.setPaused(true);
    this.notify();
  }

  end(error?: unknown): void {
    this.done = true;
    this.failure = error;
    this.notify();
  }

  iterate(): AsyncGenerator<ExecChunk> {
    this.iterating = true;
    return this.pull();
  }

  private async *pull(): AsyncGenerator<ExecChunk> {
    try {
      while (true) {
        const next = this.chunks.shift();
        if (next) {
          this.queuedBytes -= next.data.byteLength;
          if (this.paused && this.queuedBytes <= HIGH_WATER_BYTES / 2) this.setPaused(false);
          yield next;
          continue;
        }
        if (this.droppedBytes > 0) {
          throw new SlotStateError(
            `${this.droppedBytes} bytes of output were left out of this stream because nothing iterated it ` +
              'while only `result` was awaited; they are in `result`. Start iterating before awaiting `result`.',
          );
        }
        if (this.done) {
          if (this.failure !== undefined) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      this.iterating = false;
      if (!this.done) {
        // The consumer stopped early (`break`, a throw): stop the command, drop what it still prints.
        this.cancelled = true;
        this.chunks.length = 0;
        this.queuedBytes = 0;
        this.setPaused(false);
        this.onCancel();
      }
    }
  }

  private setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    if (paused) this.controls?.pause();
    else this.controls?.resume();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
