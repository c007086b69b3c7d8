import { randomBytes, randomUUID } from 'node:crypto';
import { DockerExec, LOCAL_MODAL_CONTAINER_PREFIX, SandboxDocker } from './docker-sandbox.js';

/** `modal.client.GenericResult.GenericStatus` values the control plane reports. */
export const GENERIC_STATUS = {
  SUCCESS: 1,
  FAILURE: 2,
  TERMINATED: 3,
  TIMEOUT: 4,
  IDLE_TIMEOUT: 7,
} as const;

export interface GenericResult {
  readonly status: number;
  readonly exitcode: number;
  readonly exception: string;
}

export interface SandboxRequest {
  readonly appId: string;
  readonly isV2: boolean;
  readonly image: string;
  readonly entrypoint: readonly string[];
  readonly env: Record<string, string>;
  readonly workdir?: string | undefined;
  readonly milliCpu?: number | undefined;
  readonly memoryMb?: number | undefined;
  readonly blockNetwork: boolean;
  readonly timeoutSecs: number;
  readonly idleTimeoutSecs?: number | undefined;
  readonly tags: Map<string, string>;
  readonly regions: readonly string[];
  readonly gpu: string;
}

export interface SandboxRecord {
  readonly id: string;
  readonly taskId: string;
  readonly request: SandboxRequest;
  /** Seconds since the epoch, strictly increasing across sandboxes (list paging keys on it). */
  readonly createdAt: number;
  tags: Map<string, string>;
  containerId?: string | undefined;
  startedAt?: number;
  finishedAt?: number;
  result?: GenericResult | undefined;
  readonly execs: Map<string, DockerExec>;
  readonly timers: Set<NodeJS.Timeout>;
  /** Resolves once the container runs (true) or the sandbox finished before that (false). */
  readonly scheduled: Promise<boolean>;
  lastActivityMs: number;
}

const V1_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A V1 id is `sb-` + 22 base62 characters (the SDK tells the paths apart by this shape). */
function sandboxId(isV2: boolean): string {
  if (isV2) return `sb2-${randomBytes(10).toString('hex')}`;
  const bytes = randomBytes(22);
  return `sb-${Array.from(bytes, (byte) => V1_ALPHABET[byte % V1_ALPHABET.length]).join('')}`;
}

/** Sandboxes of one control plane, each a Docker container; idle and lifetime timers enforced. */
export class SandboxStore {
  readonly docker = new SandboxDocker();
  readonly sandboxes = new Map<string, SandboxRecord>();
  readonly byTask = new Map<string, SandboxRecord>();
  #lastCreatedAt = 0;

  constructor(
    readonly instanceId: string,
    readonly schedulingDelayMs: () => number,
  ) {}

  create(request: SandboxRequest): SandboxRecord {
    const id = sandboxId(request.isV2);
    const createdAt = Math.max(Date.now() / 1000, this.#lastCreatedAt + 0.001);
    this.#lastCreatedAt = createdAt;
    let markScheduled: (running: boolean) => void = () => undefined;
    const scheduled = new Promise<boolean>((resolve) => {
      markScheduled = resolve;
    });
    const record: SandboxRecord = {
      id,
      taskId: `ta-${randomUUID().replaceAll('-', '').slice(0, 20)}`,
      request,
      createdAt,
      tags: new Map(request.tags),
      execs: new Map(),
      timers: new Set(),
      scheduled,
      lastActivityMs: Date.now(),
    };
    this.sandboxes.set(id, record);
    this.byTask.set(record.taskId, record);
    void this.#schedule(record).then(markScheduled, () => markScheduled(false));
    this.#timer(record, request.timeoutSecs * 1000, () =>
      this.finish(record, { status: GENERIC_STATUS.TIMEOUT, exitcode: 0, exception: 'Sandbox timed out' }),
    );
    return record;
  }

