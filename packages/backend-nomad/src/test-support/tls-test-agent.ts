/**
 * A throwaway TLS-only Nomad agent (server + client, raw_exec, mutual TLS) for the TLS tests:
 * certificates from `nomad tls`, free loopback ports, a temporary data dir. The test that starts
 * it stops it and removes the directory. Not part of the published package.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { NomadClient } from '../client/nomad-client.js';

const run = promisify(execFile);
const SHARED_HCL = fileURLToPath(new URL('../../../../scripts/nomad-dev.hcl', import.meta.url));

export interface TlsTestAgent {
  readonly address: string;
  readonly directory: string;
  readonly caCert: string;
  readonly otherCaCert: string;
  readonly clientCert: string;
  readonly clientKey: string;
  stop(): Promise<void>;
}

export async function startTlsTestAgent(binary: string): Promise<TlsTestAgent> {
  const directory = mkdtempSync(join(tmpdir(), 'berth-nomad-tls-'));
  const other = join(directory, 'other');
  await mkdir(other);
  const tls = (args: string[], cwd = directory) => run(binary, ['tls', ...args], { cwd, timeout: 30_000 });
  await tls(['ca', 'create']);
  await tls(['cert', 'create', '-server', '-region', 'global', '-additional-ipaddress', '127.0.0.1']);
  await tls(['cert', 'create', '-cli']);
  await tls(['ca', 'create'], other);
  const [http, rpc, serf] = [await freePort(), await freePort(), await freePort()];
  const file = (name: string) => join(directory, name);
  writeFileSync(
    file('agent.hcl'),
    `name = "berth-tls-test"
datacenter = "dc1"
data_dir = "${file('data')}"
bind_addr = "127.0.0.1"
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
  min_dynamic_port = 34000
  max_dynamic_port = 34999
  options = { "driver.denylist" = "docker,java,qemu,exec" }
}
tls {
  http                   = true
  rpc                    = true
  ca_file                = "${file('nomad-agent-ca.pem')}"
  cert_file              = "${file('global-server-nomad.pem')}"
  key_file               = "${file('global-server-nomad-key.pem')}"
  verify_server_hostname = true
  verify_https_client    = true
}
`,
  );
  const log = openSync(file('nomad.log'), 'a');
  const agent: ChildProcess = spawn(
    binary,
    [
      'agent',
      '-config',
      SHARED_HCL,
      '-config',
      file('agent.hcl'),
      '-bind',
      '127.0.0.1',
      '-network-interface',
      'lo',
    ],
    { stdio: ['ignore', log, log] },
  );
  const stop = async () => {
    if (agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((resolve) => agent.once('exit', resolve));
      agent.kill('SIGTERM');
      const timer = setTimeout(() => agent.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(directory, { recursive: true, force: true });
  };
  const result: TlsTestAgent = {
    address: `https://127.0.0.1:${http}`,
    directory,
    caCert: file('nomad-agent-ca.pem'),
    otherCaCert: join(other, 'nomad-agent-ca.pem'),
    clientCert: file('global-cli-nomad.pem'),
    clientKey: file('global-cli-nomad-key.pem'),
    stop,
  };
  try {
    await waitForNode(result);
  } catch (error) {
    await stop();
    throw error;
  }
  return result;
}

/** Waits for a leader and a ready node with raw_exec (at most 60 s). */
async function waitForNode(agent: TlsTestAgent): Promise<void> {
  const client = new NomadClient({
    address: agent.address,
    tls: { caCert: agent.caCert, clientCert: agent.clientCert, clientKey: agent.clientKey },
    retries: 0,
    env: {},
  });
  const deadline = Date.now() + 60_000;
  try {
    while (Date.now() < deadline) {
      try {
        const { value: nodes } = await client.listNodes();
        if (nodes.some((node) => node.Status === 'ready' && node.Drivers?.raw_exec?.Healthy)) return;
      } catch {
        // not up yet
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`the TLS test agent did not become ready; see ${agent.directory}/nomad.log`);
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
