import net from 'node:net';
import type { Duplex } from 'node:stream';
import { raceAbort } from '@berth/core';
import type { SshTarget } from './resolve-machines.js';
import type { SshConnection } from './ssh-connection.js';

/** A counting gate: at most `limit` holders; the rest wait in order. */
export class Gate {
  #held = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(readonly limit: number) {}

  async take(signal?: AbortSignal): Promise<() => void> {
    if (this.#held >= this.limit) {
      await raceAbort(
        new Promise<void>((resolve) => this.#waiting.push(resolve)),
        signal,
        'Waiting for an SSH session slot',
      ).catch((error: unknown) => {
        throw error;
      });
    } else {
      this.#held++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#held--;
    };
  }
}

export function tcpConnect(target: SshTarget, timeoutMs: number, signal?: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port });
    const fail = (error: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          Object.assign(new Error(`TCP connect timed out after ${timeoutMs} ms (connectTimeoutMs)`), {
            code: 'ETIMEDOUT',
          }),
        ),
      timeoutMs,
    );
    const abort = () => fail(new Error('aborted'));
    signal?.addEventListener('abort', abort, { once: true });
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      socket.removeListener('error', fail);
      socket.setNoDelay(true);
      coalesceWrites(socket);
      resolve(socket);
    });
  });
}

export function forwardThrough(jump: SshConnection, target: SshTarget, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          Object.assign(new Error(`the jump host did not open a tunnel within ${timeoutMs} ms`), {
            code: 'ETIMEDOUT',
          }),
        ),
      timeoutMs,
    );
    jump.client.forwardOut('127.0.0.1', 0, target.host, target.port, (error, channel) => {
      clearTimeout(timer);
      if (error) {
        reject(Object.assign(error, { code: (error as { code?: string }).code ?? 'ECONNREFUSED' }));
        return;
      }
      resolve(channel);
    });
  });
}

/**
 * ssh2 writes every SSH packet to the socket on its own; with Nagle off (setNoDelay) each is a TCP
 * segment and a wakeup of sshd. A command's request is several packets in one tick (HTTP/2 frames,
 * window adjusts): corked until the tick ends, they leave as one write, sshd reads them at once.
 */
export function coalesceWrites(socket: net.Socket): void {
  const write = socket.write;
  let corked = false;
  const flush = () => {
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>) {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      process.nextTick(flush);
    }
    return write.apply(this, args);
  } as net.Socket['write'];
}
