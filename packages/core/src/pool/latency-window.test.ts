import { describe, expect, it } from 'vitest';
import { LatencyWindow } from './latency-window.js';

describe('LatencyWindow', () => {
  it('is empty at first', () => {
    const window = new LatencyWindow(4);
    expect(window.count).toBe(0);
    expect(window.percentile(50)).toBeUndefined();
  });

  it('computes percentiles over the samples', () => {
    const window = new LatencyWindow(1000);
    for (let value = 100; value >= 1; value -= 1) window.add(value);
    expect(window.count).toBe(100);
    expect(window.percentile(0)).toBe(1);
    expect(window.percentile(50)).toBe(51);
    expect(window.percentile(99)).toBe(100);
    expect(window.percentile(100)).toBe(100);
  });

  it('keeps only the last `capacity` samples', () => {
    const window = new LatencyWindow(3);
    for (const value of [1000, 1000, 1000, 1, 2, 3]) window.add(value);
    expect(window.count).toBe(3);
    expect(window.percentile(100)).toBe(3);
    expect(window.percentile(0)).toBe(1);
    window.add(10);
    expect(window.count).toBe(3);
    expect(window.percentile(0)).toBe(2);
    expect(window.percentile(100)).toBe(10);
  });
});
