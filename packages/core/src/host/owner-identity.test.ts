import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CURRENT_OWNER, isOwnerProvablyDead, MACHINE_IDENTITY, registerPoolOwner } from './owner-identity.js';

const machine = CURRENT_OWNER.split('.')[0]!;

function startTicks(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

describe('owner identity', () => {
  it('describes this process as <machine>.<pid>.<start>, short enough for a label', () => {
    const [ownerMachine, pid, start] = CURRENT_OWNER.split('.');
    expect(ownerMachine).toBe(MACHINE_IDENTITY);
    expect(ownerMachine).toMatch(/^[A-Za-z0-9_-]+-[0-9a-f]{12}$/);
    const hostnamePrefix = os
      .hostname()
      .replace(/[^A-Za-z0-9_-]/g, '_')
      .slice(0, 16);
    expect(ownerMachine!.startsWith(`${hostnamePrefix}-`)).toBe(true);
    expect(Number(pid)).toBe(process.pid);
    expect(start).toMatch(/^\d+$/);
    expect(`${CURRENT_OWNER}.9999`.length).toBeLessThanOrEqual(63);
  });

  it.skipIf(process.platform !== 'linux')(
    'the machine part is the boot id and PID namespace, not the hostname',
    () => {
      const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const namespace = readlinkSync('/proc/self/ns/pid');
      const expected = createHash('sha256').update(`${bootId}\n${namespace}`).digest('hex').slice(0, 12);
      expect(MACHINE_IDENTITY.endsWith(`-${expected}`)).toBe(true);
    },
  );

  it('a process with the same hostname in another PID namespace is never provably dead', () => {
    // What a second container with this hostname writes: same hostname prefix, other namespace hash.
    const twin = `${MACHINE_IDENTITY.slice(0, -12)}${'0'.repeat(12)}`;
    expect(twin).not.toBe(MACHINE_IDENTITY);
    const [, pid, start] = CURRENT_OWNER.split('.');
    // Same pid as ours with another start time would be "dead" here; in another namespace it means nothing.
    expect(isOwnerProvablyDead(`${twin}.${pid}.${Number(start) + 1}`)).toBe(false);
    expect(isOwnerProvablyDead(`${twin}.999999999.1`)).toBe(false);
    // Legacy labels (hostname only) cannot be told apart from a twin either: never provably dead.
    expect(isOwnerProvablyDead(`${os.hostname().replace(/[^A-Za-z0-9_-]/g, '_')}.999999999.1`)).toBe(false);
  });

  it('each pool of this process is its own owner, alive until it is released', () => {
    const first = registerPoolOwner();
    const second = registerPoolOwner();
    expect(first.owner).not.toBe(second.owner);
    expect(first.owner.startsWith(`${CURRENT_OWNER}.`)).toBe(true);
    expect(isOwnerProvablyDead(first.owner)).toBe(false);
    first.release();
    expect(isOwnerProvablyDead(first.owner)).toBe(true);
    expect(isOwnerProvablyDead(second.owner)).toBe(false);
    expect(isOwnerProvablyDead(CURRENT_OWNER)).toBe(false);
    second.release();
    // An instance number this process never handed out is no pool of ours that is alive.
    expect(isOwnerProvablyDead(`${CURRENT_OWNER}.999999`)).toBe(true);
  });

  it('this process is not provably dead', () => {
    expect(isOwnerProvablyDead(CURRENT_OWNER)).toBe(false);
  });

  it('an earlier incarnation of this pid (other start time) is dead', () => {
    const [, pid, start] = CURRENT_OWNER.split('.');
    expect(isOwnerProvablyDead(`${machine}.${pid}.${Number(start) + 1}`)).toBe(true);
  });

  it('a spawned child is alive while it runs and provably dead once it exited', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid!;
    const owner = `${machine}.${pid}.${startTicks(pid)}`;
    expect(isOwnerProvablyDead(owner)).toBe(false);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(isOwnerProvablyDead(owner)).toBe(true);
  });

  it('owners on another machine are never provably dead', () => {
    expect(isOwnerProvablyDead(`some-other-machine.1.1`)).toBe(false);
    expect(isOwnerProvablyDead(`some-other-machine.999999999.1`)).toBe(false);
  });

  it('malformed owners are never provably dead', () => {
    for (const owner of [
      '',
      'garbage',
      `${machine}`,
      `${machine}.abc.1`,
      `${machine}.-5.1`,
      `${machine}.0.1`,
      `${machine}.12`,
      `${machine}.${process.pid}.1.x`,
      `${machine}.${process.pid}.1.0`,
      `${CURRENT_OWNER}.1.2`,
    ]) {
      expect(isOwnerProvablyDead(owner), owner).toBe(false);
    }
  });

  // Two "containers" with one hostname: a process in a PID namespace of its own (same hostname, its
  // own pid 1) must not take this one for dead, nor this one it — pid 1 here is another process.
  const unshareProblem = (() => {
    if (process.platform !== 'linux') return 'PID namespaces are Linux only';
    const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { encoding: 'utf8' });
    if (probe.error) return `unshare is not available (${probe.error.message})`;
    if (probe.status !== 0) return `unshare --pid is not permitted here (${probe.stderr.trim()})`;
    return undefined;
  })();
  if (unshareProblem) console.log(`[owner identity] skipping the PID namespace test: ${unshareProblem}`);

  it.skipIf(unshareProblem !== undefined)(
    'a process with this hostname in another PID namespace and this one never judge each other dead',
    () => {
      const source = fileURLToPath(new URL('./owner-identity.ts', import.meta.url));
      const script =
        `const m = await import(${JSON.stringify(source)});` +
        'console.log(JSON.stringify({ owner: m.CURRENT_OWNER, parentDead: m.isOwnerProvablyDead(process.env.PARENT_OWNER) }));';
      const child = spawnSync(
        'unshare',
        [
          '--pid',
          '--fork',
          '--mount-proc',
          process.execPath,
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          script,
        ],
        { encoding: 'utf8', env: { ...process.env, PARENT_OWNER: CURRENT_OWNER }, timeout: 30_000 },
      );
      expect(child.status, child.stderr).toBe(0);
      const report = JSON.parse(child.stdout.trim()) as { owner: string; parentDead: boolean };
      const [childMachine, childPid] = report.owner.split('.');
      expect(childPid).toBe('1');
      expect(childMachine).not.toBe(MACHINE_IDENTITY);
      expect(childMachine!.slice(0, -13), 'same hostname').toBe(MACHINE_IDENTITY.slice(0, -13));
      expect(report.parentDead).toBe(false);
      // The child has exited, and our pid 1 is someone else: still not provably dead from here.
      expect(isOwnerProvablyDead(report.owner)).toBe(false);
    },
  );
});
