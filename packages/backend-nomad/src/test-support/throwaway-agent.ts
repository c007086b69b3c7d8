/**
 * A private single-node Nomad agent (server + client, raw_exec only) on free loopback ports with
 * its own data directory, for tests that need an agent of their own: one with TLS, one they
 * restart. The caller stops it, which deletes the directory. Not part of the published package.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NomadClient } from '../client/nomad-client.js';

/** What the readiness check needs of a client (structural, so the built package's client fits too). */
type ReadinessClient = Pick<NomadClient, 'listNodes' | 'close'>;

const SHARED_HCL = fileURLToPath(new URL('../../../../scripts/nomad-dev.hcl', import.meta.url));

export interface ThrowawayAgentOptions {
  readonly binary: string;
  /** Agent name and temporary directory prefix, e.g. `berth-tls-test`. */
  readonly name: string;
  /** Client dynamic port range, distinct per kind of agent so two can run at once. */
  readonly dynamicPorts: readonly [number, number];
  /** Appended to the generated config (a `tls { … }` block, say). */
  readonly extraHcl?: (directory: string) => string;
  /** Runs before the agent first starts (certificates into the directory, say). */
  readonly prepare?: (directory: string) => Promise<void>;
  readonly scheme?: 'http' | 'https';
  /** A client for the readiness check (TLS agents need certificates). */
  readonly client: (address: string, directory: string) => ReadinessClient;
}

export interface ThrowawayAgent {
  readonly address: string;
  readonly directory: string;
  /** SIGTERM the agent (its raw_exec tasks keep running), then start it again on the same state. */
  restart(): Promise<void>;
  /** Stops the agent and deletes its directory. */
  stop(): Promise<void>;
}

export async function startThrowawayAgent(options: ThrowawayAgentOptions): Promise<ThrowawayAgent> {
  const directory = mkdtempSync(join(tmpdir(), `${options.name}-`));
  const [http, rpc, serf] = [await freePort(), await freePort(), await freePort()];
  const address = `${options.scheme ?? 'http'}://127.0.0.1:${http}`;
  let agent: ChildProcess | undefined;

  const halt = async () => {
    const running = agent;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  const launch = async () => {
    const log = openSync(join(directory, 'nomad.log'), 'a');
    agent = spawn(
      options.binary,
      [
        'agent',
        '-config',
        SHARED_HCL,
        '-config',
        join(directory, 'agent.hcl'),
        '-bind',
        '127.0.0.1',
        '-network-interface',
        'lo',
      ],
      { stdio: ['ignore', log, log] },
    );
    await waitForNode(options.client(address, directory), directory);
  };
  try {
    await options.prepare?.(directory);
    writeFileSync(
      join(directory, 'agent.hcl'),
      `name = "${options.name}"
datacenter = "dc1"
data_dir = "${join(directory, 'data')}"
ports {
  http = ${http}
  rpc  = ${rpc}
  serf = ${serf}
}
server {
  enabled          = true
  bootstrap_expect = 1
}
client {
  enabled          = true
  min_dynamic_port = ${options.dynamicPorts[0]}
  max_dynamic_port = ${options.dynamicPorts[1]}
  options = { "driver.denylist" = "docker,java,qemu,exec" }
}
${options.extraHcl?.(directory) ?? ''}`,
    );
    await launch();
  } catch (error) {
    await halt();
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  return {
    address,
    directory,
    restart: async () => {
      await halt();
      await launch();
    },
    stop: async () => {
      await halt();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Waits (at most 60 s) for a leader and a ready node with a healthy raw_exec driver. */
async function waitForNode(client: ReadinessClient, directory: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  try {
    while (Date.now() < deadline) {
      try {
        const { value: nodes } = await client.listNodes();
        if (nodes.some((node) => node.Status === 'ready' && node.Drivers?.raw_exec?.Healthy === true)) return;
      } catch {
        // not up yet
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`the test agent did not become ready; see ${directory}/nomad.log`);
  } finally {
    await client.close();
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
