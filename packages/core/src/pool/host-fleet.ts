import type { EventEmitter } from 'eventemitter3';
import type { HostV1 } from '../backend/v1/types.js';
import { BerthError, CapacityError, InternalError } from '../errors/index.js';
import { claimHost, type HostClaim, releaseClaim, renewClaim } from '../host/host-lease.js';
import { buildHostLabels, hashSpec } from '../host/labels.js';
import { ManagedHost } from '../host/managed-host.js';
import { type PoolOwner, registerPoolOwner } from '../host/owner-identity.js';
import { debugLog, describeForLog } from '../observability/debug-log.js';
import type { SlotRecord } from '../slot/slot-record.js';
import type { SlotState } from '../slot/slot-states.js';
import { timeoutSignal, timerMs } from '../waits/timer-ms.js';
import { LatencyWindow } from './latency-window.js';
import type { PoolEvents } from './pool-events.js';
import type { ResolvedPoolOptions, ResolvedProfileOptions } from './pool-options.js';

interface ProfileFleet {
  readonly options: ResolvedProfileOptions & { spec: unknown };
  readonly specHash: string;
  readonly hosts: ManagedHost[];
  creating: number;
  consecutiveFailures: number;
  retryAtMs: number;
  lastError: Error | undefined;
  /** The last progress a creation reported (e.g. why the engine cannot place it yet). */
  lastProgress?: string;
}

export interface FleetCallbacks {
  /** New capacity (a host came up or a slot freed): serve waiters. */
  capacityChanged(profile: string): void;
  /** Creating a host failed with an error retrying will not fix (bad image, auth, options). */
  createFailedPermanently(profile: string, error: Error): void;
  slotState(slot: SlotRecord, from: SlotState, to: SlotState): void;
}

/** Every host of a pool, per profile: creation, adoption, loss, idle removal, health, leases. */
export class HostFleet {
  readonly profiles = new Map<string, ProfileFleet>();
  readonly coldStarts = new LatencyWindow(256);
  private readonly pending = new Set<Promise<unknown>>();
  private readonly shutdown = new AbortController();
  /** This pool as an owner: its own identity, so two pools of one process never take each other's hosts. */
  private readonly identity: PoolOwner = registerPoolOwner();
  /** Hosts another owner took over after our claim lapsed: dropped here, never destroyed. */
  private readonly takenOver = new Set<ManagedHost>();
  /** When each host's claim was last written by us: until `+ leaseTtlMs` nobody else can hold it. */
  private readonly claimedAtMs = new WeakMap<ManagedHost, number>();
  /**
   * Hosts the backend retired (`HostV1.onRetire`): out of their profile's `hosts` (no new leases,
   * not counted toward `maxHosts`, replaced), kept until their last lease ends or they are lost.
   */
  private readonly retiring = new Set<ManagedHost>();

  constructor(
    private readonly options: ResolvedPoolOptions,
    private readonly events: EventEmitter<PoolEvents>,
    private readonly callbacks: FleetCallbacks,
  ) {
    for (const [name, profile] of options.profiles) {
      this.profiles.set(name, {
        options: profile,
        specHash: hashSpec(profile.spec, profile.slotsPerHost),
        hosts: [],
        creating: 0,
        consecutiveFailures: 0,
        retryAtMs: 0,
        lastError: undefined,
      });
    }
  }

  /** What this pool writes in `berth.owner` labels and in-host claims. */
  get owner(): string {
    return this.identity.owner;
  }

  profile(name: string): ProfileFleet {
    const fleet = this.profiles.get(name);
    if (!fleet) throw new InternalError(`No profile '${name}' in this pool.`);
    return fleet;
  }

  /** Hosts the backend retired that still run leases (out of their profile's `hosts`). */
  retiringHosts(): readonly ManagedHost[] {
    return [...this.retiring];
  }

  *allHosts(): Iterable<ManagedHost> {
    for (const fleet of this.profiles.values()) yield* fleet.hosts;
    yield* this.retiring;
  }

