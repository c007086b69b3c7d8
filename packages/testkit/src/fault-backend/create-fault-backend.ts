import { BACKEND_SPECIFICATION_V1, type BackendV1, type HostV1 } from '@berth/core';
import { FaultController } from './fault-controller.js';
import { through, wrapHost } from './fault-host.js';

/** A backend whose calls a test can hold, fail, drop or make vanish; see `FaultController`. */
export interface FaultBackend<Spec = unknown> extends BackendV1<Spec> {
  readonly faults: FaultController;
  /** The wrapped backend: the engine itself, behind the faults. */
  readonly inner: BackendV1<Spec>;
}

export interface FaultBackendOptions {
  /** Share a controller between backends (e.g. two "processes" of one test): one log, one set of faults. */
  faults?: FaultController;
}

/**
 * Wraps a real backend (usually `createLocalBackend()`: hosts are directories, shells are real `sh`
 * processes) in programmable faults, for deterministic tests of the races between a pool, its
 * reaper, other processes and the engine. Two pools given two fault backends over one local
 * `baseDirectory` are two "processes" of one pool id, each with its own owner identity.
 */
export function createFaultBackend<Spec>(
  inner: BackendV1<Spec>,
  options: FaultBackendOptions = {},
): FaultBackend<Spec> {
  const faults = options.faults ?? new FaultController();
  const backend: FaultBackend<Spec> = {
    specificationVersion: BACKEND_SPECIFICATION_V1,
    backendId: `fault-${inner.backendId}`,
    // `vanish()` calls onLost listeners whatever the engine does.
    capabilities: { ...inner.capabilities, hostLossEvents: true },
    faults,
    inner,
    resolveHostSpec: (input, path) => inner.resolveHostSpec(input, path),
    async createHost(request, wait = {}) {
      await faults.intercept('createHost', 'before', undefined, wait.signal);
      const created = await inner.createHost(request, wait);
      // Registered before the `after` phase: a test may make it vanish while its creation is held.
      const host = wrapHost(created, faults);
      try {
        await faults.intercept('createHost', 'after', created.id, wait.signal);
      } catch (error) {
        // A backend removes what a failed create made (the spec), so the fault does too.
        await created.destroy({ force: true }).catch(() => undefined);
        throw error;
      }
      return host;
    },
  };
  const { listHosts, attachHost, removeHost, dispose } = inner;
  if (listHosts) {
    backend.listHosts = (selector, wait) =>
      through(faults, 'listHosts', undefined, wait?.signal, () => listHosts.call(inner, selector, wait));
  }
  if (attachHost) {
    backend.attachHost = (descriptor, wait) =>
      through(
        faults,
        'attachHost',
        descriptor.id,
        wait?.signal,
        async (): Promise<HostV1> => wrapHost(await attachHost.call(inner, descriptor, wait), faults),
        (host) => host.disconnect(),
      );
  }
  if (removeHost) {
    backend.removeHost = (descriptor, wait) =>
      through(faults, 'removeHost', descriptor.id, wait?.signal, () =>
        removeHost.call(inner, descriptor, wait),
      );
  }
  if (dispose) backend.dispose = () => dispose.call(inner);
  return backend;
}
