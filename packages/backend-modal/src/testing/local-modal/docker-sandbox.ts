import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { PassThrough } from 'node:stream';
import Dockerode from 'dockerode';
import { pack } from 'tar-stream';

/** Every container the local control plane makes carries this name prefix and label. */
export const LOCAL_MODAL_CONTAINER_PREFIX = 'berth-modal-';
export const LOCAL_MODAL_LABEL = 'berth-modal.local';

/** The output of one stream of one exec, kept whole so readers can resume at any offset. */
export class OutputLog {
  readonly #chunks: Buffer[] = [];
  /** Offset of each chunk's first byte: a read finds its chunk without copying the history. */
  readonly #starts: number[] = [];
  #size = 0;
  #ended = false;
  #waiters = new Set<() => void>();

  get size(): number {
    return this.#size;
  }
  get ended(): boolean {
    return this.#ended;
  }
  append(chunk: Buffer): void {
    if (this.#ended || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#starts.push(this.#size);
    this.#size += chunk.length;
    this.#wake();
  }
  end(): void {
    this.#ended = true;
    this.#wake();
  }
  /** Bytes from `offset` on (empty when none yet). */
  readFrom(offset: number): Buffer {
    if (offset >= this.#size) return Buffer.alloc(0);
    let low = 0;
    let high = this.#starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.#starts[mid] ?? 0) <= offset) low = mid;
      else high = mid - 1;
    }
    const tail = this.#chunks.slice(low);
    const joined = tail.length === 1 ? (tail[0] as Buffer) : Buffer.concat(tail);
    return joined.subarray(offset - (this.#starts[low] ?? 0));
  }
  /** Resolves when more than `offset` bytes exist, the log ended, or `signal` fires. */
  waitBeyond(offset: number, signal: AbortSignal): Promise<void> {
    if (this.#size > offset || this.#ended || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

export interface ExecExit {
  readonly code?: number;
  readonly signal?: number;
}

/** One `sb.exec`: a `docker exec` with stdin attached; stdin is applied in offset order. */
export class DockerExec {
  readonly stdout = new OutputLog();
  readonly stderr = new OutputLog();
  #stdinOffset = 0;
  #stdinClosed = false;
  #exit: ExecExit | undefined;
  readonly #exitWaiters = new Set<(exit: ExecExit) => void>();
  #socket: Duplex | undefined;

  constructor(
    readonly id: string,
    readonly onSettled: () => void,
  ) {}

  get exit(): ExecExit | undefined {
    return this.#exit;
  }
  get stdinOffset(): number {
    return this.#stdinOffset;
  }

  attach(
    exec: Dockerode.Exec,
    socket: Duplex,
    modem: { demuxStream: Dockerode['modem']['demuxStream'] },
  ): void {
    this.#socket = socket;
    const out = new PassThrough();
    const err = new PassThrough();
    out.on('data', (chunk: Buffer) => this.stdout.append(chunk));
    err.on('data', (chunk: Buffer) => this.stderr.append(chunk));
    modem.demuxStream(socket, out, err);
    socket.on('error', () => undefined);
    const finish = () => {
      this.stdout.end();
      this.stderr.end();
      void exec.inspect().then(
        (info) => this.settle({ code: typeof info.ExitCode === 'number' ? info.ExitCode : 137 }),
        () => this.settle({ signal: 9 }),
      );
    };
    socket.once('end', finish);
    socket.once('close', finish);
  }

  /** Applies bytes at `offset`: a retried write the exec already has is skipped, not repeated. */
  writeStdin(offset: number, data: Buffer, eof: boolean): void {
    if (offset > this.#stdinOffset) throw new Error(`stdin offset ${offset} is past ${this.#stdinOffset}`);
    const fresh = data.subarray(this.#stdinOffset - offset);
    if (fresh.length > 0 && !this.#stdinClosed) {
      this.#socket?.write(fresh);
      this.#stdinOffset += fresh.length;
    }
    if (eof && !this.#stdinClosed) {
      this.#stdinClosed = true;
      this.#socket?.end();
    }
  }

  settle(exit: ExecExit): void {
    if (this.#exit) return;
    this.stdout.end();
    this.stderr.end();
    this.#exit = exit;
    for (const waiter of this.#exitWaiters) waiter(exit);
    this.#exitWaiters.clear();
    this.#socket?.destroy();
    this.onSettled();
  }

  waitExit(signal: AbortSignal): Promise<ExecExit | undefined> {
    if (this.#exit || signal.aborted) return Promise.resolve(this.#exit);
    return new Promise((resolve) => {
      const done = (exit: ExecExit | undefined) => {
        this.#exitWaiters.delete(done);
        signal.removeEventListener('abort', onAbort);
        resolve(exit);
      };
      const onAbort = () => done(undefined);
      this.#exitWaiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export interface StartContainerOptions {
  readonly name: string;
  readonly image: string;
  readonly entrypoint: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly workdir?: string | undefined;
  readonly milliCpu?: number | undefined;
  readonly memoryMb?: number | undefined;
  readonly blockNetwork: boolean;
  readonly labels: Readonly<Record<string, string>>;
}

/** Thin dockerode calls the control plane needs; containers are always force-removed by name. */
export class SandboxDocker {
  readonly docker = new Dockerode();

  async start(options: StartContainerOptions): Promise<string> {
    const container = await this.docker.createContainer({
      name: options.name,
      Image: options.image,
      Cmd: options.entrypoint.length > 0 ? [...options.entrypoint] : ['tail', '-f', '/dev/null'],
      Env: Object.entries(options.env).map(([key, value]) => `${key}=${value}`),
      ...(options.workdir ? { WorkingDir: options.workdir } : {}),
      Labels: { [LOCAL_MODAL_LABEL]: '1', ...options.labels },
      HostConfig: {
        Init: true,
        AutoRemove: false,
        ...(options.blockNetwork ? { NetworkMode: 'none' } : {}),
        ...(options.milliCpu ? { NanoCpus: options.milliCpu * 1_000_000 } : {}),
        ...(options.memoryMb ? { Memory: options.memoryMb * 1024 * 1024 } : {}),
      },
    });
    try {
      await container.start();
    } catch (error) {
      await this.remove(container.id);
      throw error;
    }
    return container.id;
  }

  async exec(
    containerId: string,
    execution: DockerExec,
    argv: readonly string[],
    options: { env?: Readonly<Record<string, string>>; workdir?: string | undefined },
  ): Promise<void> {
    const exec = await this.docker.getContainer(containerId).exec({
      Cmd: [...argv],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      ...(options.env ? { Env: Object.entries(options.env).map(([key, value]) => `${key}=${value}`) } : {}),
      ...(options.workdir ? { WorkingDir: options.workdir } : {}),
    });
    const socket = (await exec.start({ hijack: true, stdin: true })) as Duplex;
    execution.attach(exec, socket, this.docker.modem);
  }

  /**
   * Builds `FROM <base>` plus Dockerfile `commands` locally (the base is a local test image: nothing
   * is pulled), tagged by content so a second build of the same layers is a cache hit.
   */
  async build(base: string, commands: readonly string[]): Promise<string> {
    const dockerfile = `FROM ${base}\n${commands.join('\n')}\n`;
    const tag = `berth-modal-img:${createHash('sha256').update(dockerfile).digest('hex').slice(0, 16)}`;
    const context = pack();
    context.entry({ name: 'Dockerfile' }, dockerfile);
    context.finalize();
    const stream: NodeJS.ReadableStream = await this.docker.buildImage(
      context as unknown as NodeJS.ReadableStream,
      {
        t: tag,
      },
    );
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(stream, (error: Error | null, output: { error?: string }[]) => {
        const failed = error?.message ?? output.find((line) => line.error)?.error;
        if (failed) reject(new Error(failed));
        else resolve();
      });
    });
    return tag;
  }

  /** The container's exit code, or undefined while it runs (or is gone). */
  async exitCode(containerId: string): Promise<number | undefined> {
    try {
      const info = await this.docker.getContainer(containerId).inspect();
      return info.State.Running ? undefined : info.State.ExitCode;
    } catch {
      return undefined;
    }
  }

  async remove(containerId: string): Promise<void> {
    try {
      await this.docker.getContainer(containerId).remove({ force: true });
    } catch {
      // already gone
    }
  }

  /**
   * Removes containers of local control planes whose process died without closing (a killed test
   * run), found by label, name prefix and the pid of the process that served them.
   */
  async removeOrphans(): Promise<void> {
    const containers = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LOCAL_MODAL_LABEL}=1`] },
    });
    const dead = containers.filter((c) => {
      if (!c.Names.some((name) => name.startsWith(`/${LOCAL_MODAL_CONTAINER_PREFIX}`))) return false;
      const pid = Number(c.Labels['berth-modal.pid']);
      if (!Number.isInteger(pid) || pid <= 0) return false;
      try {
        process.kill(pid, 0);
        return false;
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'ESRCH';
      }
    });
    await Promise.all(dead.map((c) => this.remove(c.Id)));
  }

  /** Removes every container this control plane made (by its label and name prefix, never another's). */
  async removeAll(instanceLabel: string, instanceId: string): Promise<void> {
    const containers = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LOCAL_MODAL_LABEL}=1`, `${instanceLabel}=${instanceId}`] },
    });
    await Promise.all(
      containers
        .filter((c) => c.Names.some((name) => name.startsWith(`/${LOCAL_MODAL_CONTAINER_PREFIX}`)))
        .map((c) => this.remove(c.Id)),
    );
  }
}