  /** Creates hosts until `demandSlots` are covered by hosts being created, within the limits. */
  scaleFor(name: string, demandSlots: number): void {
    const fleet = this.profile(name);
    const inFlightTotal = () => [...this.profiles.values()].reduce((sum, each) => sum + each.creating, 0);
    while (
      fleet.creating * fleet.options.slotsPerHost < demandSlots &&
      fleet.hosts.length + fleet.creating < fleet.options.maxHosts &&
      inFlightTotal() < this.options.maxConcurrentCreates &&
      Date.now() >= fleet.retryAtMs &&
      !this.shutdown.signal.aborted
    ) {
      this.track(this.createHost(fleet));
    }
    if (Date.now() < fleet.retryAtMs) {
      const delay = fleet.retryAtMs - Date.now();
      setTimeout(() => this.callbacks.capacityChanged(name), timerMs(delay)).unref();
    }
  }

  /** Holds every profile at `minHosts`. */
  ensureMinimum(): void {
    for (const [name, fleet] of this.profiles) {
      const missing = fleet.options.minHosts - fleet.hosts.length - fleet.creating;
      if (missing > 0) this.scaleFor(name, (fleet.creating + missing) * fleet.options.slotsPerHost);
    }
  }

  lastError(name: string): Error | undefined {
    return this.profile(name).lastError;
  }

  private async createHost(fleet: ProfileFleet): Promise<void> {
    const name = fleet.options.name;
    fleet.creating += 1;
    this.events.emit('host:creating', { profile: name });
    const started = performance.now();
    const signal = AbortSignal.any([this.shutdown.signal, timeoutSignal(this.options.createTimeoutMs)]);
    let backendHost: HostV1 | undefined;
    let succeeded = false;
    try {
      backendHost = await this.options.backend.createHost(
        {
          profile: name,
          spec: fleet.options.spec,
          slotCount: fleet.options.slotsPerHost,
          hostLifetimeMs: this.options.hostLifetimeMs,
          labels: buildHostLabels({
            poolId: this.options.poolId,
            profile: name,
            specHash: fleet.specHash,
            owner: this.owner,
          }),
          onProgress: (progress) => {
            fleet.lastProgress = progress.message;
            this.events.emit('host:progress', { profile: name, ...progress });
          },
        },
        { signal },
      );
      const host = this.wrap(backendHost, name, false);
      await host.prepare(signal);
      if (host.shellAvailable) {
        const claimStartedMs = Date.now();
        const outcome = await claimHost(host, this.claimContext());
        if (outcome.claimed) {
          this.claimedAtMs.set(host, claimStartedMs);
        } else {
          // Only an older Berth could take a host mid-creation; it is theirs now, so let it go.
          await backendHost.disconnect().catch(() => undefined);
          backendHost = undefined;
          throw new InternalError(
            `Host ${host.id} was claimed by ${outcome.heldBy.owner} while this pool created it; it was left to them.`,
          );
        }
      }
      if (this.shutdown.signal.aborted)
        throw new InternalError('The pool closed while the host was being created.');
      const coldStartMs = performance.now() - started;
      this.coldStarts.add(coldStartMs);
      fleet.consecutiveFailures = 0;
      fleet.lastError = undefined;
      fleet.lastProgress = undefined;
      fleet.hosts.push(host);
      this.events.emit('host:created', { hostId: host.id, profile: name, coldStartMs });
      this.events.emit('pool:scaled', { profile: name, hosts: fleet.hosts.length, direction: 'up' });
      succeeded = true;
      // Retired while it was prepared or claimed (not in `hosts` yet, so that retirement was not
      // acted on and will not be delivered again): act on it now.
      if (host.retiredReason !== undefined) this.onRetire(host, host.retiredReason);
    } catch (error) {
      // A half-made host is removed whatever failed (docs/lessons.md #1).
      const failedHostId = backendHost?.id;
      await backendHost?.destroy({ force: true }).catch(() => undefined);
      // Only typed errors leave the pool: an engine's raw one (ENOTDIR, a socket error) is wrapped.
      const failure = BerthError.isInstance(error)
        ? error
        : new InternalError(`Creating a ${name} host failed: ${describeError(error)}`, { cause: error });
      fleet.lastError = failure;
      fleet.consecutiveFailures += 1;
      const retryInMs = retryDelayMs(failure, fleet.consecutiveFailures);
      fleet.retryAtMs = Date.now() + retryInMs;
      if (!this.shutdown.signal.aborted) {
        const retryable = isRetryable(failure);
        debugLog(
          'host',
          this.options.poolId,
          `creating a ${name} host failed (attempt ${fleet.consecutiveFailures}): ${describeForLog(failure)}; ${retryable ? `next creation in ≥ ${retryInMs} ms` : 'not retrying for the waiters (permanent)'}`,
        );
        this.events.emit('host:error', {
          profile: name,
          operation: 'create',
          ...(failedHostId === undefined ? {} : { hostId: failedHostId }),
          durationMs: performance.now() - started,
          error: failure,
        });
        if (!retryable) this.callbacks.createFailedPermanently(name, failure);
      }
    } finally {
      fleet.creating -= 1;
      // Pre-warming beyond maxConcurrentCreates: start the next creation as each one lands.
      if (succeeded && !this.shutdown.signal.aborted) this.ensureMinimum();
      this.callbacks.capacityChanged(name);
    }
  }

