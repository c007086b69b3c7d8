import type { Duplex } from 'node:stream';
import { BackendUnavailableError, InternalError, raceAbort, throwIfAborted } from '@berth/core';
import ssh2, { type AnyAuthMethod, type ClientChannel, type ParsedKey } from 'ssh2';

// ssh2 is CommonJS: its classes come from the default export under Node's ESM loader.
const { Client, OpenSSHAgent } = ssh2;
type Client = InstanceType<typeof Client>;

import { type HostKeyCheck, verifyHostKey } from './host-key-verifier.js';
import { isDroppedHandshake, mapConnectError } from './map-ssh-error.js';
import type { SshTarget } from './resolve-machines.js';
import type { SshTimeouts } from './ssh-options.js';
import { forwardThrough, Gate, tcpConnect } from './ssh-sockets.js';

/** An ssh-agent that offers only the configured keys (OpenSSH's IdentitiesOnly). */
class IdentitiesOnlyAgent extends OpenSSHAgent {
  constructor(
    socketPath: string,
    private readonly allowed: readonly Buffer[],
  ) {
    super(socketPath);
  }

  override getIdentities(callback: (error: Error | undefined, keys?: ParsedKey[]) => void): void {
    super.getIdentities((error, keys) =>
      callback(
        error ?? undefined,
        (keys as ParsedKey[] | undefined)?.filter((key) =>
          this.allowed.some((allowed) => allowed.equals(key.getPublicSSH())),
        ),
      ),
    );
  }
}

export interface ConnectDeps {
  readonly timeouts: SshTimeouts;
  readonly hostKeys: HostKeyCheck;
  /** A connection through the last jump host (the registry shares and counts it). */
  readonly viaJump: (target: SshTarget, signal?: AbortSignal) => Promise<SshConnection>;
  readonly releaseJump: (connection: SshConnection) => void;
  readonly handshakeGate: (target: SshTarget) => Gate;
}

/** How an exec channel ended: its exit status or signal, `undefined` when it closed without one. */
export interface ChannelStatus {
  readonly code: number | null;
  readonly signal?: string;
}

const statuses = new WeakMap<ClientChannel, Promise<ChannelStatus | undefined>>();
const exits = new WeakMap<ClientChannel, Promise<ChannelStatus | undefined>>();

function watchStatus(channel: ClientChannel): void {
  let status: ChannelStatus | undefined;
  let exited: (status: ChannelStatus | undefined) => void = () => undefined;
  exits.set(channel, new Promise((resolve) => (exited = resolve)));
  channel.once('exit', (code: number | null, signal?: string) => {
    status = { code, ...(signal ? { signal } : {}) };
    exited(status);
  });
  statuses.set(
    channel,
    new Promise((resolve) =>
      channel.once('close', () => {
        exited(status);
        resolve(status);
      }),
    ),
  );
}

/**
 * Resolves as soon as the remote process exited (its status arrived), or the channel closed
 * without one: sshd keeps a channel open while a background child still holds its pipes.
 */
export function channelExit(channel: ClientChannel): Promise<ChannelStatus | undefined> {
  return exits.get(channel) ?? channelStatus(channel);
}

/** Resolves when `channel` (from `SshConnection.exec`) closed, with its exit status if it had one. */
export function channelStatus(channel: ClientChannel): Promise<ChannelStatus | undefined> {
  return statuses.get(channel) ?? Promise.resolve(undefined);
}

/** One authenticated ssh2 connection; its channels are bounded by sshd's MaxSessions. */
export class SshConnection {
  readonly closed: Promise<void>;
  #closedError: Error | undefined;
  #isClosed = false;
  readonly #sessions: Gate;

