import type { ContainerProcess } from 'modal';
import { describe, expect, it } from 'vitest';
import { batchedStdin } from './sandbox-exec.js';

/** A stdin writer whose network writes the test completes by hand. */
function fakeProcess() {
  const writes: { data: Buffer; resolve: () => void; reject: (error: Error) => void }[] = [];
  let closed = 0;
  const writer = {
    write: (data: Uint8Array) =>
      new Promise<void>((resolve, reject) => writes.push({ data: Buffer.from(data), resolve, reject })),
    close: async () => {
      closed++;
    },
  };
  const proc = { stdin: { getWriter: () => writer } } as unknown as ContainerProcess;
  return { proc, writes, closed: () => closed };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const write = (stream: NodeJS.WritableStream, data: string | Buffer) =>
  new Promise<Error | null | undefined>((resolve) => stream.write(data, (error) => resolve(error)));

describe('batchedStdin', () => {
  it('coalesces writes of one tick, and those made while a call is in flight, into one call each', async () => {
    const { proc, writes, closed } = fakeProcess();
    const { writable, close } = batchedStdin(proc);
    writable.write('a');
    writable.write('b');
    writable.write('c');
    await tick();
    expect(writes.map((w) => w.data.toString())).toEqual(['abc']);
    writable.write('d');
    writable.write('e');
    await tick();
    await tick();
    expect(writes).toHaveLength(1); // still in flight: nothing else goes out
    writes[0]?.resolve();
    await tick();
    await tick();
    expect(writes.map((w) => w.data.toString())).toEqual(['abc', 'de']);
    const closing = close();
    await tick();
    expect(closed()).toBe(0); // close waits for the queue to drain
    writes[1]?.resolve();
    await closing;
    expect(closed()).toBe(1);
    expect(writes).toHaveLength(2);
  });

  it('holds writers back beyond 4 MiB queued until the queue goes out', async () => {
    const { proc, writes } = fakeProcess();
    const { writable } = batchedStdin(proc);
    writable.write('first');
    await tick();
    expect(writes).toHaveLength(1);
    let acknowledged = false;
    const big = write(writable, Buffer.alloc(5 * 1024 * 1024, 1)).then((error) => {
      acknowledged = true;
      return error;
    });
    await tick();
    await tick();
    expect(acknowledged).toBe(false);
    writes[0]?.resolve();
    expect(await big).toBeFalsy();
    await tick();
    expect(writes).toHaveLength(2);
    expect(writes[1]?.data.length).toBe(5 * 1024 * 1024);
  });

  it('a failed call fails the stream, waiting writers and later writes', async () => {
    const { proc, writes } = fakeProcess();
    const { writable, close } = batchedStdin(proc);
    const errors: Error[] = [];
    writable.on('error', (error) => errors.push(error));
    writable.write('first');
    await tick();
    const waiting = write(writable, Buffer.alloc(5 * 1024 * 1024));
    writes[0]?.reject(new Error('sandbox gone'));
    expect(await waiting).toMatchObject({ message: 'sandbox gone' });
    await tick();
    expect(errors.map((e) => e.message)).toContain('sandbox gone');
    expect(writable.destroyed).toBe(true);
    await close();
    expect(writes).toHaveLength(1); // nothing more went out
  });
});
