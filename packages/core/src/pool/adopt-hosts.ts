import type { EventEmitter } from 'eventemitter3';
import type { HostDescriptorV1 } from '../backend/v1/types.js';
import { BerthError, InternalError } from '../errors/index.js';
import { claimHost, readClaim } from '../host/host-lease.js';
import { LABEL, poolSelector, sanitizeLabelValue } from '../host/labels.js';
import type { ManagedHost } from '../host/managed-host.js';
import { isOwnerProvablyDead } from '../host/owner-identity.js';
import { debugLog, describeForLog } from '../observability/debug-log.js';
import type { HostFleet } from './host-fleet.js';
import type { PoolEvents } from './pool-events.js';
import type { ResolvedPoolOptions } from './pool-options.js';
import { decideRunningHost } from './reap-decision.js';

/**
 * At start (adopt = true) and on an interval (adopt = false): look at every host labelled with
 * this pool id — never anything else (docs/lessons.md #2) — and
 * - adopt running hosts whose spec matches and whose claim is free (persist mode, up to maxHosts);
 * - replace hosts whose spec changed, once nobody holds them (docs/lessons.md #4);
 * - reap stopped hosts older than 2 × hostLifetimeMs, and running hosts whose owner is provably
 *   dead or whose lease expired past the grace period (docs/lessons.md #3).
 * Hosts this pool creates or holds, hosts another live owner holds or is still creating, and (persist)
 * hosts released warm for reuse are left alone: the rules are `decideRunningHost`.
 */
