/**
 * `/v1/clean` (HostV1.cleanSlot) with the real binary as a local child process: what a release
 * does in one request — kill a lease's processes by marker or uid, wherever they moved, and empty
 * the workspace without following a planted symlink; a failed background delete is reported by the
 * next reset.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCAL_AGENT_ARCH, useLocalAgent } from './testing/start-local-agent.js';

const root = process.getuid?.() === 0;
if (!root) console.info('[agent-clean] uid and mount tests skipped: they need root (CI runs as root)');

const agentOf = useLocalAgent();
let base = '';
const mounts: string[] = [];

afterEach(() => {
  for (const mount of mounts.splice(0)) execFileSync('umount', ['-l', mount]);
  if (base) rmSync(base, { recursive: true, force: true });
});

function layout(): { workspace: string; trash: string } {
  base = mkdtempSync(path.join(tmpdir(), 'berth-clean-'));
  const workspace = path.join(base, 'slot_0');
  mkdirSync(workspace);
  mkdirSync(path.join(base, '.berth'));
  return { workspace, trash: path.join(base, '.berth', 'trash') };
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !statSync(`/proc/${pid}`).isFile();

/** Starts a detached process through the agent (own session, like a command's `setsid … &`). */
async function startMarked(
  env: Record<string, string>,
  user?: { uid: number; gid: number },
): Promise<number> {
  const command = await agentOf().openCommand({
    argv: ['sh', '-c', 'setsid sleep 4391 > /dev/null 2>&1 < /dev/null & echo $!'],
    env,
    ...(user ? { user } : {}),
  });
  command.stdin.end();
  let out = '';
  command.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  command.stderr.resume();
  await command.closed;
  await new Promise((resolve) =>
    command.stdout.readableEnded ? resolve(0) : command.stdout.once('end', resolve),
  );
  return Number(out.trim());
}

async function until(check: () => boolean, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}

describe.skipIf(!LOCAL_AGENT_ARCH)('berth-agent /v1/clean', () => {
  it("kills the marked processes of one slot's leases, not its neighbour's, and empties the workspace", async () => {
    const { workspace, trash } = layout();
    const mine = await startMarked({ BERTH_LEASE: 'hosttag.0.aaaa' });
    const neighbour = await startMarked({ BERTH_LEASE: 'hosttag.1.bbbb' });
    writeFileSync(path.join(workspace, '.hidden'), 'x');
    mkdirSync(path.join(workspace, 'ro'), { mode: 0o500 });
    writeFileSync(path.join(base, 'outside'), 'keep');
    symlinkSync(base, path.join(workspace, 'link'));
    const result = await agentOf().files.cleanSlot({
      leasePrefix: 'hosttag.0.',
      reset: { directory: workspace, trash },
    });
    expect(result.warnings).toEqual([]);
    expect(await until(() => !alive(mine)), `process ${mine} survived the clean`).toBe(true);
    expect(alive(neighbour), 'the neighbour slot’s process').toBe(true);
    expect(readdirSync(workspace)).toEqual([]);
    expect(statSync(workspace).mode & 0o777).toBe(0o755);
    expect(existsSync(path.join(base, 'outside')), 'a planted symlink was followed').toBe(true);
    expect(await until(() => readdirSync(trash).length === 0), 'the background delete').toBe(true);
    await agentOf().files.cleanSlot({ leasePrefix: 'hosttag.1.' });
    expect(await until(() => !alive(neighbour))).toBe(true);
  });

  it.skipIf(!root)(
    'kills every process of a slot uid, even one without the marker, and hands the new workspace to it',
    async () => {
      const { workspace, trash } = layout();
      const user = { uid: 20_990, gid: 20_990 };
      const unmarked = await startMarked({}, user);
      const result = await agentOf().files.cleanSlot({
        leasePrefix: 'hosttag.0.',
        users: [user.uid],
        reset: { directory: workspace, trash, owner: user },
      });
      expect(result.warnings).toEqual([]);
      expect(await until(() => !alive(unmarked)), `process ${unmarked} of uid ${user.uid} survived`).toBe(
        true,
      );
      const stat = statSync(workspace);
      expect([stat.uid, stat.gid, stat.mode & 0o777]).toEqual([user.uid, user.gid, 0o700]);
    },
  );

  it.skipIf(!root)('a background delete that failed is reported by the next reset, once', async () => {
    const { workspace, trash } = layout();
    // A mount point inside the old tree: removing it fails (EBUSY) after the rename succeeded.
    const mountPoint = path.join(workspace, 'mnt');
    mkdirSync(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', 'none', mountPoint]);
    expect(
      (await agentOf().files.cleanSlot({ leasePrefix: 'x.0.', reset: { directory: workspace, trash } }))
        .warnings,
    ).toEqual([]);
    const [moved] = readdirSync(trash);
    mounts.push(path.join(trash, moved!, 'mnt'));
    expect(await until(() => readdirSync(trash).some((name) => name.endsWith('.err')))).toBe(true);
    const next = await agentOf().files.cleanSlot({
      leasePrefix: 'x.0.',
      reset: { directory: workspace, trash },
    });
    expect(next.warnings).toHaveLength(1);
    expect(next.warnings[0]).toMatch(/busy/i);
    expect(
      (await agentOf().files.cleanSlot({ leasePrefix: 'x.0.', reset: { directory: workspace, trash } }))
        .warnings,
    ).toEqual([]);
  });
});
