import { InvalidOptionsError } from '../../errors/index.js';
import { BACKEND_SPECIFICATION_V1, type BackendV1 } from './types.js';

/** Checks at pool construction that `value` implements the v1 spec, with a message naming what is off. */
export function assertBackendV1(value: unknown): asserts value is BackendV1 {
  const backend = value as Partial<BackendV1> | null;
  if (typeof backend !== 'object' || backend === null) {
    throw new InvalidOptionsError('backend', 'expected a backend object, e.g. `createLocalBackend()`.');
  }
  if (backend.specificationVersion !== BACKEND_SPECIFICATION_V1) {
    throw new InvalidOptionsError(
      'backend',
      `expected specificationVersion '${BACKEND_SPECIFICATION_V1}', got ${JSON.stringify(backend.specificationVersion)}. ` +
        'Upgrade the backend package or @berth/core so both speak the same spec.',
    );
  }
  for (const method of ['createHost', 'resolveHostSpec'] as const) {
    if (typeof backend[method] !== 'function') {
      throw new InvalidOptionsError('backend', `backend '${backend.backendId}' has no ${method}() method.`);
    }
  }
  if (backend.capabilities?.persistence) {
    for (const method of ['listHosts', 'attachHost', 'removeHost'] as const) {
      if (typeof backend[method] !== 'function') {
        throw new InvalidOptionsError(
          'backend',
          `backend '${backend.backendId}' declares persistence but has no ${method}() method.`,
        );
      }
    }
  }
}
