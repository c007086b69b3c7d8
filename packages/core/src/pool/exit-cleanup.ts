interface Closable {
  close(): Promise<void>;
}

const pools = new Set<Closable>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
let installed = false;

async function closeAll(): Promise<void> {
  await Promise.allSettled([...pools].map((pool) => pool.close()));
}

function onSignal(signal: NodeJS.Signals): void {
  void closeAll().finally(() => {
    uninstall();
    // Let the default behaviour (exit with the signal) happen unless the app handles it itself.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}

function onBeforeExit(): void {
  if (pools.size > 0) void closeAll();
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const signal of SIGNALS) process.on(signal, onSignal);
  process.on('beforeExit', onBeforeExit);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  for (const signal of SIGNALS) process.off(signal, onSignal);
  process.off('beforeExit', onBeforeExit);
}

/**
 * Closes open pools (with their own close semantics, bounded by closeTimeoutMs) on SIGINT,
 * SIGTERM and normal exit, then lets the signal take its course. Returns an unregister function.
 */
export function registerForExit(pool: Closable): () => void {
  pools.add(pool);
  install();
  return () => {
    pools.delete(pool);
    if (pools.size === 0) uninstall();
  };
}
