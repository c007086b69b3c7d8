export { backendFromEnv, DOCKER_ENV, envVariables } from './backend-from-env.js';
export { buildContainerOptions, DOCKER_LABEL } from './build-container-options.js';
export {
  createDockerBackend,
  type DockerBackend,
  type DockerBackendOptions,
} from './create-docker-backend.js';
export type { DockerShellTransport, DockerShellTransportMode } from './docker-agent-link.js';
export { DockerHost } from './docker-host.js';
export {
  DEFAULT_HARDENING,
  DEFAULT_KEEP_ALIVE_COMMAND,
  DEFAULT_WORKSPACE_ROOT,
  type DockerHardening,
  type DockerHardeningInput,
  type DockerHostSpec,
  type DockerHostSpecInput,
  type DockerPullPolicy,
  type DockerVolume,
  type DockerVolumeInput,
} from './docker-host-spec.js';
export { type DockerErrorContext, mapDockerError } from './map-docker-error.js';
export {
  type DockerConnectionOptions,
  type DockerEndpoint,
  resolveDockerEndpoints,
} from './resolve-docker-endpoints.js';
export { resolveHostSpec } from './resolve-host-spec.js';
