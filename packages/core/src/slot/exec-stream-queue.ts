import type { OutputSink } from './run-command.js';
import type { ExecChunk } from './slot-types.js';

/** Queued bytes above which the shell is paused until the consumer catches up. */
const HIGH_WATER_BYTES = 1024 * 1024;

/**
 * Bridges pushed output to a pulled async iterator with backpressure: when the consumer falls
 * more than HIGH_WATER_BYTES behind, the shell's streams are paused, so the command blocks on
 * its pipe instead of growing client memory.
 */
export class ExecStreamQueue implements OutputSink {
  private readonly chunks: ExecChunk[] = [];
  private queuedBytes = 0;
  private paused = false;
  private done = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private controls: { pause(): void; resume(): void } | undefined;

  attach(controls: { pause(): void; resume(): void }): void {
    this.controls = controls;
  }

  chunk(chunk: ExecChunk): void {
    // A view, not a copy: queued output is handed on at once, and the queue is bounded.
    this.chunks.push(chunk);
    this.queuedBytes += chunk.data.byteLength;
    if (!this.paused && this.queuedBytes > HIGH_WATER_BYTES) {
      this.paused = true;
      this.controls?.pause();
    }
    this.notify();
  }

  end(error?: unknown): void {
    this.done = true;
    this.failure = error;
    this.notify();
  }

  async *iterate(): AsyncGenerator<ExecChunk> {
    try {
      while (true) {
        const next = this.chunks.shift();
        if (next) {
          this.queuedBytes -= next.data.byteLength;
          if (this.paused && this.queuedBytes <= HIGH_WATER_BYTES / 2) {
            this.paused = false;
            this.controls?.resume();
          }
          yield next;
          continue;
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
      // A consumer that stops early must not leave the command paused forever.
      if (this.paused) this.controls?.resume();
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
