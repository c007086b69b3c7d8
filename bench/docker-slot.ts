/**
 * Docker slot benchmarks (issue 8), one warm debian container, each with a baseline from the same run:
 * - docker.exec_true_vs_fork_floor: warm `exec(['/bin/true'])` p50 against one fork+exec of
 *   /bin/true timed inside a running shell in the same container;
 * - docker.write_file_p50 / docker.read_file_p50 (1 KiB) against the Engine's archive API;
 * - docker.trajectory_step_p50: acquire + writeFile + 10 small commands + release, against the 10
 *   commands alone;
 * - docker.stdout_throughput: 256 MiB of stdout through a slot against `docker exec … | wc -c`;
 * - docker.big_output_rss_growth: client RSS growth while a command prints 3 GiB (capped result).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createDockerBackend } from '@berth/backend-docker';
import { createPool } from '@berth/core';
import Dockerode from 'dockerode';
import tarStream from 'tar-stream';
import { type BenchResult, percentile, round, timeEach } from './bench-result.js';

const IMAGE = process.env.BERTH_BENCH_DEBIAN_IMAGE ?? 'berth-test/debian:12';
const SAMPLES = 200;
const FILE_SAMPLES = 100;
const STEP_SAMPLES = 40;
const KIB = Buffer.alloc(1024, 'x');

/** `docker exec <id> sh -c <script>` piped into `wc -c`: bytes per second of a plain exec pipe. */
async function cliPipeBytesPerSecond(containerId: string, bytes: number): Promise<number> {
  const started = performance.now();
  const counted = await new Promise<number>((resolve, reject) => {
    const child = spawn('docker', ['exec', containerId, 'head', '-c', String(bytes), '/dev/zero']);
    let total = 0;
    child.stdout.on('data', (chunk: Buffer) => (total += chunk.length));
    child.once('error', reject);
    child.once('close', () => resolve(total));
  });
  if (counted !== bytes) throw new Error(`the CLI pipe carried ${counted} of ${bytes} bytes`);
  return bytes / ((performance.now() - started) / 1000);
}

async function archiveWrite(docker: Dockerode, containerId: string, directory: string): Promise<void> {
  const pack = tarStream.pack();
  pack.entry({ name: 'archive.txt', mode: 0o644, size: KIB.length }, KIB);
  pack.finalize();
  await docker
    .getContainer(containerId)
    .putArchive(pack as unknown as NodeJS.ReadableStream, { path: directory });
}

async function archiveRead(docker: Dockerode, containerId: string, file: string): Promise<void> {
  const stream = await docker.getContainer(containerId).getArchive({ path: file });
  for await (const _ of stream) {
    // drain
  }
}

