/**
 * How a /v1/exec request travels (README "How it works"): a small one in the `berth-request`
 * header, with its known stdin in the same request; a large one as the body prefix. Either way the
 * command sees exactly the argv, environment and stdin it was given. Real agent, local child process.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import type { CommandChannelV1 } from '@berth/core';
import { afterAll, describe, expect, it } from 'vitest';
import { agentBinary } from './agent-binary.js';
import { commandRequest } from './agent-requests.js';
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
      if (channel.pid > 0) process.kill(channel.pid, 'SIGKILL'); // never pid 0: that is our own group
    }
    expect((await outcome(channel)).exit).toBe(137);
  });
});

describe('commandRequest', () => {
  it('a small request is one header, never indexed, ending the stream with its stdin', () => {
    const stdin = Buffer.from('in');
    const { headers, body, endStream } = commandRequest({ argv: ['true'], env: { A: 'é' }, stdin });
    expect(headers['berth-request']).toBe('{"argv":["true"],"env":{"A":"\\u00e9"}}');
    expect((headers as Record<symbol, unknown>)[http2.sensitiveHeaders]).toEqual(['berth-request']);
    expect(body).toBe(stdin);
    expect(endStream).toBe(true);
  });

  it('without stdin the stream stays open for it', () => {
    const { body, endStream } = commandRequest({ argv: ['cat'] });
    expect(body).toBeUndefined();
    expect(endStream).toBe(false);
  });

  it('the 8 KiB bound counts the escaped header: 2,000 non-ASCII characters (12,000 bytes) go in the body', () => {
    const { headers, body } = commandRequest({ argv: ['true', 'é'.repeat(2_000)], stdin: new Uint8Array(0) });
    expect(headers['berth-request']).toBeUndefined();
    const length = Buffer.from(body!).readUInt32BE(0);
    expect(
      JSON.parse(
        Buffer.from(body!)
          .subarray(4, 4 + length)
          .toString(),
      ).argv[1],
    ).toBe('é'.repeat(2_000));
  });
});

describe.skipIf(!LOCAL_AGENT_ARCH)('a /v1/exec stream reset before its headers left', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'berth-exec-reset-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('kills the command: its client never learned the pid to stop it', { timeout: 15_000 }, async () => {
    // A 10 s grace (the default is 2 ms) opens the window wide: the reset lands after the
    // command started, before its headers went out.
    const binary = agentBinary(LOCAL_AGENT_ARCH!).localPath;
    const child = spawn(binary, ['--header-grace=10s'], { stdio: 'pipe' });
    const session = http2.connect('http://berth-agent', {
      createConnection: () => Duplex.from({ readable: child.stdout!, writable: child.stdin! }),
    });
    session.on('error', () => undefined);
    const pidFile = path.join(scratch, 'pid');
    try {
      const { headers } = commandRequest({
        argv: ['sh', '-c', `echo $$ > ${pidFile}; exec sleep 30`],
        stdin: new Uint8Array(0),
      });
      const stream = session.request(
        { ':method': 'POST', ':path': '/v1/exec', ...headers },
        { endStream: true },
      );
      stream.on('error', () => undefined);
      let answered = false;
      stream.on('response', () => {
        answered = true;
      });
      const pid = await eventually(() => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0));
      expect(pid, 'the command started').toBeGreaterThan(0);
      expect(answered, 'no headers yet (the grace holds them)').toBe(false);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      const gone = await eventually(() => !isAlive(pid));
      expect(gone, 'the command outlived its reset stream').toBe(true);
    } finally {
      session.destroy();
      child.kill('SIGKILL');
    }
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z';
  } catch {
    return false;
  }
}

/** The first truthy value of `read` within 5 s (polled every 20 ms), or its last value. */
async function eventually<T>(read: () => T): Promise<T> {
  const deadline = Date.now() + 5_000;
  let value = read();
  while (!value && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    value = read();
  }
  return value;
}
