/** Helpers shared by the backend integration tests. Not part of the published package. */
import { readdirSync, readFileSync } from 'node:fs';
import type { HostChannelV1 } from '@berth/core';
import { buildHostLabels } from '@berth/core';

export function labelsFor(pool: string, profile: string): Record<string, string> {
  return buildHostLabels({ poolId: pool, profile, specHash: 'test', owner: `vitest-${process.pid}` });
}

/** Sends `script` to the channel's shell, ends stdin, and collects everything until it exits. */
export async function runScript(channel: HostChannelV1, script: string) {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  channel.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  channel.stdin.end(script);
  const closed = await channel.closed;
  return { closed, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
}

/** Round trip of one command on an open shell: write `command`, wait for the marker line it prints. */
export function roundTrip(channel: HostChannelV1, marker: string, command = `echo ${marker}`): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(`${marker}\n`)) {
        channel.stdout.off('data', onData);
        resolve();
      }
    };
    channel.stdout.on('data', onData);
    channel.stdin.write(`${command}\n`);
  });
}

/** Whether a process whose command line is exactly `commandLine` runs on this machine. */
export function processesRunning(commandLine: string): boolean {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .some((pid) => {
      try {
        return (
          readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') === commandLine
        );
      } catch {
        return false;
      }
    });
}

export const percentile = (values: number[], q: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))]!;
