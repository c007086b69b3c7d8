import path from 'node:path/posix';
import { type BackendV1, type HostClaim, type HostDescriptorV1, parseClaim, shellQuote } from '@berth/core';

/** The in-host claim of a running host, or why it could not be read. Never starts a stopped host. */
export type ClaimReading =
  | { readable: true; claim: HostClaim | undefined }
  | { readable: false; why: string };

const READ_TIMEOUT_MS = 15_000;

/**
 * Reads `<workspaceRoot>/.berth/owner` (core's claim file) through one shell channel, then lets the
 * host go without touching it: attach, `cat`, disconnect.
 */
export async function readHostClaim(
  backend: BackendV1,
  descriptor: HostDescriptorV1,
  signal: AbortSignal,
): Promise<ClaimReading> {
  if (descriptor.state !== 'running') return { readable: false, why: `the host is ${descriptor.state}` };
  if (!backend.attachHost) return { readable: false, why: `${backend.backendId} cannot attach to hosts` };
  const bounded = AbortSignal.any([signal, AbortSignal.timeout(READ_TIMEOUT_MS)]);
  let host: Awaited<ReturnType<NonNullable<BackendV1['attachHost']>>> | undefined;
  try {
    host = await backend.attachHost(descriptor, { signal: bounded });
    const channel = await host.openChannel({ signal: bounded });
    const chunks: Buffer[] = [];
    channel.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    channel.stderr.resume();
    const file = path.join(host.workspaceRoot, '.berth', 'owner');
    channel.stdin.end(`cat ${shellQuote(file)} 2>/dev/null; exit 0\n`);
    const aborted = new Promise<never>((_, reject) => {
      if (bounded.aborted) reject(new Error('timed out'));
      bounded.addEventListener('abort', () => reject(new Error('timed out reading the claim')), {
        once: true,
      });
    });
    try {
      await Promise.race([channel.closed, aborted]);
    } finally {
      channel.close();
    }
    return { readable: true, claim: parseClaim(Buffer.concat(chunks).toString('utf8')) };
  } catch (error) {
    return { readable: false, why: error instanceof Error ? error.message : String(error) };
  } finally {
    await host?.disconnect().catch(() => undefined);
  }
}
