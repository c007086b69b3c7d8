import { spawn } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import type {
  ChannelCloseInfoV1,
  HostChannelV1,
  HostHealthV1,
  HostV1,
  OneShotResultV1,
  OneShotRunOptionsV1,
  SlotUserV1,
  WaitOptions,
} from '../backend/v1/types.js';
import { CapabilityUnsupportedError, throwIfAborted } from '../errors/index.js';
import { localShellEnv, type ResolvedLocalHostSpec } from './local-host-spec.js';

/** This process extracts and packs as itself: a slot's own user (isolation 'user') goes through its shell. */
function asRootOnly(operation: string): CapabilityUnsupportedError {
  return new CapabilityUnsupportedError('local', `${operation} as a slot user`);
}

/** A local host: a directory tree on this machine; shells are child processes. */
export class LocalHost implements HostV1 {
  readonly workspaceRoot: string;
  private readonly children = new Set<ReturnType<typeof spawn>>();
  private destroyed = false;

  constructor(
    readonly id: string,
    readonly directory: string,
    readonly labels: Readonly<Record<string, string>>,
    private readonly spec: ResolvedLocalHostSpec,
    /** Where the base variables and `forwardEnv` are read; nothing else of it reaches a shell. */
    private readonly sourceEnv: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    this.workspaceRoot = path.join(directory, 'workspace');
  }

  async openChannel(options: WaitOptions = {}): Promise<HostChannelV1> {
    throwIfAborted(options.signal);
    // detached: the shell leads its own session, so the terminal's Ctrl-C reaches the pool's
    // signal handlers (which clean up) rather than every command at once.
    const child = spawn(this.spec.shell, [], {
      cwd: this.workspaceRoot,
      env: localShellEnv(this.spec, this.sourceEnv),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.children.add(child);
    const closed = new Promise<ChannelCloseInfoV1>((resolve) => {
      child.once('error', (error) => resolve({ error }));
      // 'exit', not 'close': a command's orphaned children may hold the pipes open long after
      // the shell itself died, and the loss must be reported now, not when they finish.
      child.once('exit', (code, signal) => {
        this.children.delete(child);
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve(signal ? { error: new Error(`shell killed by ${signal}`) } : { exitCode: code ?? -1 });
      });
    });
    return {
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      closed,
      close: () => {
        child.stdin.destroy();
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    };
  }

  run(argv: readonly string[], options: OneShotRunOptionsV1 = {}): Promise<OneShotResultV1> {
    throwIfAborted(options.signal);
    const [file, ...args] = argv;
    const limit = options.maxOutputBytes ?? Number.POSITIVE_INFINITY;
    return new Promise((resolve, reject) => {
      const child = spawn(file ?? 'true', args, {
        cwd: options.cwd ?? this.workspaceRoot,
        env: { ...localShellEnv(this.spec, this.sourceEnv), ...options.env },
        signal: options.signal,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let bytes = 0;
      let truncated = false;
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        if (bytes + chunk.length > limit) truncated = true;
        else into.push(chunk);
        bytes += chunk.length;
      };
      child.stdout.on('data', collect(out));
      child.stderr.on('data', collect(err));
      child.once('error', reject);
      child.once('close', (code) =>
        resolve({ exitCode: code ?? 137, stdout: Buffer.concat(out), stderr: Buffer.concat(err), truncated }),
      );
      child.stdin.end(options.stdin);
    });
  }

  async putArchive(
    directory: string,
    archive: Readable,
    options: WaitOptions & { user?: SlotUserV1 } = {},
  ): Promise<void> {
    if (options.user) throw asRootOnly('putArchive');
    await pipeline(archive, tar.x({ cwd: directory }), { signal: options.signal });
  }

  async getArchive(target: string, options: WaitOptions & { user?: SlotUserV1 } = {}): Promise<Readable> {
    if (options.user) throw asRootOnly('getArchive');
    throwIfAborted(options.signal);
    await stat(target);
    const output = new PassThrough();
    const source = tar.c({ cwd: path.dirname(target), portable: true }, [path.basename(target)]);
    pipeline(source, output).catch((error) => output.destroy(error));
    return output;
  }

  async health(): Promise<HostHealthV1> {
    if (this.destroyed) return { alive: false, reason: 'destroyed' };
    try {
      await stat(this.workspaceRoot);
      return { alive: true };
    } catch {
      return { alive: false, reason: `workspace ${this.workspaceRoot} no longer exists` };
    }
  }

  async disconnect(): Promise<void> {
    for (const child of this.children) {
      child.stdin?.destroy();
      child.kill('SIGKILL');
    }
    this.children.clear();
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    // Shells run detached, each leading its own process group: kill the groups, so background
    // processes the slots started die with the host instead of outliving it.
    for (const child of this.children) {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    await this.disconnect();
    await rm(this.directory, { recursive: true, force: true });
  }
}
