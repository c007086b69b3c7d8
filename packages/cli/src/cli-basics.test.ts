import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DrainProcessRecordV1, HostLostError, LABEL, MACHINE_IDENTITY } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';
import { describeFailure, EXIT, ExecFailure } from './exit-codes.js';
import { buildHostRows, summarizeSlots } from './host-rows.js';
import type { Output } from './output.js';
import { buildProgram, run } from './program.js';

describe('durations', () => {
  it('parses units and combinations; a bare number is ms', () => {
    expect(parseDuration('1500', '--x')).toBe(1500);
    expect(parseDuration('2h', '--x')).toBe(7_200_000);
    expect(parseDuration('1h30m', '--x')).toBe(5_400_000);
    expect(parseDuration('250ms', '--x')).toBe(250);
    expect(() => parseDuration('2 hours', '--older-than')).toThrow(
      /--older-than '2 hours' is not a duration/,
    );
  });
  it('formats the two largest units', () => {
    expect(formatDuration(90_061_000)).toBe('1d1h');
    expect(formatDuration(61_000)).toBe('1m1s');
    expect(formatDuration(420)).toBe('420ms');
  });
});

describe('host rows', () => {
  const now = 1_000_000;
  const creator = `${MACHINE_IDENTITY}.99999999.1.1`;
  const descriptor = {
    id: 'h1',
    state: 'running' as const,
    createdAtMs: 0,
    labels: {
      [LABEL.pool]: 'p',
      [LABEL.profile]: 'default',
      [LABEL.owner]: creator,
      [LABEL.spec]: 'abc',
      [LABEL.createdAt]: '400000',
    },
  };
  it('without a live record: the creator, provably dead, no slot states', () => {
    const [row] = buildHostRows('local', [descriptor], [], now);
    expect(row).toMatchObject({
      owner: creator,
      ownerSource: 'creator',
      ownerProvablyDead: true,
      ageMs: 600_000,
      slots: null,
      specHash: 'abc',
    });
  });
  it("a live process's record supplies the holder and slot states", () => {
    const record: DrainProcessRecordV1 = {
      owner: `other-machine.12.34.1`,
      poolId: 'p',
      pid: 12,
      hostname: 'elsewhere',
      backendId: 'local',
      startedAt: new Date(now).toISOString(),
      updatedAt: new Date().toISOString(),
      draining: undefined,
      drainedBy: [],
      markerSeen: undefined,
      leasedSlots: 1,
      hosts: [{ id: 'h1', profile: 'default', slots: ['executing', 'available'] }],
    };
    const [row] = buildHostRows('local', [descriptor], [record], now);
    expect(row).toMatchObject({
      owner: 'other-machine.12.34.1',
      ownerSource: 'holder',
      ownerState: 'unknown',
      slots: ['executing', 'available'],
    });
    expect(summarizeSlots(row?.slots ?? null)).toBe('1 executing, 1 available');
  });
});

function capture(): Output & { lines: string[] } {
  const lines: string[] = [];
  return {
    isTTY: false,
    lines,
    line: (text) => lines.push(text),
    json: (value) => lines.push(JSON.stringify(value)),
    note: (text) => lines.push(text),
  };
}

describe('program', () => {
  const signal = new AbortController().signal;
  it('a missing --pool is a usage error with the fix', async () => {
    await expect(run(['drain'], { output: capture(), signal, env: {} })).rejects.toThrow(
      /needs --pool ID \(or BERTH_POOL_ID\)/,
    );
    const failure = describeFailure(
      await run(['status'], { output: capture(), signal, env: {} }).catch((error) => error),
    );
    expect(failure.exitCode).toBe(EXIT.usage);
    expect(failure.line).toMatch(/\[INVALID_OPTIONS\]$/);
  });
  it('--mode accepts only wait or fail', async () => {
    expect(
      await run(['drain', '--pool', 'p', '--mode', 'later'], { output: capture(), signal, env: {} }),
    ).toBe(EXIT.usage);
  });
  it('hosts without BERTH_BACKEND is a configuration error naming the variable', async () => {
    const failure = describeFailure(
      await run(['hosts'], { output: capture(), signal, env: {} }).catch((error) => error),
    );
    expect(failure.exitCode).toBe(EXIT.configuration);
    expect(failure.line).toMatch(/BERTH_BACKEND.*\[INVALID_OPTIONS\]$/);
  });
  it('exec: a configuration error exits 3 like every command; a failure around the command 125', async () => {
    const failure = describeFailure(
      await run(['exec', '--pool', 'p', '--', 'true'], { output: capture(), signal, env: {} }).catch(
        (error) => error,
      ),
    );
    expect(failure.line).toMatch(/BERTH_BACKEND.*\[INVALID_OPTIONS\]$/);
    expect(failure.exitCode).toBe(EXIT.configuration);
    const lost = describeFailure(new ExecFailure(new HostLostError('h1', 'the host went away')));
    expect(lost.exitCode).toBe(EXIT.execFailed);
  });
});

describe('help', () => {
  it('every command has --help text with its usage and options', () => {
    const program = buildProgram(
      { output: capture(), signal: new AbortController().signal, env: {} },
      () => undefined,
    );
    const names = program.commands.map((command) => command.name());
    expect(names).toEqual(['hosts', 'reap', 'exec', 'drain', 'resume', 'status']);
    for (const command of program.commands) {
      const help = command.helpInformation();
      expect(help).toContain(`Usage: berth ${command.name()}`);
      expect(help).toContain('-h, --help');
    }
    expect(program.helpInformation()).toContain('--backend <name>');
  });
});

describe('global flags', () => {
  it('--home works after the subcommand too', async () => {
    const output = capture();
    const home = mkdtempSync(path.join(os.tmpdir(), 'berth-cli-flags-'));
    try {
      const code = await run(['status', '--pool', 'p', '--json', '--home', home], {
        output,
        signal: new AbortController().signal,
        env: {},
      });
      expect(code).toBe(EXIT.ok);
      expect(JSON.parse(output.lines[0] ?? '{}')).toMatchObject({
        pool: 'p',
        store: `file:${home}`,
        marker: { state: 'absent' },
      });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
