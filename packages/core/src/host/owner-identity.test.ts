import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { CURRENT_OWNER, isOwnerProvablyDead } from './owner-identity.js';

const machine = CURRENT_OWNER.split('.')[0]!;

function startTicks(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

describe('owner identity', () => {
  it('describes this process as <machine>.<pid>.<start>', () => {
    const [ownerMachine, pid, start] = CURRENT_OWNER.split('.');
    expect(ownerMachine).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(ownerMachine).toBe(
      os
        .hostname()
        .replace(/[^A-Za-z0-9_-]/g, '_')
        .slice(0, ownerMachine!.length),
    );
    expect(Number(pid)).toBe(process.pid);
    expect(start).toMatch(/^\d+$/);
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
    ]) {
      expect(isOwnerProvablyDead(owner), owner).toBe(false);
    }
  });
});