  /** Wraps a backend host (created or adopted) into core's managed host. */
  wrap(backendHost: HostV1, profile: string, adopted: boolean): ManagedHost {
    return new ManagedHost(
      backendHost,
      profile,
      this.profile(profile).options.slotsPerHost,
      {
        shellStartTimeoutMs: timerMs(this.options.shellStartTimeoutMs),
        controlTimeoutMs: timerMs(this.options.controlTimeoutMs),
        onSlotState: (slot, from, to) => this.callbacks.slotState(slot, from, to),
        onLost: (host, reason) => this.onLost(host, reason),
        onRetire: (host, reason) => this.onRetire(host, reason),
        onWarning: (error) =>
          this.events.emit('host:error', { profile, operation: 'warning', hostId: backendHost.id, error }),
        isolation: this.profile(profile).options.isolation,
      },
      adopted,
    );
  }

  /** `claimStartedMs`: when the adopter began its claim (the claim expires a ttl after that at the latest). */
  addAdopted(host: ManagedHost, claimStartedMs = Date.now()): void {
    this.claimedAtMs.set(host, claimStartedMs);
    this.profile(host.profile).hosts.push(host);
    this.events.emit('host:adopted', { hostId: host.id, profile: host.profile });
    // Retired while it was claimed or scrubbed (an adopted host on a draining node): act on it now.
    if (host.retiredReason !== undefined) this.onRetire(host, host.retiredReason);
  }

  private onRetire(host: ManagedHost, reason: string): void {
    const fleet = this.profile(host.profile);
    const index = fleet.hosts.indexOf(host);
    if (index === -1) return;
    fleet.hosts.splice(index, 1);
    this.retiring.add(host);
    this.events.emit('host:retiring', { hostId: host.id, profile: host.profile, reason });
    this.events.emit('pool:scaled', { profile: host.profile, hosts: fleet.hosts.length, direction: 'down' });
    this.replaceIfDegraded(host); // removes it now when idle
    this.ensureMinimum();
    this.callbacks.capacityChanged(host.profile);
  }

  private onLost(host: ManagedHost, reason: string): void {
    const fleet = this.profile(host.profile);
    const index = fleet.hosts.indexOf(host);
    if (index === -1 && !this.retiring.has(host)) return;
    if (index !== -1) fleet.hosts.splice(index, 1);
    this.retiring.delete(host);
    this.events.emit('host:lost', { hostId: host.id, profile: host.profile, reason });
    if (this.takenOver.delete(host)) this.track(this.letGo(host));
    else this.track(this.destroy(host, `lost: ${reason}`));
    this.ensureMinimum();
    this.callbacks.capacityChanged(host.profile);
  }

