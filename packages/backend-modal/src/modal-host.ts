import type { Readable } from 'node:stream';
import {
  BerthError,
  CapabilityUnsupportedError,
  CapacityError,
  type DestroyOptionsV1,
  type HostChannelV1,
  type HostHealthV1,
  type HostV1,
  InternalError,
  type OneShotResultV1,
  type OneShotRunOptionsV1,
  raceAbort,
  type SlotUserV1,
  throwIfAborted,
  type WaitOptions,
} from '@berth/core';
import { AgentBackedHost, AgentHostRuntime, AgentLink, type AgentLinkMode } from '@berth/host-agent';
import type { Sandbox } from 'modal';
import { mapModalError } from './map-modal-error.js';
import { modalAgentAccess } from './modal-agent-access.js';
import { openModalShellChannel } from './modal-shell-channel.js';
import { mapSandboxError, sandboxEnd, sandboxEndReason } from './sandbox-end.js';
import { runExec } from './sandbox-exec.js';

/**
 * How slot shells reach a sandbox: `auto` (default) berth-agent over one exec for all slots, else
 * one `sh` exec per shell; `agent`: the agent or an error; `exec`: one `sh` exec per shell.
 */
export type ModalShellTransportMode = 'auto' | 'agent' | 'exec';

export interface ModalHostTimeouts {
  readonly channelOpenTimeoutMs: number;
  readonly agentHeartbeatTimeoutMs: number;
}

export interface ModalHostInit {
  readonly sandbox: Sandbox;
  readonly labels: Readonly<Record<string, string>>;
  readonly workspaceRoot: string;
  readonly timeouts: ModalHostTimeouts;
  readonly shellTransport: ModalShellTransportMode;
  /** `uname -sm` already run by the create's readiness probe. */
  readonly platform?: { os: string; arch: string } | undefined;
}

/** One Modal sandbox as a Berth host. Created by the backend; never constructed by users. */
export class ModalHost extends AgentBackedHost implements HostV1, AsyncDisposable {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly workspaceRoot: string;
  readonly #sb: Sandbox;
  readonly #link: AgentLink;
  protected readonly agentRuntime: AgentHostRuntime;
  readonly #timeouts: ModalHostTimeouts;
  readonly #channels = new Set<HostChannelV1>();
  #platform: Promise<{ os: string; arch: string }> | undefined;
  #state: 'open' | 'disconnected' | 'destroyed' = 'open';
  #destroying: Promise<void> | undefined;