export async function adoptAndReap(
  options: ResolvedPoolOptions,
  fleet: HostFleet,
  events: EventEmitter<PoolEvents>,
  adopt: boolean,
  signal: AbortSignal,
): Promise<void> {
  const backend = options.backend;
  if (!backend.capabilities.persistence || !backend.listHosts || !backend.attachHost) return;
  const descriptors = await backend.listHosts(poolSelector(options.poolId), { signal });
  const known = new Set([...fleet.allHosts()].map((host) => host.id));
  const byLabel = new Map([...options.profiles.keys()].map((name) => [sanitizeLabelValue(name), name]));
  const log = (message: string) => debugLog('reaper', options.poolId, message);
  log(
    `${adopt ? 'start sweep' : 'reaper'}: ${descriptors.length} host(s) labelled berth.pool=${options.poolId}`,
  );

  for (const descriptor of descriptors) {
    if (signal.aborted || known.has(descriptor.id)) continue;
    const profile = byLabel.get(descriptor.labels[LABEL.profile] ?? '');
    // A profile this process does not define belongs to another configuration: not ours to judge.
    if (profile === undefined) {
      log(
        `left ${descriptor.id}: its profile label '${descriptor.labels[LABEL.profile] ?? ''}' is none of this pool's profiles`,
      );
      continue;
    }
    const profileFleet = fleet.profile(profile);
    const specMatches = descriptor.labels[LABEL.spec] === profileFleet.specHash;
    const ageMs = Date.now() - descriptor.createdAtMs;
    // Ours (being created, or held): the fleet's business, not the sweep's — not even attached here.
    if (descriptor.labels[LABEL.owner] === fleet.owner) continue;

    if (descriptor.state === 'stopped') {
      const creatorDead = isOwnerProvablyDead(descriptor.labels[LABEL.owner] ?? '');
      // A live owner's host may look stopped while it is being created (Docker's `created`).
      if (!creatorDead && ageMs < options.createTimeoutMs) {
        log(
          `left ${descriptor.id}: stopped, but its creator is alive and it is younger than createTimeoutMs (still being created?)`,
        );
        continue;
      }
      // An exited host ages from its exit, not its creation: it was in use until then.
      const exitedForMs = Date.now() - (descriptor.exitedAtMs ?? descriptor.createdAtMs);
      if (exitedForMs > 2 * options.hostLifetimeMs || !specMatches || (!options.persist && creatorDead)) {
        await remove(descriptor, profile, specMatches ? 'exited and abandoned' : 'spec changed');
        continue;
      }
      if (!(adopt && options.persist && backend.capabilities.stopStart)) {
        log(
          `left ${descriptor.id}: stopped; ${adopt ? 'not restarted (persist off or the backend cannot start stopped hosts)' : 'only the start sweep restarts stopped hosts'}`,
        );
        continue;
      }
    } else if (descriptor.state !== 'running') {
      log(`left ${descriptor.id}: state ${descriptor.state}`);
      continue;
    }

    let host: ManagedHost | undefined;
    try {
      host = fleet.wrap(await backend.attachHost(descriptor, { signal }), profile, true);
      await host.prepare(signal);
      const claimOptions = { self: fleet.owner, ttlMs: options.leaseTtlMs, graceMs: options.reapGraceMs };
      const verdict = decideRunningHost(
        {
          self: fleet.owner,
          creator: descriptor.labels[LABEL.owner] ?? '',
          createdAtMs: descriptor.createdAtMs,
          claim: host.shellAvailable ? await readClaim(host) : undefined,
          hasShell: host.shellAvailable,
          specMatches,
          mayAdopt: adopt && options.persist && profileFleet.hosts.length < profileFleet.options.maxHosts,
          now: Date.now(),
        },
        { ...options, idleTimeoutMs: profileFleet.options.idleTimeoutMs ?? options.idleTimeoutMs },
      );
      if (verdict.action === 'leave') {
        log(`left ${descriptor.id}${adopt ? ' (not adopted)' : ''}: ${verdict.why}`);
        await release(host);
        continue;
      }
      // Claim first (compare-and-swap), so a concurrent adopter cannot be using it as we take it.
      const creator = {
        owner: descriptor.labels[LABEL.owner] ?? '',
        untilMs: descriptor.createdAtMs + options.createTimeoutMs,
      };
      const claimStartedMs = Date.now();
      const outcome = host.shellAvailable
        ? await claimHost(host, { ...claimOptions, creator })
        : { claimed: true };
      if (!outcome.claimed) {
        const holder = 'heldBy' in outcome ? outcome.heldBy.owner : 'another process';
        log(
          `left ${descriptor.id}: ${holder} claimed it first (would have ${verdict.action === 'adopt' ? 'adopted' : 'removed'} it)`,
        );
        await release(host);
        continue;
      }
      if (verdict.action === 'adopt') {
        await host.scrubForAdoption(signal);
        fleet.addAdopted(host, claimStartedMs);
        log(
          `adopted ${descriptor.id}: spec matches, its claim was free (creator ${descriptor.labels[LABEL.owner] ?? 'unknown'})`,
        );
        continue;
      }
      const removeStarted = performance.now();
      host.closeSessions();
      host.dispose();
      await host.backendHost.destroy({ force: true });
      log(`${verdict.specChanged ? 'replaced' : 'reaped'} ${descriptor.id}: ${verdict.reason}`);
      events.emit(verdict.specChanged ? 'host:replaced' : 'host:reaped', {
        hostId: descriptor.id,
        profile,
        reason: verdict.reason,
        durationMs: performance.now() - removeStarted,
      });
    } catch (error) {
      if (host) await release(host);
      const failure = typedError(error, `Adopting host ${descriptor.id}`);
      log(`adopting or reaping ${descriptor.id} failed: ${describeForLog(failure)}`);
      events.emit('host:error', { profile, operation: 'adopt', hostId: descriptor.id, error: failure });
    }
  }

  async function remove(descriptor: HostDescriptorV1, profile: string, reason: string): Promise<void> {
    const started = performance.now();
    try {
      await backend.removeHost?.(descriptor, { signal });
      log(`${reason === 'spec changed' ? 'replaced' : 'reaped'} ${descriptor.id} (stopped): ${reason}`);
      events.emit(reason === 'spec changed' ? 'host:replaced' : 'host:reaped', {
        hostId: descriptor.id,
        profile,
        reason,
        durationMs: performance.now() - started,
      });
    } catch (error) {
      const failure = typedError(error, `Removing host ${descriptor.id}`);
      log(`removing ${descriptor.id} failed: ${describeForLog(failure)}`);
      events.emit('host:error', { profile, operation: 'remove', hostId: descriptor.id, error: failure });
    }
  }
}

/** Only typed errors reach listeners: an engine's raw one is wrapped, with it as `cause`. */
function typedError(error: unknown, what: string): BerthError {
  if (BerthError.isInstance(error)) return error;
  return new InternalError(`${what} failed: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
  });
}

async function release(host: ManagedHost): Promise<void> {
  host.closeSessions();
  host.dispose();
  await host.backendHost.disconnect().catch(() => undefined);
}
