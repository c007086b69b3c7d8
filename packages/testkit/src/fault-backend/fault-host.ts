import { Writable } from 'node:stream';
import type { ChannelCloseInfoV1, HostChannelV1, HostV1 } from '@berth/core';
import type { FaultController, HostFaultState } from './fault-controller.js';
import type { FaultOperation } from './gate.js';

/** Runs `work` between the `before` and `after` interception of `operation`; undoes it if `after` throws. */
export async function through<T>(
  controller: FaultController,
  operation: FaultOperation,
  hostId: string | undefined,
  signal: AbortSignal | undefined,
  work: () => Promise<T>,
  undo?: (result: T) => Promise<void> | void,
): Promise<T> {
  await controller.intercept(operation, 'before', hostId, signal);
  const result = await work();
  try {
    await controller.intercept(operation, 'after', hostId, signal);
  } catch (error) {
    await undo?.(result);
    throw error;
  }
  return result;
}

/**
 * A channel whose input waits while its host is paused and which the controller can drop. Its
 * `closed` resolves with the drop (`transportDropped` when asked) or with the inner channel's end.
 */
function wrapChannel<C extends HostChannelV1>(inner: C, state: HostFaultState): C {
  let reportDrop: (info: ChannelCloseInfoV1) => void = () => {};
  const dropped = new Promise<ChannelCloseInfoV1>((resolve) => (reportDrop = resolve));
  const entry = {
    drop: (error: Error, transportDropped: boolean) => {
      reportDrop({ error, ...(transportDropped ? { transportDropped: true } : {}) });
      inner.close();
      return closed;
    },
  };
  state.channels.add(entry);
  const closed = Promise.race([inner.closed, dropped]);
  void closed.then(() => state.channels.delete(entry));
  const target = inner.stdin;
  // Errors of the inner pipe (EPIPE once the shell is gone) are the channel's `closed` business.
  target.on('error', () => undefined);
  const whenRunning = () => state.paused?.resumed ?? Promise.resolve();
  const stdin = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      void whenRunning().then(() => {
        if (target.destroyed || target.writableEnded) callback();
        else target.write(chunk, () => callback());
      });
    },
    final(callback) {
      void whenRunning().then(() => {
        if (!target.destroyed && !target.writableEnded) target.end();
        callback();
      });
    },
    destroy(error, callback) {
      target.destroy();
      callback(error);
    },
  });
  // Built member by member: a channel class's getters would not survive a spread.
  const wrapped: HostChannelV1 & { pid?: number } = {
    stdin,
    stdout: inner.stdout,
    stderr: inner.stderr,
    closed,
    close: () => inner.close(),
  };
  if ('pid' in inner && typeof inner.pid === 'number') wrapped.pid = inner.pid;
  return wrapped as C;
}

/** Wraps one host of the inner backend: every method is logged and can be held or failed. */
export function wrapHost(inner: HostV1, controller: FaultController): HostV1 {
  const id = inner.id;
  const state = controller.host(id);
  state.instances.add(inner);
  const host: HostV1 = {
    id,
    labels: inner.labels,
    workspaceRoot: inner.workspaceRoot,
    openChannel: (options) =>
      through(
        controller,
        'openChannel',
        id,
        options?.signal,
        async () => wrapChannel(await inner.openChannel(options), state),
        (channel) => channel.close(),
      ),
    health: (options) =>
      through(controller, 'health', id, options?.signal, async () =>
        state.vanishedReason === undefined
          ? inner.health(options)
          : { alive: false, reason: state.vanishedReason },
      ),
    onLost: (listener) => {
      state.lostListeners.add(listener);
      const unsubscribe = inner.onLost?.(listener);
      return () => {
        state.lostListeners.delete(listener);
        unsubscribe?.();
      };
    },
    disconnect: () => through(controller, 'disconnect', id, undefined, () => inner.disconnect()),
    destroy: (options) => through(controller, 'destroy', id, options.signal, () => inner.destroy(options)),
  };
  // Optional members exist only when the inner host has them: core chooses paths by their presence.
  const { openCommand, writeFile, readFile, run, putArchive, getArchive } = inner;
  if (openCommand) {
    host.openCommand = (request, options) =>
      through(
        controller,
        'openCommand',
        id,
        options?.signal,
        async () => wrapChannel(await openCommand.call(inner, request, options), state),
        (channel) => channel.close(),
      );
  }
  if (writeFile) {
    host.writeFile = (path, data, options) =>
      through(controller, 'writeFile', id, options.signal, () => writeFile.call(inner, path, data, options));
  }
  if (readFile) {
    host.readFile = (path, options) =>
      through(controller, 'readFile', id, options?.signal, () => readFile.call(inner, path, options));
  }
  if (run) {
    host.run = (argv, options) =>
      through(controller, 'run', id, options?.signal, () => run.call(inner, argv, options));
  }
  if (putArchive) {
    host.putArchive = (directory, tar, options) =>
      through(controller, 'putArchive', id, options?.signal, () =>
        putArchive.call(inner, directory, tar, options),
      );
  }
  if (getArchive) {
    host.getArchive = (path, options) =>
      through(controller, 'getArchive', id, options?.signal, () => getArchive.call(inner, path, options));
  }
  return host;
}
