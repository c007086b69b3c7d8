import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { CapabilityUnsupportedError } from '@berth/core';
import tar from 'tar-stream';

/** CPU architectures the agent is built for (Go's names, which Docker and OCI use too). */
export type AgentArch = 'amd64' | 'arm64';

/** Parent of the agent's directory inside a host; the directory's name carries the content hash. */
export const AGENT_INSTALL_DIRECTORY = '/.berth';
/** The executable's name inside its directory. */
export const AGENT_FILE_NAME = 'berth-agent';

/** Maps an engine's architecture name (`amd64`, `x86_64`, `arm64`, `aarch64`) to an agent build. */
export function agentArchOf(architecture: string): AgentArch | undefined {
  switch (architecture.toLowerCase()) {
    case 'amd64':
    case 'x86_64':
      return 'amd64';
    case 'arm64':
    case 'aarch64':
      return 'arm64';
    default:
      return undefined;
  }
}

export interface AgentBinary {
  readonly arch: AgentArch;
  /** The executable on this machine. */
  readonly localPath: string;
  readonly sha256: string;
  /** Bytes of the executable: an install whose file has another size was cut short. */
  readonly size: number;
  /**
   * The directory holding only this build inside a host, `/.berth/agent-<hash prefix>`: versions
   * never overwrite each other, and an engine may mount a shared read-only volume there instead.
   */
  readonly installDirectory: string;
  /** `<installDirectory>/berth-agent`. */
  readonly installPath: string;
  /** The executable's bytes, for hosts written file by file (SFTP, a sandbox filesystem API). */
  bytes(): Buffer;
  /**
   * A gzip-compressed tar holding `<directory>/berth-agent` (and the directory entries above it),
   * to extract at `/`; engines' archive APIs accept gzip. `directory` is relative and defaults to
   * `installDirectory` without its leading slash.
   */
  tarball(directory?: string): Promise<Buffer>;
}

const gzipAsync = promisify(gzip);
const loaded = new Map<AgentArch, AgentBinary>();

/**
 * The agent build for `arch`, read once per process. Throws `CapabilityUnsupportedError` when this
 * install of @berth/host-agent has no binary for it (a source checkout built without Go).
 */
export function agentBinary(arch: AgentArch): AgentBinary {
  const cached = loaded.get(arch);
  if (cached) return cached;
  const localPath = fileURLToPath(new URL(`../bin/berth-agent-linux-${arch}`, import.meta.url));
  let bytes: Buffer;
  try {
    bytes = readFileSync(localPath);
  } catch (error) {
    throw new CapabilityUnsupportedError(
      'host-agent',
      `linux/${arch}`,
      `No agent binary at ${localPath} (${(error as NodeJS.ErrnoException).code ?? String(error)}); ` +
        'run `npm run build` in packages/host-agent with Go >= 1.24 installed.',
    );
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const installDirectory = `${AGENT_INSTALL_DIRECTORY}/agent-${sha256.slice(0, 16)}`;
  const tarballs = new Map<string, Promise<Buffer>>();
  const binary: AgentBinary = {
    arch,
    localPath,
    sha256,
    size: bytes.length,
    installDirectory,
    installPath: `${installDirectory}/${AGENT_FILE_NAME}`,
    bytes: () => bytes,
    tarball: (directory = installDirectory.slice(1)) => {
      let tarball = tarballs.get(directory);
      if (!tarball) {
        tarball = packTar(directory, bytes).then((plain) => gzipAsync(plain, { level: 1 }));
        tarballs.set(directory, tarball);
      }
      return tarball;
    },
  };
  loaded.set(arch, binary);
  return binary;
}

/**
 * `binary` installed under another parent than `/.berth` (`<parent>/agent-<hash prefix>`): for
 * hosts where the backend's user cannot write at `/` (an SSH login as a normal user). Same bytes,
 * same hash-named directory, so versions still never overwrite each other.
 */
export function agentBinaryUnder(binary: AgentBinary, parent: string): AgentBinary {
  const installDirectory = `${parent.replace(/\/+$/, '')}/agent-${binary.sha256.slice(0, 16)}`;
  return {
    ...binary,
    installDirectory,
    installPath: `${installDirectory}/${AGENT_FILE_NAME}`,
    tarball: (directory = installDirectory.replace(/^\/+/, '')) => binary.tarball(directory),
  };
}

/** A tar of `directory/berth-agent` and each directory above it, root-owned and world-executable. */
async function packTar(directory: string, bytes: Buffer): Promise<Buffer> {
  const pack = tar.pack();
  const mtime = new Date(0);
  const segments = directory.split('/').filter((segment) => segment !== '');
  for (let index = 1; index <= segments.length; index++) {
    const name = `${segments.slice(0, index).join('/')}/`;
    pack.entry({ name, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime });
  }
  pack.entry(
    { name: `${segments.join('/')}/${AGENT_FILE_NAME}`, type: 'file', mode: 0o755, uid: 0, gid: 0, mtime },
    bytes,
  );
  pack.finalize();
  const blocks: Buffer[] = [];
  for await (const block of pack) blocks.push(block as Buffer);
  return Buffer.concat(blocks);
}
