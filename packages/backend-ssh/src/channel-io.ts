import { BackendUnavailableError } from '@berth/core';
import type { AgentTransport } from '@berth/host-agent';
import type { ClientChannel } from 'ssh2';
import { channelStatus } from './ssh-connection.js';

export interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A control command's channel closed without an exit status (the connection dropped under it). */
export class ChannelClosedError extends BackendUnavailableError {}

export function collect(
  channel: ClientChannel,
  stdin: Uint8Array | undefined,
  timeoutMs: number,
  machine: string,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      channel.close();
      reject(
        new BackendUnavailableError(
          `A control command on ${machine} took longer than ${timeoutMs} ms (requestTimeoutMs).`,
          [machine],
        ),
      );
    }, timeoutMs);
    channel.on('data', (chunk: Buffer) => out.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    void channelStatus(channel).then((status) => {
      clearTimeout(timer);
      if (!status) {
        // No exit status: the connection dropped under it; say nothing about the machine's state.
        reject(
          new ChannelClosedError(`The SSH channel to ${machine} closed before its command exited.`, [
            machine,
          ]),
        );
        return;
      }
      resolve({
        exitCode: status.code ?? -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    channel.end(stdin ? Buffer.from(stdin) : undefined);
  });
}

/** The agent's stdio over one exec channel. */
export function channelTransport(channel: ClientChannel): AgentTransport {
  let diagnostics = '';
  channel.stderr.on('data', (chunk: Buffer) => {
    if (diagnostics.length < 4096) diagnostics += chunk.toString('utf8');
  });
  const drained = channelStatus(channel).then(() => undefined);
  channel.on('error', () => undefined); // a dropped channel surfaces as the session closing
  return {
    readable: channel,
    writable: channel,
    destroy: () => channel.close(),
    diagnostics: () => diagnostics,
    drained,
  };
}
