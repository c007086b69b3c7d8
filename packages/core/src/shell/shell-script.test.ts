import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../errors/index.js';
import { shellQuote } from './shell-script.js';

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
