import type { NomadClient } from './client/nomad-client.js';
import type { NomadNodeListStub } from './client/nomad-types.js';
import type { ClusterWatch } from './cluster-watch.js';

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

  /** The node to prefer for `jobId`, or undefined when there is no choice (or nodes cannot be read). */
  async reserve(pool: string, jobId: string, signal?: AbortSignal): Promise<string | undefined> {
    const nodes = (await this.nodes(signal)).filter(
      (node) => node.Status === 'ready' && node.SchedulingEligibility === 'eligible' && !node.Drain,
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
