/**
 * The agent start scripts under this machine's `sh` (the Nomad integration tests run them in the
 * busybox and Debian images): markers, the size check, the upload on the same stdin, and the exits
 * that send the caller to the slow install.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { INSTALL_AND_START_SCRIPT, START_SCRIPT, StartMarkerReader } from './nomad-agent-start.js';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A stand-in build: echoes its argv, then what arrives on stdin after the upload. */
const BUILD = Buffer.from('#!/bin/sh\necho "agent $*"\ncat\n');

interface Run {
  markers: string[];
  stdout: string;
  exitCode: number | null;
}

/** Runs a script like the exec does; answers `send` with the build, then writes `after` on stdin. */
function runScript(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', script, 'sh', ...args], { env, stdio: 'pipe' });
    const reader = new StartMarkerReader();
    const markers: string[] = [];
    let stdout = '';
    child.stdin.on('error', () => undefined); // the script may exit before reading it all
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      for (const marker of reader.push(chunk.toString())) {
        markers.push(marker.kind === 'send' ? `send ${marker.format}` : marker.kind);
        if (marker.kind === 'send') child.stdin.write(marker.format === 'gzip' ? gzipSync(BUILD) : BUILD);
        if (marker.kind === 'exec') child.stdin.end('protocol bytes\n');
      }
    });
    child.on('close', (exitCode) => resolve({ markers, stdout, exitCode }));
  });
}

function installArgs(root: string, gzip = true): { args: string[]; path: string } {
  const directory = join(root, '.berth', 'agent-1');
  const path = join(directory, 'berth-agent');
  const gzipSize = gzip ? gzipSync(BUILD).length : 0;
  return { args: [directory, path, String(BUILD.length), String(gzipSize), '--flag'], path };
}

function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'berth-agent-start-'));
  roots.push(root);
  return root;
}

describe('StartMarkerReader', () => {
  it('finds markers split across chunks and keeps every other line for diagnostics', () => {
    const reader = new StartMarkerReader();
    expect(reader.push('warning: x\nberth-agent-st')).toEqual([]);
    expect(
      reader.push(
        'art: send gzip\nberth-agent-start: failed: cannot create /x\nberth-agent-start: exec\ntail',
      ),
    ).toEqual([
      { kind: 'send', format: 'gzip' },
      { kind: 'failed', reason: 'cannot create /x' },
      { kind: 'exec' },
    ]);
    expect(reader.said).toBe('warning: x\n');
    expect(reader.rest()).toBe('warning: x\ntail');
  });
});

describe('INSTALL_AND_START_SCRIPT', () => {
  it('asks for the build (gzip), installs it from the same stdin and starts it with the rest of stdin', async () => {
    const root = tempRoot();
    const { args, path } = installArgs(root);
    const run = await runScript(INSTALL_AND_START_SCRIPT, args);
    expect(run).toEqual({
      markers: ['send gzip', 'exec'],
      stdout: 'agent --flag\nprotocol bytes\n',
      exitCode: 0,
    });
    expect(readFileSync(path)).toEqual(BUILD);
  });

  it('starts an install of the right size without asking; re-uploads one cut short', async () => {
    const root = tempRoot();
    const { args, path } = installArgs(root);
    await runScript(INSTALL_AND_START_SCRIPT, args);
    expect((await runScript(INSTALL_AND_START_SCRIPT, args)).markers).toEqual(['exec']);
    writeFileSync(path, BUILD.subarray(0, 10));
    chmodSync(path, 0o755);
    expect((await runScript(INSTALL_AND_START_SCRIPT, args)).markers).toEqual(['send gzip', 'exec']);
    expect(readFileSync(path)).toEqual(BUILD);
  });

  it('asks for the plain build when no gzip size is given', async () => {
    const { args } = installArgs(tempRoot(), false);
    expect((await runScript(INSTALL_AND_START_SCRIPT, args)).markers).toEqual(['send raw', 'exec']);
  });

  it('exits 86 where it cannot create the directory, 87 when the upload does not arrive whole', async () => {
    const root = tempRoot();
    writeFileSync(join(root, '.berth'), 'a file, not a directory');
    const unwritable = await runScript(INSTALL_AND_START_SCRIPT, installArgs(root).args);
    expect(unwritable).toMatchObject({ markers: ['failed'], exitCode: 86 });

    // A `dd` that cannot read exact blocks (an old busybox): the caller installs the slow way.
    const fakeRoot = tempRoot();
    writeFileSync(
      join(fakeRoot, 'dd'),
      '#!/bin/sh\necho "dd: unknown operand iflag=fullblock" >&2\nexit 1\n',
    );
    chmodSync(join(fakeRoot, 'dd'), 0o755);
    const env = { ...process.env, PATH: `${fakeRoot}:${process.env.PATH}` };
    const partial = await runScript(INSTALL_AND_START_SCRIPT, installArgs(tempRoot()).args, env);
    expect(partial).toMatchObject({ markers: ['send gzip', 'failed'], exitCode: 87 });
  });
});

describe('START_SCRIPT', () => {
  it('says exec, then runs its arguments', async () => {
    const run = await runScript(START_SCRIPT, ['sh', '-c', 'echo started; cat']);
    expect(run).toEqual({ markers: ['exec'], stdout: 'started\nprotocol bytes\n', exitCode: 0 });
  });
});
