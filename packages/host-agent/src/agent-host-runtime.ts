import type { Readable } from 'node:stream';
import type {
  CapabilityUnsupportedError,
  CommandChannelV1,
  CommandRequestV1,
  HostChannelV1,
  SlotCleanRequestV1,
  SlotCleanResultV1,
  SlotUserV1,
  WaitOptions,
} from '@berth/core';
import type { AgentLink } from './agent-link.js';
import { AgentStartError } from './agent-transport.js';
import type { HostAgentSession } from './host-agent-session.js';

export interface AgentHostRuntimeOptions {
  /** The host's `AgentLink` (or anything with its `session()`). */
  readonly link: Pick<AgentLink, 'session'>;
  /** Bound on opening one shell or command stream. */
  readonly channelOpenTimeoutMs: number;
  /** The error for `operation` on a host without the agent (core then uses its fallback). */
  noAgent(operation: string): CapabilityUnsupportedError;
  /** Every channel opened through the agent, so the host can close them on disconnect. */
  track(channel: HostChannelV1): void;
  /** Throws when the host was disconnected or destroyed meanwhile. */
  assertOpen(operation: string): void;
}

/**
 * The `HostV1` methods a host gets from berth-agent (the in-host runtime): a backend's host class
 * delegates `openCommand`, `writeFile`, `readFile`, `cleanSlot` and the agent halves of
 * `openChannel`, `putArchive` and `getArchive` here, and keeps only what is its engine's own.
 */
export class AgentHostRuntime {
  constructor(private readonly options: AgentHostRuntimeOptions) {}

  /** Throws when the host was disconnected or destroyed (`AgentHostRuntimeOptions.assertOpen`). */
  assertOpen(operation: string): void {
    this.options.assertOpen(operation);
  }

  /** The `CapabilityUnsupportedError` for `operation` on a host without the agent. */
  noAgentFor(operation: string): CapabilityUnsupportedError {
    return this.options.noAgent(operation);
  }

  /** A shell through the agent, or `undefined`: the host's own transport carries it. */
  async openShell(signal: AbortSignal | undefined): Promise<HostChannelV1 | undefined> {
    const timeoutMs = this.options.channelOpenTimeoutMs;
    const channel = await this.#withAgent('openChannel', signal, (agent) =>
      agent.openShell({ signal, timeoutMs }),
    );
    if (channel) this.options.track(channel);
    return channel;
  }

  async openCommand(request: CommandRequestV1, options: WaitOptions = {}): Promise<CommandChannelV1> {
    const { signal } = options;
    const timeoutMs = this.options.channelOpenTimeoutMs;
    const channel = await this.#withAgent('openCommand', signal, (agent) =>
      agent.openCommand(request, { signal, timeoutMs }),
    );
    if (!channel) throw this.options.noAgent('openCommand');
    this.options.track(channel);
    return channel;
  }

  async writeFile(
    path: string,
    data: Uint8Array,
    options: WaitOptions & { mode: number; user?: SlotUserV1 },
  ) {
    const done = await this.#withAgent('writeFile', options.signal, async (agent) => {
      await agent.files.writeFile(path, data, options);
      return true;
    });
    if (!done) throw this.options.noAgent('writeFile');
  }

  async readFile(path: string, options: WaitOptions & { user?: SlotUserV1 } = {}): Promise<Uint8Array> {
    const bytes = await this.#withAgent('readFile', options.signal, (agent) =>
      agent.files.readFile(path, options),
    );
    if (!bytes) throw this.options.noAgent('readFile');
    return bytes;
  }

  async cleanSlot(request: SlotCleanRequestV1, options: WaitOptions = {}): Promise<SlotCleanResultV1> {
    const result = await this.#withAgent('cleanSlot', options.signal, (agent) =>
      agent.files.cleanSlot(request, options),
    );
    if (!result) throw this.options.noAgent('cleanSlot');
    return result;
  }

  /**
   * Extracts `tar` through the agent; false when the host has none. Not retried on a fresh
   * connection like the others: `tar` may be half consumed.
   */
  async putArchive(
    directory: string,
    tar: Readable,
    options: WaitOptions & { user?: SlotUserV1 } = {},
  ): Promise<boolean> {
    this.options.assertOpen('putArchive');
    const agent = await this.options.link.session(options.signal);
    if (!agent) return false;
    await agent.files.putArchive(directory, tar, options);
    return true;
  }

  /** A tar of `path` through the agent, or `undefined` when the host has none. */
  getArchive(path: string, options: WaitOptions & { user?: SlotUserV1 } = {}): Promise<Readable | undefined> {
    return this.#withAgent('getArchive', options.signal, (agent) => agent.files.getArchive(path, options));
  }

  /** `use` on the agent session, once more on a fresh connection if the last one just dropped. */
  async #withAgent<T>(
    operation: string,
    signal: AbortSignal | undefined,
    use: (agent: HostAgentSession) => Promise<T>,
  ): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      this.options.assertOpen(operation);
      const agent = await this.options.link.session(signal);
      if (!agent) return undefined;
      try {
        return await use(agent);
      } catch (error) {
        if (!(error instanceof AgentStartError || agent.isClosed) || attempt > 0) throw error;
      }
    }
  }
}
