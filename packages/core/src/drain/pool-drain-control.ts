import { hostname } from 'node:os';
import type { EventEmitter } from 'eventemitter3';
import type { DrainMarkerStoreV1, DrainProcessRecordV1 } from '../backend/v1/drain-marker-store.js';
import type { BackendV1 } from '../backend/v1/types.js';
import { PoolDrainingError } from '../errors/index.js';
import type { PoolEvents } from '../pool/pool-events.js';
import type { PoolHost } from '../pool/pool-hosts.js';
import { CombinedDrainMarkerStore } from './combined-drain-marker-store.js';
import { berthHome } from './drain-marker.js';
import { DrainMarkerWatcher, type MarkerDrain } from './drain-marker-watcher.js';
import { type DrainMode, DrainRequests, type DrainSource } from './drain-requests.js';
import { FileDrainMarkerStore } from './file-drain-marker-store.js';

/** The default store: the Berth home directory, plus the backend's shared store when it has one. */
export function defaultDrainMarkerStore(
  backend: BackendV1,
  env: Readonly<Record<string, string | undefined>> = process.env,
): DrainMarkerStoreV1 {
  const file = new FileDrainMarkerStore(berthHome(env));
  const shared = backend.drainMarkerStore?.();
  return shared ? new CombinedDrainMarkerStore([file, shared]) : file;
}

/** A pool's process record (`berth status`, `berth hosts` slot states), without the drain fields. */
export function describeProcess(pool: {
  owner: string;
  poolId: string;
  backendId: string;
  startedAt: string;
  leasedSlots: number;
  hosts: readonly PoolHost[];
}): ReturnType<PoolDrainHost['describe']> {
  return {
    owner: pool.owner,
    poolId: pool.poolId,
    pid: process.pid,
    hostname: hostname(),
    backendId: pool.backendId,
    startedAt: pool.startedAt,
    leasedSlots: pool.leasedSlots,
    hosts: pool.hosts.map((host) => ({
      id: host.id,
      profile: host.profile,
      slots: host.slots.map((slot) => slot.state),
    })),
  };
}

export interface PoolDrainHost {
  readonly poolId: string;
  readonly defaultMode: DrainMode;
  readonly closing: boolean;
  readonly events: EventEmitter<PoolEvents>;
  /** The effective drain changed (`undefined`: serving again), because of `source`. */
  changed(before: DrainMode | undefined, after: DrainMode | undefined, source: DrainSource): void;
  describe(): Omit<DrainProcessRecordV1, 'markerSeen' | 'updatedAt' | 'draining' | 'drainedBy'>;
}

/**
 * A pool's drain, from both sources: `drain()` / `resume()` in-process and the external marker
 * (docs/architecture.md §13). Drained while either asks; the marker is honoured from the first tick, before the pool
 * serves; once the pool closes nothing resumes it.
 */
export class PoolDrainControl {
  private readonly requests = new DrainRequests();
  private readonly watcher: DrainMarkerWatcher | undefined;

  constructor(
    private readonly host: PoolDrainHost,
    store: DrainMarkerStoreV1 | undefined,
    intervalMs: number,
  ) {
    this.watcher = store && new DrainMarkerWatcher(store, this.watcherTarget(), { intervalMs });
  }

  get effective(): DrainMode | undefined {
    return this.requests.effective;
  }

  get sources(): DrainSource[] {
    return this.requests.sources;
  }

  /** The marker's current request, as last read. */
  get marker(): MarkerDrain | undefined {
    return this.watcher?.markerDrain;
  }

  /** The POOL_DRAINING error, naming who drained the pool so the fix offered is the right one. */
  drainingError(): PoolDrainingError {
    if (!this.requests.has('marker')) return new PoolDrainingError();
    const marker = this.marker;
    const by = marker?.corrupt
      ? `an unreadable drain marker (${marker.corrupt})`
      : `a drain marker${marker?.principal ? ` from ${marker.principal}` : ''}`;
    const poolId = this.host.poolId;
    return new PoolDrainingError(
      `Pool ${poolId} is drained by ${by} and fails fast; run \`berth resume --pool ${poolId}\` to accept acquires again.`,
    );
  }

  start(): Promise<void> {
    return this.watcher?.start() ?? Promise.resolve();
  }

  /** Reconciles with the marker now (tests; the timer does it about once per interval). */
  tick(): Promise<void> {
    return this.watcher?.tick() ?? Promise.resolve();
  }

  stop(): Promise<void> {
    return this.watcher?.stop() ?? Promise.resolve();
  }

  /** Leases changed: refresh the process record at the next tick. */
  touched(): void {
    this.watcher?.markDirty();
  }

  /** `renewed`: a new request in the same mode (another marker) is still worth an event. */
  request(
    source: DrainSource,
    mode: DrainMode,
    details: Omit<MarkerDrain, 'mode' | 'seen'> = {},
    renewed = false,
  ): void {
    const before = this.requests.effective;
    const changed = this.requests.set(source, mode);
    if (!changed && !renewed) return;
    this.host.events.emit('pool:drain-requested', { source, mode, ...details });
    if (changed) this.host.changed(before, this.requests.effective, source);
  }

  lift(source: DrainSource): void {
    const before = this.requests.effective;
    if (!this.requests.clear(source)) return;
    this.host.changed(before, this.requests.effective, source);
  }

  private watcherTarget() {
    const control = this;
    const host = this.host;
    return {
      poolId: host.poolId,
      defaultMode: host.defaultMode,
      get closing() {
        return host.closing;
      },
      applyMarker(drain: MarkerDrain | undefined) {
        if (host.closing) return;
        if (drain === undefined) control.lift('marker');
        else {
          const { mode, seen: _seen, ...details } = drain;
          control.request('marker', mode, details, true);
        }
      },
      describe() {
        return {
          ...host.describe(),
          draining: control.requests.effective,
          drainedBy: control.requests.sources,
        };
      },
    };
  }
}
