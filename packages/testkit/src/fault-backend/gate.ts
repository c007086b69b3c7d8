import { AbortedError } from '@berth/core';

/** One intercepted backend call, as the fault backend's log records it. */
export interface FaultCall {
  readonly operation: FaultOperation;
  /** `before` the wrapped backend runs, or `after` it returned (the host exists; the caller has not seen it). */
  readonly phase: FaultPhase;
  /** The host it concerns; for `createHost` known in the `after` phase only. */
  readonly hostId: string | undefined;
  /** Position in the log, from 1. */
  readonly sequence: number;
}

export type FaultPhase = 'before' | 'after';

/** Every backend and host method the fault backend can hold, fail or count. */
export type FaultOperation =
  | 'createHost'
  | 'listHosts'
  | 'attachHost'
  | 'removeHost'
  | 'openChannel'
  | 'openCommand'
  | 'writeFile'
  | 'readFile'
  | 'run'
  | 'putArchive'
  | 'getArchive'
  | 'health'
  | 'disconnect'
  | 'destroy';

/**
 * A controllable promise: the calls a `hold()` matched wait here until the test releases (or fails)
 * them — a delay whose length the test decides, so a race is replayed in one exact order.
 */
export class Gate {
  /** The calls waiting (or that waited) at this gate, in arrival order. */
  readonly arrivals: FaultCall[] = [];
  private outcome: { error?: Error } | undefined;
  private readonly waiting = new Set<{ resolve: () => void; reject: (error: Error) => void }>();
  private readonly arrivalWatchers = new Set<{ count: number; resolve: () => void }>();

  /** Resolves once `count` calls have arrived (default 1). */
  reached(count = 1): Promise<FaultCall[]> {
    if (this.arrivals.length >= count) return Promise.resolve([...this.arrivals]);
    return new Promise((resolve) => {
      this.arrivalWatchers.add({ count, resolve: () => resolve([...this.arrivals]) });
    });
  }

  /** Lets every call waiting here, and every later one it matches, continue. */
  release(): void {
    this.settle({});
  }

  /** Makes every call waiting here, and every later one it matches, throw `error`. */
  fail(error: Error): void {
    this.settle({ error });
  }

  get settled(): boolean {
    return this.outcome !== undefined;
  }

  /** @internal The fault backend parks `call` here; rejects with `AbortedError` when `signal` fires. */
  async pass(call: FaultCall, signal: AbortSignal | undefined): Promise<void> {
    this.arrivals.push(call);
    for (const watcher of [...this.arrivalWatchers]) {
      if (this.arrivals.length < watcher.count) continue;
      this.arrivalWatchers.delete(watcher);
      watcher.resolve();
    }
    if (this.outcome) {
      if (this.outcome.error) throw this.outcome.error;
      return;
    }
    if (signal?.aborted) throw new AbortedError(`${call.operation} was aborted while held by a fault gate.`);
    await new Promise<void>((resolve, reject) => {
      const entry = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        this.waiting.delete(entry);
        reject(new AbortedError(`${call.operation} was aborted while held by a fault gate.`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.add(entry);
    });
  }

  private settle(outcome: { error?: Error }): void {
    if (this.outcome) return;
    this.outcome = outcome;
    for (const entry of this.waiting) {
      if (outcome.error) entry.reject(outcome.error);
      else entry.resolve();
    }
    this.waiting.clear();
  }
}
