import type { BackendV1 } from '@berth/core';

/** Groups of contract tests; a backend that cannot support one skips it with a printed reason. */
export const CONFORMANCE_FEATURES = [
  'backendSpec',
  'slotIsolation',
  'exec',
  'stdin',
  'largeOutput',
  'streaming',
  'timeout',
  'abort',
  'noOutputTimeout',
  'outputCaps',
  'backgroundChildren',
  'processModel',
  'leaseCleanup',
  'commandPipes',
  'runtimeLoss',
  'userIsolation',
  'files',
  'archive',
  'leases',
  'releaseReset',
  'persistence',
  'specChange',
  'reaping',
  'hostLoss',
  'close',
  'drain',
  'execBatch',
] as const;

export type ConformanceFeature = (typeof CONFORMANCE_FEATURES)[number];

export interface ConformanceOptions<Spec> {
  /** Shown in the `describe` title: `local`, `docker (busybox)`, … */
  name: string;
  /** A fresh backend per pool (the suite disposes it through `pool.close()`). */
  createBackend: () => BackendV1<Spec>;
  /** The profile's host spec, as a user would pass it in `PoolOptions.host`. */
  host?: unknown;
  /**
   * The host spec for the `isolation: 'user'` tests, when `host` cannot run them (e.g. an image
   * without util-linux `setpriv` on a backend whose slots run commands through the shell protocol).
   * Default `host`.
   */
  userIsolationHost?: unknown;
  /** Slots per host. Default 2; must be ≥ 2 (isolation and process checks use a second slot). */
  slotsPerHost?: number;
  /** Unique per run. Default `conf-${name}-${random}` (sanitised). */
  poolId?: string;
  /**
   * Kills a host from outside the SDK (`docker kill`, `nomad job stop`, removing a local host's
   * directory). Without it the `hostLoss` tests are skipped: killing a slot's shell from inside is a
   * slot event, not a host loss (the `runtimeLoss` tests cover that).
   */
  loseHost?: (hostId: string) => Promise<void>;
  /**
   * Counts the pool's hosts still existing in the engine. Default: `backend.listHosts` with
   * `poolSelector(poolId)` (needs `capabilities.persistence`).
   */
  countHosts?: (poolId: string) => Promise<number>;
  /** Feature → reason. Skipped tests print the reason (test name and `console.info`). */
  skip?: Partial<Record<ConformanceFeature, string>>;
  /** Per test. Default 60_000. */
  timeoutMs?: number;
}

/**
 * What the plain-`sh` shell protocol cannot guarantee (core README, "Process model"): a backend
 * whose slots run commands through it spreads this into `skip`, so the reason is printed.
 */
export const SHELL_PROTOCOL_LIMITS: Partial<Record<ConformanceFeature, string>> = {
  commandPipes:
    'the shell protocol shares the slot shell\'s pipes between the commands of one lease, so a background child\'s late output can reach a later command of the same lease (core README, "Process model")',
};
