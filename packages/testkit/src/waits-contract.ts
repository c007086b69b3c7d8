import { expect } from 'vitest';
import { type ConformanceContext, countProcessesScript, eventually } from './conformance-context.js';

/**
 * Every wait ends (issue 9), on every engine: leaving a stream early stops its command, a stream
 * whose result alone is awaited never stalls, release() stops a running command, and an abort
 * before the command started means it never runs.
 */
export function registerWaitsContract<Spec>(context: ConformanceContext<Spec>): void {
  const test = context.test.bind(context);

  test('streaming', '`break` out of execStream kills the command; the slot runs the next one', async () => {
    await context.withSlot(async (slot) => {
      const stream = slot.execStream('while :; do echo tick; sleep 0.05; done # waits-4411');
      for await (const chunk of stream) {
        expect(Buffer.from(chunk.data).toString()).toContain('tick');
        break;
      }
      const result = await stream.result;
      expect(result.aborted).toBe(true);
      expect(slot.state).toBe('acquired');
      expect((await slot.exec('echo next')).stdout).toBe('next\n');
      const gone = await eventually(
        async () => (await slot.exec(countProcessesScript('waits-441'))).stdout.trim() === '0',
        10_000,
      );
      expect(gone, 'the stream’s command still runs after `break`').toBe(true);
    });
  });

  test('streaming', 'awaiting only the result of a stream printing 3 MiB never stalls', async () => {
    await context.withSlot(async (slot) => {
      const bytes = 3 * 1024 * 1024;
      const result = await slot.execStream(`head -c ${bytes} /dev/zero`, { timeoutMs: 45_000 }).result;
      expect(result.timedOut, 'the command stalled on backpressure nobody relieved').toBe(false);
      expect(result.exitCode).toBe(0);
      expect(result.stdoutBytes).toBe(bytes);
    });
  });

  test('leases', 'release() during a running command aborts it and releases the slot', async () => {
    const pool = await context.sharedPool();
    const slot = await pool.acquire();
    const running = slot.exec('sleep 4412; echo finished > after-release.txt');
    while (slot.state !== 'executing') await new Promise((resolve) => setTimeout(resolve, 5));
    await slot.release();
    const result = await running;
    expect(result.aborted).toBe(true);
    expect(slot.state).toBe('available'); // the handle's view once released
    await context.withSlot(async (next) => {
      expect((await next.exec('echo ok')).stdout).toBe('ok\n');
      expect((await next.exec(countProcessesScript('sleep 4412'))).stdout.trim()).toBe('0');
    });
  });

  test('abort', 'an abort right after exec() (before the command started) means it never runs', async () => {
    await context.withSlot(async (slot) => {
      const controller = new AbortController();
      const running = slot.exec('echo ran > aborted-early.txt', { signal: controller.signal });
      controller.abort();
      const result = await running;
      expect(result.aborted).toBe(true);
      expect(result.exitCode).toBe(130);
      const check = await slot.exec('test -e aborted-early.txt && echo present || echo absent');
      expect(check.stdout).toBe('absent\n');
    });
  });
}
