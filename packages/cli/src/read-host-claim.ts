import path from 'node:path/posix';
import { type BackendV1, type HostClaim, type HostDescriptorV1, parseClaim, shellQuote } from '@berth/core';

/** The in-host claim of a running host, or why it could not be read. Never starts a stopped host. */
export type ClaimReading =
  | { readable: true; claim: HostClaim | undefined }
  | { readable: false; why: string };

const READ_TIMEOUT_MS = 15_000;

/**
 * Reads `<workspaceRoot>/.berth/owner` (core's claim file), then lets the host go without touching
 * it: attach, `cat`, disconnect. With one-shot exec (`capabilities.oneShotExec`) the `cat` runs as
 * one argv, with no shell channel: on Modal a channel would install and start berth-agent in every
 * sandbox (and reset its idle timeout) for a command that changes nothing.
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
    const claimFile = path.join(host.workspaceRoot, '.berth', 'owner');
    if (backend.capabilities.oneShotExec && host.run) {
      const result = await host.run(['cat', claimFile], { signal: bounded, maxOutputBytes: 64 * 1024 });
      // No claim file: `cat` fails, and the host was never claimed.
      const text = result.exitCode === 0 ? Buffer.from(result.stdout).toString('utf8') : '';
      return { readable: true, claim: parseClaim(text) };
    }
    const channel = await host.openChannel({ signal: bounded });
    const chunks: Buffer[] = [];
    channel.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    channel.stderr.resume();
    channel.stdin.end(`cat ${shellQuote(claimFile)} 2>/dev/null; exit 0\n`);
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
