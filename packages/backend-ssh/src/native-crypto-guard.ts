import { createRequire } from 'node:module';
import { BackendUnavailableError } from '@berth/core';

/**
 * ssh2 builds an optional native crypto binding at install when it finds a C++ toolchain and the
 * Node headers. Its cipher objects derive from `node::ObjectWrap`, whose header-only destructor on
 * Node 24.19.0 and later 24.x calls into an environment that the garbage collector's weak callback
 * does not have: the process aborts (SIGABRT) the first time GC reclaims a cipher, minutes into a
 * run (seen here on 24.21.0; docs/lessons.md). Without the binding ssh2 uses Node's own crypto.
 */
export function nativeCryptoHazard(nodeVersion: string, bindingLoaded: boolean): string | undefined {
  if (!bindingLoaded) return undefined;
  const [major = 0, minor = 0] = nodeVersion.replace(/^v/, '').split('.').map(Number);
  if (major !== 24 || minor < 19) return undefined;
  return (
    `ssh2's native crypto binding is built, and on Node ${nodeVersion} it aborts the process when ` +
    'the garbage collector frees one of its ciphers. Remove it (ssh2 then uses Node crypto): ' +
    '`rm -rf node_modules/ssh2/lib/protocol/crypto/build`, or run Node 22 / a 24.x before 24.19.'
  );
}

let checked = false;

/** Refuses to run ssh2 with the binding where it aborts the process (checked once per process). */
export function assertSafeNativeCrypto(): void {
  if (checked) return;
  const require = createRequire(import.meta.url);
  const { bindingAvailable } = require('ssh2/lib/protocol/crypto.js') as { bindingAvailable: boolean };
  const hazard = nativeCryptoHazard(process.version, bindingAvailable);
  if (hazard) throw new BackendUnavailableError(hazard, [], { retryable: false });
  checked = true;
}
