import tarStream from 'tar-stream';
import { containerPathExists } from './container-path-exists.js';
import type { DockerConnection } from './docker-connection.js';

export interface EnsureWorkspaceRootOptions {
  readonly connection: DockerConnection;
  readonly containerId: string;
  readonly workspaceRoot: string;
  /** The container user (`name`, `uid` or `uid:gid`), if not root. */
  readonly user?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Makes `workspaceRoot` exist and be writable by the container's user, through the archive API: it
 * works in images without a shell, needs no capability inside the container, and can create a
 * directory under `/` for a non-root user. Missing parents are created root-owned (0755); the root
 * itself is owned by a numeric `uid[:gid]` user, or made world-writable (0777) for a named non-root
 * user whose uid Docker resolves only at run time.
 */
export async function ensureWorkspaceRoot(options: EnsureWorkspaceRootOptions): Promise<void> {
  const { connection, containerId, workspaceRoot, signal } = options;
  const segments = workspaceRoot.split('/').filter((segment) => segment !== '');
  const owner = numericOwner(options.user);
  const namedNonRoot = options.user !== undefined && owner === undefined && !/^root(:|$)/.test(options.user);

  let existing = 0;
  for (let index = 1; index <= segments.length; index += 1) {
    const path = `/${segments.slice(0, index).join('/')}`;
    const exists = await containerPathExists(connection, containerId, path, signal);
    if (!exists) break;
    existing = index;
  }
  const rootExists = existing === segments.length;
  // Root user, or a named user and the directory is there already: nothing to do (core's mkdir -p
  // reports a clear error if it is not writable).
  if (rootExists && (owner === undefined || owner.uid === 0)) return;

  const parent = `/${segments.slice(0, Math.min(existing, segments.length - 1)).join('/')}`;
  const first = rootExists ? segments.length - 1 : existing;
  const pack = tarStream.pack();
  for (let index = first; index < segments.length; index += 1) {
    const name = segments.slice(first, index + 1).join('/');
    const isRoot = index === segments.length - 1;
    pack.entry({
      name,
      type: 'directory',
      mode: isRoot && namedNonRoot ? 0o777 : 0o755,
      uid: isRoot && owner ? owner.uid : 0,
      gid: isRoot && owner ? owner.gid : 0,
      mtime: new Date(),
    });
  }
  pack.finalize();
  await connection.call(
    `create ${workspaceRoot} in container`,
    { signal, hostId: containerId },
    (docker, abortSignal) =>
      docker.getContainer(containerId).putArchive(pack as unknown as NodeJS.ReadableStream, {
        path: parent,
        ...(abortSignal ? { abortSignal } : {}),
      }),
  );
}

function numericOwner(user: string | undefined): { uid: number; gid: number } | undefined {
  if (user === undefined) return undefined;
  const match = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!match) return undefined;
  const uid = Number(match[1]);
  return { uid, gid: match[2] === undefined ? 0 : Number(match[2]) };
}
