import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Polls `check` until it is truthy or `timeoutMs` passed (then throws, naming `what`). */
export async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T> | T): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface ChildInfo {
  readonly hostId: string;
  readonly pid: number;
}

/** Starts ./modal-pool-child.ts and resolves with its ready line (bounded by `timeoutMs`). */
export function startPoolChild(
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ child: ChildProcess; info: ChildInfo; exited: Promise<number | null> }> {
  const script = fileURLToPath(new URL('./modal-pool-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child not ready after ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((text) => text.startsWith('{'));
      if (!line) return;
      clearTimeout(timer);
      resolve({ child, info: JSON.parse(line) as ChildInfo, exited });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before it was ready: ${stderr}`));
    });
  });
}
