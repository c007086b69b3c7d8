import type { NomadClient } from './client/nomad-client.js';
import type { NomadNodeListStub } from './client/nomad-types.js';
import type { ClusterWatch } from './cluster-watch.js';

/** What of a job decides which nodes it can land on, as far as a node list stub tells. */
export interface NodeFit {
  /** Nomad's patterns (`*` globs), as in the job. */
  readonly datacenters: readonly string[];
  /** Undefined: the namespace's default pool (`default`). */
  readonly nodePool: string | undefined;
  readonly driver: string;
}

/** Whether a node can run the job (constraints aside: Nomad still checks those). */
export function fits(node: NomadNodeListStub, fit: NodeFit): boolean {
  const inDatacenter = fit.datacenters.some((pattern) =>
    new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`).test(node.Datacenter),
  );
  const pool = fit.nodePool ?? 'default';
  // Stubs of an older Nomad carry no pool or drivers: then they cannot rule a node out.
  const inPool = pool === 'all' || node.NodePool === undefined || node.NodePool === pool;
  const driver = node.Drivers?.[fit.driver];
  const hasDriver = !node.Drivers || (driver?.Detected === true && driver.Healthy);
  return inDatacenter && inPool && hasDriver;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** How long a node list read for spreading is reused when no cluster watch runs. */
const NODE_LIST_TTL_MS = 2_000;

/**
 * Spreading a pool's hosts over nodes. Nomad's `spread` block only weighs allocations of the same
 * job, and each Berth host is its own job, so Berth names, per new host, the eligible node with
 * the fewest hosts of the pool (placed or being placed by this backend) in a soft affinity.
 * Nomad still places: constraints, capacity and the scheduler's scoring decide.
 */
export class NodeSpread {
  /** pool → job → node it runs on (or was steered to while it is placed). */
  private readonly pools = new Map<string, Map<string, string>>();
  private listed: { atMs: number; nodes: NomadNodeListStub[] } | undefined;

  constructor(
    private readonly client: NomadClient,
    private readonly watch: ClusterWatch,
  ) {}

  /**
   * The node to prefer for `jobId`, or undefined when there is no choice (or nodes cannot be read).
   * Only nodes the job could run on count (`fit`: its datacenters, node pool, driver): steering a
   * host toward a node outside them would spread nothing.
   */
  async reserve(
    pool: string,
    jobId: string,
    fit: NodeFit,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const nodes = (await this.nodes(signal)).filter(
      (node) =>
        node.Status === 'ready' &&
        node.SchedulingEligibility === 'eligible' &&
        !node.Drain &&
        fits(node, fit),
    );
    if (nodes.length < 2) return undefined;
    const hosts = this.hostsOf(pool);
    const counts = new Map(nodes.map((node) => [node.ID, 0]));
    for (const nodeId of hosts.values()) {
      const count = counts.get(nodeId);
      if (count !== undefined) counts.set(nodeId, count + 1);
    }
    const [best] = [...counts.entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
    if (!best) return undefined;
    hosts.set(jobId, best[0]);
    return best[0];
  }

  placed(pool: string, jobId: string, nodeId: string): void {
    this.hostsOf(pool).set(jobId, nodeId);
  }

  forget(pool: string, jobId: string): void {
    this.pools.get(pool)?.delete(jobId);
  }

  private hostsOf(pool: string): Map<string, string> {
    let hosts = this.pools.get(pool);
    if (!hosts) {
      hosts = new Map();
      this.pools.set(pool, hosts);
    }
    return hosts;
  }

  private async nodes(signal?: AbortSignal): Promise<NomadNodeListStub[]> {
    if (this.watch.nodes.size > 0) return [...this.watch.nodes.values()];
    if (this.listed && Date.now() - this.listed.atMs < NODE_LIST_TTL_MS) return this.listed.nodes;
    const nodes = await this.client
      .listNodes({ signal })
      .then((result) => result.value ?? [])
      .catch(() => [] as NomadNodeListStub[]);
    this.listed = { atMs: Date.now(), nodes };
    return nodes;
  }
}
