import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { CreateHostRequestV1, HostChannelV1 } from '@berth/core';
import Dockerode from 'dockerode';
import {
  createDockerBackend,
  type DockerBackend,
  type DockerBackendOptions,
} from '../create-docker-backend.js';
import type { DockerHostSpec, DockerHostSpecInput } from '../docker-host-spec.js';

export const BUSYBOX_IMAGE = 'berth-test/busybox:1';
export const NOSH_IMAGE = 'berth-test/nosh:1';
/** Label every container made by one test file carries, so `afterAll` can prove none is left. */
export const TEST_RUN_LABEL = 'berth.test-run';

/** A raw dockerode client, for looking at containers from outside the backend (as `docker` would). */
export const rawDocker = new Dockerode({
  socketPath: process.env.BERTH_TEST_DOCKER_SOCKET ?? '/var/run/docker.sock',
});

export interface DockerTestContext {
  readonly runId: string;
  readonly backend: DockerBackend;
  /** A create request for `spec` in `pool` (default: this run's pool), labelled for this run. */
  request(spec: Partial<DockerHostSpecInput>, pool?: string): CreateHostRequestV1<DockerHostSpec>;
  /** Containers of this run still present (any state). */
  leftovers(): Promise<Dockerode.ContainerInfo[]>;
  /** Force-removes whatever this run left behind. */
  sweep(): Promise<void>;
}

export function dockerTestContext(options: DockerBackendOptions = {}): DockerTestContext {
  const runId = `t${randomBytes(6).toString('hex')}`;
  const backend = createDockerBackend(options);
  const leftovers = () =>
    rawDocker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${runId}`] } });
  return {
    runId,
    backend,
    request(spec, pool = runId) {
      return {
        profile: 'default',
        // Tests use no network: nothing here needs one, and it keeps them independent of the bridge.
        spec: backend.resolveHostSpec(
          { image: BUSYBOX_IMAGE, networkMode: 'none', pull: 'never', ...spec },
          'spec',
        ),
        labels: { 'berth.managed': '1', 'berth.pool': pool, [TEST_RUN_LABEL]: runId },
        slotCount: 1,
      };
    },
    leftovers,
    async sweep() {
      for (const container of await leftovers()) {
        await rawDocker
          .getContainer(container.Id)
          .remove({ force: true, v: true })
          .catch(() => undefined);
      }
    },
  };
}

/** Collects a readable stream to a Buffer. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/** Writes `script` to a channel, ends stdin, and returns both streams and the close info. */
export async function runScript(channel: HostChannelV1, script: string) {
  const stdout = collect(channel.stdout);
  const stderr = collect(channel.stderr);
  channel.stdin.end(script);
  const [out, err, closed] = await Promise.all([stdout, stderr, channel.closed]);
  return { stdout: out.toString('utf8'), stderr: err.toString('utf8'), closed };
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T>,
  predicate: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (predicate(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms (last value: ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