  async #schedule(record: SandboxRecord): Promise<boolean> {
    const delayMs = this.schedulingDelayMs();
    if (delayMs > 0) await new Promise((resolve) => this.#timer(record, delayMs, () => resolve(undefined)));
    if (record.result) return false;
    const { request } = record;
    try {
      const containerId = await this.docker.start({
        name: `${LOCAL_MODAL_CONTAINER_PREFIX}${record.id}`,
        image: request.image,
        entrypoint: request.entrypoint,
        env: request.env,
        workdir: request.workdir,
        milliCpu: request.milliCpu,
        memoryMb: request.memoryMb,
        blockNetwork: request.blockNetwork,
        labels: {
          'berth-modal.instance': this.instanceId,
          'berth-modal.sandbox': record.id,
          'berth-modal.pid': String(process.pid),
        },
      });
      record.containerId = containerId;
      if (record.result) {
        await this.docker.remove(containerId); // terminated while starting
        return false;
      }
    } catch (error) {
      this.finish(record, {
        status: GENERIC_STATUS.FAILURE,
        exitcode: 1,
        exception: `could not start: ${(error as Error).message}`,
      });
      return false;
    }
    record.startedAt = Date.now() / 1000;
    record.lastActivityMs = Date.now();
    this.#armIdle(record);
    return true;
  }

  /** Idle: no exec running and no stdin for `idleTimeoutSecs` (what Modal counts as inactive). */
  #armIdle(record: SandboxRecord): void {
    const idleSecs = record.request.idleTimeoutSecs;
    if (!idleSecs) return;
    const check = () => {
      if (record.result) return;
      const running = [...record.execs.values()].some((exec) => !exec.exit);
      const idleForMs = Date.now() - record.lastActivityMs;
      if (!running && idleForMs >= idleSecs * 1000) {
        this.finish(record, {
          status: GENERIC_STATUS.IDLE_TIMEOUT,
          exitcode: 0,
          exception: 'Sandbox idle timeout',
        });
        return;
      }
      this.#timer(record, running ? 500 : Math.max(100, idleSecs * 1000 - idleForMs), check);
    };
    this.#timer(record, idleSecs * 1000, check);
  }

  #timer(record: SandboxRecord, delayMs: number, run: () => void): void {
    const timer = setTimeout(() => {
      record.timers.delete(timer);
      run();
    }, delayMs);
    timer.unref();
    record.timers.add(timer);
  }

  async startExec(
    record: SandboxRecord,
    execId: string,
    argv: readonly string[],
    options: { env?: Record<string, string>; workdir?: string | undefined },
  ): Promise<DockerExec> {
    const existing = record.execs.get(execId);
    if (existing) return existing; // a retried start
    const exec = new DockerExec(execId, () => {
      record.lastActivityMs = Date.now();
    });
    record.execs.set(execId, exec);
    record.lastActivityMs = Date.now();
    if (!record.containerId) throw new Error(`sandbox ${record.id} has no container`);
    try {
      await this.docker.exec(record.containerId, exec, argv, options);
    } catch (error) {
      record.execs.delete(execId);
      throw error;
    }
    return exec;
  }

  /** Ends the sandbox: its container is removed and every exec reads EOF and exit 137. */
  finish(record: SandboxRecord, result: GenericResult): void {
    if (record.result) return;
    record.result = result;
    record.finishedAt = Date.now() / 1000;
    for (const timer of record.timers) clearTimeout(timer);
    record.timers.clear();
    for (const exec of record.execs.values()) exec.settle({ signal: 9 });
    if (record.containerId) void this.docker.remove(record.containerId);
  }

  /** A sandbox whose container died by itself (its entrypoint exited) is finished on first look. */
  async refresh(record: SandboxRecord): Promise<void> {
    if (record.result || !record.containerId) return;
    const code = await this.docker.exitCode(record.containerId);
    if (code !== undefined && !record.result) {
      this.finish(record, {
        status: code === 0 ? GENERIC_STATUS.SUCCESS : GENERIC_STATUS.FAILURE,
        exitcode: code,
        exception: '',
      });
    }
  }

  async close(): Promise<void> {
    for (const record of this.sandboxes.values()) {
      this.finish(record, {
        status: GENERIC_STATUS.TERMINATED,
        exitcode: 0,
        exception: 'control plane stopped',
      });
    }
    await this.docker.removeAll('berth-modal.instance', this.instanceId);
  }
}
