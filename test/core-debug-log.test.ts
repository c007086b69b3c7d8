/**
 * `BERTH_DEBUG` in a real child process (local backend): the log says why hosts were adopted, left
 * alone, replaced and removed, and why creations are retried — and never prints a secret that the
 * host spec, a forwarded variable, a command or its output carried.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = path.join(ROOT, 'test/fixtures/debug-log-child.ts');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'berth-debug-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function runChild(debug: string, name: string) {
  const secret = `sekret-${randomBytes(8).toString('hex')}`;
  const forwarded = `forwarded-${randomBytes(8).toString('hex')}`;
  const baseDirectory = mkdtempSync(path.join(scratch, `${name}-`));
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', CHILD, baseDirectory, `debug-${name}-${process.pid}`, secret],
    {
      cwd: ROOT,
      env: { ...process.env, BERTH_DEBUG: debug, OTEL_TEST_API_TOKEN: forwarded },
      timeout: 60_000,
    },
  );
  const hosts = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
    created: string[];
    adopted: string[];
  };
  return { stderr, secret, forwarded, ...hosts };
}

describe('BERTH_DEBUG (local backend, a real child process)', () => {
  it('BERTH_DEBUG=1 explains adoption, leaving, replacement, removal and retries, without secrets', async () => {
    const { stderr, secret, forwarded, created, adopted } = await runChild('1', 'all');
    expect(created).toHaveLength(2);
    expect(adopted).toHaveLength(1);
    const [kept] = adopted;
    const left = created.find((id) => id !== kept);
    const line = (pattern: string) => expect(stderr).toMatch(new RegExp(`^berth:${pattern}`, 'm'));
    line(`reaper \\S+ \\[debug-all-\\d+\\] start sweep: 2 host\\(s\\) labelled berth.pool=debug-all-\\d+`);
    line(`reaper .* adopted ${kept}: spec matches, its claim was free`);
    line(`reaper .* left ${left} \\(not adopted\\): warm, left for the next process of this pool`);
    line(`reaper .* replaced ${left}: spec changed`);
    line(`host .* removed ${kept} \\(default\\): pool closed`);
    line('host .* creating a default host failed \\(attempt 1\\): INTERNAL: .*; next creation in ≥ 500 ms');
    line('host .* creating a default host failed \\(attempt 2\\): INTERNAL: .*; next creation in ≥ 1000 ms');
    line('pool .* scaled up: default has 2 host\\(s\\)');
    line('pool .* drain \\(fail\\) requested by marker from ops@box, requested at \\S+Z$');
    line('pool .* resumed: marker stopped asking to drain');
    line('pool .* drain \\(wait\\) requested by api$');
    line('pool .* resumed: api stopped asking to drain');
    // `exec` is not part of `1`: no line per command.
    expect(stderr).not.toMatch(/^berth:exec/m);
    expect(stderr).not.toContain(secret);
    expect(stderr).not.toContain(forwarded);
  });

  it('a namespace list prints only those namespaces; exec lines carry slot and trajectory, not output', async () => {
    const { stderr, secret, forwarded } = await runChild('reaper,exec', 'some');
    expect(stderr).toMatch(/^berth:reaper .* adopted /m);
    expect(stderr).toMatch(
      /^berth:exec .*\/slot_0 \(trajectory trajectory-secret-check\): exit 5 after \d+ ms$/m,
    );
    expect(stderr).not.toMatch(/^berth:(host|pool|slot) /m);
    expect(stderr).not.toContain(secret);
    expect(stderr).not.toContain(forwarded);
  });

  it('unset: the pool prints nothing', async () => {
    const { stderr } = await runChild('', 'none');
    expect(stderr).toBe('');
  });
});
