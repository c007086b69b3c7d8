import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Slot, SlotPool } from '@berth/core';
import { expect } from 'vitest';
import { type ConformanceContext, eventually, expectCode } from './conformance-context.js';

/**
 * `isolation: 'user'` (docs/architecture.md §10): each slot its own uid and a 0700 workspace; commands and
 * file operations run as that uid, so a trajectory can neither read nor write a sibling's files,
 * nor signal or inspect its processes. A backend that cannot do it refuses it at `createPool`.
 * Every effect is checked from inside the host.
 */
export function registerIsolationContract<Spec>(context: ConformanceContext<Spec>): void {
  const test = context.test.bind(context);
  const reason = context.userIsolationGap();

  if (reason !== undefined) {
    test(
      'userIsolation',
      "isolation 'user' is refused at createPool with CAPABILITY_UNSUPPORTED",
      async () => {
        const failure = await expectCode(context.openPool({ isolation: 'user' }), 'CAPABILITY_UNSUPPORTED');
        expect(failure.message).toMatch(/isolation/);
      },
    );
    return;
  }

  let pool: Promise<SlotPool<Spec>> | undefined;
  const isolatedPool = () => {
    pool ??= context.openPool({ isolation: 'user', host: context.userIsolationHost });
    return pool;
  };
  /** Two slots of one host of the isolated pool; `body(mine, sibling)`; both released after. */
  const siblings = async (body: (mine: Slot, sibling: Slot) => Promise<void>) => {
    const opened = await isolatedPool();
    const mine = await opened.acquire();
    const sibling = await opened.acquire();
    try {
      expect(sibling.hostId).toBe(mine.hostId);
      await body(mine, sibling);
    } finally {
      await mine.release().catch(() => undefined);
      await sibling.release().catch(() => undefined);
    }
  };
  const uidOf = async (slot: Slot) => Number((await slot.exec('id -u')).stdout.trim());

  test('userIsolation', 'each slot runs as its own non-root uid and owns its 0700 workspace', async () => {
    await siblings(async (mine, sibling) => {
      const [a, b] = [await uidOf(mine), await uidOf(sibling)];
      expect(a).not.toBe(0);
      expect(b).not.toBe(0);
      expect(a).not.toBe(b);
      expect((await mine.exec('stat -c "%u %a" .')).stdout.trim()).toBe(`${a} 700`);
      expect((await mine.exec('id -G')).stdout.trim(), 'no supplementary groups').toBe(
        (await mine.exec('id -g')).stdout.trim(),
      );
      await mine.writeFile('via-api.txt', 'x');
      expect((await mine.exec('stat -c %u via-api.txt')).stdout.trim(), 'writeFile runs as the slot').toBe(
        String(a),
      );
    });
  });

  test(
    'userIsolation',
    "a sibling's files can be neither read, listed nor written, by command or API",
    async () => {
      await siblings(async (mine, sibling) => {
        await mine.exec('echo SECRET-of-mine > secret.txt');
        const theirs = sibling.workspace;
        const ours = mine.workspace;
        expect((await sibling.exec(`cat ${ours}/secret.txt`)).exitCode).not.toBe(0);
        expect((await sibling.exec(`ls ${ours}`)).exitCode).not.toBe(0);
        expect((await sibling.exec(`echo pwned > ${ours}/planted.txt`)).exitCode).not.toBe(0);
        // Through the API, by symlinks the sibling planted in its own workspace.
        await sibling.exec(`ln -s ${ours}/secret.txt link.txt && ln -s ${ours} dir`);
        const read = await sibling.readFile('link.txt').then(
          (bytes) => Buffer.from(bytes).toString(),
          (error: unknown) => error,
        );
        expect(String(read)).not.toContain('SECRET-of-mine');
        await sibling.writeFile('dir/planted.txt', 'pwned').catch(() => undefined);
        const local = await mkdtemp(path.join(os.tmpdir(), 'berth-isolation-'));
        try {
          await sibling.download('link.txt', local).catch(() => undefined);
          for (const name of await readdir(local)) expect(name).not.toBe('secret.txt');
          await writeFile(path.join(local, 'planted.txt'), 'pwned');
          await sibling.upload(path.join(local, 'planted.txt'), `${theirs}/dir`).catch(() => undefined);
        } finally {
          await rm(local, { recursive: true, force: true });
        }
        expect((await mine.exec('ls -A')).stdout.split('\n').filter(Boolean).sort()).toEqual(['secret.txt']);
        expect((await mine.exec('cat secret.txt')).stdout).toBe('SECRET-of-mine\n');
      });
    },
  );

  test('userIsolation', "a sibling's processes can be neither signalled nor inspected", async () => {
    await siblings(async (mine, sibling) => {
      const pid = (await mine.exec('sleep 300 > /dev/null 2>&1 & echo $!')).stdout.trim();
      expect(pid).toMatch(/^\d+$/);
      expect((await sibling.exec(`kill -0 ${pid}`)).exitCode, 'signalling a sibling').not.toBe(0);
      expect((await sibling.exec(`cat /proc/${pid}/environ`)).exitCode, 'reading its environment').not.toBe(
        0,
      );
      expect((await mine.exec(`kill -0 ${pid}`)).exitCode, 'its own slot still can').toBe(0);
    });
  });

  test(
    'userIsolation',
    "release kills every process of the slot's user, even one that dropped the lease marker (env -i setsid)",
    async () => {
      let uid = 0;
      await siblings(async (mine, observer) => {
        uid = await uidOf(mine);
        await mine.exec(
          'env -i setsid sleep 300 > /dev/null 2>&1 < /dev/null & sleep 301 > /dev/null 2>&1 &',
        );
        expect(await countProcessesOf(observer, uid)).toBeGreaterThanOrEqual(2);
        await mine.release();
        const gone = await eventually(async () => (await countProcessesOf(observer, uid)) === 0, 10_000);
        expect(gone, `processes of uid ${uid} left after release`).toBe(true);
      });
    },
  );
}

/** How many processes `uid` owns, seen from another slot (a /proc entry is owned by its process's uid). */
async function countProcessesOf(observer: Slot, uid: number): Promise<number> {
  const script = `n=0; for p in /proc/[0-9]*; do [ "$(stat -c %u "$p" 2>/dev/null)" = ${uid} ] && n=$((n+1)); done; echo $n`;
  return Number((await observer.exec(script)).stdout.trim());
}
