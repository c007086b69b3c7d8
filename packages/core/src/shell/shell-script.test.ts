import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../errors/index.js';
import { emptyDirectoryScript, shellQuote } from './shell-script.js';

const NASTY = [
  '',
  'plain',
  "it's",
  "''",
  "'",
  '"double" quotes',
  'back\\slash \\n \\\\',
  'new\nline\n\n',
  'tab\there',
  '$(echo pwned)',
  '`echo pwned`',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal `${…}` is the point of the test.
  '${HOME} $HOME $$ $? $0 $@',
  '; rm -rf / #',
  '&& || | > < >> 2>&1 &',
  '* ? [a-z] ~ ~root',
  '!history !!',
  '-n',
  '--',
  'ünïcödé ✓ 日本語 🚀',
  '\x01\x1e\x7f control',
  'mixed \'single\' "double" `back` $(sub) \n end',
  ' leading and trailing spaces ',
];

describe('shellQuote', () => {
  it('round-trips nasty strings through a real sh', () => {
    for (const value of NASTY) {
      const out = execFileSync('sh', ['-c', `printf %s ${shellQuote(value)}`], { encoding: 'utf8' });
      expect(out, JSON.stringify(value)).toBe(value);
    }
  });

  it('round-trips several quoted arguments at once', () => {
    const script = `for a in ${NASTY.map((value) => shellQuote(value)).join(' ')}; do printf '%s\\0' "$a"; done`;
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
    expect(out.split('\0').slice(0, -1)).toEqual(NASTY);
  });

  it('rejects NUL with INVALID_OPTIONS naming the field', () => {
    let thrown: unknown;
    try {
      shellQuote('a\0b', 'env.FOO');
    } catch (error) {
      thrown = error;
    }
    expect(BerthError.hasCode(thrown, 'INVALID_OPTIONS')).toBe(true);
    expect((thrown as { field: string }).field).toBe('env.FOO');
    expect((thrown as Error).message).toMatch(/NUL/);
  });
});

describe('emptyDirectoryScript (run by a real sh)', () => {
  function workspace() {
    const root = mkdtempSync(join(tmpdir(), 'berth-empty-'));
    const dir = join(root, 'slot_0');
    const outside = join(root, 'outside.txt');
    mkdirSync(join(dir, 'nested', 'deeper'), { recursive: true });
    writeFileSync(join(dir, 'nested', 'deeper', 'file'), 'x');
    writeFileSync(join(dir, '.hidden'), 'x');
    writeFileSync(outside, 'keep me');
    symlinkSync(outside, join(dir, 'link-out'));
    return { root, dir, outside };
  }

  async function eventually(check: () => boolean): Promise<void> {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(check()).toBe(true);
  }

  it('leaves the directory empty at once and deletes the old tree in the background', async () => {
    const { root, dir, outside } = workspace();
    const trash = join(root, '.berth', 'trash', 'slot_0.1');
    execFileSync('sh', ['-c', emptyDirectoryScript(dir, trash)]);
    expect(readdirSync(dir)).toEqual([]);
    expect(readFileSync(outside, 'utf8')).toBe('keep me'); // the symlink was not followed
    await eventually(() => !existsSync(trash));
    rmSync(root, { recursive: true, force: true });
  });

  it('falls back to deleting in place when the trash cannot be used', () => {
    const { root, dir, outside } = workspace();
    execFileSync('sh', ['-c', emptyDirectoryScript(dir, '/proc/berth-no-trash/slot_0.1')]);
    expect(readdirSync(dir)).toEqual([]);
    expect(readFileSync(outside, 'utf8')).toBe('keep me');
    rmSync(root, { recursive: true, force: true });
  });
});
