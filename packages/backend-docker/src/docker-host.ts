import type { Readable } from 'node:stream';
import {
  BerthError,
  CapabilityUnsupportedError,
  type DestroyOptionsV1,
  type HostChannelV1,
  type HostHealthV1,
  HostLostError,
  type HostV1,
  InternalError,
  NotFoundError,
  type OneShotResultV1,
  type OneShotRunOptionsV1,
  type SlotUserV1,
  throwIfAborted,
  type WaitOptions,
} from '@berth/core';
import { AgentBackedHost, type AgentBinary, AgentHostRuntime } from '@berth/host-agent';
import {
  DockerAgentLink,
  type DockerShellTransport,
  type DockerShellTransportMode,
} from './docker-agent-link.js';
import type { DockerConnection } from './docker-connection.js';
import type { DockerEventsWatcher } from './docker-events-watcher.js';
import { asHostError, raceDeadline } from './docker-exec-session.js';
import { dockerMessage } from './map-docker-error.js';
import { openDockerChannel } from './open-docker-channel.js';
import { removeDockerContainer } from './remove-docker-container.js';
import { runDockerExec } from './run-docker-exec.js';

/** Timeouts a host inherits from its backend's options. */
export interface DockerHostTimeouts {
  readonly channelOpenTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly archiveTimeoutMs: number;
  readonly destroyTimeoutMs: number;
  readonly stopTimeoutSeconds: number;
  readonly agentHeartbeatTimeoutMs: number;
}

export interface DockerHostInit {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly workspaceRoot: string;
  readonly connection: DockerConnection;
  readonly watcher: DockerEventsWatcher;
  readonly timeouts: DockerHostTimeouts;
  readonly shellTransport: DockerShellTransportMode;
  /** The agent build already in the container (the shared volume mounted at creation). */
  readonly installedAgent?: AgentBinary | undefined;
}

/** One Docker container as a Berth host. Created by `createHost` / `attachHost`; never constructed by users. */
export class DockerHost extends AgentBackedHost implements HostV1, AsyncDisposable {
  readonly id: string;
  /** The container's name (`berth-<pool>-<random>`), handy in `docker` commands. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly workspaceRoot: string;
  readonly #connection: DockerConnection;
  readonly #watcher: DockerEventsWatcher;
  readonly #timeouts: DockerHostTimeouts;
  readonly #agent: DockerAgentLink;
  protected readonly agentRuntime: AgentHostRuntime;
  readonly #channels = new Set<HostChannelV1>();
  readonly #unwatchers = new Set<() => void>();
  #state: 'open' | 'disconnected' | 'destroyed' = 'open';
  #destroying: Promise<void> | undefined;

  constructor(init: DockerHostInit) {
    super();
    this.id = init.id;
    this.name = init.name;
    this.labels = Object.freeze({ ...init.labels });
    this.workspaceRoot = init.workspaceRoot;
    this.#connection = init.connection;
    this.#watcher = init.watcher;
    this.#timeouts = init.timeouts;
    this.#agent = new DockerAgentLink({
      connection: init.connection,
      containerId: init.id,
      containerName: init.name,
      mode: init.shellTransport,
      installed: init.installedAgent,
      openTimeoutMs: init.timeouts.channelOpenTimeoutMs,
      heartbeatTimeoutMs: init.timeouts.agentHeartbeatTimeoutMs,
    });
    this.agentRuntime = new AgentHostRuntime({
      link: this.#agent,
      channelOpenTimeoutMs: init.timeouts.channelOpenTimeoutMs,
      noAgent: (operation) => this.#noAgent(operation),
      track: (channel) => {
        this.#channels.add(channel);
        void channel.closed.then(() => this.#channels.delete(channel));
      },
      assertOpen: (operation) => this.#assertOpen(operation),
    });
  }

  /** How this host's shells travel: `agent` (one exec for all of them) or `exec` (one each), and why. */
  get shellTransport(): DockerShellTransport {
    return this.#agent.transport;
  }

  async openChannel(options: WaitOptions = {}): Promise<HostChannelV1> {
    this.#assertOpen('openChannel');
    const channel =
      (await this.agentRuntime.openShell(options.signal)) ??
      (await openDockerChannel({
        connection: this.#connection,
        containerId: this.id,
        signal: options.signal,
        timeoutMs: this.#timeouts.channelOpenTimeoutMs,
      }));
    if (this.#state !== 'open') {
      channel.close();
      this.#assertOpen('openChannel');
    }
    this.#channels.add(channel);
    void channel.closed.then(() => this.#channels.delete(channel));
    return channel;
  }

  #noAgent(operation: string): CapabilityUnsupportedError {
    return new CapabilityUnsupportedError(
      'docker',
      operation,
      `Container ${this.name} runs its shells through one exec each (${this.shellTransport.reason ?? 'no agent'}).`,
    );
  }

  async run(argv: readonly string[], options: OneShotRunOptionsV1 = {}): Promise<OneShotResultV1> {
    this.#assertOpen('run');
    return runDockerExec(argv, {
      ...options,
      connection: this.#connection,
      containerId: this.id,
      startTimeoutMs: this.#timeouts.channelOpenTimeoutMs,
    });
  }

