import { CapabilityUnsupportedError } from '@berth/core';
import type { AgentHostAccess } from '@berth/host-agent';
import type { Sandbox } from 'modal';
import { agentTransport, batchedStdin, runExec, startExec } from './sandbox-exec.js';

const UPLOAD_CHUNK_BYTES = 1024 * 1024;

/**
 * @berth/host-agent's two primitives over Modal: "put these bytes at this path" is one exec whose
 * stdin carries the binary (AgentLink checks its size and, at handshake, its sha256), and "start
 * this argv with stdio attached" is the one long-lived exec every slot of the sandbox shares.
 */
export function modalAgentAccess(
  sb: Sandbox,
  platform: () => Promise<{ os: string; arch: string }>,
): AgentHostAccess {
  const description = `Modal sandbox ${sb.sandboxId}`;
  return {
    description,
    backendId: 'modal',
    platform,
    async fileSize(path) {
      const result = await runExec(sb, ['stat', '-c', '%s', path], {
        operation: `inspect ${path} in ${description}`,
      });
      if (result.exitCode !== 0) return undefined;
      const size = Number(result.stdout.toString('utf8').trim());
      return Number.isFinite(size) ? size : undefined;
    },
    async putExecutable(binary) {
      const script = 'set -e; mkdir -p "$1"; cat > "$2.part"; chmod 755 "$2.part"; mv -f "$2.part" "$2"';
      const operation = `install the host agent in ${description}`;
      const proc = await startExec(
        sb,
        ['sh', '-c', script, 'sh', binary.installDirectory, binary.installPath],
        operation,
      );
      const stdin = batchedStdin(proc);
      const bytes = binary.bytes();
      for (let offset = 0; offset < bytes.length; offset += UPLOAD_CHUNK_BYTES) {
        if (!stdin.writable.write(bytes.subarray(offset, offset + UPLOAD_CHUNK_BYTES))) {
          await new Promise((resolve) => stdin.writable.once('drain', resolve));
        }
      }
      await new Promise<void>((resolve) => stdin.writable.end(resolve));
      const exitCode = await proc.wait();
      if (exitCode !== 0) {
        throw new CapabilityUnsupportedError(
          'modal',
          'host agent',
          `Writing ${binary.installPath} in ${description} failed (exit ${exitCode}): is the root filesystem read-only?`,
        );
      }
    },
    start(argv) {
      return agentTransport(sb, argv);
    },
  };
}
