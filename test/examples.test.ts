/**
 * The examples the READMEs point at, run exactly as documented (`node --import tsx examples/…`)
 * against the real engines, so a README command that stops working fails CI.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LocalModal } from '../packages/backend-modal/src/testing/index.js';
import { nomadAvailable } from './fixtures/nomad-agent.js';
import { clusterAvailable } from './fixtures/nomad-cluster.js';
import { loadFleet } from './fixtures/ssh-fleet.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

async function example(file: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', `examples/${file}`], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return stdout;
}

const nomad = await nomadAvailable('examples');
const cluster = await clusterAvailable('examples');
const { fleet } = loadFleet();

describe('examples', () => {
  it('quickstart.ts (local backend)', async () => {
    const output = await example('quickstart.ts');
    expect(output).toMatch(/exit 3, stderr:/);
    expect(output).toMatch(/timed out: true, exit 124/);
  });

  it('minimal-backend/run.ts (the third-party backend of docs/writing-a-backend.md)', async () => {
    expect(await example('minimal-backend/run.ts')).toBe('exit 3: hello from a third-party backend\n');
  });

  it('opentelemetry.ts (metrics and spans through in-memory exporters)', async () => {
    const output = await example('opentelemetry.ts');
    expect(output).toMatch(/^metrics: .*berth\.acquire\.duration.*berth\.exec\.duration.*berth\.slots$/m);
    expect(output).toMatch(/^span exec exit_nonzero example-1$/m);
  });

  it('docker-batch.ts (real dockerd)', async () => {
    const output = await example('docker-batch.ts');
    expect(output).toMatch(/^40\/40 trajectories ok in [\d.]+ s$/m);
    expect(output).toMatch(/trajectory 3 saw: \[ 'trajectory 3', '9', '1' \]/);
  });

  it('modal-rl-batch.ts (the real modal SDK against the local Modal control plane)', async () => {
    const modal = await LocalModal.start();
    try {
      // python:3.12-slim, the example's default, runs as the local berth-test/debian:12 (never pulled).
      const output = await example('modal-rl-batch.ts', modal.env());
      expect(output).toMatch(/^48\/48 rollouts ok in [\d.]+ s$/m);
      expect(output).toMatch(/^steps per rollout: 3; total reward 141$/m);
      expect(output).toMatch(/^sandboxes: 4$/m);
      expect(modal.stats.unimplemented).toEqual([]);
      expect(await modal.runningSandboxes()).toEqual([]);
    } finally {
      await modal.close();
    }
  });

  it.skipIf(!nomad)('nomad-cluster.ts (real Nomad agent, raw_exec)', async () => {
    const output = await example('nomad-cluster.ts', { BERTH_NOMAD_DRIVER: 'raw_exec' });
    expect(output).toMatch(/^job \S+ running after \d+ ms$/m);
    expect(output).toMatch(/timed out: true, exit 124; the slot still works:/);
  });

  it.skipIf(!cluster)(
    'nomad-cluster.ts on the multi-node test cluster (raw_exec), as its README runs it',
    async () => {
      const output = await example('nomad-cluster.ts', {
        BERTH_NOMAD_DRIVER: 'raw_exec',
        NOMAD_ADDR: cluster!.address,
        NOMAD_TOKEN: '',
      });
      expect(output).toMatch(/^3 hosts on 2 node\(s\): berth-nc-c1, berth-nc-c2$/m);
      expect(output).toMatch(/timed out: true, exit 124; the slot still works:/);
    },
  );

  it.skipIf(!fleet)(
    'ssh-fleet.ts (the sshd fleet, configured from the environment as the README shows)',
    async () => {
      const f = fleet!;
      const output = await example('ssh-fleet.ts', {
        BERTH_SSH_HOSTS: f.machines.map((machine) => `${f.user}@${machine.host}`).join(','),
        BERTH_SSH_KEY: f.keys.plain,
        BERTH_SSH_KNOWN_HOSTS: f.knownHosts,
        BERTH_SSH_ROOT: f.root,
      });
      for (const machine of f.machines) expect(output).toContain(` on ${machine.host}`);
      expect(output).toMatch(/timed out: true, exit 124; the slot still works: yes/);
    },
  );
});
