import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { DOCKER_LABEL } from './build-container-options.js';
import type { DockerConnection } from './docker-connection.js';
import { raceDeadline } from './docker-exec-session.js';
import { isDockerNotFound } from './map-docker-error.js';

type LostListener = (reason: string) => void;

interface DockerEvent {
  readonly Action?: string;
  readonly status?: string;
  readonly id?: string;
  readonly Actor?: { readonly ID?: string; readonly Attributes?: Readonly<Record<string, string>> };
  readonly time?: number;
  readonly timeNano?: number;
}

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;
const CONNECT_DEADLINE_MS = 30_000;

/**
 * ONE `GET /events` stream per backend, shared by every watched host. It is opened when the first
 * host is watched and closed when the last listener goes; its socket is unref'd, so watching never
 * keeps the Node process alive on its own. When the stream drops it reconnects (with `since` = the
 * last event seen, so nothing is missed) and re-checks every watched container once.
 */
export class DockerEventsWatcher {
  readonly #listeners = new Map<string, Set<LostListener>>();
  readonly #oomKilled = new Set<string>();
  #stream: Readable | undefined;
  #connecting = false;
  /** Bumped by close(): a connect still in flight from before is discarded when it lands. */
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs = RETRY_MIN_MS;
  /** Daemon time (ns) of the last event seen: a reconnect replays from there and drops duplicates. */
  #lastEventNanos: bigint | undefined;

  constructor(private readonly connection: DockerConnection) {}

  /** Calls `listener` once when the engine reports `containerId` dead (exited, killed) or removed. */
  watch(containerId: string, listener: LostListener): () => void {
    let set = this.#listeners.get(containerId);
    if (!set) {
      set = new Set();
      this.#listeners.set(containerId, set);
    }
    set.add(listener);
    if (!this.#stream && !this.#connecting && this.#retryTimer === undefined) this.#open();
    return () => {
      const current = this.#listeners.get(containerId);
      if (!current?.delete(listener)) return;
      if (current.size === 0) {
        this.#listeners.delete(containerId);
        this.#oomKilled.delete(containerId);
      }
      if (this.#listeners.size === 0) this.#close();
    };
  }

  /** Number of containers being watched (for tests and stats). */
  get watchedCount(): number {
    return this.#listeners.size;
  }

  /** True while the events stream is open. */
  get isStreaming(): boolean {
    return this.#stream !== undefined;
  }

  close(): void {
    this.#listeners.clear();
    this.#close();
  }

  #open(): void {
    this.#connecting = true;
    this.#attempt += 1;
    void this.#connect(this.#attempt);
  }

  async #connect(attempt: number): Promise<void> {
    try {
      const docker = await this.connection.client();
      const since =
        this.#lastEventNanos === undefined ? undefined : Number(this.#lastEventNanos / 1_000_000_000n);
      const options = {
        filters: {
          type: ['container'],
          label: [`${DOCKER_LABEL.backend}=docker`],
          event: ['die', 'destroy', 'oom'],
        },
        ...(since === undefined ? {} : { since }),
      };
      // The request gets no abort signal (it would cut the live stream later); its start is raced instead.
      const request = docker.getEvents(
        options as Parameters<typeof docker.getEvents>[0] & object,
      ) as Promise<unknown>;
      const stream = (await raceDeadline(
        request,
        undefined,
        CONNECT_DEADLINE_MS,
        'Opening the Docker events stream',
      ).catch((error: unknown) => {
        request.then(
          (late) => (late as Readable).destroy(),
          () => undefined,
        );
        throw error;
      })) as Readable;
      if (attempt !== this.#attempt || this.#listeners.size === 0) {
        stream.destroy();
        return;
      }
      this.#connecting = false;
      this.#stream = stream;
      // Watching alone must never keep the process alive.
      (stream as IncomingMessage).socket?.unref();
      this.#consume(stream);
      this.#retryDelayMs = RETRY_MIN_MS;
      void this.#reconcile();
    } catch {
      if (attempt !== this.#attempt) return;
      this.#connecting = false;
      this.#scheduleRetry();
    }
  }

  #consume(stream: Readable): void {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      buffered += text;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) this.#handleLine(line);
        newline = buffered.indexOf('\n');
      }
    });
    const dropped = () => {
      if (this.#stream !== stream) return;
      this.#stream = undefined;
      if (this.#listeners.size > 0) this.#scheduleRetry();
    };
    stream.once('end', dropped);
    stream.once('close', dropped);
    stream.once('error', dropped);
  }

  #handleLine(line: string): void {
    let event: DockerEvent;
    try {
      event = JSON.parse(line) as DockerEvent;
    } catch {
      return;
    }
    if (typeof event.timeNano === 'number') {
      const nanos = BigInt(event.timeNano);
      if (this.#lastEventNanos !== undefined && nanos <= this.#lastEventNanos) return; // replayed
      this.#lastEventNanos = nanos;
    }
    const id = event.Actor?.ID ?? event.id;
    const action = event.Action ?? event.status;
    if (!id) return;
    if (action === 'oom') {
      // Not a loss by itself: the kernel may have killed one command and the container lives on.
      // Remembered so that a `die` that follows can say why.
      if (this.#listeners.has(id)) this.#oomKilled.add(id);
    } else if (action === 'die') {
      const exitCode = event.Actor?.Attributes?.exitCode;
      const oom = this.#oomKilled.has(id) ? ' after an out-of-memory kill (raise memoryMiB)' : '';
      this.#fire(id, `container exited${exitCode === undefined ? '' : ` with code ${exitCode}`}${oom}`);
    } else if (action === 'destroy') {
      this.#fire(id, 'container was removed');
    }
  }

  #fire(containerId: string, reason: string): void {
    const listeners = this.#listeners.get(containerId);
    if (!listeners) return;
    this.#listeners.delete(containerId);
    this.#oomKilled.delete(containerId);
    for (const listener of listeners) {
      try {
        listener(reason);
      } catch {
        // A listener's failure is its own; the others still hear about the loss.
      }
    }
    if (this.#listeners.size === 0) this.#close();
  }

  /** Catches losses that happened while no stream was open (before the first connect, between retries). */
  async #reconcile(): Promise<void> {
    const docker = await this.connection.client().catch(() => undefined);
    if (!docker) return;
    await Promise.all(
      [...this.#listeners.keys()].map(async (id) => {
        try {
          const info = await docker.getContainer(id).inspect({ abortSignal: AbortSignal.timeout(10_000) });
          if (!info.State.Running) this.#fire(id, `container is ${info.State.Status}`);
        } catch (error) {
          if (isDockerNotFound(error)) this.#fire(id, 'container was removed');
        }
      }),
    );
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#listeners.size === 0) return;
    const delay = this.#retryDelayMs;
    this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, RETRY_MAX_MS);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#listeners.size > 0 && !this.#stream) this.#open();
    }, delay);
    this.#retryTimer.unref();
  }

  #close(): void {
    this.#attempt += 1;
    this.#connecting = false;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#lastEventNanos = undefined;
    this.#oomKilled.clear();
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.destroy();
  }
}
