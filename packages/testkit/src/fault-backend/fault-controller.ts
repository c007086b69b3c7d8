import type { HostV1 } from '@berth/core';
import { type FaultCall, type FaultOperation, type FaultPhase, Gate } from './gate.js';

/** Which calls a fault applies to. */
export interface FaultMatch {
  /** Only calls concerning this host. */
  hostId?: string;
  /** `before` (default) the wrapped backend runs, or `after` it returned. */
  phase?: FaultPhase;
  /** How many matching calls it applies to (default 1; `Infinity` for all). */
  times?: number;
  /** `hold` only: the call waits for the gate whatever its signal says (a backend that ignores it). */
  ignoreAbort?: boolean;
}

interface Rule {
  readonly operation: FaultOperation;
  readonly match: Required<Pick<FaultMatch, 'phase'>> & Pick<FaultMatch, 'hostId'>;
  remaining: number;
  readonly apply: (call: FaultCall, signal: AbortSignal | undefined) => Promise<void>;
}

/** What the fault backend knows of one host id: its wrapped instances, open channels, pause, loss. */
export interface HostFaultState {
  readonly instances: Set<HostV1>;
  readonly channels: Set<{ drop(error: Error, transportDropped: boolean): Promise<unknown> }>;
  readonly lostListeners: Set<(reason: string) => void>;
  /** Set while the host is paused: channel input waits for `resumed`. */
  paused: { readonly resumed: Promise<void>; readonly resume: () => void } | undefined;
  /** Why the host vanished, once it did. */
  vanishedReason: string | undefined;
}

/**
 * The programmable half of a fault backend: every call is logged; `hold` parks matching calls at a
 * gate, `fail` makes them throw; `pause`, `dropTransport` and `vanish` act on a host's channels and
 * existence. Nothing here sleeps: a test orders a race by releasing gates and awaiting `waitFor`.
 */
export class FaultController {
  /** Every intercepted call, in order (both phases). */
  readonly calls: FaultCall[] = [];
  private readonly rules: Rule[] = [];
  private readonly watchers = new Set<() => void>();
  private readonly hosts = new Map<string, HostFaultState>();

  /** The next `times` matching calls wait at the returned gate until it is released or failed. */
  hold(operation: FaultOperation, match: FaultMatch = {}): Gate {
    const gate = new Gate();
    this.addRule(operation, match, (call, signal) => gate.pass(call, match.ignoreAbort ? undefined : signal));
    return gate;
  }

  /**
   * The next `times` matching calls throw (e.g. `new CapacityError('quota', 250)` for CAPACITY with
   * `retryAfterMs`). A `createHost` failed in the `after` phase removes the host it made first, as the
   * spec requires of a backend.
   */
  fail(operation: FaultOperation, error: Error | ((call: FaultCall) => Error), match: FaultMatch = {}): void {
    this.addRule(operation, match, async (call) => {
      throw typeof error === 'function' ? error(call) : error;
    });
  }

  /** Matching calls logged so far. */
  callsOf(operation: FaultOperation, match: Omit<FaultMatch, 'times'> = {}): FaultCall[] {
    return this.calls.filter(
      (call) =>
        call.operation === operation &&
        call.phase === (match.phase ?? 'before') &&
        (match.hostId === undefined || call.hostId === match.hostId),
    );
  }

  /** Resolves once `count` matching calls have been logged in total (progress, not time). */
  waitFor(operation: FaultOperation, count: number, match: Omit<FaultMatch, 'times'> = {}): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.callsOf(operation, match).length < count) return;
        this.watchers.delete(check);
        resolve();
      };
      this.watchers.add(check);
      check();
    });
  }

  /**
   * The host stops reading its channels' input (as a process paused in a debugger looks from the
   * host): writes wait until `resume`. New channels open but wait too.
   */
  pause(hostId: string): void {
    const state = this.host(hostId);
    if (state.paused) return;
    let resume = () => {};
    const resumed = new Promise<void>((resolve) => (resume = resolve));
    state.paused = { resumed, resume };
  }

  resume(hostId: string): void {
    const state = this.host(hostId);
    state.paused?.resume();
    state.paused = undefined;
  }

  /**
   * Every open channel of the host drops, as a websocket does, with `transportDropped: true`.
   * Resolves once their `closed` promises have settled and their listeners ran (the drop was noticed).
   */
  async dropTransport(hostId: string): Promise<void> {
    const dropped = [...this.host(hostId).channels].map((channel) =>
      channel.drop(new Error('transport dropped (fault injected)'), true),
    );
    await Promise.all(dropped);
    await new Promise((resolve) => setImmediate(resolve));
  }

  /**
   * The host disappears from the engine mid-whatever: its channels close, it is removed, `health()`
   * says it is gone and `onLost` listeners are called.
   */
  async vanish(hostId: string, reason = 'the host vanished (fault injected)'): Promise<void> {
    const state = this.host(hostId);
    state.vanishedReason ??= reason;
    await Promise.all([...state.channels].map((channel) => channel.drop(new Error(reason), false)));
    const [instance] = state.instances;
    await instance?.destroy({ force: true }).catch(() => undefined);
    for (const listener of [...state.lostListeners]) listener(reason);
  }

  /** @internal */
  host(hostId: string): HostFaultState {
    let state = this.hosts.get(hostId);
    if (!state) {
      state = {
        instances: new Set(),
        channels: new Set(),
        lostListeners: new Set(),
        paused: undefined,
        vanishedReason: undefined,
      };
      this.hosts.set(hostId, state);
    }
    return state;
  }

  /** @internal Logs a call and applies the faults that match it. */
  async intercept(
    operation: FaultOperation,
    phase: FaultPhase,
    hostId: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const call: FaultCall = { operation, phase, hostId, sequence: this.calls.length + 1 };
    this.calls.push(call);
    for (const watcher of [...this.watchers]) watcher();
    for (const rule of this.rules) {
      if (rule.operation !== operation || rule.remaining <= 0 || rule.match.phase !== phase) continue;
      if (rule.match.hostId !== undefined && rule.match.hostId !== hostId) continue;
      rule.remaining -= 1;
      await rule.apply(call, signal);
    }
  }

  private addRule(
    operation: FaultOperation,
    match: FaultMatch,
    apply: (call: FaultCall, signal: AbortSignal | undefined) => Promise<void>,
  ): void {
    const times = match.times ?? 1;
    if (!(times > 0)) throw new TypeError(`Expected \`times\` to be > 0, got ${times}.`);
    this.rules.push({
      operation,
      match: {
        phase: match.phase ?? 'before',
        ...(match.hostId === undefined ? {} : { hostId: match.hostId }),
      },
      remaining: times,
      apply,
    });
  }
}
