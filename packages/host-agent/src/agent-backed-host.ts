import type {
  CommandChannelV1,
  CommandRequestV1,
  SlotCleanRequestV1,
  SlotCleanResultV1,
  SlotUserV1,
  WaitOptions,
} from '@berth/core';
import type { AgentHostRuntime } from './agent-host-runtime.js';

/**
 * The `HostV1` methods that exist only through berth-agent (`openCommand`, `writeFile`,
 * `readFile`, `cleanSlot`), written once for every backend: a host class extends this, sets
 * `agentRuntime` in its constructor, and keeps only what is its engine's own.
 */
export abstract class AgentBackedHost {
  protected abstract readonly agentRuntime: AgentHostRuntime;

  /** Throws where this host cannot act as `user` (an SSH login without root, say); no-op by default. */
  protected assertCanRunAs(_user: SlotUserV1 | undefined): void {}

  /** One command through berth-agent: its own session and pipes (core's process model). */
  async openCommand(request: CommandRequestV1, options: WaitOptions = {}): Promise<CommandChannelV1> {
    this.agentRuntime.assertOpen('openCommand');
    this.assertCanRunAs(request.user);
    return this.agentRuntime.openCommand(request, options);
  }

  async writeFile(
    path: string,
    data: Uint8Array,
    options: WaitOptions & { mode: number; user?: SlotUserV1 },
  ): Promise<void> {
    this.agentRuntime.assertOpen('writeFile');
    this.assertCanRunAs(options.user);
    return this.agentRuntime.writeFile(path, data, options);
  }

  async readFile(path: string, options: WaitOptions & { user?: SlotUserV1 } = {}): Promise<Uint8Array> {
    this.agentRuntime.assertOpen('readFile');
    this.assertCanRunAs(options.user);
    return this.agentRuntime.readFile(path, options);
  }

  async cleanSlot(request: SlotCleanRequestV1, options: WaitOptions = {}): Promise<SlotCleanResultV1> {
    this.agentRuntime.assertOpen('cleanSlot');
    const [uid] = request.users ?? [];
    if (uid !== undefined) this.assertCanRunAs({ uid, gid: uid });
    this.assertCanRunAs(request.reset?.owner);
    return this.agentRuntime.cleanSlot(request, options);
  }
}
