export { CreateAdmission } from './admission.js';
export { backendFromEnv, envVariables, MODAL_ENV } from './backend-from-env.js';
export {
  createModalBackend,
  MODAL_TAG,
  type ModalBackend,
  type ModalBackendOptions,
} from './create-modal-backend.js';
export { type ModalErrorContext, mapModalError } from './map-modal-error.js';
export { ModalHost, type ModalShellTransportMode } from './modal-host.js';
export {
  DEFAULT_WORKSPACE_ROOT,
  MODAL_MAX_TIMEOUT_SECONDS,
  type ModalHostSpec,
  type ModalHostSpecInput,
  resolveModalHostSpec,
} from './modal-host-spec.js';
export { retryAfterMiddleware } from './retry-after.js';
