import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import posixPath from 'node:path/posix';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import tarStream from 'tar-stream';
import {
  AbortedError,
  BerthError,
  ExecTimeoutError,
  InternalError,
  InvalidOptionsError,
  NotFoundError,
} from '../errors/index.js';
import { shellQuote } from '../shell/shell-script.js';
import type { ResolvedExecOptions } from './run-command.js';
import { runCommand } from './run-command.js';
import type { SlotRecord } from './slot-record.js';
import type { ExecResult } from './slot-types.js';

/**
 * File transfer for a slot: through the in-host runtime where there is one, the backend's archive
 * API where it has one (tar in and out, no shell involved), otherwise through the slot's shell with
 * base64 and `tar`. A slot with its own user (`isolation: 'user'`) asks the archive API to work as
 * that user (`user`); a host whose archive API cannot (an engine's extracts and reads as root, so
 * a symlink the slot planted would reach a sibling's files) says CAPABILITY_UNSUPPORTED, and the
 * slot's shell does it as the user. A host whose archive API needs a runtime it lacks says the same.
 */
export class SlotFiles {
  constructor(
    private readonly slot: SlotRecord,
    private readonly execDefaults: (signal?: AbortSignal) => ResolvedExecOptions,
  ) {}

  private get host() {
    return this.slot.host.backendHost;
  }

  async writeFile(target: string, data: Uint8Array, mode: number, signal?: AbortSignal): Promise<void> {
    const user = this.slot.user;
    if (
      await this.viaRuntime(() =>
        this.host.writeFile?.(target, data, { mode, signal, ...(user ? { user } : {}) }),
      )
    )
      return;
    const directory = posixPath.dirname(target);
    await this.shell(['mkdir', '-p', directory], signal);
    const pack = tarStream.pack();
    pack.entry({ name: posixPath.basename(target), mode, size: data.byteLength }, Buffer.from(data));
    pack.finalize();
    if (
      await this.putThroughArchive(
        directory,
        pack as unknown as Readable,
        undefined,
        signal,
        `Writing ${target}`,
      )
    )
      return;
    const result = await this.shellWithStdin(
      `cat > ${shellQuote(target)} && chmod ${mode.toString(8)} ${shellQuote(target)}`,
      data,
      signal,
    );
    if (result.exitCode !== 0) throw new InternalError(`Writing ${target} failed: ${result.stderr.trim()}`);
  }

  async readFile(target: string, signal?: AbortSignal): Promise<Uint8Array> {
    let bytes: Uint8Array | undefined;
    const read = async () => {
      const user = this.slot.user;
      bytes = await this.host.readFile?.(target, { signal, ...(user ? { user } : {}) });
    };
    if (await this.viaRuntime(read)) return bytes as Uint8Array;
    const archive = await this.getThroughArchive(
      target,
      signal,
      `No file at ${target} in slot ${this.slot.id}`,
    );
    if (archive) {
      return readSingleFile(archive, target).catch((error: unknown) => {
        throw archiveError(
          error,
          signal,
          `No file at ${target} in slot ${this.slot.id}`,
          `Reading ${target}`,
        );
      });
    }
    const result = throwIfStopped(
      await runCommand(this.slot, `base64 < ${shellQuote(target)}`, {
        ...this.execDefaults(signal),
        maxOutputBytes: Number.MAX_SAFE_INTEGER,
      }),
      `Reading ${target}`,
    );
    if (result.exitCode !== 0)
      throw shellFileError(
        result.stderr,
        `No file at ${target} in slot ${this.slot.id}`,
        `Reading ${target}`,
      );
    return Buffer.from(result.stdout.replace(/\s+/g, ''), 'base64');
  }

  async upload(localPath: string, remoteDirectory: string, signal?: AbortSignal): Promise<void> {
    await stat(localPath).catch((error: unknown) => {
      throw localPathError(error, localPath);
    });
    await this.shell(['mkdir', '-p', remoteDirectory], signal);
    const source = tar.c({ cwd: path.dirname(path.resolve(localPath)), portable: true }, [
      path.basename(localPath),
    ]);
    // A file that vanishes or cannot be read while it is packed surfaces here, typed.
    const packFailure = new Promise<never>((_, reject) =>
      source.on('error', (error: unknown) => reject(localPathError(error, localPath))),
    );
    packFailure.catch(() => undefined);
    const extracting = `Extracting into ${remoteDirectory}`;
    if (await this.putThroughArchive(remoteDirectory, Readable.from(source), packFailure, signal, extracting))
      return;
    const chunks: Buffer[] = [];
    const pack = async () => {
      for await (const chunk of source) chunks.push(Buffer.from(chunk as Uint8Array));
    };
    await Promise.race([pack(), packFailure]).catch((error: unknown) => {
      throw BerthError.isInstance(error) ? error : localPathError(error, localPath);
    });
    const result = await this.shellWithStdin(
      `tar -xf - -C ${shellQuote(remoteDirectory)}`,
      Buffer.concat(chunks),
      signal,
    );
    if (result.exitCode !== 0)
      throw new InternalError(`Upload into ${remoteDirectory} failed: ${result.stderr.trim()}`);
  }

