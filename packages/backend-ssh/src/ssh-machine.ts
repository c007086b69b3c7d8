import { randomBytes } from 'node:crypto';
import { BackendUnavailableError, BerthError, CapabilityUnsupportedError, shellQuote } from '@berth/core';
import { AgentLink } from '@berth/host-agent';
import type { ClientChannel } from 'ssh2';
import { ChannelClosedError, channelTransport, collect, type RunResult } from './channel-io.js';
import type { ConnectionRegistry } from './connection-registry.js';
import type { ResolvedMachine } from './resolve-machines.js';
import { channelStatus, type SshConnection } from './ssh-connection.js';
import type { SshTimeouts, SshTransportMode } from './ssh-options.js';

export type { RunResult } from './channel-io.js';

/**
 * One machine of the inventory as this backend uses it: a counted primary connection, one
 * berth-agent on it (one exec channel) shared by every host placed there, control commands, extra
 * connections for plain-`sh` slots, and the loss watch (`machineLostAfterMs`).
 */
export class SshMachine {
  readonly agent: AgentLink;
  /** Hosts of this backend on the machine (placement counts them; the last one out closes the link). */
  readonly hosts = new Set<string>();
  readonly #lostListeners = new Set<(reason: string) => void>();
  #primary: Promise<SshConnection> | undefined;
  #unreachableSince: number | undefined;
  #watching: ReturnType<typeof setInterval> | undefined;
  #lost: string | undefined;
  #recovering: ReturnType<typeof setInterval> | undefined;
  readonly #lanes = new Map<number, { connection: Promise<SshConnection>; channels: number }>();