  async putArchive(
    directory: string,
    tar: Readable,
    options: WaitOptions & { user?: SlotUserV1 } = {},
  ): Promise<void> {
    this.#assertOpen('putArchive');
    // Through the agent: one stream, no daemon call, and as the slot's user when it has one.
    if (await this.agentRuntime.putArchive(directory, tar, options)) return;
    if (options.user) throw this.#noAgent('putArchive as a slot user');
    await this.#connection
      .call(
        `extract an archive into ${directory} in container ${this.name}`,
        { signal: options.signal, timeoutMs: this.#timeouts.archiveTimeoutMs, hostId: this.id },
        (docker, abortSignal) =>
          docker
            .getContainer(this.id)
            .putArchive(tar, { path: directory, ...(abortSignal ? { abortSignal } : {}) }),
      )
      .catch((error: unknown) => {
        throw this.#archiveError(error, directory);
      });
  }

  async getArchive(path: string, options: WaitOptions & { user?: SlotUserV1 } = {}): Promise<Readable> {
    this.#assertOpen('getArchive');
    const viaAgent = await this.agentRuntime.getArchive(path, options);
    if (viaAgent) return viaAgent;
    if (options.user) throw this.#noAgent('getArchive as a slot user');
    // No deadline on the transfer itself (it may be large); only on the response arriving.
    const started = this.#connection.call(
      `read an archive of ${path} from container ${this.name}`,
      { signal: options.signal, timeoutMs: false, hostId: this.id },
      (docker, abortSignal) =>
        docker
          .getContainer(this.id)
          .getArchive({ path, ...(abortSignal ? { abortSignal } : {}) }) as Promise<Readable>,
    );
    return raceDeadline(started, undefined, this.#timeouts.requestTimeoutMs, `Reading ${path}`).catch(
      (error: unknown) => {
        started.then(
          (late) => late.destroy(),
          () => undefined,
        );
        throw this.#archiveError(error, path);
      },
    );
  }

  async health(options: WaitOptions = {}): Promise<HostHealthV1> {
    throwIfAborted(options.signal, 'A health check');
    try {
      const info = await this.#connection.call(
        `inspect container ${this.name}`,
        { signal: options.signal },
        (docker, abortSignal) => docker.getContainer(this.id).inspect(abortSignal ? { abortSignal } : {}),
      );
      const { State: state } = info;
      if (state.Running && !state.Paused && !state.Restarting) return { alive: true };
      if (state.Paused) return { alive: false, reason: 'container is paused' };
      if (state.Restarting) return { alive: false, reason: 'container is restarting' };
      const oom = state.OOMKilled ? ', OOM-killed (raise memoryMiB)' : '';
      return { alive: false, reason: `container is ${state.Status} (exit code ${state.ExitCode}${oom})` };
    } catch (error) {
      if (BerthError.hasCode(error, 'NOT_FOUND')) return { alive: false, reason: 'container was removed' };
      throw error;
    }
  }

  onLost(listener: (reason: string) => void): () => void {
    if (this.#state !== 'open') return () => undefined;
    let fired = false;
    const unwatch = this.#watcher.watch(this.id, (reason) => {
      this.#unwatchers.delete(unwatch);
      if (fired) return;
      fired = true;
      listener(reason);
    });
    this.#unwatchers.add(unwatch);
    return () => {
      this.#unwatchers.delete(unwatch);
      unwatch();
    };
  }

  async disconnect(): Promise<void> {
    if (this.#state === 'open') this.#state = 'disconnected';
    this.#releaseClientSide();
  }

  async destroy(options: DestroyOptionsV1 = { force: true }): Promise<void> {
    if (this.#state !== 'destroyed') this.#state = 'disconnected';
    this.#releaseClientSide();
    this.#destroying ??= removeDockerContainer(this.#connection, this.id, {
      force: options.force,
      stopTimeoutSeconds: this.#timeouts.stopTimeoutSeconds,
      timeoutMs: this.#timeouts.destroyTimeoutMs,
      signal: options.signal,
    }).then(
      () => {
        this.#state = 'destroyed';
      },
      (error: unknown) => {
        this.#destroying = undefined; // let a later call retry
        throw error;
      },
    );
    return this.#destroying;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.disconnect();
  }

  #releaseClientSide(): void {
    for (const unwatch of this.#unwatchers) unwatch();
    this.#unwatchers.clear();
    for (const channel of this.#channels) channel.close();
    this.#channels.clear();
    this.#agent.close();
  }

  #assertOpen(method: string): void {
    if (this.#state === 'open') return;
    throw new InternalError(
      `Cannot call ${method}() on host ${this.name}: this handle was ${this.#state}. ` +
        (this.#state === 'destroyed' ? 'Create a new host.' : 'Attach again with backend.attachHost().'),
    );
  }

  #archiveError(error: unknown, path: string): unknown {
    if (BerthError.hasCode(error, 'NOT_FOUND')) {
      const said = dockerMessage(error.cause ?? error);
      if (/no such container/i.test(said))
        return new HostLostError(this.id, 'the container no longer exists', { cause: error });
      return new NotFoundError(`\`${path}\` does not exist in container ${this.name} (${said}).`, {
        cause: error,
      });
    }
    return asHostError(error, this.id);
  }
}
