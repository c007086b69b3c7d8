/**
 * Shared setup of the integration tests: the local test agents started by scripts/start-nomad.sh
 * (http://127.0.0.1:4646) and scripts/start-nomad-acl.sh (http://127.0.0.1:4746). Tests only
 * talk to 127.0.0.1. Not part of the published package.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NomadClient } from '../client/nomad-client.js';

export const NOMAD_TEST_ADDRESS = 'http://127.0.0.1:4646';
export const NOMAD_ACL_TEST_ADDRESS = 'http://127.0.0.1:4746';
const CACHE = join(homedir(), '.cache', 'berth');

/** A client for the main test agent, ignoring any NOMAD_* of the developer's shell. */
export function testClient(options: { address?: string; token?: string } = {}): NomadClient {
  return new NomadClient({ address: options.address ?? NOMAD_TEST_ADDRESS, token: options.token, env: {} });
}

export async function agentAnswers(address: string): Promise<boolean> {
  const client = new NomadClient({
    address,
    env: {},
    retries: 0,
    connectTimeoutMs: 2_000,
    requestTimeoutMs: 3_000,
  });
  try {
    return (await client.leader()) !== '';
  } catch {
    return false;
  } finally {
    await client.close();
  }
}

export async function dockerDriverHealthy(client: NomadClient): Promise<boolean> {
  const { value: nodes } = await client.listNodes();
  return nodes.some((node) => node.Status === 'ready' && node.Drivers?.docker?.Healthy === true);
}

/** The ACL agent's management token, when that agent runs. */
export async function aclManagementToken(): Promise<string | undefined> {
  const file = join(CACHE, 'nomad-acl', 'token');
  if (!existsSync(file) || !(await agentAnswers(NOMAD_ACL_TEST_ADDRESS))) return undefined;
  return readFileSync(file, 'utf8').trim();
}

/** The `nomad` binary built by scripts/setup-nomad.sh, for acting "from outside" like an operator. */
export function nomadBinary(): string | undefined {
  const root = join(CACHE, 'nomad');
  if (!existsSync(root)) return undefined;
  for (const version of readdirSync(root)
    .filter((name) => /^\d/.test(name))
    .sort()
    .reverse()) {
    const candidate = join(root, version, 'nomad');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

const run = promisify(execFile);

/** `nomad job stop [-purge] <id>` against the main test agent. */
export async function nomadCliStop(jobId: string, purge = false): Promise<void> {
  const binary = nomadBinary();
  if (!binary) throw new Error('no nomad binary; run scripts/setup-nomad.sh');
  await run(binary, ['job', 'stop', '-detach', ...(purge ? ['-purge'] : []), jobId], {
    env: { ...process.env, NOMAD_ADDR: NOMAD_TEST_ADDRESS },
    timeout: 30_000,
  });
}

/** IDs of the jobs carrying `Meta[key] == value`. */
export async function jobsWithMeta(client: NomadClient, key: string, value: string): Promise<string[]> {
  const { value: jobs } = await client.listJobs({
    filter: `Meta[${JSON.stringify(key)}] == ${JSON.stringify(value)}`,
  });
  return jobs.map((job) => job.ID);
}

/** Stops and purges every job carrying `Meta[key] == value`; returns what it found. */
export async function purgeJobsWithMeta(client: NomadClient, key: string, value: string): Promise<string[]> {
  const ids = await jobsWithMeta(client, key, value);
  await Promise.all(ids.map((id) => client.stopJob(id, { purge: true }).catch(() => undefined)));
  return ids;
}

export function randomSuffix(): string {
  return Math.random().toString(36).slice(2, 8);
}

/** The ACL policy the README documents as enough for Berth. */
/** The README's least-privilege policy, word for word (the README's hcl block is checked against it). */
export const MINIMAL_POLICY_RULES = `namespace "default" {
  capabilities = ["submit-job", "read-job", "list-jobs", "alloc-exec", "alloc-node-exec"]
}

node {
  policy = "read"
}`;

/**
 * Creates a client token holding only the documented minimal policy on the ACL agent; `remove()`
 * deletes token and policy again.
 */
export async function minimalPolicyToken(
  managementToken: string,
): Promise<{ secret: string; remove: () => Promise<void> }> {
  const name = `berth-test-${randomSuffix()}`;
  const headers = { 'X-Nomad-Token': managementToken };
  const policy = await fetch(`${NOMAD_ACL_TEST_ADDRESS}/v1/acl/policy/${name}`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ Name: name, Rules: MINIMAL_POLICY_RULES }),
  });
  if (!policy.ok) throw new Error(`creating ACL policy failed: ${policy.status} ${await policy.text()}`);
  const token = await fetch(`${NOMAD_ACL_TEST_ADDRESS}/v1/acl/token`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ Name: name, Type: 'client', Policies: [name] }),
  });
  if (!token.ok) throw new Error(`creating ACL token failed: ${token.status} ${await token.text()}`);
  const { SecretID, AccessorID } = (await token.json()) as { SecretID: string; AccessorID: string };
  return {
    secret: SecretID,
    remove: async () => {
      await fetch(`${NOMAD_ACL_TEST_ADDRESS}/v1/acl/token/${AccessorID}`, { method: 'DELETE', headers });
      await fetch(`${NOMAD_ACL_TEST_ADDRESS}/v1/acl/policy/${name}`, { method: 'DELETE', headers });
    },
  };
}

/** Whether the test agent at NOMAD_TEST_ADDRESS answers, and whether its docker driver is healthy. */
export async function testAgentDrivers(): Promise<{ available: boolean; docker: boolean }> {
  const available = await agentAnswers(NOMAD_TEST_ADDRESS);
  return { available, docker: available ? await dockerDriverHealthy(testClient()) : false };
}