  /** Removes a host from the pool and the engine — unless another owner took it over meanwhile. */
  async destroy(host: ManagedHost, reason: string): Promise<void> {
    const started = performance.now();
    const fleet = this.profile(host.profile);
    const index = fleet.hosts.indexOf(host);
    if (index !== -1) fleet.hosts.splice(index, 1);
    this.retiring.delete(host);
    if (host.status === 'ready' && host.shellAvailable) {
      // A pause past the lease TTL may have let another process adopt it: theirs now, not ours to
      // remove. A renewal that could not even run proves nothing: only a claim still fresh (not
      // past its TTL) is trusted then, else the host is let go rather than destroyed.
      const claimAgeMs = Date.now() - (this.claimedAtMs.get(host) ?? 0);
      const outcome = await renewClaim(host, this.owner, this.options.leaseTtlMs).catch(() =>
        claimAgeMs < this.options.leaseTtlMs
          ? { claimed: true as const }
          : {
              claimed: false as const,
              heldBy: { owner: 'unknown: the claim could not be renewed after it expired', expiresAtMs: 0 },
            },
      );
      if (!outcome.claimed) {
        // Already out of the fleet, so markLost's callback is a no-op: report the loss here.
        const lostReason = takenOverReason(outcome.heldBy);
        host.markLost(lostReason);
        this.events.emit('host:lost', { hostId: host.id, profile: host.profile, reason: lostReason });
        await this.letGo(host);
        return;
      }
    }
    // Commands run in sessions of their own, so an engine that removes hosts by killing the shells'
    // process groups (the local one) would miss them: kill them by lease marker first.
    if (host.status === 'ready') {
      await host.sweepAllLeases(AbortSignal.timeout(SWEEP_BEFORE_REMOVE_MS)).catch(() => undefined);
      host.status = 'removing';
    }
    host.closeSessions();
    host.dispose();
    await host.backendHost.destroy({ force: true }).catch(() => undefined);
    this.events.emit('host:removed', {
      hostId: host.id,
      profile: host.profile,
      reason,
      durationMs: performance.now() - started,
    });
  }

  /**
   * Replaces a ready host with a slot in `error` once none of its slots is leased: the quarantined
   * slots stop counting toward `maxHosts`, and a fresh host serves the waiters.
   */
  replaceIfDegraded(host: ManagedHost): void {
    if (this.retiring.has(host)) {
      // Already replaced when it was retired: removed once its last lease ends.
      if (host.status === 'ready' && host.leasedCount === 0)
        this.track(this.destroy(host, `retired: ${host.retiredReason ?? 'by its backend'}`));
      return;
    }
    if (host.status !== 'ready' || !host.hasErrorSlot || host.leasedCount > 0) return;
    const fleet = this.profile(host.profile);
    if (!fleet.hosts.includes(host)) return;
    const broken = host.slots.filter((slot) => slot.state === 'error').map((slot) => `slot_${slot.index}`);
    // destroy() takes the host out of the fleet at once; its removal runs in the background.
    this.track(this.destroy(host, `replaced: ${broken.join(', ')} in error`));
    this.events.emit('pool:scaled', { profile: host.profile, hosts: fleet.hosts.length, direction: 'down' });
    this.ensureMinimum();
    this.callbacks.capacityChanged(host.profile);
  }

  /** Periodic upkeep: idle scale-down, health checks, lease renewal. Never throws. */
  async tick(now = Date.now()): Promise<void> {
    for (const host of [...this.allHosts()]) this.replaceIfDegraded(host);
    for (const [name, fleet] of this.profiles) {
      const idleTimeoutMs = fleet.options.idleTimeoutMs ?? this.options.idleTimeoutMs;
      for (const host of [...fleet.hosts]) {
        if (fleet.hosts.length <= fleet.options.minHosts) break;
        if (host.status === 'ready' && host.leasedCount === 0 && now - host.idleSinceMs > idleTimeoutMs) {
          await this.destroy(host, 'idle');
          this.events.emit('pool:scaled', { profile: name, hosts: fleet.hosts.length, direction: 'down' });
        }
      }
    }
  }

  async checkHealth(): Promise<void> {
    await Promise.all(
      [...this.allHosts()].map(async (host) => {
        if (host.status !== 'ready') return;
        const health = await host.backendHost.health().catch(() => undefined);
        if (health && !health.alive) host.markLost(health.reason ?? 'the engine reports it gone');
      }),
    );
  }

  async renewLeases(): Promise<void> {
    await Promise.all(
      [...this.allHosts()].map(async (host) => {
        if (host.status !== 'ready' || !host.shellAvailable) return;
        await this.renew(host);
      }),
    );
  }