  constructor(
    readonly spec: ResolvedMachine,
    private readonly registry: ConnectionRegistry,
    readonly timeouts: SshTimeouts,
    mode: SshTransportMode,
  ) {
    this.agent = new AgentLink({
      access: {
        description: `machine ${spec.name}`,
        backendId: 'ssh',
        platform: async () => {
          const result = await this.run('uname -sm');
          const [os = '', arch = ''] = result.stdout.trim().split(/\s+/);
          if (result.exitCode !== 0) {
            throw new CapabilityUnsupportedError(
              'ssh',
              'host agent',
              `\`uname -sm\` failed on ${spec.name}: ${result.stderr.trim()}`,
            );
          }
          return { os, arch };
        },
        fileSize: async (path) => {
          const result = await this.run(`wc -c < ${shellQuote(path)} 2>/dev/null`);
          const size = Number(result.stdout.trim());
          return result.exitCode === 0 && result.stdout.trim() !== '' && Number.isInteger(size)
            ? size
            : undefined;
        },
        putExecutable: async (binary) => {
          const temporary = `${binary.installPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
          const script = `mkdir -p ${shellQuote(binary.installDirectory)} && cat > ${shellQuote(temporary)} && chmod 755 ${shellQuote(temporary)} && mv -f ${shellQuote(temporary)} ${shellQuote(binary.installPath)}`;
          const result = await this.run(script, binary.bytes());
          if (result.exitCode !== 0) {
            throw new CapabilityUnsupportedError(
              'ssh',
              'host agent',
              `The agent could not be installed at ${binary.installPath} on ${spec.name}: ${result.stderr.trim() || `exit ${result.exitCode}`}.`,
            );
          }
        },
        start: async (argv) => {
          const connection = await this.connection();
          // `exec`: the agent replaces the login shell, so the channel's stdio is the agent's.
          const channel = await connection.exec(`exec ${argv.map((each) => shellQuote(each)).join(' ')}`);
          return channelTransport(channel);
        },
      },
      mode: mode === 'sh' ? 'off' : mode,
      offReason: "transport is 'sh'",
      openTimeoutMs: timeouts.commandStartTimeoutMs,
      heartbeatTimeoutMs: timeouts.agentHeartbeatTimeoutMs,
      installParent: `${spec.root}/.berth-agent`,
    });
  }

  get lostReason(): string | undefined {
    return this.#lost;
  }

  /** The primary connection (agent, control commands), reconnected after a drop. */
  async connection(signal?: AbortSignal): Promise<SshConnection> {
    if (this.#lost) {
      throw new BackendUnavailableError(`Machine ${this.spec.name} is lost: ${this.#lost}.`, [
        this.spec.target.description,
      ]);
    }
    return this.#open(signal);
  }

  async #open(signal?: AbortSignal): Promise<SshConnection> {
    for (;;) {
      const current = this.#primary;
      if (current) {
        const connection = await current.catch(() => undefined);
        if (connection && !connection.isClosed) return connection;
        if (this.#primary === current) this.#primary = undefined;
        if (!connection) return current; // rethrows the failure to this caller
        continue;
      }
      const opening = this.registry.acquire(this.spec.target, signal);
      this.#primary = opening;
      opening.then(
        (connection) => {
          this.#unreachableSince = undefined;
          void connection.closed.then(() => {
            this.registry.release(connection);
            if (this.#primary === opening) this.#primary = undefined;
            if (this.hosts.size > 0) this.#watch();
          });
        },
        () => {
          if (this.#primary === opening) this.#primary = undefined;
        },
      );
      return opening;
    }
  }

  /** Runs a fixed script (through the login shell) on the primary connection; stdin optional. */
  async run(script: string, stdin?: Uint8Array, signal?: AbortSignal): Promise<RunResult> {
    // Every control script is idempotent: one whose channel closed without an exit status (the
    // connection dropped under it) runs once more, on a fresh connection if need be.
    for (let attempt = 1; ; attempt++) {
      const connection = await this.connection(signal);
      const channel = await connection.exec(script, signal);
      try {
        return await collect(channel, stdin, this.timeouts.requestTimeoutMs, this.spec.name);
      } catch (error) {
        if (attempt >= 2 || !(error instanceof ChannelClosedError)) throw error;
      }
    }
  }

  /** A plain `sh` on a connection with a free session (MaxSessions), spread over extra connections. */
  async openShell(directory: string, signal?: AbortSignal): Promise<ClientChannel> {
    const perLane = this.timeouts.maxSessionsPerConnection - 1; // one kept for control commands
    let lane = 1;
    while ((this.#lanes.get(lane)?.channels ?? 0) >= perLane) lane++;
    let entry = this.#lanes.get(lane);
    if (!entry) {
      entry = { connection: this.registry.acquire(this.spec.target, signal, lane), channels: 0 };
      this.#lanes.set(lane, entry);
    }
    entry.channels++;
    const taken = entry;
    const done = () => {
      taken.channels--;
      if (taken.channels === 0 && this.#lanes.get(lane) === taken) {
        this.#lanes.delete(lane);
        void taken.connection.then(
          (connection) => this.registry.release(connection),
          () => undefined,
        );
      }
    };
    try {
      const connection = await taken.connection;
      if (connection.isClosed)
        throw new BackendUnavailableError(`The SSH connection to ${this.spec.name} dropped.`, [
          this.spec.target.description,
        ]);
      const channel = await connection.exec(`cd ${shellQuote(directory)} && exec sh`, signal);
      void channelStatus(channel).then(done);
      return channel;
    } catch (error) {
      done();
      if (this.#lanes.get(lane) === taken && BerthError.hasCode(error, 'BACKEND_UNAVAILABLE'))
        this.#lanes.delete(lane);
      throw error;
    }
  }

  onLost(listener: (reason: string) => void): () => void {
    this.#lostListeners.add(listener);
    return () => this.#lostListeners.delete(listener);
  }

  /** After a drop: reconnect in the background; past `machineLostAfterMs` unreachable, the machine is lost. */
  #watch(): void {
    if (this.#watching || this.#lost) return;
    this.#unreachableSince ??= Date.now();
    const periodMs = Math.max(250, Math.min(2_000, this.timeouts.machineLostAfterMs / 4));
    let probing = false;
    this.#watching = setInterval(() => {
      if (probing) return;
      if (this.hosts.size === 0) return this.#stopWatching();
      if (Date.now() - (this.#unreachableSince ?? Date.now()) >= this.timeouts.machineLostAfterMs) {
        this.#stopWatching();
        this.#lost = `unreachable for more than ${this.timeouts.machineLostAfterMs} ms (machineLostAfterMs)`;
        for (const listener of [...this.#lostListeners]) listener(this.#lost);
        this.#recover();
        return;
      }
      probing = true;
      this.connection(AbortSignal.timeout(periodMs * 4))
        .then(
          () => this.#stopWatching(),
          () => undefined,
        )
        .finally(() => {
          probing = false;
        });
    }, periodMs);
    this.#watching.unref();
  }

  /**
   * A lost machine is tried again every `machineLostAfterMs` (at least 1 s), in the background:
   * once it answers, placement uses it again (the hosts it lost stay lost).
   */
  #recover(): void {
    let probing = false;
    this.#recovering = setInterval(
      () => {
        if (probing) return;
        probing = true;
        this.#open(AbortSignal.timeout(this.timeouts.connectTimeoutMs + this.timeouts.readyTimeoutMs))
          .then(
            () => {
              this.#lost = undefined;
              if (this.#recovering) clearInterval(this.#recovering);
              this.#recovering = undefined;
            },
            () => undefined,
          )
          .finally(() => {
            probing = false;
          });
      },
      Math.max(1_000, this.timeouts.machineLostAfterMs),
    );
    this.#recovering.unref();
  }

  #stopWatching(): void {
    if (this.#watching) clearInterval(this.#watching);
    this.#watching = undefined;
  }

  /** The machine may be used again (a later backend call after `lost`). */
  close(): void {
    this.#stopWatching();
    if (this.#recovering) clearInterval(this.#recovering);
    this.#recovering = undefined;
    this.agent.close();
    void this.#primary?.then(
      (connection) => this.registry.release(connection),
      () => undefined,
    );
    this.#primary = undefined;
  }
}
