import { randomBytes } from 'node:crypto';
import path from 'node:path/posix';
import type { CommandChannelV1 } from '../backend/v1/types.js';
import {
  BerthError,
  CapabilityUnsupportedError,
  InternalError,
  InvalidOptionsError,
  throwIfAborted,
} from '../errors/index.js';
import { noSwitch } from '../host/run-as-slot-user.js';
import { asUserPrefix } from '../host/slot-users.js';
import {
  assertEnvName,
  commandScript,
  inlineScript,
  shellQuote,
  writeBase64Script,
} from '../shell/shell-script.js';
import { ShellClosedError, type ShellSession } from '../shell/shell-session.js';
import { raceAbort } from '../waits/race-abort.js';
import type { SlotRecord } from './slot-record.js';

const EMPTY = new Uint8Array(0);

export interface CommandHandlers {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
  /** The command's pid (its session id), as soon as it is known. */
  pid(pid: number): void;
}

export interface CommandInput {
  command: string | readonly string[];
  cwd: string;
  env: Readonly<Record<string, string>> | undefined;
  stdin: Uint8Array | undefined;
  signal: AbortSignal | undefined;
}

/** A started command, whichever runtime carries it. */
export interface StartedCommand {
  /** The exit status; rejects with `ShellClosedError` when the runtime went away first. */
  readonly exit: Promise<number>;
  pause(): void;
  resume(): void;
  /** Gives up on a command that does not report after KILL (its runtime is wedged). */
  abandon(): void;
}

/**
 * Starts a command in the host's in-host runtime when it has one (`openCommand`: own session, own
 * pipes), else in the slot's shell. A host whose runtime says it cannot run there is remembered as
 * shell-only.
 */
export async function startCommand(
  slot: SlotRecord,
  input: CommandInput,
  handlers: CommandHandlers,
): Promise<StartedCommand> {
  const host = slot.host;
  const backendHost = host.backendHost;
  if (backendHost.openCommand && host.commandRuntime !== 'shell') {
    // A slot with its own user gets its workspace as HOME (root's is closed to it).
    const env: Record<string, string> = slot.user ? { HOME: slot.workspace } : {};
    for (const [name, value] of Object.entries(input.env ?? {})) {
      assertEnvName(name);
      if (value.includes('\0'))
        throw new InvalidOptionsError(
          `env.${name}`,
          'contains a NUL byte, which no environment can hold; remove it.',
        );
      env[name] = value;
    }
    env.BERTH_LEASE = slot.leaseMarker;
    const argv = typeof input.command === 'string' ? ['sh', '-c', input.command] : input.command;
    try {
      const request = {
        argv,
        cwd: input.cwd,
        env,
        stdin: input.stdin ?? EMPTY,
        ...(slot.user ? { user: slot.user } : {}),
      };
      const channel = await backendHost.openCommand(request, { signal: input.signal });
      host.commandRuntime = 'direct';
      return attachChannel(channel, input.stdin, handlers);
    } catch (error) {
      if (!BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED')) throw error;
      host.commandRuntime = 'shell';
    }
  }
  return startInShell(slot, input, handlers);
}

function attachChannel(
  channel: CommandChannelV1,
  stdin: Uint8Array | undefined,
  handlers: CommandHandlers,
): StartedCommand {
  channel.stdout.on('data', handlers.stdout);
  channel.stderr.on('data', handlers.stderr);
  channel.stdin.on('error', () => undefined); // a command that exits without reading its stdin
  // A host that sent stdin with the request (CommandRequestV1.stdin) hands back an ended stdin.
  if (!channel.stdin.writableEnded) channel.stdin.end(stdin);
  handlers.pid(channel.pid);
  // The exit is known when the channel closes, but output it already carried may still sit in the
  // channel's streams (paused by a slow consumer, or not yet emitted): the result waits for both ends.
  const drained = Promise.all([ended(channel.stdout), ended(channel.stderr)]);
  const exit = Promise.all([channel.closed, drained]).then(([info]) => {
    if (info.exitCode !== undefined) return info.exitCode;
    const reason = info.error ? `: ${info.error.message}` : '';
    throw new ShellClosedError(`The connection carrying the command closed before it exited${reason}.`, {
      cause: info.error,
    });
  });
  return {
    exit,
    pause: () => {
      channel.stdout.pause();
      channel.stderr.pause();
    },
    resume: () => {
      channel.stdout.resume();
      channel.stderr.resume();
    },
    abandon: () => {
      channel.close();
      // Output nobody is reading any more must not hold the result.
      channel.stdout.destroy();
      channel.stderr.destroy();
    },
  };
}

/** Resolves once `stream` has emitted everything (or was destroyed); never rejects. */
function ended(
  stream: NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean },
): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', () => resolve());
    stream.once('close', () => resolve());
    stream.once('error', () => resolve());
  });
}

