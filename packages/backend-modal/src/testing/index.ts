export { LOCAL_MODAL_CONTAINER_PREFIX } from './local-modal/docker-sandbox.js';
export type { LocalModalFaults, LocalModalStats } from './local-modal/local-modal-context.js';
export {
  LocalModal,
  type LocalModalEnv,
  type StartLocalModalOptions,
} from './local-modal/local-modal-server.js';
export { localModalClient } from './local-modal-client.js';
