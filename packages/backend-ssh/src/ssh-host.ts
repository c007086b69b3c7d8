import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BerthError,
  CapabilityUnsupportedError,
  type ChannelCloseInfoV1,
  type DestroyOptionsV1,
  type HostChannelV1,
  type HostHealthV1,
  type HostV1,
  InternalError,
  type SlotUserV1,
  shellQuote,
  type WaitOptions,
} from '@berth/core';
import { AgentBackedHost, AgentHostRuntime } from '@berth/host-agent';
import type { ClientChannel } from 'ssh2';
import { channelExit, channelStatus } from './ssh-connection.js';
import type { SshMachine } from './ssh-machine.js';

/** The file holding a host's labels, written once when it is created. */
export const LABELS_FILE = '.berth-host.json';

/** Core's lease tag for a host (`BERTH_LEASE=<tag>.<slot>.<lease>`, see core's ManagedHost). */
export function leaseTagOf(hostId: string): string {
  return createHash('sha256').update(hostId).digest('hex').slice(0, 12);
}

/**
 * Kills every process of a host's leases (by `BERTH_LEASE`) and removes its directory, with `sh`
 * and `/proc` only: what `removeHost` does where no agent runs.
 */
export function removeHostScript(hostId: string, directory: string): string {
  const marker = shellQuote(`BERTH_LEASE=${leaseTagOf(hostId)}.`);
  // One grep over every environ (not a fork per process): a machine runs hundreds of processes.
  return [
    `__m=${marker}`,
    'for __r in 1 2 3; do',
    '  __p=$(grep -l -a -F -- "$__m" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)',
    '  [ -z "$__p" ] && break',
    '  kill -9 $__p 2>/dev/null',
    'done',
    `rm -rf -- ${shellQuote(directory)}`,
  ].join('\n');
}

/** One Berth host: a workspace root on one machine, reached over that machine's shared connection. */
export class SshHost extends AgentBackedHost implements HostV1 {
  readonly labels: Readonly<Record<string, string>>;
  protected readonly agentRuntime: AgentHostRuntime;
  readonly #channels = new Set<HostChannelV1>();
  #state: 'open' | 'disconnected' | 'destroyed' = 'open';
  #destroying: Promise<void> | undefined;

  constructor(
    readonly id: string,
    labels: Readonly<Record<string, string>>,
    readonly workspaceRoot: string,
    readonly machine: SshMachine,
  ) {
    super();
    this.labels = Object.freeze({ ...labels });
    machine.hosts.add(id);
    this.agentRuntime = new AgentHostRuntime({
      link: machine.agent,
      channelOpenTimeoutMs: machine.timeouts.commandStartTimeoutMs,
      noAgent: (operation) => this.#noAgent(operation),
      track: (channel) => this.#track(channel),
      assertOpen: (operation) => this.#assertOpen(operation),
    });
  }

  /** `agent` (one exec channel per machine carries every slot) or `sh` (one channel per shell), and why. */
  get transport(): { kind: 'agent' | 'sh'; reason?: string } {
    const { usesAgent, reason } = this.machine.agent.state;
    return usesAgent ? { kind: 'agent' } : { kind: 'sh', ...(reason ? { reason } : {}) };
  }

  async openChannel(options: WaitOptions = {}): Promise<HostChannelV1> {
    this.#assertOpen('openChannel');
    const viaAgent = await this.agentRuntime.openShell(options.signal);
    if (viaAgent) return viaAgent;
    const channel = shellChannel(await this.machine.openShell(this.workspaceRoot, options.signal));
    if (this.#state !== 'open') {
      channel.close();
      this.#assertOpen('openChannel');
    }
    this.#track(channel);
    return channel;
  }

  async putArchive(
    directory: string,
    tar: Readable,
    options: WaitOptions & { user?: SlotUserV1 } = {},
  ): Promise<void> {
    this.#assertOpen('putArchive');
    this.assertCanRunAs(options.user);
    if (await this.agentRuntime.putArchive(directory, tar, options)) return;
    if (options.user) throw this.#noAgent('putArchive as a slot user');
    const connection = await this.machine.connection(options.signal);
    const channel = await connection.exec(`tar -xf - -C ${shellQuote(directory)}`, options.signal);
    const said: Buffer[] = [];
    channel.stderr.on('data', (chunk: Buffer) => said.push(chunk));
    const exit = channelStatus(channel).then((status) => status?.code ?? -1);
    channel.resume(); // tar prints nothing; the channel ends (and pipeline settles) once it exited
    await pipeline(tar, channel);
    const code = await exit;
    if (code !== 0) {
      throw new InternalError(
        `Extracting into ${directory} on ${this.machine.spec.name} failed: ${Buffer.concat(said).toString('utf8').trim() || `exit ${code}`}`,
      );
    }
  }