  async download(remotePath: string, localDirectory: string, signal?: AbortSignal): Promise<void> {
    await mkdir(localDirectory, { recursive: true }).catch((error: unknown) => {
      throw localPathError(error, localDirectory);
    });
    let archive: Readable;
    const viaArchive = await this.getThroughArchive(
      remotePath,
      signal,
      `Nothing at ${remotePath} in slot ${this.slot.id}`,
    );
    if (viaArchive) {
      archive = viaArchive;
    } else {
      const command = `tar -cf - -C ${shellQuote(posixPath.dirname(remotePath))} ${shellQuote(posixPath.basename(remotePath))} | base64`;
      const result = throwIfStopped(
        await runCommand(this.slot, command, {
          ...this.execDefaults(signal),
          maxOutputBytes: Number.MAX_SAFE_INTEGER,
        }),
        `Reading ${remotePath}`,
      );
      if (result.exitCode !== 0)
        throw shellFileError(
          result.stderr,
          `Nothing at ${remotePath} in slot ${this.slot.id}`,
          `Reading ${remotePath}`,
        );
      archive = Readable.from([Buffer.from(result.stdout.replace(/\s+/g, ''), 'base64')]);
    }
    await pipeline(archive, tar.x({ cwd: localDirectory }), { signal }).catch((error: unknown) => {
      if (BerthError.isInstance(error)) throw error;
      if (signal?.aborted) throw new AbortedError(`Downloading ${remotePath} was aborted.`, { cause: error });
      throw new InternalError(
        `Downloading ${remotePath} into ${localDirectory} failed: ${describe(error)}. Check that the local directory is writable and has space.`,
        { cause: error },
      );
    });
  }

