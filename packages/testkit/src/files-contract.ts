import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { type ConformanceContext, expectCode } from './conformance-context.js';

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, index) => index);

/** writeFile / readFile / upload / download and workspace path validation. */
export function registerFilesContract<Spec>(context: ConformanceContext<Spec>): void {
  const test = context.test.bind(context);

  test('files', 'writeFile / readFile round-trip all 256 byte values in nested directories', async () => {
    await context.withSlot(async (slot) => {
      await slot.writeFile('nested/deep/bytes.bin', ALL_BYTES);
      expect(Buffer.from(await slot.readFile('nested/deep/bytes.bin')).equals(Buffer.from(ALL_BYTES))).toBe(
        true,
      );
      expect((await slot.exec('wc -c < nested/deep/bytes.bin')).stdout.trim()).toBe('256');
      await slot.writeFile('text.txt', 'héllo wörld\n');
      expect(Buffer.from(await slot.readFile('text.txt')).toString('utf8')).toBe('héllo wörld\n');
      expect((await slot.exec('cat text.txt')).stdout).toBe('héllo wörld\n');
      await slot.writeFile(`${slot.workspace}/absolute.txt`, 'abs');
      expect(Buffer.from(await slot.readFile('absolute.txt')).toString()).toBe('abs');
      await slot.writeFile('run.sh', '#!/bin/sh\necho ran\n', { mode: 0o755 });
      expect((await slot.exec('./run.sh')).stdout).toBe('ran\n');
    });
  });

  test('archive', 'upload a local tree and download it back unchanged', async () => {
    const local = await mkdtemp(path.join(os.tmpdir(), 'berth-conformance-files-'));
    try {
      const tree = path.join(local, 'tree');
      const binary = randomBytes(200_000);
      await mkdir(path.join(tree, 'sub', 'deeper'), { recursive: true });
      await writeFile(path.join(tree, 'a.txt'), 'alpha\n');
      await writeFile(path.join(tree, 'sub', 'b.bin'), binary);
      await writeFile(path.join(tree, 'sub', 'deeper', 'all.bin'), ALL_BYTES);
      await context.withSlot(async (slot) => {
        await slot.upload(tree, 'uploaded');
        expect((await slot.exec('cat uploaded/tree/a.txt')).stdout).toBe('alpha\n');
        expect((await slot.exec('wc -c < uploaded/tree/sub/b.bin')).stdout.trim()).toBe(
          String(binary.length),
        );
        const out = path.join(local, 'out');
        await slot.download('uploaded/tree', out);
        expect(await readFile(path.join(out, 'tree', 'a.txt'), 'utf8')).toBe('alpha\n');
        expect((await readFile(path.join(out, 'tree', 'sub', 'b.bin'))).equals(binary)).toBe(true);
        expect(
          (await readFile(path.join(out, 'tree', 'sub', 'deeper', 'all.bin'))).equals(Buffer.from(ALL_BYTES)),
        ).toBe(true);
        // A single file uploads next to the workspace root by default.
        await slot.upload(path.join(tree, 'a.txt'));
        expect((await slot.exec('cat a.txt')).stdout).toBe('alpha\n');
      });
    } finally {
      await rm(local, { recursive: true, force: true });
    }
  });

  test('files', 'a missing file is NOT_FOUND; a path escaping the workspace is INVALID_OPTIONS', async () => {
    await context.withSlot(async (slot) => {
      await expectCode(slot.readFile('no/such/file.txt'), 'NOT_FOUND');
      await expectCode(() => slot.readFile('../outside.txt'), 'INVALID_OPTIONS');
      await expectCode(() => slot.writeFile('a/../../outside.txt', 'x'), 'INVALID_OPTIONS');
      await expectCode(() => slot.exec('pwd', { cwd: '../..' }), 'INVALID_OPTIONS');
      await expectCode(() => slot.download('../', os.tmpdir()), 'INVALID_OPTIONS');
      // The slot is still fine after rejected calls.
      expect((await slot.exec('echo ok')).stdout).toBe('ok\n');
    });
  });
}
