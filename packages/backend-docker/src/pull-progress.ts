import type { HostProgressV1 } from '@berth/core';

interface PullEvent {
  readonly id?: string;
  readonly status?: string;
  readonly error?: string;
  readonly errorDetail?: { readonly message?: string };
  readonly progressDetail?: { readonly current?: number; readonly total?: number };
}

/**
 * Turns the newline-delimited JSON of `POST /images/create` into `HostProgressV1` updates, with an
 * overall `fraction` summed over the layers that report sizes, and remembers the first error line
 * (a pull can fail with HTTP 200 and an `error` in the stream).
 */
export class PullProgress {
  readonly #layers = new Map<string, { current: number; total: number }>();
  #buffered = '';
  error: string | undefined;

  constructor(private readonly image: string) {}

  /** Feeds a chunk of the stream; returns the progress updates it contained. */
  push(text: string): HostProgressV1[] {
    this.#buffered += text;
    const lines = this.#buffered.split('\n');
    this.#buffered = lines.pop() ?? '';
    const updates: HostProgressV1[] = [];
    for (const line of lines) {
      const update = this.#line(line);
      if (update) updates.push(update);
    }
    return updates;
  }

  #line(line: string): HostProgressV1 | undefined {
    if (!line.trim()) return undefined;
    let event: PullEvent;
    try {
      event = JSON.parse(line) as PullEvent;
    } catch {
      return undefined;
    }
    if (event.error || event.errorDetail?.message) {
      this.error ??= event.error ?? event.errorDetail?.message;
      return undefined;
    }
    if (event.id && event.progressDetail?.total) {
      this.#layers.set(event.id, {
        current: event.progressDetail.current ?? 0,
        total: event.progressDetail.total,
      });
    } else if (event.id && /^(Pull complete|Already exists|Download complete)$/.test(event.status ?? '')) {
      const layer = this.#layers.get(event.id);
      if (layer) layer.current = layer.total;
    }
    let current = 0;
    let total = 0;
    for (const layer of this.#layers.values()) {
      current += layer.current;
      total += layer.total;
    }
    const message = [event.id, event.status].filter(Boolean).join(': ') || `Pulling ${this.image}`;
    return { phase: 'pull', message, ...(total > 0 ? { fraction: Math.min(1, current / total) } : {}) };
  }
}
