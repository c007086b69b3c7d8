import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { DockerConnection } from './docker-connection.js';
import { DockerEventsWatcher } from './docker-events-watcher.js';

/** A stand-in daemon: each getEvents call hands out a stream the test writes events into. */
class FakeDaemon {
  readonly streams: PassThrough[] = [];
  readonly calls: Array<Record<string, unknown>> = [];
  readonly states = new Map<string, { Running: boolean; Status: string }>();

  readonly docker = {
    getEvents: async (options: Record<string, unknown>) => {
      this.calls.push(options);
      const stream = new PassThrough();
      this.streams.push(stream);
      return stream;
    },
    getContainer: (id: string) => ({
      inspect: async () => {
        const state = this.states.get(id);
        if (!state) throw Object.assign(new Error('(HTTP code 404) no such container'), { statusCode: 404 });
        return { State: state };
      },
    }),
  };

  readonly connection = { client: async () => this.docker } as unknown as DockerConnection;

  get current(): PassThrough {
    const stream = this.streams.at(-1);
    if (!stream) throw new Error('no events stream open');
    return stream;
  }

  emit(id: string, action: string, timeSeconds: number, attributes: Record<string, string> = {}): void {
    const event = {
      Type: 'container',
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      time: timeSeconds,
      timeNano: timeSeconds * 1e9,
    };
    this.current.write(`${JSON.stringify(event)}\n`);
  }
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

function setup() {
  const daemon = new FakeDaemon();
  daemon.states.set('a', { Running: true, Status: 'running' });
  daemon.states.set('b', { Running: true, Status: 'running' });
  return { daemon, watcher: new DockerEventsWatcher(daemon.connection) };
}

describe('DockerEventsWatcher', () => {
  it('shares one stream and fires only the dead container, once', async () => {
    const { daemon, watcher } = setup();
    const heard: string[] = [];
    watcher.watch('a', (reason) => heard.push(`a: ${reason}`));
    watcher.watch('b', (reason) => heard.push(`b: ${reason}`));
    await tick();
    expect(daemon.calls).toHaveLength(1);
    expect(daemon.calls[0]).toMatchObject({
      filters: { type: ['container'], label: ['berth.backend=docker'] },
    });
    daemon.emit('a', 'die', 100, { exitCode: '137' });
    daemon.emit('a', 'die', 101, { exitCode: '137' });
    await tick();
    expect(heard).toEqual(['a: container exited with code 137']);
    expect(watcher.watchedCount).toBe(1);
    watcher.close();
  });

  it('treats an OOM kill as news only when the container then dies', async () => {
    const { daemon, watcher } = setup();
    const heard: string[] = [];
    watcher.watch('a', (reason) => heard.push(reason));
    await tick();
    daemon.emit('a', 'oom', 100);
    await tick();
    expect(heard).toEqual([]);
    daemon.emit('a', 'die', 101, { exitCode: '137' });
    await tick();
    expect(heard).toEqual(['container exited with code 137 after an out-of-memory kill (raise memoryMiB)']);
    watcher.close();
  });

  it('reconnects with `since` after a drop and ignores replayed events', async () => {
    const { daemon, watcher } = setup();
    const heard: string[] = [];
    watcher.watch('a', (reason) => heard.push(`a: ${reason}`));
    watcher.watch('b', (reason) => heard.push(`b: ${reason}`));
    await tick();
    daemon.emit('a', 'destroy', 100);
    await tick();
    daemon.current.end();
    await tick(400); // first retry after 250 ms
    expect(daemon.calls).toHaveLength(2);
    expect(daemon.calls[1]).toMatchObject({ since: 100 });
    daemon.emit('a', 'destroy', 100); // replay of what was seen
    daemon.emit('b', 'die', 102, { exitCode: '0' });
    await tick();
    expect(heard).toEqual(['a: container was removed', 'b: container exited with code 0']);
    watcher.close();
  });

  it('catches a container that died before the stream was up', async () => {
    const { daemon, watcher } = setup();
    daemon.states.set('a', { Running: false, Status: 'exited' });
    const heard: string[] = [];
    watcher.watch('a', (reason) => heard.push(reason));
    watcher.watch('gone', (reason) => heard.push(reason));
    await tick(10);
    expect(heard.sort()).toEqual(['container is exited', 'container was removed']);
    expect(watcher.isStreaming).toBe(false); // nothing left to watch: closed
  });

  it('closes the stream when the last listener goes, and reopens on demand', async () => {
    const { daemon, watcher } = setup();
    const stop = watcher.watch('a', () => undefined);
    await tick();
    expect(watcher.isStreaming).toBe(true);
    stop();
    expect(watcher.isStreaming).toBe(false);
    expect(daemon.streams[0]?.destroyed).toBe(true);
    await tick(400);
    expect(daemon.calls).toHaveLength(1); // no reconnect for nobody
    watcher.watch('b', () => undefined);
    await tick();
    expect(daemon.calls).toHaveLength(2);
    watcher.close();
  });
});
