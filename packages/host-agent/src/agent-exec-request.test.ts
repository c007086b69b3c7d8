/**
 * How a /v1/exec request travels (README "How it works"): a small one in the `berth-request`
 * header, with its known stdin in the same request; a large one as the body prefix. Either way the
 * command sees exactly the argv, environment and stdin it was given. Real agent, local child process.
 */
import type { CommandChannelV1 } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { LOCAL_AGENT_ARCH, useLocalAgent } from './testing/start-local-agent.js';

const agentOf = useLocalAgent();

async function outcome(
  channel: CommandChannelV1,
): Promise<{ stdout: string; stderr: string; exit?: number }> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  channel.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const closed = await channel.closed;
  return {
    stdout: Buffer.concat(stdout).toString(),
    stderr: Buffer.concat(stderr).toString(),
    exit: closed.exitCode,
  };
}

describe.skipIf(!LOCAL_AGENT_ARCH)('a /v1/exec request', () => {
  const unicode = 'héllo 中文 😀 \u2028 "quoted" \\ back';

  it('small, with its stdin: one request carries both; stdin comes back already ended', async () => {
    const channel = await agentOf().openCommand({
      argv: ['sh', '-c', `cat; printf '%s|%s' "$BERTH_X" '${unicode}'`],
      env: { BERTH_X: unicode },
      cwd: '/',
      stdin: Buffer.from('from stdin\n'),
    });
    expect(channel.stdin.writableEnded, 'stdin went with the request').toBe(true);
    const result = await outcome(channel);
    expect(result).toEqual({ stdout: `from stdin\n${unicode}|${unicode}`, stderr: '', exit: 0 });
  });

  it('small, with empty stdin: the command reads EOF at once', async () => {
    const channel = await agentOf().openCommand({
      argv: ['sh', '-c', 'cat; echo done'],
      stdin: new Uint8Array(0),
    });
    expect(await outcome(channel)).toEqual({ stdout: 'done\n', stderr: '', exit: 0 });
  });

  it('larger than the header allows (a 40 KB environment and a 20 KB command line): sent as the body prefix', async () => {
    const big = 'x'.repeat(40_000);
    const script = `printf '%s' "\${#BERTH_BIG}"; cat; : ${'y'.repeat(20_000)}`;
    const channel = await agentOf().openCommand({
      argv: ['sh', '-c', script],
      env: { BERTH_BIG: big },
      stdin: Buffer.from(' and stdin'),
    });
    expect(await outcome(channel)).toEqual({ stdout: '40000 and stdin', stderr: '', exit: 0 });
  });

  it('without stdin in the request: stdin streams through the channel as before', async () => {
    const channel = await agentOf().openCommand({ argv: ['sh', '-c', 'read -r line; echo "got $line"'] });
    expect(channel.stdin.writableEnded).toBe(false);
    channel.stdin.end('streamed\n');
    expect(await outcome(channel)).toEqual({ stdout: 'got streamed\n', stderr: '', exit: 0 });
  });

  it('a long command answers with its pid while it runs (the headers do not wait for its exit)', async () => {
    const channel = await agentOf().openCommand({ argv: ['sleep', '30'], stdin: new Uint8Array(0) });
    try {
      expect(channel.pid).toBeGreaterThan(0);
      expect(() => process.kill(channel.pid, 0), 'the command is still running').not.toThrow();
    } finally {
      process.kill(channel.pid, 'SIGKILL');
    }
    expect((await outcome(channel)).exit).toBe(137);
  });
});
