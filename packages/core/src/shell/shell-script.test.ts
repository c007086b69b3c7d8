import { execFileSync, spawn, spawnSync } from 'node:child_process';
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
import { emptyDirectoryScript, shellQuote, TRASH_WARNING } from './shell-script.js';

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
  /** `<root>/slot_0` with nested files, a dotfile and a symlink out; `<root>/.berth` as core makes it. */
  function workspace() {
    const root = mkdtempSync(join(tmpdir(), 'berth-empty-'));
    const dir = join(root, 'slot_0');
    const state = join(root, '.berth');
    const outside = join(root, 'outside.txt');
    mkdirSync(join(dir, 'nested', 'deeper'), { recursive: true });
    mkdirSync(state);
    writeFileSync(join(dir, 'nested', 'deeper', 'file'), 'x');
    writeFileSync(join(dir, '.hidden'), 'x');
    writeFileSync(outside, 'keep me');
    symlinkSync(outside, join(dir, 'link-out'));
    return { root, dir, state, outside };
  }

  function run(script: string, asUser?: number): { stderr: string } {
    const argv =
      asUser === undefined
        ? ['sh', '-c', script]
        : ['setpriv', `--reuid=${asUser}`, `--regid=${asUser}`, '--clear-groups', 'sh', '-c', script];
    const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    expect(result.status).toBe(0);
    return { stderr: result.stderr };
  }

  async function eventually(check: () => boolean): Promise<void> {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(check()).toBe(true);
  }

  it('leaves the directory empty at once and deletes the old tree in the background', async () => {
    const { root, dir, state, outside } = workspace();
    run(emptyDirectoryScript(dir, state, 'slot_0.1'));
    expect(readdirSync(dir)).toEqual([]);
    expect(readFileSync(outside, 'utf8')).toBe('keep me'); // the symlink was not followed
    await eventually(() => readdirSync(join(state, 'trash')).length === 0);
    rmSync(root, { recursive: true, force: true });
  });

  it.skipIf(process.getuid?.() !== 0)(
    'as a non-root user, deletes read-only directories too (a Go module cache)',
    async () => {
      const { root, dir, state } = workspace();
      execFileSync('sh', [
        '-c',
        `chmod 0555 ${join(dir, 'nested', 'deeper')} && chown -R 65534:65534 ${root}`,
      ]);
      run(emptyDirectoryScript(dir, state, 'slot_0.2'), 65534);
      expect(readdirSync(dir)).toEqual([]);
      await eventually(() => readdirSync(join(state, 'trash')).length === 0);
      rmSync(root, { recursive: true, force: true });
    },
  );

  it('reports (and clears) what an earlier background delete could not remove, and still resets', () => {
    const { root, dir, state } = workspace();
    mkdirSync(join(state, 'trash'));
    writeFileSync(join(state, 'trash', 'slot_0.0.err'), "rm: can't remove 'x': Permission denied\n");
    const { stderr } = run(emptyDirectoryScript(dir, state, 'slot_0.3'));
    expect(stderr).toBe(`${TRASH_WARNING} rm: can't remove 'x': Permission denied\n`);
    expect(existsSync(join(state, 'trash', 'slot_0.0.err'))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
    rmSync(root, { recursive: true, force: true });
  });

  it("a delete still in progress is neither reported nor removed by another slot's reset", () => {
    const { root, dir, state } = workspace();
    const trash = join(state, 'trash');
    // What slot_1's reset leaves while its background delete runs: the moved tree and its log.
    mkdirSync(join(trash, 'slot_1.7.ab', 'tree'), { recursive: true });
    writeFileSync(join(trash, 'slot_1.7.ab.log'), '');
    const { stderr } = run(emptyDirectoryScript(dir, state, 'slot_0.6'));
    expect(stderr).toBe('');
    expect(existsSync(join(trash, 'slot_1.7.ab.log'))).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
    rmSync(root, { recursive: true, force: true });
  });

  it('resets of every slot at once report one earlier failure exactly once', async () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-empty-'));
    const state = join(root, '.berth');
    mkdirSync(join(state, 'trash'), { recursive: true });
    writeFileSync(join(state, 'trash', 'slot_9.1.ff.err'), 'rm: cannot remove: Operation not permitted\n');
    const runs = Array.from({ length: 8 }, (_, index) => {
      const dir = join(root, `slot_${index}`);
      mkdirSync(join(dir, 'a', 'b'), { recursive: true });
      writeFileSync(join(dir, 'a', 'b', 'file'), 'x');
      const child = spawn('sh', ['-c', emptyDirectoryScript(dir, state, `slot_${index}.2.${index}`)]);
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      return new Promise<string>((resolve) => child.on('close', () => resolve(stderr)));
    });
    const stderrs = await Promise.all(runs);
    const warnings = stderrs
      .join('')
      .split('\n')
      .filter((line) => line.startsWith(TRASH_WARNING));
    expect(warnings).toEqual([`${TRASH_WARNING} rm: cannot remove: Operation not permitted`]);
    rmSync(root, { recursive: true, force: true });
  });

  it.skipIf(process.getuid?.() !== 0)(
    'a background delete that really fails is reported by the next reset, with its reason',
    async () => {
      const { root, dir, state } = workspace();
      // A directory the slot's user (65534) cannot empty: owned by root, not writable by others.
      execFileSync('sh', [
        '-c',
        `chown -R 65534:65534 ${root} && mkdir ${join(dir, 'rootonly')} && touch ${join(dir, 'rootonly', 'f')}`,
      ]);
      run(emptyDirectoryScript(dir, state, 'slot_0.7'), 65534);
      expect(readdirSync(dir)).toEqual([]);
      await eventually(() => existsSync(join(state, 'trash', 'slot_0.7.err')));
      const { stderr } = run(emptyDirectoryScript(dir, state, 'slot_0.8'), 65534);
      expect(stderr).toMatch(new RegExp(`^${TRASH_WARNING} .*Permission denied\n$`));
      expect(existsSync(join(state, 'trash', 'slot_0.7.err'))).toBe(false);
      execFileSync('chown', ['-R', '0:0', root]);
      rmSync(root, { recursive: true, force: true });
    },
  );

  it('never moves a workspace through a planted symlink: deletes in place instead', () => {
    const { root, dir, state } = workspace();
    const elsewhere = join(root, 'slot_1');
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(state, 'trash'));
    run(emptyDirectoryScript(dir, state, 'slot_0.4'));
    expect(readdirSync(dir)).toEqual([]);
    expect(readdirSync(elsewhere)).toEqual([]); // nothing landed in the other slot
    rmSync(root, { recursive: true, force: true });
  });

  it('deletes in place when there is no state directory (or the rename is impossible)', () => {
    const { root, dir } = workspace();
    run(emptyDirectoryScript(dir, join(root, 'missing-state'), 'slot_0.5'));
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(join(root, 'missing-state'))).toBe(false);
    rmSync(root, { recursive: true, force: true });
  });
});
