/**
 * A complete third-party Berth backend in one file: each host is a directory on this machine and
 * each shell an `sh` child process. It implements only what `berth-backend-v1` requires — create a
 * host, open a channel to `sh`, health, disconnect, destroy — and passes `runBackendConformance`
 * (test/minimal-backend-conformance.test.ts). docs/writing-a-backend.md walks through it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  BACKEND_SPECIFICATION_V1,
  type BackendV1,
  type HostChannelV1,
  type HostV1,
  InvalidOptionsError,
  throwIfAborted,
  type WaitOptions,
} from '@berth/core';

/** The host spec a profile gives (`host: { … }`), after validation. Core hashes it into `berth.spec`. */
export interface SubprocessHostSpec {
  /** Variables set in every shell; nothing of this process's environment leaks in. */
  env: Record<string, string>;
}

/** Synchronous and without I/O, as the spec requires: validate, never connect. */
export function createSubprocessBackend(baseDirectory = path.join(os.tmpdir(), 'berth-subprocess')) {
  const backend: BackendV1<SubprocessHostSpec> = {
    specificationVersion: BACKEND_SPECIFICATION_V1,
    backendId: 'subprocess',
    // Nothing optional: core lays out workspaces, moves files and cleans slots through the shell.
    capabilities: {
      persistence: false,
      archive: false,
      oneShotExec: false,
      hostLossEvents: false,
      stopStart: false,
    },

    resolveHostSpec(input: unknown, field: string): SubprocessHostSpec {
      const { env = {}, ...rest } = (input ?? {}) as { env?: unknown };
      const unknownKey = Object.keys(rest)[0];
      if (unknownKey !== undefined) throw new InvalidOptionsError(`${field}.${unknownKey}`, 'unknown field.');
      const valid =
        typeof env === 'object' && env !== null && Object.values(env).every((v) => typeof v === 'string');
      if (!valid) throw new InvalidOptionsError(`${field}.env`, 'expected an object of string values.');
      return { env: { ...(env as Record<string, string>) } };
    },

    async createHost(request, options: WaitOptions = {}): Promise<HostV1> {
      throwIfAborted(options.signal);
      const id = `subprocess-${randomBytes(6).toString('hex')}`;
      const directory = path.join(baseDirectory, id);
      try {
        await mkdir(path.join(directory, 'workspace'), { recursive: true });
        throwIfAborted(options.signal);
      } catch (error) {
        await rm(directory, { recursive: true, force: true }); // never leave a half-made host
        throw error;
      }
      return new SubprocessHost(id, directory, request.labels, request.spec.env);
    },
  };
  return backend;
}

/** `BERTH_BACKEND=subprocess` with `poolFromEnv`: the variables this backend reads, and how. */
export const envVariables = ['BERTH_SUBPROCESS_DIR'];
export function backendFromEnv(env: Readonly<Record<string, string | undefined>>) {
  return { backend: createSubprocessBackend(env.BERTH_SUBPROCESS_DIR), host: {} };
}

class SubprocessHost implements HostV1 {
  readonly workspaceRoot: string;
  private readonly shells = new Set<ChildProcess>();
  private destroyed = false;

  constructor(
    readonly id: string,
    private readonly directory: string,
    readonly labels: Readonly<Record<string, string>>,
    private readonly env: Record<string, string>,
  ) {
    this.workspaceRoot = path.join(directory, 'workspace');
  }

  async openChannel(options: WaitOptions = {}): Promise<HostChannelV1> {
    throwIfAborted(options.signal);
    const shell = spawn('/bin/sh', [], {
      cwd: this.workspaceRoot,
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: this.workspaceRoot, ...this.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // its own process group, so destroy() can kill everything below it
    });
    this.shells.add(shell);
    const closed = new Promise<{ exitCode?: number; error?: Error }>((resolve) => {
      shell.once('error', (error) => resolve({ error }));
      shell.once('exit', (code, signal) => {
        this.shells.delete(shell);
        shell.stdout?.destroy();
        shell.stderr?.destroy();
        resolve(signal ? { error: new Error(`shell killed by ${signal}`) } : { exitCode: code ?? -1 });
      });
    });
    return {
      stdin: shell.stdin!,
      stdout: shell.stdout!,
      stderr: shell.stderr!,
      closed,
      close: () => {
        shell.stdin?.destroy();
        if (shell.exitCode === null && shell.signalCode === null) shell.kill('SIGKILL');
      },
    };
  }

  async health() {
    if (this.destroyed) return { alive: false, reason: 'destroyed' };
    const exists = await stat(this.workspaceRoot).then(
      () => true,
      () => false,
    );
    return exists ? { alive: true } : { alive: false, reason: `${this.workspaceRoot} is gone` };
  }

  async disconnect(): Promise<void> {
    for (const shell of this.shells) shell.kill('SIGKILL');
    this.shells.clear();
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    for (const shell of this.shells) {
      try {
        if (shell.pid !== undefined) process.kill(-shell.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.disconnect();
    await rm(this.directory, { recursive: true, force: true });
  }
}
