/**
 * Tar in and out through the real agent binary (a local child process): extraction never leaves
 * its directory or writes through a symlink, archives store links as links, a slot user's archive
 * operations keep to that user's permissions, and a tree streams both ways.
 */
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCAL_AGENT_ARCH, useLocalAgent } from './testing/start-local-agent.js';

const root = process.getuid?.() === 0;
if (!root) console.info('[agent-archive] slot-user tests skipped: they need root (CI runs as root)');

const agentOf = useLocalAgent();
let base = '';

afterEach(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

function scratch(): string {
  base = mkdtempSync(path.join(tmpdir(), 'berth-archive-'));
  return base;
}

type Entry = { name: string; type?: 'file' | 'directory' | 'symlink'; body?: string; linkname?: string };

function archiveOf(entries: Entry[]): Readable {
  const pack = tar.pack();
  for (const { name, type = 'file', body, linkname } of entries) {
    if (type === 'file') pack.entry({ name, mode: 0o640 }, body ?? '');
    else pack.entry({ name, type, mode: 0o755, ...(linkname ? { linkname } : {}) });
  }
  pack.finalize();
  return pack as unknown as Readable;
}

async function entriesOf(archive: Readable): Promise<Record<string, string>> {
  const extract = tar.extract();
  const seen: Record<string, string> = {};
  extract.on('entry', (header, stream, next) => {
    let body = '';
    stream.on('data', (chunk: unknown) => {
      body += String(chunk);
    });
    stream.on('end', () => {
      seen[header.name] =
        header.type === 'symlink' ? `-> ${header.linkname}` : header.type === 'directory' ? '/' : body;
      next();
    });
  });
  archive.pipe(extract);
  await new Promise<void>((resolve, reject) => extract.on('finish', () => resolve()).on('error', reject));
  return seen;
}

describe.skipIf(!LOCAL_AGENT_ARCH)('berth-agent archives', () => {
  it('extracts files, directories and links, and answers a tree with links as links', async () => {
    const dir = scratch();
    await agentOf().files.putArchive(
      dir,
      archiveOf([
        { name: 'tree/', type: 'directory' },
        { name: 'tree/a.txt', body: 'alpha' },
        { name: 'tree/sub/', type: 'directory' },
        { name: 'tree/sub/b.txt', body: 'beta' },
        { name: 'tree/link', type: 'symlink', linkname: '/etc/hostname' },
        // No entry for its directory, as many archivers write them: created on the way.
        { name: 'implied/dir/c.txt', body: 'gamma' },
      ]),
    );
    expect(readFileSync(path.join(dir, 'implied/dir/c.txt'), 'utf8')).toBe('gamma');
    expect(readFileSync(path.join(dir, 'tree/sub/b.txt'), 'utf8')).toBe('beta');
    expect(statSync(path.join(dir, 'tree/a.txt')).mode & 0o777).toBe(0o640);
    expect(readlinkSync(path.join(dir, 'tree/link'))).toBe('/etc/hostname');
    expect(await entriesOf(await agentOf().files.getArchive(path.join(dir, 'tree')))).toEqual({
      'tree/': '/',
      'tree/a.txt': 'alpha',
      'tree/link': '-> /etc/hostname',
      'tree/sub/': '/',
      'tree/sub/b.txt': 'beta',
    });
    const big = 'x'.repeat(8 << 20);
    await agentOf().files.putArchive(dir, archiveOf([{ name: 'big.bin', body: big }]));
    expect(
      (await entriesOf(await agentOf().files.getArchive(path.join(dir, 'big.bin'))))['big.bin'],
    ).toHaveLength(big.length);
  });

  it('refuses entries that leave the directory or go through a symlink, and answers 404 for nothing', async () => {
    const dir = scratch();
    const outside = path.join(dir, 'outside');
    mkdirSync(outside);
    mkdirSync(path.join(dir, 'inside'));
    symlinkSync(outside, path.join(dir, 'inside', 'escape'));
    await expect(
      agentOf().files.putArchive(path.join(dir, 'inside'), archiveOf([{ name: '../evil.txt', body: 'x' }])),
    ).rejects.toThrow(/leaves the target directory/);
    await expect(
      agentOf().files.putArchive(
        path.join(dir, 'inside'),
        archiveOf([{ name: 'escape/evil.txt', body: 'x' }]),
      ),
    ).rejects.toThrow(/symlink is never followed/);
    // A link in the archive, then a file through it: refused too.
    await expect(
      agentOf().files.putArchive(
        path.join(dir, 'inside'),
        archiveOf([
          { name: 'hop', type: 'symlink', linkname: outside },
          { name: 'hop/evil.txt', body: 'x' },
        ]),
      ),
    ).rejects.toThrow(/symlink is never followed/);
    expect(() => statSync(path.join(outside, 'evil.txt'))).toThrow();
    await expect(agentOf().files.getArchive(path.join(dir, 'nothing-here'))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it.skipIf(!root)(
    "as a slot user: extracts as its owner, and cannot read or write a sibling's files",
    async () => {
      const dir = scratch();
      const mine = path.join(dir, 'slot_0');
      const theirs = path.join(dir, 'slot_1');
      for (const [workspace, uid] of [
        [mine, 20_980],
        [theirs, 20_981],
      ] as const) {
        mkdirSync(workspace, { mode: 0o700 });
        const { chownSync } = await import('node:fs');
        chownSync(workspace, uid, uid);
      }
      const { chmodSync } = await import('node:fs');
      chmodSync(dir, 0o711);
      writeFileSync(path.join(theirs, 'secret.txt'), 'SECRET');
      const user = { uid: 20_980, gid: 20_980 };
      await agentOf().files.putArchive(mine, archiveOf([{ name: 'a.txt', body: 'mine' }]), { user });
      expect(statSync(path.join(mine, 'a.txt')).uid).toBe(user.uid);
      await expect(
        agentOf().files.putArchive(theirs, archiveOf([{ name: 'x.txt', body: 'x' }]), { user }),
      ).rejects.toThrow();
      await expect(agentOf().files.getArchive(theirs, { user })).rejects.toThrow();
      symlinkSync(path.join(theirs, 'secret.txt'), path.join(mine, 'link'));
      const got = await entriesOf(await agentOf().files.getArchive(path.join(mine, 'link'), { user }));
      expect(got).toEqual({ link: `-> ${path.join(theirs, 'secret.txt')}` });
    },
  );
});