export async function benchDockerSlot(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const docker = new Dockerode({
    socketPath: process.env.BERTH_TEST_DOCKER_SOCKET ?? '/var/run/docker.sock',
  });
  const pool = await createPool({
    backend: createDockerBackend(),
    poolId: `bench-slot-${randomBytes(3).toString('hex')}`,
    persist: false,
    handleSignals: false,
    minHosts: 1,
    maxHosts: 1,
    slotsPerHost: 2,
    host: { image: IMAGE, networkMode: 'none', pull: 'never' },
  });
  try {
    const containerId = pool.hostsOf()[0]!.id;
    const slot = await pool.acquire();

    // exec of an external program against the in-container fork+exec floor.
    await timeEach(30, () => slot.exec(['/bin/true']));
    const warm = await timeEach(SAMPLES, () => slot.exec(['/bin/true']));
    const floor = await slot.exec(
      'start=$(date +%s%N); i=0; while [ $i -lt 500 ]; do /bin/true; i=$((i+1)); done; end=$(date +%s%N); echo $(( (end-start)/500 ))',
    );
    const floorMs = Number(floor.stdout.trim()) / 1e6;
    const warmP50 = percentile(warm, 50);
    results.push({
      name: 'docker.exec_true_vs_fork_floor',
      value: round(warmP50),
      unit: 'ms',
      baseline: round(floorMs),
      ratio: round(warmP50 / floorMs, 2),
      note: 'value / baseline; target ≤ 1.5',
    });

    // Files: 1 KiB through the slot against the archive API on the same container.
    const workspace = slot.workspace;
    await timeEach(10, () => slot.writeFile('bench.txt', KIB));
    const writes = await timeEach(FILE_SAMPLES, () => slot.writeFile('bench.txt', KIB));
    const reads = await timeEach(FILE_SAMPLES, () => slot.readFile('bench.txt'));
    await timeEach(5, () => archiveWrite(docker, containerId, workspace));
    const archiveWrites = await timeEach(30, () => archiveWrite(docker, containerId, workspace));
    const archiveReads = await timeEach(30, () =>
      archiveRead(docker, containerId, `${workspace}/archive.txt`),
    );
    for (const [name, samples, baseline] of [
      ['docker.write_file_p50', writes, archiveWrites],
      ['docker.read_file_p50', reads, archiveReads],
    ] as const) {
      const value = percentile(samples, 50);
      const base = percentile(baseline, 50);
      results.push({
        name,
        value: round(value),
        unit: 'ms',
        baseline: round(base),
        ratio: round(base / value, 1),
        note: 'baseline: the Engine archive API; target ≤ 3 ms and ratio ≥ 10',
      });
    }

    // Output: 256 MiB through the slot against a plain exec pipe.
    const bytes = 256 * 1024 * 1024;
    const cli = await cliPipeBytesPerSecond(containerId, bytes);
    const streamed = performance.now();
    let received = 0;
    const stream = slot.execStream(`head -c ${bytes} /dev/zero`, { maxOutputBytes: 1024 * 1024 });
    for await (const chunk of stream) received += chunk.data.length;
    await stream.result;
    const berth = bytes / ((performance.now() - streamed) / 1000);
    if (received !== bytes) throw new Error(`the slot streamed ${received} of ${bytes} bytes`);
    results.push({
      name: 'docker.stdout_throughput',
      value: round(berth / 2 ** 20, 1),
      unit: 'MiB/s',
      baseline: round(cli / 2 ** 20, 1),
      ratio: round(berth / cli, 2),
      note: 'baseline: docker exec CLI pipe; target ratio ≥ 0.9',
    });

    // Memory: 3 GiB printed, 8 MiB kept.
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const big = await slot.exec(`head -c ${3 * 1024 ** 3} /dev/zero`, {
      maxOutputBytes: 8 * 1024 * 1024,
      timeoutMs: 300_000,
    });
    clearInterval(sampler);
    if (!big.truncated || big.stdoutBytes !== 3 * 1024 ** 3)
      throw new Error('the 3 GiB command was not counted whole');
    results.push({
      name: 'docker.big_output_rss_growth',
      value: round((peak - before) / 2 ** 20, 1),
      unit: 'MiB',
      note: 'target ≤ 64',
    });
    await slot.release();

    // A trajectory step against its commands alone.
    const commands = async (target: typeof slot) => {
      for (let index = 0; index < 10; index += 1) await target.exec('true');
    };
    const alone = await pool.acquire();
    await timeEach(5, () => commands(alone));
    const commandsOnly = await timeEach(STEP_SAMPLES, () => commands(alone));
    await alone.release();
    const steps = await timeEach(STEP_SAMPLES, async () => {
      const step = await pool.acquire();
      await step.writeFile('task.json', '{"step":1}');
      await commands(step);
      await step.release();
    });
    const stepP50 = percentile(steps, 50);
    const commandsP50 = percentile(commandsOnly, 50);
    results.push({
      name: 'docker.trajectory_step_p50',
      value: round(stepP50),
      unit: 'ms',
      baseline: round(commandsP50),
      ratio: round(stepP50 / commandsP50, 2),
      note: 'value / baseline (the 10 commands alone); target ≤ 1.3',
    });
  } finally {
    await pool.close({ forceRemove: true });
  }
  return results;
}
