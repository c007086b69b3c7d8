/** ControlShells over real local shells: lanes open only under contention and stay bounded. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostV1 } from '../backend/v1/types.js';
import { createLocalBackend } from '../local/create-local-backend.js';
import { ShellSession } from '../shell/shell-session.js';
import { ControlShells } from './control-shells.js';

const root = mkdtempSync(join(tmpdir(), 'berth-control-'));
const backend = createLocalBackend({ baseDirectory: root });
const hosts: HostV1[] = [];

afterAll(async () => {
  for (const host of hosts) await host.destroy({ force: true });
  rmSync(root, { recursive: true, force: true });
});

async function controlShells(
  maxShells: number,
  onShellExited: (code: number | undefined) => void = () => {},
  timeoutMs = 10_000,
) {
  const host = await backend.createHost({
    profile: 'default',
    spec: backend.resolveHostSpec({}, 'host'),
    labels: { 'berth.managed': '1', 'berth.pool': 'control-test' },
    slotCount: 1,
  });
  hosts.push(host);
  const opened: ShellSession[] = [];
  const shells = new ControlShells({
    hostId: host.id,
    open: async (signal) => {
      const session = await ShellSession.start(await host.openChannel({ signal }), {
        startTimeoutMs: 10_000,
      });
      opened.push(session);
      return session;
    },
    timeoutMs,
    maxShells,
    onShellExited,
    assertUsable: () => {
      if (lost) throw new Error('the host is lost');
    },
    idleCloseMs: 300,
  });
  let lost = false;
  const loseHost = () => {
    lost = true;
  };
  return { shells, opened, loseHost };
}

/** The pid of the shell each command ran in (`$$` in a subshell is its shell's), so lanes can be counted. */
const whichShell = 'sleep 0.3; echo $$';

describe('ControlShells', () => {
  it('reuses one shell when commands do not overlap', async () => {
    const { shells, opened } = await controlShells(4);
    for (let i = 0; i < 3; i++) expect((await shells.run('echo ok')).stdout).toBe('ok\n');
    expect(opened).toHaveLength(1);
    shells.close();
  });

  it('opens more shells only while all are busy, never more than maxShells', async () => {
    const { shells, opened } = await controlShells(3);
    const results = await Promise.all(Array.from({ length: 7 }, () => shells.run(whichShell)));
    expect(results.every((result) => result.exitCode === 0)).toBe(true);
    expect(opened).toHaveLength(3);
    expect(new Set(results.map((result) => result.stdout)).size).toBe(3);
    shells.close();
  });

  it('closes extra shells once idle, keeping the first', async () => {
    const { shells, opened } = await controlShells(3);
    await Promise.all(Array.from({ length: 3 }, () => shells.run(whichShell)));
    expect(opened).toHaveLength(3);
    await new Promise((resolve) => setTimeout(resolve, 600));
    // Shells open in any order; whichever serves the first lane stays.
    expect(opened.filter((session) => session.closedByUs)).toHaveLength(2);
    expect((await shells.run('echo still')).stdout).toBe('still\n');
    expect(opened).toHaveLength(3); // served by the first shell, nothing reopened
    shells.close();
  });

  it('a command that times out costs its shell, not the commands queued behind it', async () => {
    const { shells, opened } = await controlShells(1, () => {}, 500);
    const stuck = shells.run('sleep 5');
    const next = shells.run('echo next');
    await expect(stuck).rejects.toMatchObject({ code: 'HOST_LOST' });
    expect((await next).stdout).toBe('next\n');
    expect(opened).toHaveLength(2);
    expect(opened[0]!.closedByUs).toBe(true);
    shells.close();
  });

  it('queued commands do not start once the host is lost', async () => {
    const { shells, opened, loseHost } = await controlShells(1);
    const first = shells.run('sleep 0.3; echo first');
    await new Promise((resolve) => setTimeout(resolve, 100)); // `first` is running
    const queued = shells.run('echo queued');
    loseHost();
    expect((await first).stdout).toBe('first\n');
    await expect(queued).rejects.toThrow(/the host is lost/);
    expect(opened).toHaveLength(1);
    shells.close();
  });

  it('reports a control shell that exits by itself, not one it closed', async () => {
    const exits: Array<number | undefined> = [];
    const { shells, opened } = await controlShells(1, (code) => exits.push(code));
    await shells.run('true');
    shells.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(exits).toEqual([]);
    await shells.run('true'); // reopened on demand
    expect(opened).toHaveLength(2);
    await shells.run('kill -9 $$').catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(exits).toHaveLength(1);
  });
});
