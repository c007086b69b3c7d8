import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  AbortedError,
  BackendUnavailableError,
  BerthError,
  InternalError,
  raceAbort,
  throwIfAborted,
} from '@berth/core';
import Dockerode from 'dockerode';
import { type DockerErrorContext, dockerStatusCode, mapDockerError } from './map-docker-error.js';
import type { DockerEndpoint } from './resolve-docker-endpoints.js';

export interface DockerCallOptions {
  readonly signal?: AbortSignal | undefined;
  /** Per-request deadline; `false` for streams that live long (events, pulls). */
  readonly timeoutMs?: number | false;
  readonly hostId?: string;
  readonly field?: string;
}

/**
 * A lazily-connected dockerode client. The first call probes each endpoint in order (bounded by
 * `connectTimeoutMs`) and keeps the first that answers `ping`; when none answers it throws
 * `BackendUnavailableError` listing every address tried. A failed probe is not cached, so a
 * daemon started later is found on the next call.
 */
export class DockerConnection {
  #client: Dockerode | undefined;
  #address: string | undefined;
  #connecting: Promise<Dockerode> | undefined;
  #agents: Array<HttpAgent | HttpsAgent> = [];
  #disposed = false;

  constructor(
    private readonly endpoints: readonly DockerEndpoint[],
    private readonly connectTimeoutMs: number,
    private readonly requestTimeoutMs: number,
  ) {}

  /** The address of the daemon in use, once connected. */
  get address(): string | undefined {
    return this.#address;
  }

  async client(signal?: AbortSignal): Promise<Dockerode> {
    if (this.#disposed) throw new InternalError('This Docker backend was disposed; create a new one.');
    throwIfAborted(signal, 'Connecting to Docker');
    if (this.#client) return this.#client;
    // Concurrent first calls share one probe; each still honours its own signal.
    this.#connecting ??= this.#probe().finally(() => {
      this.#connecting = undefined;
    });
    return signal ? raceAbort(this.#connecting, signal, 'Connecting to Docker') : this.#connecting;
  }

  /** Runs one Docker API call with the caller's signal plus a per-request deadline, mapping errors. */
  async call<T>(
    action: string,
    options: DockerCallOptions,
    run: (docker: Dockerode, abortSignal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    const { signal } = options;
    const docker = await this.client(signal);
    throwIfAborted(signal, `Docker: ${action}`);
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const timeout = timeoutMs === false ? undefined : AbortSignal.timeout(timeoutMs);
    const signals = [signal, timeout].filter((value): value is AbortSignal => value !== undefined);
    const combined = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    try {
      return await run(docker, combined);
    } catch (error) {
      if (signal?.aborted)
        throw new AbortedError(`Docker: ${action} was aborted.`, { cause: signal.reason ?? error });
      if (timeout?.aborted) {
        throw new BackendUnavailableError(
          `Docker did not answer within ${String(timeoutMs)} ms while trying to ${action}. The daemon may be overloaded; ` +
            'retry, or raise `requestTimeoutMs`.',
          this.#address ? [this.#address] : [],
          { cause: error },
        );
      }
      throw this.mapError(error, { action, hostId: options.hostId, field: options.field });
    }
  }

  mapError(error: unknown, context: Omit<DockerErrorContext, 'address'>): BerthError {
    return mapDockerError(error, { ...context, address: this.#address });
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    for (const agent of this.#agents) agent.destroy();
    this.#agents = [];
    this.#client = undefined;
  }

  async #probe(): Promise<Dockerode> {
    const failures: string[] = [];
    for (const endpoint of this.endpoints) {
      let docker: Dockerode;
      try {
        const created = endpoint.create();
        docker = created instanceof Dockerode ? created : new Dockerode(this.#withAgent(created));
      } catch (error) {
        if (BerthError.isInstance(error)) throw error;
        failures.push(`${endpoint.address}: ${(error as Error).message}`);
        continue;
      }
      const timeout = AbortSignal.timeout(this.connectTimeoutMs);
      try {
        await pingWith(docker, timeout);
        this.#client = docker;
        this.#address = endpoint.address;
        return docker;
      } catch (error) {
        const status = dockerStatusCode(error);
        if (status === 401 || status === 403) {
          // Something answered but refused (an authz proxy, a TLS-terminating gateway): say so.
          throw mapDockerError(error, { action: 'ping the daemon', address: endpoint.address });
        }
        if (status !== undefined) {
          // An HTTP server that is not the Docker API (a 404 for /_ping, a 5xx from a proxy).
          failures.push(
            `${endpoint.address}: answered HTTP ${status} to /_ping, so it is not a working Docker API`,
          );
          continue;
        }
        const reason = timeout.aborted
          ? `no answer within ${this.connectTimeoutMs} ms`
          : ((error as { code?: string }).code ?? (error as Error).message);
        failures.push(`${endpoint.address}: ${reason}`);
      }
    }
    this.#destroyAgents();
    const tried = this.endpoints.map((endpoint) => endpoint.address);
    const explicit = this.endpoints.length === 1 && this.endpoints[0]?.explicit;
    const what = explicit
      ? 'The configured Docker daemon did not answer'
      : 'No Docker daemon answered on any of the usual sockets';
    const advice = explicit
      ? 'Start it, or fix DOCKER_HOST / the backend options. Berth does not fall back to other sockets when an address is configured.'
      : "Start dockerd (`sudo systemctl start docker`, Docker Desktop, or scripts/setup-docker.sh), start Podman's socket " +
        '(`systemctl --user start podman.socket`), or set DOCKER_HOST (e.g. unix:///path/docker.sock or tcp://host:2376).';
    throw new BackendUnavailableError(`${what} (${failures.join('; ')}). ${advice}`, tried);
  }

  #withAgent(options: Dockerode.DockerOptions): Dockerode.DockerOptions {
    if (options.protocol === 'ssh') return options;
    // An agent we own, so dispose() can drop its idle keep-alive sockets.
    const agent =
      options.protocol === 'https' ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.#agents.push(agent);
    return { ...options, agent } as Dockerode.DockerOptions;
  }

  #destroyAgents(): void {
    for (const agent of this.#agents) agent.destroy();
    this.#agents = [];
  }
}

async function pingWith(docker: Dockerode, abortSignal: AbortSignal): Promise<void> {
  // dockerode 5 accepts `{ abortSignal }` on ping; @types/dockerode 4 does not declare it yet.
  const ping = docker.ping as unknown as (options: { abortSignal: AbortSignal }) => Promise<unknown>;
  await ping.call(docker, { abortSignal });
}
