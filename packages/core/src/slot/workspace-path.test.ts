import { describe, expect, it } from 'vitest';
import { BerthError } from '../errors/index.js';
import { resolveWorkspacePath } from './workspace-path.js';

const WS = '/srv/host/workspace/slot_0';

function rejects(input: string): BerthError & { field: string } {
  try {
    resolveWorkspacePath(WS, input, 'cwd');
  } catch (error) {
    expect(BerthError.hasCode(error, 'INVALID_OPTIONS')).toBe(true);
    return error as BerthError & { field: string };
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('resolveWorkspacePath', () => {
  it('resolves relative paths inside the workspace', () => {
    expect(resolveWorkspacePath(WS, '.', 'cwd')).toBe(WS);
    expect(resolveWorkspacePath(WS, 'a/b', 'cwd')).toBe(`${WS}/a/b`);
    expect(resolveWorkspacePath(WS, './a/../b/', 'cwd')).toBe(`${WS}/b/`);
    expect(resolveWorkspacePath(WS, 'a/..', 'cwd')).toBe(WS);
    expect(resolveWorkspacePath(WS, '..foo', 'cwd')).toBe(`${WS}/..foo`);
  });

  it('rejects traversal out of the workspace, naming the field', () => {
    for (const input of ['..', '../', '../slot_1', 'a/../../x', './../..', '../../../../etc/passwd']) {
      const error = rejects(input);
      expect(error.field).toBe('cwd');
      expect(error.message).toContain('escapes the slot workspace');
    }
  });

  it('rejects a sibling that shares the workspace prefix', () => {
    expect(rejects('../slot_0x/file').message).toContain('escapes');
  });

  it('accepts absolute paths as they are (the host is the boundary), normalised', () => {
    expect(resolveWorkspacePath(WS, '/etc/passwd', 'path')).toBe('/etc/passwd');
    expect(resolveWorkspacePath(WS, '/tmp//a/../b', 'path')).toBe('/tmp/b');
  });

  it('rejects empty paths and NUL bytes', () => {
    expect(rejects('').message).toContain('non-empty');
    expect(rejects('a\0b').message).toContain('NUL');
  });
});
