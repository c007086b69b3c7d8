import { describe, expect, it } from 'vitest';
import { DEBUG_NAMESPACES, parseDebugSetting } from './debug-log.js';

const names = (value: string | undefined) => [...parseDebugSetting(value).namespaces].sort();

describe('parseDebugSetting (BERTH_DEBUG)', () => {
  it('off when unset, empty or a false-like word', () => {
    for (const value of [undefined, '', '0', 'false', 'OFF', ' no ']) expect(names(value)).toEqual([]);
  });

  it('1 / true / on: the lifecycle namespaces, not one line per command', () => {
    for (const value of ['1', 'true', 'On', 'yes']) expect(names(value)).toEqual(['host', 'pool', 'reaper']);
  });

  it('* or all: every namespace', () => {
    expect(names('*')).toEqual([...DEBUG_NAMESPACES].sort());
    expect(names('all')).toEqual([...DEBUG_NAMESPACES].sort());
  });

  it('a comma-separated list, with unknown names reported rather than fatal', () => {
    expect(parseDebugSetting('reaper, exec,,bogus')).toEqual({
      namespaces: new Set(['reaper', 'exec']),
      unknown: ['bogus'],
    });
  });
});
