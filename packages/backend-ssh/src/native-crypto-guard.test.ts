import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bindingHeadersVersion, nativeCryptoHazard } from './native-crypto-guard.js';

describe('nativeCryptoHazard', () => {
  it('refuses a binding built with Node 24.19+ headers on any 24.x runtime, naming the fix', () => {
    for (const [runtime, built] of [
      ['v24.21.0', '24.21.0'],
      ['v24.19.0', '24.19.0'],
      ['v24.18.0', '24.20.1'],
    ]) {
      expect(nativeCryptoHazard(runtime!, true, built)).toMatch(
        /rm -rf node_modules\/ssh2\/lib\/protocol\/crypto\/build/,
      );
    }
  });

  it('refuses 26.4+ headers on a 26.0–26.3 runtime', () => {
    expect(nativeCryptoHazard('v26.2.0', true, '26.4.0')).toBeDefined();
    expect(nativeCryptoHazard('v26.4.0', true, '26.4.0')).toBeUndefined();
  });

  it('is silent without the binding, and for headers the abort does not reach', () => {
    expect(nativeCryptoHazard('v24.21.0', false, '24.21.0')).toBeUndefined();
    expect(nativeCryptoHazard('v24.21.0', true, '24.18.0')).toBeUndefined();
    expect(nativeCryptoHazard('v22.20.0', true)).toBeUndefined();
    // The runtime stands in for unknown headers (node-gyp built against its own version).
    expect(nativeCryptoHazard('v24.21.0', true)).toBeDefined();
  });
});

describe('bindingHeadersVersion', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'berth-gyp-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("reads the nodedir's node_version.h, else node-gyp's target", () => {
    const nodedir = path.join(scratch, 'node');
    mkdirSync(path.join(nodedir, 'include', 'node'), { recursive: true });
    writeFileSync(
      path.join(nodedir, 'include', 'node', 'node_version.h'),
      '#define NODE_MAJOR_VERSION 20\n#define NODE_MINOR_VERSION 20\n#define NODE_PATCH_VERSION 2\n',
    );
    const build = path.join(scratch, 'build');
    mkdirSync(build);
    writeFileSync(
      path.join(build, 'config.gypi'),
      `{ "variables": { "nodedir": "${nodedir}", "target": "v24.21.0" } }`,
    );
    expect(bindingHeadersVersion(build)).toBe('20.20.2');
    writeFileSync(
      path.join(build, 'config.gypi'),
      '{ "variables": { "nodedir": "/nowhere", "target": "v24.21.0" } }',
    );
    expect(bindingHeadersVersion(build)).toBe('24.21.0');
    expect(bindingHeadersVersion(path.join(scratch, 'none'))).toBeUndefined();
  });
});
