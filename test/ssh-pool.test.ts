/**
 * SSH pools on the real sshd fleet: slots past MaxSessions, 60 concurrent acquires, placement,
 * a blackholed machine and a downed link mid-command, a frozen (SIGSTOPped) and a SIGKILLed owner
 * (the agent's watchdog leaves nothing running), persistence across processes, label-scoped removal.
 */
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { SshBackend } from '@berth/backend-ssh';
import { BerthError, createPool } from '@berth/core';
import { describe, expect, it } from 'vitest';
import { fleetBackend, inNamespace, loadFleet, rootCommand, type SshFleet } from './fixtures/ssh-fleet.js';

const { fleet, missing } = loadFleet();
const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./fixtures/ssh-pool-child.ts', import.meta.url));
const unique = (name: string) => `t-ssh-${name}-${process.pid}`;

async function machineOf(backend: SshBackend, poolId: string, hostId: string): Promise<string | undefined> {
  const hosts = await backend.listHosts({ 'berth.pool': poolId });
  return hosts.find((host) => host.id === hostId)?.labels['berth.ssh.machine'];
}

async function countsByMachine(backend: SshBackend, poolId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const host of await backend.listHosts({ 'berth.pool': poolId })) {
    const name = host.labels['berth.ssh.machine']!;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

async function pgrep(pattern: string): Promise<string> {
  return run('pgrep', ['-f', pattern]).then(
    ({ stdout }) => stdout.trim(),
    () => '',
  );
}

describe.skipIf(!fleet)(`ssh pools (${missing ?? 'real sshd fleet'})`, () => {
  const f = fleet as SshFleet;

  it('runs 16 slots at once on the machine whose sshd has MaxSessions 10 (one agent channel)', async () => {
    const pool = await createPool({
      backend: fleetBackend(f, { only: ['m1'], transport: 'agent' }),
      poolId: unique('sessions'),
      persist: false,
      maxHosts: 1,
      slotsPerHost: 16,
    });
    try {
      const slots = await Promise.all(Array.from({ length: 16 }, () => pool.acquire()));
      const results = await Promise.all(slots.map((slot, index) => slot.exec(`sleep 1; echo ${index}`)));
      expect(results.map((result) => result.stdout.trim())).toEqual(
        Array.from({ length: 16 }, (_, index) => String(index)),
      );
      await Promise.all(slots.map((slot) => slot.release()));
    } finally {
      await pool.close({ forceRemove: true });
    }
  });

  it('serves 60 concurrent acquires over 3 machines, spread within maxHostsPerMachine', async () => {
    const poolId = unique('sixty');
    const backend = fleetBackend(f, { maxHostsPerMachine: 5 });
    const pool = await createPool({
      backend,
      poolId,
      persist: false,
      maxHosts: 15,
      slotsPerHost: 4,
      maxConcurrentCreates: 15,
    });
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 60 }, async (_, index) => {
          const slot = await pool.acquire();
          try {
            return (await slot.exec(`echo ${index}`)).stdout.trim();
          } finally {
            await slot.release();
          }
        }),
      );
      expect(new Set(outcomes).size).toBe(60);
      const counts = await countsByMachine(backend, poolId);
      expect(Object.keys(counts).sort()).toEqual(['m1', 'm2', 'm3']);
      for (const count of Object.values(counts)) expect(count).toBeLessThanOrEqual(5);
    } finally {
      await pool.close({ forceRemove: true });
    }
  });

  it("transport 'auto' falls back to plain sh channels where the agent cannot run (noexec root), and says why", async () => {
    const backend = fleetBackend(f, { only: ['m3'], root: f.noexecRoot });
    const pool = await createPool({
      backend,
      poolId: unique('noexec'),
      persist: false,
      maxHosts: 1,
      slotsPerHost: 2,
    });
    try {
      const slot = await pool.acquire();
      expect((await slot.exec('echo through sh')).stdout).toBe('through sh\n');
      await slot.writeFile('a.txt', 'kept');
      expect((await slot.exec('cat a.txt')).stdout).toBe('kept');
      await slot.release();
      const host = await backend.attachHost(
        (await backend.listHosts({ 'berth.pool': unique('noexec') }))[0]!,
      );
      expect(host.transport.kind).toBe('sh');
      expect(host.transport.reason ?? '').not.toBe('');
      await host.disconnect();
    } finally {
      await pool.close({ forceRemove: true });
      await backend.dispose();
    }
  });

  for (const fault of ['blackhole', 'link down'] as const) {
    it(`${fault} mid-command: a typed error within the bounds, and a replacement on another machine`, async () => {
      const poolId = unique(fault.replace(' ', '-'));
      const backend = fleetBackend(f, {
        only: ['m2', 'm3'],
        keepaliveIntervalMs: 1_000,
        keepaliveCountMax: 2,
        machineLostAfterMs: 3_000,
        connectTimeoutMs: 2_000,
        readyTimeoutMs: 3_000,
        commandStartTimeoutMs: 3_000,
        requestTimeoutMs: 5_000,
      });
      const pool = await createPool({
        backend,
        poolId,
        persist: false,
        maxHosts: 2,
        slotsPerHost: 1,
        healthCheckIntervalMs: 1_000,
      });
      const lost: string[] = [];
      pool.on('host:lost', (event) => lost.push(event.hostId));
      let undo: (() => Promise<unknown>) | undefined;
      try {
        const victim = await pool.acquire();
        const machineName = (await machineOf(backend, poolId, victim.hostId))!;
        const machine = f.machines.find((each) => each.name === machineName)!;
        const running = victim.exec('echo started; sleep 120', { timeoutMs: 60_000 });
        running.catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 500));
        if (fault === 'blackhole') {
          await inNamespace(machine.namespace, ['iptables', '-I', 'INPUT', '-j', 'DROP']);
          undo = () => inNamespace(machine.namespace, ['iptables', '-F', 'INPUT']);
        } else {
          await rootCommand(['ip', 'link', 'set', machine.link, 'down']);
          undo = () => rootCommand(['ip', 'link', 'set', machine.link, 'up']);
        }
        const error = await running.then(
          (result) => new Error(`exec resolved instead of failing: ${JSON.stringify(result)}`),
          (caught: unknown) => caught,
        );
        expect(BerthError.isInstance(error), String(error)).toBe(true);
        // A dropped connection mid-command is the command's loss (SLOT_RUNTIME_LOST) or, once the
        // machine stayed unreachable past machineLostAfterMs, the host's (HOST_LOST).
        expect(['HOST_LOST', 'SLOT_RUNTIME_LOST', 'BACKEND_UNAVAILABLE']).toContain(
          (error as BerthError).code,
        );
        await victim.release().catch(() => undefined);
        // The machine stays unreachable: its host is lost (machineLostAfterMs) or, its slot being in
        // error after the cut-off command, replaced; either way it leaves the pool (bounded: 20 s).
        const gone = () =>
          lost.includes(victim.hostId) || !pool.hostsOf().some((host) => host.id === victim.hostId);
        const deadline = Date.now() + 20_000;
        while (!gone() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
        expect(gone(), `host ${victim.hostId} still in the pool`).toBe(true);
        const fresh = await pool.acquire({ timeoutMs: 30_000 });
        try {
          expect(fresh.hostId).not.toBe(victim.hostId);
          expect((await fresh.exec('echo alive')).stdout).toBe('alive\n');
        } finally {
          await fresh.release();
        }
        // The machine answers again: it is retried in the background and placement counts it again.
        await undo();
        undo = undefined;
        const back = Date.now() + 20_000;
        while ((await backend.machineLoads())[machineName] === -1 && Date.now() < back) {
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        expect((await backend.machineLoads())[machineName]).toBeGreaterThanOrEqual(0);
      } finally {
        await undo?.();
        await pool.close({ forceRemove: true, timeoutMs: 20_000 }).catch(() => undefined);
        // The lost machine's host directory, once it answers again.
        const cleanup = fleetBackend(f, { only: ['m2', 'm3'] });
        for (const host of await cleanup.listHosts({ 'berth.pool': poolId }).catch(() => []))
          await cleanup.removeHost(host);
        await cleanup.dispose();
      }
    });
  }

  it("a frozen owner (SIGSTOP, connection still open) leaves no process of its leases: the agent's heartbeat watchdog", async () => {
    const poolId = unique('frozen');
    const marker = `berth-ssh-frozen-${process.pid}`;
    // agentHeartbeatTimeoutMs 3 s in the child; its TCP connection stays up (the kernel still acks).
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, poolId, marker], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const backend = fleetBackend(f, { only: ['m1'] });
    try {
      await new Promise<string>((resolve, reject) => {
        let text = '';
        child.stdout.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          const match = /RUNNING (\S+)/.exec(text);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) =>
          reject(new Error(`the pool process exited (${code}) before it ran its command`)),
        );
      });
      const command = `sleep 300; echo ${marker}`;
      expect(await pgrep(command)).not.toBe('');
      child.kill('SIGSTOP');
      const deadline = Date.now() + 15_000; // watchdog 3 s, with room for a loaded machine
      while ((await pgrep(command)) !== '' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(await pgrep(command), 'a lease process outlived the frozen owner').toBe('');
      // The client is still there (stopped, not dead): only the watchdog could have done this.
      expect(child.exitCode).toBe(null);
      expect(child.signalCode).toBe(null);
    } finally {
      child.kill('SIGKILL');
      for (const host of await backend.listHosts({ 'berth.pool': poolId }).catch(() => []))
        await backend.removeHost(host).catch(() => undefined);
      await backend.dispose();
    }
  });

  it('a second process adopts the hosts; a SIGKILLed owner leaves no process of its leases; removal is label-scoped', async () => {
    const poolId = unique('persist');
    const marker = `berth-ssh-marker-${process.pid}`;
    const backend = fleetBackend(f, { only: ['m1'] });
    // Another pool's host on the same machine: no sweep of ours may touch it.
    const bystander = await backend.createHost({
      profile: 'p',
      spec: {},
      labels: { 'berth.pool': unique('bystander') },
      slotCount: 1,
    });
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, poolId, marker], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const hostId = await new Promise<string>((resolve, reject) => {
        let text = '';
        child.stdout.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          const match = /RUNNING (\S+)/.exec(text);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) =>
          reject(new Error(`the pool process exited (${code}) before it ran its command`)),
        );
      });
      expect(await pgrep(`sleep 300; echo ${marker}`)).not.toBe('');
      child.kill('SIGKILL');
      const deadline = Date.now() + 15_000; // watchdog 3 s, with room for a loaded machine
      while ((await pgrep(`sleep 300; echo ${marker}`)) !== '' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(await pgrep(`sleep 300; echo ${marker}`)).toBe('');

      const pool = await createPool({
        backend: fleetBackend(f, { only: ['m1'] }),
        poolId,
        persist: true,
        maxHosts: 1,
        slotsPerHost: 2,
        leaseTtlMs: 3_000,
      });
      try {
        const slot = await pool.acquire();
        expect(slot.hostId).toBe(hostId);
        expect((await slot.exec('echo adopted')).stdout).toBe('adopted\n');
        await slot.release();
      } finally {
        await pool.close({ forceRemove: true });
      }
      expect((await backend.listHosts({ 'berth.pool': poolId })).length).toBe(0);
      const still = await backend.listHosts({ 'berth.pool': bystander.labels['berth.pool']! });
      expect(still.map((host) => host.id)).toEqual([bystander.id]);
    } finally {
      child.kill('SIGKILL');
      await bystander.destroy({ force: true });
      await backend.dispose();
    }
  });
});
