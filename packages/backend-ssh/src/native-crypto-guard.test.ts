import { describe, expect, it } from 'vitest';
import { assertSafeNativeCrypto, nativeCryptoHazard } from './native-crypto-guard.js';

describe('nativeCryptoHazard', () => {
  it('names the fix on Node 24.19 and later 24.x when the binding is loaded', () => {
    for (const version of ['v24.19.0', 'v24.21.0', '24.30.1']) {
      expect(nativeCryptoHazard(version, true)).toMatch(
        /rm -rf node_modules\/ssh2\/lib\/protocol\/crypto\/build/,
      );
    }
  });

  it('is silent without the binding, and on the Node lines the abort does not reach', () => {
    expect(nativeCryptoHazard('v24.21.0', false)).toBeUndefined();
    for (const version of ['v22.20.0', 'v24.18.2', 'v23.11.0']) {
      expect(nativeCryptoHazard(version, true)).toBeUndefined();
    }
  });

  it("this process's own ssh2 passes (CI installs it without the binding)", () => {
    expect(() => assertSafeNativeCrypto()).not.toThrow();
  });
});