  /**
   * Before a lease uses a host (a command, a release's reset): `undefined`, at no cost, while our
   * claim certainly still holds. After a pause longer than half its life, a promise: the claim is
   * renewed first, and a host someone else took over meanwhile is dropped (resolves false; the host
   * is `lost`) rather than used under its new owner.
   */
  confirmHeldIfStale(host: ManagedHost): Promise<boolean> | undefined {
    if (host.status !== 'ready' || !host.shellAvailable) return undefined;
    const claimedAt = this.claimedAtMs.get(host);
    if (claimedAt !== undefined && Date.now() < claimedAt + this.options.leaseTtlMs / 2) return undefined;
    return this.renew(host);
  }

  private async renew(host: ManagedHost): Promise<boolean> {
    const startedMs = Date.now();
    // A renewal that failed to run (control timeout, host trouble) proves nothing either way: keep the
    // host (health checks judge it) but do not count it as renewed.
    const outcome = await renewClaim(host, this.owner, this.options.leaseTtlMs).catch(() => undefined);
    if (outcome === undefined) return true;
    if (outcome.claimed) {
      this.claimedAtMs.set(host, startedMs);
      return true;
    }
    // Dropped here (its leases fail with HostLostError), never destroyed: it is the other owner's.
    this.takenOver.add(host);
    host.markLost(takenOverReason(outcome.heldBy));
    return false;
  }

  /** Forgets a host without touching it in the engine: another owner holds it now. */
  private async letGo(host: ManagedHost): Promise<void> {
    host.closeSessions();
    host.dispose();
    await host.backendHost.disconnect().catch(() => undefined);
  }

  private claimContext() {
    return { self: this.owner, ttlMs: this.options.leaseTtlMs, graceMs: this.options.reapGraceMs };
  }

  /** Stops creating; then disconnects (persist) or destroys every host. Bounded by `timeoutMs`. */
  async closeAll(destroy: boolean, timeoutMs: number): Promise<void> {
    this.shutdown.abort();
    const work = (async () => {
      await Promise.allSettled([...this.pending]);
      await Promise.allSettled(
        [...this.allHosts()].map(async (host) => {
          // A retired host (draining or unreachable node) is not worth keeping for the next process,
          // which would adopt it only to retire it again: removed even when persisting.
          if (destroy || this.retiring.has(host))
            return this.destroy(
              host,
              destroy ? 'pool closed' : `retired: ${host.retiredReason ?? 'by its backend'}`,
            );
          if (host.shellAvailable && host.status === 'ready') {
            // Persist keeps the host warm, not what the leases left running (nothing outlives a lease).
            await host.sweepAllLeases().catch(() => undefined);
            await releaseClaim(host, this.owner).catch(() => undefined);
          }
          host.closeSessions();
          host.dispose();
          await host.backendHost.disconnect();
        }),
      );
    })();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    // Closed: from now on this pool's hosts are free to the pool's next process (and this one's).
    this.identity.release();
  }

  track(work: Promise<unknown>): void {
    const tracked = work.catch(() => undefined).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }
}

function takenOverReason(holder: HostClaim): string {
  return (
    `another process (${holder.owner}) took it over after this pool's claim lapsed (not renewed within ` +
    'leaseTtlMs — was the process paused?); this pool let it go without removing it'
  );
}

/** Bound on the sweep before a host is removed; removal goes ahead whatever it found. */
const SWEEP_BEFORE_REMOVE_MS = 5_000;

/**
 * How long scale-up waits after a failed creation: exponential from 500 ms to 30 s, or, when the
 * engine said how long to wait (`CapacityError.retryAfterMs`: a rate limit, a full cluster), that.
 */
export function retryDelayMs(error: Error, consecutiveFailures: number): number {
  const backoff = Math.min(30_000, 250 * 2 ** Math.min(consecutiveFailures, 7));
  // At least MIN_RETRY_MS: a zero would start the next create from this one's `finally`, a loop
  // that never yields to the event loop (no timer, no abort, no acquire deadline could fire).
  if (CapacityError.isInstance(error) && error.retryAfterMs !== undefined && error.retryAfterMs >= 0)
    return Math.max(MIN_RETRY_MS, error.retryAfterMs);
  return backoff;
}

/** The shortest wait before another creation after a failed one. */
export const MIN_RETRY_MS = 100;

function isRetryable(error: Error): boolean {
  if (!BerthError.isInstance(error)) return true;
  return error.retryable || error.code === 'INTERNAL' || error.code === 'HOST_LOST';
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
