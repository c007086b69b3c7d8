import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { BackendUnavailableError } from '@berth/core';

/**
 * ssh2 builds an optional native crypto binding at install when it finds a C++ toolchain and the
 * Node headers. Its ciphers derive from `node::ObjectWrap`, whose destructor is header-only code
 * compiled into the addon: built with Node 24.19+ headers it calls into an environment the
 * garbage collector's weak callback does not have, on every 24.x runtime, and the process aborts
 * (SIGABRT) the first time GC frees a cipher; headers from 26.4 on do the same on 26.0–26.3
 * runtimes (docs/lessons.md #27; seen here on 24.21.0). Without the binding ssh2 uses Node crypto.
 */
export function nativeCryptoHazard(
  runtime: string,
  bindingLoaded: boolean,
  builtWith: string = runtime,
): string | undefined {
  if (!bindingLoaded) return undefined;
  const [major, minor] = version(runtime);
  const [builtMajor, builtMinor] = version(builtWith);
  const aborts =
    (major === 24 && builtMajor === 24 && builtMinor >= 19) ||
    (major === 26 && minor < 4 && builtMajor === 26 && builtMinor >= 4);
  if (!aborts) return undefined;
  return (
    `ssh2's native crypto binding, built with Node ${builtWith} headers, aborts this Node ${runtime} ` +
    'process when the garbage collector frees one of its ciphers. Remove it (ssh2 then uses Node ' +
    'crypto): `rm -rf node_modules/ssh2/lib/protocol/crypto/build`, or run Node 22.'
  );
}

function version(text: string): [number, number] {
  const [major = 0, minor = 0] = text.replace(/^v/, '').split('.').map(Number);
  return [major, minor];
}

/** The Node version whose headers built the binding: node-gyp's nodedir, else its target. */
export function bindingHeadersVersion(buildDirectory: string): string | undefined {
  let config: string;
  try {
    config = readFileSync(path.join(buildDirectory, 'config.gypi'), 'utf8');
  } catch {
    return undefined;
  }
  const nodedir = /"nodedir":\s*"([^"]+)"/.exec(config)?.[1];
  const header = nodedir && path.join(nodedir, 'include', 'node', 'node_version.h');
  if (header && existsSync(header)) {
    const text = readFileSync(header, 'utf8');
    const part = (name: string) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(text)?.[1];
    if (part('MAJOR') && part('MINOR')) return `${part('MAJOR')}.${part('MINOR')}.${part('PATCH') ?? 0}`;
  }
  return /"target":\s*"v?([^"]+)"/.exec(config)?.[1];
}

let checked = false;

/** Refuses to run ssh2 with the binding where it aborts the process (checked once per process). */
export function assertSafeNativeCrypto(): void {
  if (checked) return;
  const require = createRequire(import.meta.url);
  const crypto = require.resolve('ssh2/lib/protocol/crypto.js');
  const { bindingAvailable } = require(crypto) as { bindingAvailable: boolean };
  const builtWith = bindingHeadersVersion(path.join(path.dirname(crypto), 'crypto', 'build'));
  const hazard = nativeCryptoHazard(process.version, bindingAvailable, builtWith);
  if (hazard) throw new BackendUnavailableError(hazard, [], { retryable: false });
  checked = true;
}
