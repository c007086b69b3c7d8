import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { ConformanceContext } from './conformance-context.js';

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, index) => index);

/** exec semantics: exit codes, streams, env, cwd, argv, stdin, large output. */
export function registerExecContract<Spec>(context: ConformanceContext<Spec>): void {
  const test = context.test.bind(context);
  const withSlot = context.withSlot.bind(context);

  test(
    'slotIsolation',
    'a file written in one slot is not visible from another; workspaces differ',
    async () => {
      const pool = await context.sharedPool();
      const first = await pool.acquire();
      const second = await pool.acquire();
      try {
        expect(first.workspace).not.toBe(second.workspace);
        expect(first.id).not.toBe(second.id);
        expect((await first.exec('echo secret > isolation.txt && cat isolation.txt')).stdout).toBe(
          'secret\n',
        );
        const seen = await second.exec('test -e isolation.txt');
        expect(seen.exitCode).not.toBe(0);
        expect((await second.exec('pwd')).stdout.trim()).toBe(second.workspace);
      } finally {
        await first.release();
        await second.release();
      }
    },
  );

  test('exec', 'exit codes: 0, 3, and 127 for a missing command', async () => {
    await withSlot(async (slot) => {
      expect((await slot.exec('true')).exitCode).toBe(0);
      expect((await slot.exec('exit 3')).exitCode).toBe(3);
      const missing = await slot.exec('berth-no-such-command-xyz');
      expect(missing.exitCode).toBe(127);
      expect(missing.timedOut).toBe(false);
    });
  });

  test('exec', 'stderr is kept apart from stdout; output without a trailing newline is intact', async () => {
    await withSlot(async (slot) => {
      const result = await slot.exec('echo out; echo err >&2; printf tail');
      expect(result.stdout).toBe('out\ntail');
      expect(result.stderr).toBe('err\n');
      expect(result.stdoutBytes).toBe(8);
      expect(result.stderrBytes).toBe(4);
      expect((await slot.exec('printf abc')).stdout).toBe('abc');
    });
  });

  test('exec', 'env values with quotes, spaces, newlines and $(...) are passed verbatim', async () => {
    const value = `it's "quoted" $(echo injected) \`echo tick\` $HOME; rm -rf / \nsecond line\\n *`;
    await withSlot(async (slot) => {
      const viaShell = await slot.exec('printf %s "$BERTH_VALUE"', {
        env: { BERTH_VALUE: value, OTHER: 'x y' },
      });
      expect(viaShell.stdout).toBe(value);
      const viaArgv = await slot.exec(['sh', '-c', 'printf %s "$OTHER"'], { env: { OTHER: 'x y' } });
      expect(viaArgv.stdout).toBe('x y');
    });
  });

  test('exec', 'cwd defaults to the workspace; a relative cwd resolves inside it', async () => {
    await withSlot(async (slot) => {
      expect((await slot.exec('pwd')).stdout.trim()).toBe(slot.workspace);
      expect((await slot.exec('mkdir -p sub/dir')).exitCode).toBe(0);
      expect((await slot.exec('pwd', { cwd: 'sub/dir' })).stdout.trim()).toBe(`${slot.workspace}/sub/dir`);
      const missing = await slot.exec('pwd', { cwd: 'no-such-dir' });
      expect(missing.exitCode).not.toBe(0);
    });
  });

  test('exec', 'argv form: no shell interpretation', async () => {
    await withSlot(async (slot) => {
      expect((await slot.exec(['echo', '$HOME'])).stdout).toBe('$HOME\n');
      expect((await slot.exec(['printf', '%s', 'a b;c|d && $(x) `y`'])).stdout).toBe('a b;c|d && $(x) `y`');
      expect((await slot.exec(['sh', '-c', 'exit 5'])).exitCode).toBe(5);
    });
  });

  test('stdin', 'stdin: text and all 256 byte values', async () => {
    await withSlot(async (slot) => {
      expect((await slot.exec('cat', { stdin: 'hello\nworld' })).stdout).toBe('hello\nworld');
      expect((await slot.exec('wc -c', { stdin: ALL_BYTES })).stdout.trim()).toBe('256');
      const dump = await slot.exec("od -An -v -tx1 | tr -d ' \\n'", { stdin: ALL_BYTES });
      expect(dump.stdout).toBe(Buffer.from(ALL_BYTES).toString('hex'));
      // Without stdin a command reads end-of-file at once instead of hanging.
      expect((await slot.exec('cat', { timeoutMs: 10_000 })).stdout).toBe('');
    });
  });

  test('largeOutput', 'large output (about 5 MB) arrives intact', async () => {
    const lines = 750_000;
    const expected = `${Array.from({ length: lines }, (_, index) => index + 1).join('\n')}\n`;
    await withSlot(async (slot) => {
      const result = await slot.exec(`seq 1 ${lines}`, { maxOutputBytes: 16 * 1024 * 1024 });
      expect(result.exitCode).toBe(0);
      expect(result.truncated).toBe(false);
      expect(result.stdoutBytes).toBe(expected.length);
      expect(result.stdout.length).toBe(expected.length);
      expect(sha256(result.stdout)).toBe(sha256(expected));
    });
  });

  test('streaming', 'execStream yields chunks in order and result resolves', async () => {
    await withSlot(async (slot) => {
      const stream = slot.execStream('for i in 1 2 3 4 5; do echo line$i; sleep 0.05; done; echo done >&2');
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let chunks = 0;
      for await (const chunk of stream) {
        chunks += 1;
        (chunk.stream === 'stdout' ? out : err).push(Buffer.from(chunk.data));
      }
      const result = await stream.result;
      expect(Buffer.concat(out).toString()).toBe('line1\nline2\nline3\nline4\nline5\n');
      expect(Buffer.concat(err).toString()).toBe('done\n');
      expect(chunks).toBeGreaterThanOrEqual(2);
      expect(result.exitCode).toBe(0);
    });
  });

  test('streaming', 'a slow consumer still receives everything', async () => {
    const lines = 200_000;
    const expected = `${Array.from({ length: lines }, (_, index) => index + 1).join('\n')}\n`;
    await withSlot(async (slot) => {
      const stream = slot.execStream(`seq 1 ${lines}`);
      const out: Buffer[] = [];
      let seen = 0;
      for await (const chunk of stream) {
        if (chunk.stream === 'stdout') out.push(Buffer.from(chunk.data));
        seen += 1;
        if (seen <= 20) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const result = await stream.result;
      expect(result.exitCode).toBe(0);
      const text = Buffer.concat(out).toString();
      expect(text.length).toBe(expected.length);
      expect(sha256(text)).toBe(sha256(expected));
    });
  });

  registerStopContract(context);
}

/** Timeouts, aborts, caps and background children: the remote process must really be gone. */
function registerStopContract<Spec>(context: ConformanceContext<Spec>): void {
  const test = context.test.bind(context);

  const noProcessLeft = context.noProcessLeft.bind(context);
  const twoSlots = context.twoSlots.bind(context);

  test(
    'timeout',
    'timeoutMs: exit 124, partial output kept, remote process killed, slot usable',
    async () => {
      await twoSlots(async (slot, observer) => {
        const started = Date.now();
        const result = await slot.exec('echo before; sleep 4321; echo after', { timeoutMs: 500 });
        expect(result.exitCode).toBe(124);
        expect(result.timedOut).toBe(true);
        expect(result.stdout).toContain('before');
        expect(result.stdout).not.toContain('after');
        expect(Date.now() - started).toBeLessThan(15_000);
        await noProcessLeft(observer, 'sleep 4321');
        expect((await slot.exec('echo still-usable')).stdout).toBe('still-usable\n');
      });
    },
  );

  test(
    'abort',
    'AbortSignal: exit 130, partial output kept, remote process killed, slot usable',
    async () => {
      await twoSlots(async (slot, observer) => {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 500);
        const result = await slot.exec('echo before; sleep 4323; echo after', { signal: controller.signal });
        expect(result.exitCode).toBe(130);
        expect(result.aborted).toBe(true);
        expect(result.timedOut).toBe(false);
        expect(result.stdout).toContain('before');
        expect(result.stdout).not.toContain('after');
        await noProcessLeft(observer, 'sleep 4323');
        expect((await slot.exec('echo still-usable')).stdout).toBe('still-usable\n');
      });
    },
  );

  test('noOutputTimeout', 'noOutputTimeoutMs kills a silent command but not a chatty one', async () => {
    await twoSlots(async (slot, observer) => {
      const silent = await slot.exec('echo first; sleep 4324', { noOutputTimeoutMs: 700, timeoutMs: 30_000 });
      expect(silent.exitCode).toBe(124);
      expect(silent.timedOut).toBe(true);
      expect(silent.stdout).toBe('first\n');
      expect(silent.durationMs).toBeLessThan(15_000);
      await noProcessLeft(observer, 'sleep 4324');
      const chatty = await slot.exec('for i in 1 2 3 4 5 6; do echo $i; sleep 0.25; done', {
        noOutputTimeoutMs: 1_500,
      });
      expect(chatty.exitCode).toBe(0);
      expect(chatty.stdout).toBe('1\n2\n3\n4\n5\n6\n');
    });
  });

  test(
    'outputCaps',
    'maxOutputBytes: 10 MB through a 1000-byte cap keeps head and tail, counts every byte',
    async () => {
      await context.withSlot(async (slot) => {
        const size = 10 * 1024 * 1024;
        const result = await slot.exec(
          `echo HEAD; head -c ${size} /dev/zero | tr '\\000' x; echo; echo TAIL`,
          {
            maxOutputBytes: 1000,
          },
        );
        expect(result.exitCode).toBe(0);
        expect(result.truncated).toBe(true);
        expect(Buffer.byteLength(result.stdout)).toBeLessThanOrEqual(1000);
        expect(result.stdoutBytes).toBe(size + 'HEAD\n\nTAIL\n'.length);
        expect(result.stdout.startsWith('HEAD\nxxx')).toBe(true);
        expect(result.stdout.endsWith('xxx\nTAIL\n')).toBe(true);
      });
    },
  );

  test(
    'backgroundChildren',
    'a background child does not hold the command; it is gone after release',
    async () => {
      const pool = await context.sharedPool();
      const slot = await pool.acquire();
      const hostId = slot.hostId;
      try {
        const started = Date.now();
        const result = await slot.exec('sleep 4322 & echo started', { timeoutMs: 20_000 });
        expect(result.stdout).toBe('started\n');
        expect(result.timedOut).toBe(false);
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        await slot.release();
      }
      const observer = await pool.acquire();
      try {
        expect(observer.hostId).toBe(hostId);
        await noProcessLeft(observer, 'sleep 4322');
      } finally {
        await observer.release();
      }
    },
  );
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
