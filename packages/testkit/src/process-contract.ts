import { BerthError, type Slot } from '@berth/core';
import { expect } from 'vitest';
import { type ConformanceContext, countProcessesScript, sleep, withSameSlot } from './conformance-context.js';

/** The process model: commands that harm themselves, leases that leave nothing behind (docs/lessons.md #19–21). */
export function registerProcessContract<Spec>(context: ConformanceContext<Spec>): void {
  const test = context.test.bind(context);

  /** A host is never lost by what a command does to itself; records `host:lost` while `body` runs. */
  const withoutHostLoss = async (body: (slot: Slot, neighbour: Slot) => Promise<void>) => {
    const pool = await context.sharedPool();
    const lost: string[] = [];
    const onLost = (event: { hostId: string; reason: string }) =>
      lost.push(`${event.hostId}: ${event.reason}`);
    pool.on('host:lost', onLost);
    try {
      await context.twoSlots(async (slot, neighbour) => {
        await body(slot, neighbour);
        expect((await neighbour.exec('echo neighbour-ok')).stdout).toBe('neighbour-ok\n');
      });
    } finally {
      pool.off('host:lost', onLost);
    }
    expect(lost, 'hosts lost by a command harming itself').toEqual([]);
  };

  test(
    'processModel',
    "$$ is the command's own shell, a new one per command, leading its own session",
    async () => {
      await context.withSlot(async (slot) => {
        // /proc/self read by the shell's own `read` is the shell itself; field 6 of stat is the session.
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template.
        const script = 'read -r s < /proc/self/stat; set -- ${s##*) }; echo "$$ ${s%% *} $4"';
        const first = (await slot.exec(script)).stdout.trim().split(' ');
        const second = (await slot.exec(script)).stdout.trim().split(' ');
        expect(first[0], `$$ vs /proc/self: ${first.join(' ')}`).toBe(first[1]);
        expect(first[2], 'the command leads its own session').toBe(first[0]);
        expect(second[0]).not.toBe(first[0]);
      });
    },
  );

  const selfHarm: [string, string, { exitCode?: number; stdout?: string; stdin?: string }][] = [
    ["trap 'kill 0' EXIT", "trap 'kill 0' EXIT; sleep 0.2 & echo done", { stdout: 'done\n' }],
    ['kill -9 $$', 'kill -9 $$', { exitCode: 137 }],
    ['kill -TERM 0', 'kill -TERM 0; sleep 5', { exitCode: 143 }],
    ['exec', 'exec echo replaced', { exitCode: 0, stdout: 'replaced\n' }],
    ['exit', 'exit 5', { exitCode: 5 }],
    ['set -e', 'set -e; false; echo never', { exitCode: 1, stdout: '' }],
    ['closing stdout and stderr', 'exec >&- 2>&-; sleep 0.1', { exitCode: 0 }],
    ['reading all stdin', 'cat > /dev/null; cat > /dev/null; echo read', { stdout: 'read\n', stdin: 'x\n' }],
    ['cd and export', 'cd /; export BERTH_LEAK=1; trap "" INT TERM HUP', { exitCode: 0 }],
  ];
  for (const [name, command, expected] of selfHarm) {
    test(
      'processModel',
      `a command's own ${name} never reaches its slot, its host or another slot`,
      async () => {
        await withoutHostLoss(async (slot) => {
          const result = await slot.exec(command, { stdin: expected.stdin, timeoutMs: 20_000 });
          if (expected.exitCode !== undefined) expect(result.exitCode).toBe(expected.exitCode);
          if (expected.stdout !== undefined) expect(result.stdout).toBe(expected.stdout);
          expect(result.timedOut).toBe(false);
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template.
          const after = await slot.exec('pwd; echo "${BERTH_LEAK:-unset}"');
          expect(after.stdout).toBe(`${slot.workspace}\nunset\n`);
        });
      },
    );
  }

  test(
    'leaseCleanup',
    'setsid, double-forked and nohup processes are killed at release (checked inside the host)',
    async () => {
      const pool = await context.sharedPool();
      const slot = await pool.acquire();
      const hostId = slot.hostId;
      try {
        const started = await slot.exec(
          'setsid sleep 4331 > /dev/null 2>&1 < /dev/null & ' +
            "(setsid sh -c 'sleep 4332 > /dev/null 2>&1 &' &) ; " +
            'if command -v nohup > /dev/null; then nohup sleep 4333 > /dev/null 2>&1 & ' +
            "else (trap '' HUP; exec sleep 4333 > /dev/null 2>&1) & fi; " +
            'sleep 0.3; echo started',
        );
        expect(started.stdout).toBe('started\n');
        const seen = await slot.exec(`${countProcessesScript('sleep 433')}`);
        expect(Number(seen.stdout.trim()), 'the three escapees run during the lease').toBe(3);
      } finally {
        await slot.release();
      }
      const observer = await pool.acquire();
      try {
        expect(observer.hostId).toBe(hostId);
        await context.noProcessLeft(observer, 'sleep 433');
      } finally {
        await observer.release();
      }
    },
  );

  test(
    'leaseCleanup',
    "output a lease's background child writes late never reaches the next lessee",
    async () => {
      const pool = await context.sharedPool();
      const first = await pool.acquire();
      const slotId = first.id;
      const started = await first.exec(
        '(sleep 1; echo SECRET-from-lease-A; echo SECRET-err >&2) & echo started',
      );
      expect(started.stdout).toBe('started\n');
      await first.release();
      await withSameSlot(pool.acquire.bind(pool), context.slotsPerHost, slotId, async (second) => {
        const result = await second.exec('sleep 2; echo mine');
        expect(result.stdout).toBe('mine\n');
        expect(result.stderr).toBe('');
      });
    },
  );

  test(
    'leaseCleanup',
    'close() of a persistent pool kills what leases left running; the adopter sees none of it',
    async () => {
      const poolId = context.newPoolId();
      // Closed with the slot still leased: close waits `closeTimeoutMs` for it, then goes ahead.
      const first = await context.openPool({
        poolId,
        persist: true,
        minHosts: 1,
        maxHosts: 1,
        closeTimeoutMs: 500,
      });
      const slot = await first.acquire();
      await slot.exec('setsid sleep 4334 > /dev/null 2>&1 < /dev/null & echo x > left.txt');
      await context.closePool(first, false);
      const second = await context.openPool({ poolId, persist: true, minHosts: 1, maxHosts: 1 });
      try {
        const observer = await second.acquire();
        try {
          await context.noProcessLeft(observer, 'sleep 4334');
          expect((await observer.exec('ls -A')).stdout, 'an adopted slot starts empty').toBe('');
        } finally {
          await observer.release();
        }
      } finally {
        await context.closePool(second, true);
      }
    },
    context.hasPersistence ? undefined : 'backend capabilities.persistence is false (no adoption)',
  );

  test(
    'commandPipes',
    'output a background child writes after its command returned never reaches a later command',
    async () => {
      await context.withSlot(async (slot) => {
        // A runtime may wait briefly for output still flowing after the exit; 1 s is past that.
        const started = await slot.exec('(sleep 1; echo LATE; echo LATE-err >&2) & echo started');
        expect(started.stdout).toBe('started\n');
        const later = await slot.exec('sleep 2; echo later');
        expect(later.stdout).toBe('later\n');
        expect(later.stderr).toBe('');
      });
    },
  );

  test(
    'runtimeLoss',
    "the slot's shell killed mid-command: SLOT_RUNTIME_LOST, the command is swept, the slot and host go on",
    async () => {
      await withoutHostLoss(async (slot, neighbour) => {
        // The command's parent is whatever carries the slot's commands (its shell).
        const runtimePid = Number((await slot.exec('echo $PPID')).stdout.trim());
        expect(runtimePid).toBeGreaterThan(1);
        const running = slot.exec('sleep 4335; echo never', { timeoutMs: 30_000 });
        running.catch(() => undefined);
        await sleep(300);
        // A runtime shared by the host's slots (berth-agent) carries the neighbour's command too.
        const killed = await neighbour.exec(`kill -9 ${runtimePid}`).catch((caught: unknown) => caught);
        if (killed instanceof Error) expect((killed as BerthError).code).toBe('SLOT_RUNTIME_LOST');
        const error = await running.then(
          (result) => new Error(`exec resolved instead of failing: ${JSON.stringify(result)}`),
          (caught: unknown) => caught,
        );
        expect(
          BerthError.hasCode(error, 'SLOT_RUNTIME_LOST'),
          `expected SLOT_RUNTIME_LOST, got ${String(error)}`,
        ).toBe(true);
        expect((error as BerthError).retryable).toBe(true);
        await context.noProcessLeft(neighbour, 'sleep 4335');
        expect((await slot.exec('echo again')).stdout).toBe('again\n');
      });
    },
  );
}