  /**
   * Extracts `tar` through the host's archive API; false when it has none or says it cannot here
   * (`CAPABILITY_UNSUPPORTED`: no runtime to do it, or none that extracts as the slot's own user),
   * and the slot's shell does it instead, as the slot's user. It throws before reading `tar`.
   */
  private async putThroughArchive(
    directory: string,
    tar: Readable,
    packFailure: Promise<never> | undefined,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<boolean> {
    if (!this.host.putArchive) return false;
    const user = this.slot.user;
    const put = this.host.putArchive(directory, tar, { signal, ...(user ? { user } : {}) });
    try {
      await (packFailure ? Promise.race([put, packFailure]) : put);
      return true;
    } catch (error) {
      if (BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED')) return false;
      throw transferError(error, signal, what);
    }
  }

  /** A tar of `path` through the host's archive API, or undefined (as `putThroughArchive`). */
  private async getThroughArchive(
    path: string,
    signal: AbortSignal | undefined,
    missing: string,
  ): Promise<Readable | undefined> {
    if (!this.host.getArchive) return undefined;
    const user = this.slot.user;
    try {
      return await this.host.getArchive(path, { signal, ...(user ? { user } : {}) });
    } catch (error) {
      if (BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED')) return undefined;
      throw archiveError(error, signal, missing, `Reading ${path}`);
    }
  }

  /**
   * Runs a file operation through the host's in-host runtime (one request, no engine archive call,
   * no process) when it has one; false when it has none, so the caller takes the older way.
   */
  private async viaRuntime(operation: () => Promise<unknown> | undefined): Promise<boolean> {
    const host = this.slot.host;
    if (host.commandRuntime === 'shell' || !this.host.readFile || !this.host.writeFile) return false;
    try {
      await operation();
      return true;
    } catch (error) {
      if (!BerthError.hasCode(error, 'CAPABILITY_UNSUPPORTED')) throw error;
      host.commandRuntime = 'shell';
      return false;
    }
  }

  private async shell(argv: readonly string[], signal?: AbortSignal): Promise<void> {
    if (!this.slot.host.shellAvailable) return;
    const result = throwIfStopped(
      await runCommand(this.slot, argv, this.execDefaults(signal)),
      argv.join(' '),
    );
    if (result.exitCode !== 0) throw new InternalError(`${argv.join(' ')} failed: ${result.stderr.trim()}`);
  }

  private async shellWithStdin(command: string, stdin: Uint8Array, signal?: AbortSignal) {
    return throwIfStopped(
      await runCommand(this.slot, command, { ...this.execDefaults(signal), stdin }),
      command,
    );
  }
}

/** A transfer through the slot's shell that was aborted or ran out of time throws, typed. */
function throwIfStopped(result: ExecResult, what: string): ExecResult {
  if (result.aborted) throw new AbortedError(`${what} was aborted.`);
  if (result.timedOut)
    throw new ExecTimeoutError(
      `${what} did not finish within the pool's execTimeoutMs; raise it for large transfers.`,
    );
  return result;
}

/**
 * A backend's archive call failed. Its typed errors keep their code (only a missing path is
 * NOT_FOUND: a lost host, a refused request or a timeout each say what they were); an untyped one
 * (a backend that did not map it) becomes NOT_FOUND for ENOENT, else INTERNAL, with it as `cause`.
 */
function archiveError(
  error: unknown,
  signal: AbortSignal | undefined,
  missing: string,
  what: string,
): BerthError {
  if (!BerthError.isInstance(error) && signal?.aborted)
    return new AbortedError(`${what} was aborted.`, { cause: error });
  if (BerthError.isInstance(error)) {
    if (error.code === 'NOT_FOUND')
      return new NotFoundError(`${missing}: ${error.message}`, { cause: error });
    return error;
  }
  if (errnoCode(error) === 'ENOENT') return new NotFoundError(`${missing}.`, { cause: error });
  return new InternalError(`${what} failed: ${describe(error)}.`, { cause: error });
}

/** A transfer failed: typed errors as they are, an abort as ABORTED, anything else INTERNAL with its cause. */
function transferError(error: unknown, signal: AbortSignal | undefined, what: string): BerthError {
  if (BerthError.isInstance(error)) return error;
  if (signal?.aborted) return new AbortedError(`${what} was aborted.`, { cause: error });
  return new InternalError(`${what} failed: ${describe(error)}.`, { cause: error });
}

/** A local path given to upload/download could not be used: typed, with the Node error as `cause`. */
function localPathError(error: unknown, localPath: string): BerthError {
  if (BerthError.isInstance(error)) return error;
  const code = errnoCode(error);
  if (code === 'ENOENT')
    return new NotFoundError(`The local path ${localPath} does not exist; check the path you passed.`, {
      cause: error,
    });
  if (code === 'EACCES' || code === 'EPERM')
    return new InvalidOptionsError(
      'localPath',
      `${localPath} is not accessible (${code}): ${describe(error)}.`,
      {
        cause: error,
      },
    );
  return new InternalError(`Using the local path ${localPath} failed: ${describe(error)}.`, { cause: error });
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function describe(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\.$/, '');
}

async function readSingleFile(archive: Readable, target: string): Promise<Uint8Array> {
  const extract = tarStream.extract();
  let found: Buffer | undefined;
  let kind: string | undefined;
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => {
      if (found === undefined) chunks.push(chunk as Buffer);
    });
    stream.on('end', () => {
      if (found === undefined) {
        kind = header.type ?? 'file';
        if (kind === 'file') found = Buffer.concat(chunks);
      }
      next();
    });
  });
  await pipeline(archive, extract);
  if (found === undefined) {
    throw new NotFoundError(
      `${target} is ${kind === undefined ? 'missing' : `a ${kind}, not a regular file`}.`,
    );
  }
  return found;
}

/**
 * What a file command's failure in the slot's shell means: `NOT_FOUND` only when the path does not
 * exist; anything else (permission denied, not a regular file, a full disk) is `INTERNAL` with
 * the shell's own words.
 */
function shellFileError(stderr: string, missing: string, operation: string): BerthError {
  const said = stderr.trim();
  if (
    /no such file or directory|can't open|cannot open|not found/i.test(said) &&
    !/permission denied/i.test(said)
  )
    return new NotFoundError(`${missing}: ${said}`);
  return new InternalError(`${operation} failed: ${said || 'no reason given'}.`);
}
