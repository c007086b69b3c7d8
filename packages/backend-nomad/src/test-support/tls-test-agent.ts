/**
 * A throwaway TLS-only Nomad agent (server + client, raw_exec, mutual TLS) for the TLS tests:
 * certificates from `nomad tls`, on a private agent from throwaway-agent.ts. The test that starts
 * it stops it. Not part of the published package.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NomadClient } from '../client/nomad-client.js';
import { startThrowawayAgent } from './throwaway-agent.js';

const run = promisify(execFile);

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
  const certificates = (directory: string) => ({
    caCert: join(directory, 'nomad-agent-ca.pem'),
    otherCaCert: join(directory, 'other', 'nomad-agent-ca.pem'),
    clientCert: join(directory, 'global-cli-nomad.pem'),
    clientKey: join(directory, 'global-cli-nomad-key.pem'),
  });
  const agent = await startThrowawayAgent({
    binary,
    name: 'berth-tls-test',
    dynamicPorts: [34_000, 34_999],
    scheme: 'https',
    prepare: async (directory) => {
      const tls = (args: string[], cwd = directory) =>
        run(binary, ['tls', ...args], { cwd, timeout: 30_000 });
      await mkdir(join(directory, 'other'));
      await tls(['ca', 'create']);
      await tls(['cert', 'create', '-server', '-region', 'global', '-additional-ipaddress', '127.0.0.1']);
      await tls(['cert', 'create', '-cli']);
      await tls(['ca', 'create'], join(directory, 'other')); // a CA the agent does not trust
    },
    extraHcl: (directory) => `tls {
  http                   = true
  rpc                    = true
  ca_file                = "${join(directory, 'nomad-agent-ca.pem')}"
  cert_file              = "${join(directory, 'global-server-nomad.pem')}"
  key_file               = "${join(directory, 'global-server-nomad-key.pem')}"
  verify_server_hostname = true
  verify_https_client    = true
}
`,
    client: (address, directory) => {
      const { caCert, clientCert, clientKey } = certificates(directory);
      return new NomadClient({ address, tls: { caCert, clientCert, clientKey }, retries: 0, env: {} });
    },
  });
  return {
    address: agent.address,
    directory: agent.directory,
    ...certificates(agent.directory),
    stop: agent.stop,
  };
}