  async getArchive(path: string, options: WaitOptions & { user?: SlotUserV1 } = {}): Promise<Readable> {
    this.#assertOpen('getArchive');
    this.assertCanRunAs(options.user);
    const viaAgent = await this.agentRuntime.getArchive(path, options);
    if (viaAgent) return viaAgent;
    if (options.user) throw this.#noAgent('getArchive as a slot user');
    const slash = path.replace(/\/+$/, '').lastIndexOf('/');
    const parent = slash <= 0 ? '/' : path.slice(0, slash);
    const base = path.replace(/\/+$/, '').slice(slash + 1) || '.';
    const connection = await this.machine.connection(options.signal);
    const channel = await connection.exec(
      `test -e ${shellQuote(path)} || { echo "no such file: ${path.replace(/[^A-Za-z0-9._/-]/g, '?')}" >&2; exit 44; }; tar -cf - -C ${shellQuote(parent)} ${shellQuote(base)}`,
      options.signal,
    );
    const output = new PassThrough();
    channel.pipe(output);
    channel.end();
    return output;
  }

  async health(options: WaitOptions = {}): Promise<HostHealthV1> {
    if (this.machine.lostReason)
      return { alive: false, reason: `machine ${this.machine.spec.name} is ${this.machine.lostReason}` };
    try {
      const result = await this.machine.run(
        `test -f ${shellQuote(`${this.workspaceRoot}/${LABELS_FILE}`)}`,
        undefined,
        options.signal,
      );
      return result.exitCode === 0
        ? { alive: true }
        : { alive: false, reason: `its directory ${this.workspaceRoot} was removed` };
    } catch (error) {
      // Unreachable for now: lost only past machineLostAfterMs (onLost says so), not on one failed probe.
      if (BerthError.hasCode(error, 'BACKEND_UNAVAILABLE') && !this.machine.lostReason)
        return { alive: true };
      throw error;
    }
  }

  onLost(listener: (reason: string) => void): () => void {
    if (this.#state !== 'open') return () => undefined;
    return this.machine.onLost((reason) => listener(`machine ${this.machine.spec.name} ${reason}`));
  }

  async disconnect(): Promise<void> {
    if (this.#state === 'open') this.#state = 'disconnected';
    this.#releaseClientSide();
  }

  async destroy(options: DestroyOptionsV1 = { force: true }): Promise<void> {
    if (this.#state !== 'destroyed') this.#state = 'disconnected';
    this.#destroying ??= (async () => {
      for (const channel of this.#channels) channel.close();
      await removeHostOn(this.machine, this.id, this.workspaceRoot, options.signal);
      this.#state = 'destroyed';
      this.#releaseClientSide();
    })().catch((error: unknown) => {
      this.#destroying = undefined;
      this.#releaseClientSide();
      throw error;
    });
    return this.#destroying;
  }

  #releaseClientSide(): void {
    for (const channel of this.#channels) channel.close();
    this.#channels.clear();
    this.machine.hosts.delete(this.id);
  }

  #track(channel: HostChannelV1): void {
    this.#channels.add(channel);
    void channel.closed.then(() => this.#channels.delete(channel));
  }

  #noAgent(operation: string): CapabilityUnsupportedError {
    return new CapabilityUnsupportedError(
      'ssh',
      operation,
      `Machine ${this.machine.spec.name} runs slots over plain sh channels (${this.transport.reason ?? 'no agent'}).`,
    );
  }

  /**
   * A backstop to `userIsolationUnsupported` (a login user it could not foresee): only a root login
   * can act as a slot's user; never silently as the login user instead.
   */
  protected override assertCanRunAs(user: SlotUserV1 | undefined): void {
    const login = this.machine.spec.target.user;
    if (!user || login === 'root') return;
    throw new CapabilityUnsupportedError(
      'ssh',
      "isolation: 'user'",
      `Machine ${this.machine.spec.name} is logged in to as \`${login}\`, which cannot act as a slot's uid ${user.uid}; log in as root or use isolation 'directory'.`,
    );
  }

  #assertOpen(method: string): void {
    if (this.#state === 'open') return;
    throw new InternalError(
      `Cannot call ${method}() on SSH host ${this.id}: this handle was ${this.#state}. ` +
        (this.#state === 'destroyed' ? 'Create a new host.' : 'Attach again with backend.attachHost().'),
    );
  }
}

/**
 * Kills the host's lease processes and deletes its directory, in one control command (sh and
 * /proc): no agent needs to be started (or uploaded) just to remove a host.
 */
export async function removeHostOn(
  machine: SshMachine,
  hostId: string,
  directory: string,
  signal?: AbortSignal,
): Promise<void> {
  const result = await machine.run(removeHostScript(hostId, directory), undefined, signal);
  if (result.exitCode !== 0) {
    throw new InternalError(
      `Removing ${directory} on ${machine.spec.name} failed: ${result.stderr.trim() || `exit ${result.exitCode}`}`,
    );
  }
}

/** A plain `sh` exec channel as a host channel; a connection that drops is `transportDropped`. */
function shellChannel(channel: ClientChannel): HostChannelV1 {
  channel.on('error', () => undefined);
  // No exit status at all: the connection dropped under a shell that may be fine.
  // The shell's exit, not the channel's close: a child it left may hold the pipes (and the channel) open.
  const closed = channelExit(channel).then((status): ChannelCloseInfoV1 => {
    if (!status) return { transportDropped: true, error: new Error('the SSH channel closed') };
    if (status.code === null)
      return { error: new Error(`the shell was killed by ${status.signal ?? 'a signal'}`) };
    return { exitCode: status.code };
  });
  return {
    stdin: channel,
    stdout: channel,
    stderr: channel.stderr,
    closed,
    close: () => channel.close(),
  };
}
