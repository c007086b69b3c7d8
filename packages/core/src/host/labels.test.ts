import { describe, expect, it } from 'vitest';
import { buildHostLabels, hashSpec, LABEL, poolSelector, sanitizeLabelValue } from './labels.js';

describe('sanitizeLabelValue', () => {
  it('keeps allowed characters and replaces the rest', () => {
    expect(sanitizeLabelValue('pool-1_a.b')).toBe('pool-1_a.b');
    expect(sanitizeLabelValue('my pool/α:b')).toBe('my_pool___b');
    expect(sanitizeLabelValue('a b')).toMatch(/^[A-Za-z0-9_.-]+$/);
  });

  it('limits values to 63 characters and keeps long values distinct', () => {
    const a = sanitizeLabelValue(`${'x'.repeat(100)}a`);
    const b = sanitizeLabelValue(`${'x'.repeat(100)}b`);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(b.length).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_.-]+$/);
    expect(sanitizeLabelValue('y'.repeat(63))).toBe('y'.repeat(63));
  });

  it('produces only allowed characters for arbitrary input', () => {
    const inputs = ['', '\0\n\t', '日本語', '💥'.repeat(40), 'a=b,c;d'];
    for (const input of inputs) {
      expect(sanitizeLabelValue(input)).toMatch(/^[A-Za-z0-9_.-]*$/);
      expect(sanitizeLabelValue(input).length).toBeLessThanOrEqual(63);
    }
  });
});

describe('hashSpec', () => {
  it('does not depend on key order, at any depth', () => {
    const a = { image: 'alpine', resources: { cpu: 2, memoryMiB: 512 }, env: { A: '1', B: '2' } };
    const b = { env: { B: '2', A: '1' }, resources: { memoryMiB: 512, cpu: 2 }, image: 'alpine' };
    expect(hashSpec(a, 4)).toBe(hashSpec(b, 4));
  });

  it('ignores undefined fields', () => {
    expect(hashSpec({ image: 'alpine', gpu: undefined }, 1)).toBe(hashSpec({ image: 'alpine' }, 1));
  });

  it('changes when the spec, an array order or slotsPerHost changes', () => {
    const base = hashSpec({ image: 'alpine', mounts: ['/a', '/b'] }, 2);
    expect(hashSpec({ image: 'alpine:3', mounts: ['/a', '/b'] }, 2)).not.toBe(base);
    expect(hashSpec({ image: 'alpine', mounts: ['/b', '/a'] }, 2)).not.toBe(base);
    expect(hashSpec({ image: 'alpine', mounts: ['/a', '/b'] }, 3)).not.toBe(base);
  });

  it('is a valid label value', () => {
    expect(hashSpec({ x: 1 }, 1)).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('labels and selectors', () => {
  it('builds sanitised labels that the pool selector matches', () => {
    const labels = buildHostLabels({
      poolId: 'my pool',
      profile: 'gpu/large',
      specHash: 'abc',
      owner: 'host.1.2',
    });
    for (const value of Object.values(labels)) expect(value).toMatch(/^[A-Za-z0-9_.-]{1,63}$/);
    const selector = poolSelector('my pool', 'gpu/large');
    for (const [key, value] of Object.entries(selector)) expect(labels[key]).toBe(value);
    expect(labels[LABEL.managed]).toBe('1');
    expect(poolSelector('other')[LABEL.pool]).not.toBe(labels[LABEL.pool]);
  });
});