  private constructor(
    readonly client: Client,
    readonly target: SshTarget,
    readonly timeouts: SshTimeouts,
  ) {
    this.#sessions = new Gate(timeouts.maxSessionsPerConnection);
    this.closed = new Promise((resolve) => {
      client.on('error', (error) => {
        this.#closedError ??= error;
      });
      client.once('close', () => {
        this.#isClosed = true;
        resolve();
      });
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Why it closed, when it did not close cleanly (a keepalive timeout, a reset). */
  get closedError(): Error | undefined {
    return this.#closedError;
  }

  /** Opens an exec channel running `command` (through the login shell), within MaxSessions. */
  async exec(command: string, signal?: AbortSignal): Promise<ClientChannel> {
    throwIfAborted(signal, 'Opening an SSH channel');
    const release = await this.#sessions.take(signal);
    try {
      this.#assertOpen();
      const opening = new Promise<ClientChannel>((resolve, reject) => {
        this.client.exec(command, (error, channel) => {
          if (error) return reject(error);
          // Now, not after the promise hops: a fast command's exit and close can arrive in the same
          // read as the exec reply, and those events would be gone (its output is buffered).
          watchStatus(channel);
          resolve(channel);
        });
      });
      const timeout = AbortSignal.timeout(this.timeouts.commandStartTimeoutMs);
      const either = signal ? AbortSignal.any([signal, timeout]) : timeout;
      const channel = await raceAbort(opening, either, 'Opening an SSH channel').catch((error: unknown) => {
        void opening.then(
          (late) => late.close(),
          () => undefined,
        );
        if (timeout.aborted && !signal?.aborted) {
          throw new BackendUnavailableError(
            `${this.target.description} did not open a channel within ${this.timeouts.commandStartTimeoutMs} ms (commandStartTimeoutMs).`,
            [this.target.description],
            { cause: error, retryable: true },
          );
        }
        if (this.#isClosed || /not connected|No response/i.test(String(error))) {
          throw new BackendUnavailableError(
            `The SSH connection to ${this.target.description} dropped (${this.#closedError?.message ?? String(error)}).`,
            [this.target.description],
            { cause: error, retryable: true },
          );
        }
        throw error;
      });
      void channelStatus(channel).then(release);
      return channel;
    } catch (error) {
      release();
      throw error;
    }
  }

  close(): void {
    this.client.end();
  }

  #assertOpen(): void {
    if (this.#isClosed) {
      throw new BackendUnavailableError(
        `The SSH connection to ${this.target.description} is closed (${this.#closedError?.message ?? 'closed'}).`,
        [this.target.description],
        { retryable: true },
      );
    }
  }

  /**
   * Connects and authenticates, verifying the host key first; at most `maxHandshakesPerMachine`
   * handshakes per machine in flight, and a handshake sshd dropped (MaxStartups) retried with jitter.
   */
  static async open(target: SshTarget, deps: ConnectDeps, signal?: AbortSignal): Promise<SshConnection> {
    const { timeouts } = deps;
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(signal, `Connecting to ${target.description}`);
      const release = await deps.handshakeGate(target).take(signal);
      try {
        return await SshConnection.#attempt(target, deps, signal);
      } catch (error) {
        if (attempt >= timeouts.handshakeAttempts || !isDroppedHandshake(error)) {
          throw mapConnectError(error, target, [target.description]);
        }
      } finally {
        release();
      }
      const backoffMs = 100 * 2 ** (attempt - 1) * (0.5 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
    }
  }

  static async #attempt(target: SshTarget, deps: ConnectDeps, signal?: AbortSignal): Promise<SshConnection> {
    const { timeouts } = deps;
    let jump: SshConnection | undefined;
    let sock: Duplex;
    if (target.jump.length > 0) {
      jump = await deps.viaJump(target, signal);
      try {
        sock = await forwardThrough(jump, target, timeouts.connectTimeoutMs);
      } catch (error) {
        deps.releaseJump(jump);
        throw error;
      }
    } else {
      sock = await tcpConnect(target, timeouts.connectTimeoutMs, signal);
    }
    const client = new Client();
    const connection = new SshConnection(client, target, timeouts);
    if (jump) {
      const hop = jump;
      void connection.closed.then(() => deps.releaseJump(hop));
    }
    let hostKeyError: Error | undefined;
    const auth: AnyAuthMethod[] = [];
    const username = target.user;
    if (target.privateKey) {
      auth.push({
        type: 'publickey',
        username,
        key: target.privateKey,
        ...(target.passphrase ? { passphrase: target.passphrase } : {}),
      });
    }
    if (target.agent) {
      const agent = target.agentOnly
        ? new IdentitiesOnlyAgent(target.agent, target.agentOnly)
        : new OpenSSHAgent(target.agent);
      auth.push({ type: 'agent', username, agent });
    }
    if (target.password !== undefined) auth.push({ type: 'password', username, password: target.password });
    if (auth.length === 0) auth.push({ type: 'none', username });
    const ready = new Promise<void>((resolve, reject) => {
      client.once('ready', resolve);
      client.once('error', reject);
      client.once('close', () => reject(hostKeyError ?? new Error('Connection lost before handshake')));
    });
    const onAbort = () => client.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
    client.connect({
      sock,
      username,
      authHandler: auth,
      readyTimeout: timeouts.readyTimeoutMs,
      keepaliveInterval: timeouts.keepaliveIntervalMs,
      keepaliveCountMax: timeouts.keepaliveCountMax,
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
        verifyHostKey(target, key, deps.hostKeys).then(
          (error) => {
            hostKeyError = error;
            verify(error === undefined);
          },
          (error: unknown) => {
            hostKeyError = new InternalError(
              `Could not check the host key of ${target.description}: ${String(error)}`,
            );
            verify(false);
          },
        );
      },
    });
    try {
      await ready;
      return connection;
    } catch (error) {
      client.destroy();
      sock.destroy();
      throw hostKeyError ?? error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
