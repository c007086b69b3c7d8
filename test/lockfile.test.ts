/**
 * `npm ci` refuses a lockfile that lacks any optional dependency of a locked package, even one for
 * another platform (biome's and turbo's binaries), so CI on Linux and users on macOS fail at
 * install. Check the committed lockfile carries every one of them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

interface LockedPackage {
  optionalDependencies?: Record<string, string>;
}

const lockfile = JSON.parse(
  readFileSync(fileURLToPath(new URL('../package-lock.json', import.meta.url)), 'utf8'),
) as { packages: Record<string, LockedPackage> };

/** Where npm would find `name` for the package at `location`: nested first, then up the tree. */
function locate(location: string, name: string): string | undefined {
  for (let at = location; ; at = at.slice(0, Math.max(0, at.lastIndexOf('/node_modules/')))) {
    const candidate = at === '' ? `node_modules/${name}` : `${at}/node_modules/${name}`;
    if (lockfile.packages[candidate]) return candidate;
    if (at === '') return undefined;
  }
}

describe('package-lock.json', () => {
  it("locks every platform's optional packages, so `npm ci` works on Linux and macOS", () => {
    const missing: string[] = [];
    for (const [location, entry] of Object.entries(lockfile.packages)) {
      for (const name of Object.keys(entry.optionalDependencies ?? {}))
        if (!locate(location, name)) missing.push(`${name} (of ${location || 'the root'})`);
    }
    expect(missing).toEqual([]);
    for (const name of [
      '@biomejs/cli-darwin-arm64',
      '@biomejs/cli-darwin-x64',
      '@biomejs/cli-linux-x64',
      '@biomejs/cli-linux-arm64',
      '@turbo/darwin-arm64',
      '@turbo/linux-64',
    ])
      expect(lockfile.packages[`node_modules/${name}`], name).toBeDefined();
  });
});
