import { status } from '@grpc/grpc-js';
import type { DockerExec } from './docker-sandbox.js';
import { RpcError, type StreamHandler, type UnaryHandler } from './grpc-support.js';
import type { LocalModalContext } from './local-modal-context.js';
import type { SandboxRecord } from './sandbox-store.js';

interface ExecRef {
  taskId: string;
  execId: string;
}

const STDOUT = 0;
const READ_CHUNK_BYTES = 64 * 1024;

/** The `modal.task_command_router.TaskCommandRouter` calls behind `sb.exec` and its process. */
export function routerHandlers(ctx: LocalModalContext): {
  unary: Record<string, UnaryHandler>;
  stream: Record<string, StreamHandler>;
} {
  const task = (taskId: string): SandboxRecord => {
    const record = ctx.store.byTask.get(taskId);
    if (!record) throw new RpcError(status.NOT_FOUND, `Task ${taskId} not found`);
    return record;
  };
  const exec = (ref: ExecRef): DockerExec => {
    const found = task(ref.taskId).execs.get(ref.execId);
    if (!found) throw new RpcError(status.NOT_FOUND, `Exec ${ref.execId} not found`);
    return found;
  };
  const exitStatus = (found: DockerExec) => {
    const exit = found.exit;
    if (!exit) return {};
    return exit.code !== undefined ? { code: exit.code } : { signal: exit.signal ?? 9 };
  };

  return {
    unary: {
      TaskExecStart: async (request: {
        taskId: string;
        execId: string;
        commandArgs: string[];
        workdir: string;
        env: Record<string, string>;
        secretSources: { secretId?: string; env?: { contents: Record<string, string> } | null }[];
      }) => {
        const record = task(request.taskId);
        const running = await Promise.race([
          record.scheduled,
          new Promise<false>((resolve) => setTimeout(() => resolve(false), 60_000).unref()),
        ]);
        if (!running || record.result) {
          throw new RpcError(status.FAILED_PRECONDITION, `Sandbox ${record.id} is not running`);
        }
        const env: Record<string, string> = { ...request.env };
        for (const source of request.secretSources ?? []) {
          if (source.secretId) Object.assign(env, ctx.secretsById.get(source.secretId));
          if (source.env) Object.assign(env, source.env.contents);
        }
        await ctx.store.startExec(record, request.execId, request.commandArgs, {
          env,
          workdir: request.workdir || undefined,
        });
        return {};
      },
      TaskExecStdinWrite: async (request: ExecRef & { offset: number; data: Buffer; eof: boolean }) => {
        const found = exec(request);
        task(request.taskId).lastActivityMs = Date.now();
        try {
          found.writeStdin(request.offset, request.data, request.eof);
        } catch (error) {
          throw new RpcError(status.OUT_OF_RANGE, (error as Error).message);
        }
        return {};
      },
      TaskExecStdinStatus: async (request: ExecRef) => {
        const found = exec(request);
        return { numBytesWritten: found.stdinOffset, closed: false };
      },
      TaskExecPoll: async (request: ExecRef) => exitStatus(exec(request)),
      TaskExecWait: async (request: ExecRef, _metadata, signal) => {
        const found = exec(request);
        const timeout = AbortSignal.any([signal, AbortSignal.timeout(55_000)]);
        const exit = await found.waitExit(timeout);
        if (!exit) throw new RpcError(status.DEADLINE_EXCEEDED, 'exec still running');
        return exitStatus(found);
      },
    },
    stream: {
      TaskExecStdioRead: async (
        request: ExecRef & { offset: number; fileDescriptor: number },
        _metadata,
        write,
        signal,
      ) => {
        const found = exec(request);
        const log = request.fileDescriptor === STDOUT ? found.stdout : found.stderr;
        let offset = request.offset;
        let sentThisStream = 0;
        for (;;) {
          await log.waitBeyond(offset, signal);
          if (signal.aborted) return;
          const bytes = log.readFrom(offset);
          for (let start = 0; start < bytes.length; start += READ_CHUNK_BYTES) {
            let chunk = bytes.subarray(start, start + READ_CHUNK_BYTES);
            const cutAt = ctx.faults.cutOutputAfterBytes;
            if (cutAt > 0 && sentThisStream + chunk.length > cutAt) {
              chunk = chunk.subarray(0, Math.max(0, cutAt - sentThisStream));
              if (chunk.length > 0) write({ data: chunk });
              ctx.stats.cutStreams++;
              throw new RpcError(
                status.UNAVAILABLE,
                'stream cut by the local control plane (fault injection)',
              );
            }
            write({ data: chunk });
            sentThisStream += chunk.length;
            offset += chunk.length;
          }
          if (log.ended && offset >= log.size) return;
        }
      },
    },
  };
}