  constructor(init: ModalHostInit) {
    super();
    this.#sb = init.sandbox;
    this.id = init.sandbox.sandboxId;
    this.labels = Object.freeze({ ...init.labels });
    this.workspaceRoot = init.workspaceRoot;
    this.#timeouts = init.timeouts;
    if (init.platform) this.#platform = Promise.resolve(init.platform);
    const mode: AgentLinkMode = init.shellTransport === 'exec' ? 'off' : init.shellTransport;
    this.#link = new AgentLink({
      access: modalAgentAccess(this.#sb, () => this.platform()),
      mode,
      offReason: 'shellTransport is `exec`',
      openTimeoutMs: init.timeouts.channelOpenTimeoutMs,
      heartbeatTimeoutMs: init.timeouts.agentHeartbeatTimeoutMs,
    });
    this.agentRuntime = new AgentHostRuntime({
      link: this.#link,
      channelOpenTimeoutMs: init.timeouts.channelOpenTimeoutMs,
      noAgent: (operation) => this.#noAgent(operation),
      track: (channel) => this.#track(channel),
      assertOpen: (operation) => this.#assertOpen(operation),
    });
  }

  /** The sandbox's OS and CPU (`uname -sm`), asked once. */
  platform(): Promise<{ os: string; arch: string }> {
    this.#platform ??= probePlatform(this.#sb).catch((error: unknown) => {
      this.#platform = undefined;
      throw error;
    });
    return this.#platform;
  }

  /** What this host's shells travel over: the agent, or one exec each and why. */
  get shellTransport(): { kind: 'agent' | 'exec'; reason?: string } {
    const { usesAgent, reason } = this.#link.state;
    return usesAgent ? { kind: 'agent' } : { kind: 'exec', ...(reason ? { reason } : {}) };
  }

  async openChannel(options: WaitOptions = {}): Promise<HostChannelV1> {
    this.#assertOpen('openChannel');
    const channel =
      (await this.agentRuntime.openShell(options.signal)) ??
      (await raceAbort(openModalShellChannel(this.#sb), options.signal, 'Opening a shell'));
    if (this.#state !== 'open') {
      channel.close();
      this.#assertOpen('openChannel');
    }
    this.#track(channel);
    return channel;
  }

  async putArchive(directory: string, tar: Readable, options: WaitOptions & { user?: SlotUserV1 } = {}) {
    this.#assertOpen('putArchive');
    if (!(await this.agentRuntime.putArchive(directory, tar, options))) throw this.#noAgent('putArchive');
  }

  async getArchive(path: string, options: WaitOptions & { user?: SlotUserV1 } = {}): Promise<Readable> {
    this.#assertOpen('getArchive');
    const tar = await this.agentRuntime.getArchive(path, options);
    if (!tar) throw this.#noAgent('getArchive');
    return tar;
  }

  /** One exec of `argv` (no shell), for hosts without `sh`. */
  async run(argv: readonly string[], options: OneShotRunOptionsV1 = {}): Promise<OneShotResultV1> {
    this.#assertOpen('run');
    const env = options.env ? ['env', ...Object.entries(options.env).map(([k, v]) => `${k}=${v}`)] : [];
    const cwd = options.cwd ? ['sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', options.cwd] : [];
    const result = await raceAbort(
      runExec(this.#sb, [...cwd, ...env, ...argv], {
        ...(options.stdin ? { stdin: options.stdin } : {}),
        operation: `run a command in sandbox ${this.id}`,
      }),
      options.signal,
      'A one-shot command',
    );
    const cap = options.maxOutputBytes ?? Number.POSITIVE_INFINITY;
    const truncated = result.stdout.length > cap || result.stderr.length > cap;
    return {
      exitCode: result.exitCode,
      stdout: truncated ? result.stdout.subarray(0, cap) : result.stdout,
      stderr: truncated ? result.stderr.subarray(0, cap) : result.stderr,
      truncated,
    };
  }

  async health(options: WaitOptions = {}): Promise<HostHealthV1> {
    throwIfAborted(options.signal, 'A health check');
    try {
      // The full result (status and exception), not poll()'s exit code: an idle timeout would read "exited 0".
      const end = await raceAbort(sandboxEnd(this.#sb), options.signal, 'A health check');
      return end === undefined ? { alive: true } : { alive: false, reason: sandboxEndReason(end) };
    } catch (error) {
      const mapped = mapModalError(error, { operation: `check sandbox ${this.id}`, sandboxId: this.id });
      if (BerthError.hasCode(mapped, 'HOST_LOST') || BerthError.hasCode(mapped, 'NOT_FOUND')) {
        return { alive: false, reason: mapped.message };
      }
      throw mapped;
    }
  }

  async disconnect(): Promise<void> {
    if (this.#state === 'open') this.#state = 'disconnected';
    this.#releaseClientSide();
  }

  /** Terminates the sandbox (Modal stops billing it). Idempotent. */
  destroy(options: DestroyOptionsV1 = { force: true }): Promise<void> {
    if (this.#state !== 'destroyed') this.#state = 'disconnected';
    this.#releaseClientSide();
    this.#destroying ??= raceAbort(this.#sb.terminate(), options.signal, 'Terminating a sandbox').then(
      () => {
        this.#state = 'destroyed';
      },
      async (error: unknown) => {
        this.#destroying = undefined;
        const mapped = await mapSandboxError(this.#sb, error, `terminate sandbox ${this.id}`);
        if (BerthError.hasCode(mapped, 'HOST_LOST') || BerthError.hasCode(mapped, 'NOT_FOUND')) return; // gone already
        throw mapped;
      },
    );
    return this.#destroying;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.disconnect();
  }

  #track(channel: HostChannelV1): void {
    this.#channels.add(channel);
    void channel.closed.then(() => this.#channels.delete(channel));
  }

  #releaseClientSide(): void {
    for (const channel of this.#channels) channel.close();
    this.#channels.clear();
    this.#link.close();
  }

  #noAgent(operation: string): CapabilityUnsupportedError {
    return new CapabilityUnsupportedError(
      'modal',
      operation,
      `Sandbox ${this.id} runs its shells through one exec each (${this.shellTransport.reason ?? 'no agent'}).`,
    );
  }

  #assertOpen(method: string): void {
    if (this.#state === 'open') return;
    throw new InternalError(
      `Cannot call ${method}() on sandbox ${this.id}: this handle was ${this.#state}. ` +
        (this.#state === 'destroyed' ? 'Create a new host.' : 'Attach again with backend.attachHost().'),
    );
  }
}

/**
 * `uname -sm` in the sandbox: its OS and CPU, and proof that it runs commands. With `timeoutMs`
 * (a create's readiness probe) a sandbox Modal never schedules fails as CAPACITY in bounded time
 * instead of holding its start slot until Modal gives up (~300 s); `signal` ends the wait too.
 */
export async function probePlatform(
  sb: Sandbox,
  options: { signal?: AbortSignal | undefined; timeoutMs?: number } = {},
): Promise<{ os: string; arch: string }> {
  const work = runExec(sb, ['uname', '-sm'], { operation: `probe sandbox ${sb.sandboxId}` });
  let result: Awaited<typeof work>;
  if (options.timeoutMs === undefined) {
    result = await raceAbort(work, options.signal, `Waiting for sandbox ${sb.sandboxId} to run commands`);
  } else {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const bound = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    try {
      result = await raceAbort(work, bound, `Waiting for sandbox ${sb.sandboxId} to run commands`);
    } catch (error) {
      if (!timeout.aborted || options.signal?.aborted) throw error;
      throw new CapacityError(
        `Sandbox ${sb.sandboxId} did not run a command within channelOpenTimeoutMs (${options.timeoutMs} ms): Modal has not scheduled it. It was terminated; Berth retries. Raise channelOpenTimeoutMs if your images start slowly.`,
        1_000,
        { cause: error },
      );
    }
  }
  const [os = '', arch = ''] = result.stdout.toString('utf8').trim().split(/\s+/);
  if (result.exitCode !== 0 || !os) {
    throw new InternalError(
      `Sandbox ${sb.sandboxId} could not run \`uname -sm\` (exit ${result.exitCode}): ${result.stderr.toString('utf8').slice(0, 400)}`,
    );
  }
  return { os, arch };
}
