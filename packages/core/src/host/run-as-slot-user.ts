import type { HostV1, SlotUserV1 } from '../backend/v1/types.js';
import { BerthError, CapabilityUnsupportedError, InternalError } from '../errors/index.js';
import { shellQuote } from '../shell/shell-script.js';
import type { ControlResult } from './control-shells.js';
import { asUserPrefix } from './slot-users.js';

export interface RunAsUserHost {
  readonly id: string;
  readonly backendHost: HostV1;
  commandRuntime: 'unknown' | 'direct' | 'shell';
  /** `setpriv` can drop a root shell's child to another user here (probed at prepare). */
  readonly canSwitchUser: boolean;
  runControl(body: string, signal?: AbortSignal): Promise<ControlResult>;
}

/**
 * Runs a core script (a sweep, a probe) as a slot's user: through the in-host runtime, which
 * switches users itself, or a control shell with `setpriv`. Bounded by `signal`.
 */
export async function runAsSlotUser(
  host: RunAsUserHost,
  user: SlotUserV1,
  script: string,
  signal?: AbortSignal,
): Promise<ControlResult> {
  const { backendHost } = host;
  if (backendHost.openCommand && host.commandRuntime !== 'shell') {
    try {
      return await collect(
        await backendHost.openCommand(
          { argv: ['sh', '-c', script], cwd: '/', user, stdin: new Uint8Array(0) },
          { signal },
        ),
        signal,
      );
    } catch (error) {
      if (!BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED')) throw error;
      host.commandRuntime = 'shell';
    }
  }
  if (!host.canSwitchUser) throw noSwitch(host.id);
  return host.runControl(`${asUserPrefix(user)} sh -c ${shellQuote(script)} </dev/null`, signal);
}

export function noSwitch(hostId: string): CapabilityUnsupportedError {
  return new CapabilityUnsupportedError(
    'host',
    "isolation: 'user'",
    `Host ${hostId} runs commands through its shell and has no util-linux \`setpriv\` (with --reuid) ` +
      "to switch users; use an image that has it (Debian's util-linux), a transport with berth-agent, or isolation 'directory'.",
  );
}

async function collect(
  channel: Awaited<ReturnType<NonNullable<HostV1['openCommand']>>>,
  signal?: AbortSignal,
): Promise<ControlResult> {
  if (!channel.stdin.writableEnded) channel.stdin.end();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  channel.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  channel.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const onAbort = () => channel.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const info = await channel.closed;
    if (info.exitCode === undefined) {
      throw new InternalError(`A command as a slot user on host ended without an exit status.`, {
        cause: info.error,
      });
    }
    return {
      exitCode: info.exitCode,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
    };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