async function startInShell(
  slot: SlotRecord,
  input: CommandInput,
  handlers: CommandHandlers,
): Promise<StartedCommand> {
  if (slot.user && !slot.host.canSwitchUser) throw noSwitch(slot.host.id);
  const session = await slot.sessionFor(input.signal);
  throwIfAborted(input.signal, 'Starting the command');
  const stdinPath = input.stdin ? await stageStdin(slot, session, input.stdin, input.signal) : undefined;
  if (input.signal?.aborted) {
    if (stdinPath) slot.host.runControl(`rm -f ${shellQuote(stdinPath)}`).catch(() => undefined);
    throwIfAborted(input.signal, 'Starting the command');
  }
  const exit = session.run(
    (nonce, seq) =>
      commandScript({
        nonce,
        seq,
        cwd: input.cwd,
        env: slot.user ? { HOME: slot.workspace, ...input.env } : input.env,
        stdinPath,
        command: input.command,
        leaseMarker: slot.leaseMarker,
        ...(slot.user ? { asUser: asUserPrefix(slot.user) } : {}),
      }),
    handlers,
  );
  return {
    exit,
    pause: () => session.pause(),
    resume: () => session.resume(),
    abandon: () => slot.closeSession(),
  };
}

/** Exit status of `sh` when a command is not found. */
const COMMAND_NOT_FOUND = 127;

async function stageStdin(
  slot: SlotRecord,
  session: ShellSession,
  bytes: Uint8Array,
  signal: AbortSignal | undefined,
): Promise<string> {
  const file = path.join(slot.host.stateDirectory, 'tmp', `stdin-${randomBytes(8).toString('hex')}`);
  const errors: Buffer[] = [];
  const staging = session.run((nonce, seq) => inlineScript(nonce, seq, writeBase64Script(file, bytes)), {
    stderr: (chunk) => errors.push(chunk),
  });
  let code: number;
  try {
    code = await raceAbort(staging, signal, 'Staging stdin');
  } catch (error) {
    if (signal?.aborted) {
      // The shell is mid-transfer and cannot take another command: drop it (reopened on next use)
      // and the partial file with it.
      slot.closeSession();
      slot.host.runControl(`rm -f ${shellQuote(file)}`).catch(() => undefined);
    }
    throw error;
  }
  if (code !== 0) {
    const said = Buffer.concat(errors).toString().trim();
    if (code === COMMAND_NOT_FOUND || /base64[^\n]*not found|not found[^\n]*base64/i.test(said)) {
      throw new CapabilityUnsupportedError(
        'host',
        'stdin',
        `Feeding stdin needs \`base64\` in the host (${said || `exit ${code}`}).`,
      );
    }
    throw new InternalError(
      `Staging stdin for the command on ${slot.id} into ${file} failed (exit ${code}): ${said || 'no message'}. ` +
        'Check that the host has free disk space and that its workspace root is writable.',
    );
  }
  return file;
}
