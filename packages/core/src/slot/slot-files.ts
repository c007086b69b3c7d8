import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import posixPath from 'node:path/posix';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import tarStream from 'tar-stream';
import { BerthError, InternalError, NotFoundError } from '../errors/index.js';
import { shellQuote } from '../shell/shell-script.js';
import type { ResolvedExecOptions } from './run-command.js';
import { runCommand } from './run-command.js';
import type { SlotRecord } from './slot-record.js';

/**
 * File transfer for a slot: through the in-host runtime where there is one, the backend's archive
 * API where it has one (tar in and out, no shell involved), otherwise through the slot's shell with
 * base64 and `tar`. A slot with its own user (`isolation: 'user'`) never uses the archive API: the
 * engine extracts and reads as root, so a symlink the slot planted would reach a sibling's files.
 */
export class SlotFiles {
  constructor(
    private readonly slot: SlotRecord,
    private readonly execDefaults: (signal?: AbortSignal) => ResolvedExecOptions,
  ) {}

  private get host() {
    return this.slot.host.backendHost;
  }

  /** The archive API, unless the slot runs as its own user (see above). */
  private get archive() {
    const host = this.host;
    return this.slot.user ? undefined : host;
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
    if (this.archive?.putArchive) {
      const pack = tarStream.pack();
      pack.entry({ name: posixPath.basename(target), mode, size: data.byteLength }, Buffer.from(data));
      pack.finalize();
      await this.archive.putArchive(directory, pack as unknown as Readable, { signal });
      return;
    }
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
    if (this.archive?.getArchive) {
      const archive = await this.archive.getArchive(target, { signal }).catch((error: unknown) => {
        throw new NotFoundError(`No file at ${target} in slot ${this.slot.id}.`, { cause: error });
      });
      return readSingleFile(archive, target);
    }
    const result = await runCommand(this.slot, `base64 < ${shellQuote(target)}`, {
      ...this.execDefaults(signal),
      maxOutputBytes: Number.MAX_SAFE_INTEGER,
    });
    if (result.exitCode !== 0)
      throw new NotFoundError(`No file at ${target} in slot ${this.slot.id}: ${result.stderr.trim()}`);
    return Buffer.from(result.stdout.replace(/\s+/g, ''), 'base64');
  }

  async upload(localPath: string, remoteDirectory: string, signal?: AbortSignal): Promise<void> {
    await this.shell(['mkdir', '-p', remoteDirectory], signal);
    const source = tar.c({ cwd: path.dirname(path.resolve(localPath)), portable: true }, [
      path.basename(localPath),
    ]);
    if (this.archive?.putArchive) {
      await this.archive.putArchive(remoteDirectory, Readable.from(source), { signal });
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of source) chunks.push(Buffer.from(chunk as Uint8Array));
    const result = await this.shellWithStdin(
      `tar -xf - -C ${shellQuote(remoteDirectory)}`,
      Buffer.concat(chunks),
      signal,
    );
    if (result.exitCode !== 0)
      throw new InternalError(`Upload into ${remoteDirectory} failed: ${result.stderr.trim()}`);
  }

  async download(remotePath: string, localDirectory: string, signal?: AbortSignal): Promise<void> {
    await mkdir(localDirectory, { recursive: true });
    let archive: Readable;
    if (this.archive?.getArchive) {
      archive = await this.archive.getArchive(remotePath, { signal }).catch((error: unknown) => {
        throw new NotFoundError(`Nothing at ${remotePath} in slot ${this.slot.id}.`, { cause: error });
      });
    } else {
      const command = `tar -cf - -C ${shellQuote(posixPath.dirname(remotePath))} ${shellQuote(posixPath.basename(remotePath))} | base64`;
      const result = await runCommand(this.slot, command, {
        ...this.execDefaults(signal),
        maxOutputBytes: Number.MAX_SAFE_INTEGER,
      });
      if (result.exitCode !== 0) throw new NotFoundError(`Nothing at ${remotePath}: ${result.stderr.trim()}`);
      archive = Readable.from([Buffer.from(result.stdout.replace(/\s+/g, ''), 'base64')]);
    }
    await pipeline(archive, tar.x({ cwd: localDirectory }), { signal });
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
    const result = await runCommand(this.slot, argv, this.execDefaults(signal));
    if (result.exitCode !== 0) throw new InternalError(`${argv.join(' ')} failed: ${result.stderr.trim()}`);
  }

  private shellWithStdin(command: string, stdin: Uint8Array, signal?: AbortSignal) {
    return runCommand(this.slot, command, { ...this.execDefaults(signal), stdin });
  }
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
