import type {
  BackendCapabilitiesV1,
  BackendV1,
  CreateHostRequestV1,
  HostDescriptorV1,
  HostStateV1,
  LabelSelectorV1,
  WaitOptions,
} from '@berth/core';
import {
  BACKEND_SPECIFICATION_V1,
  containerUserIsolationGap,
  InternalError,
  InvalidOptionsError,
  LABEL,
  NotFoundError,
  throwIfAborted,
} from '@berth/core';
import {
  BACKEND_LABEL,
  buildNomadJob,
  hostMeta,
  JOB_ID_PREFIX,
  makeJobId,
  TASK_GROUP_NAME,
  TASK_NAME,
} from './build-nomad-job.js';
import { NomadClient } from './client/nomad-client.js';
import type { NomadJob, NomadJobListStub } from './client/nomad-types.js';
import { type NomadClientOptions, resolveNomadClientConfig } from './client/resolve-nomad-client-config.js';
import { ClusterWatch } from './cluster-watch.js';
import { NodeSpread } from './node-spread.js';
import { prepareAgentUpload } from './nomad-agent-access.js';
import { NomadDrainMarkerStore } from './nomad-drain-marker-store.js';
import { NomadHost } from './nomad-host.js';
import { type NomadHostSpec, resolveNomadHostSpec } from './nomad-host-spec.js';
import { removeNomadJob } from './remove-nomad-job.js';
import { runOneShot } from './run-one-shot.js';
import { newestWanted, waitForRunningAllocation } from './wait-for-running-allocation.js';

export interface NomadBackendOptions extends NomadClientOptions {
  /** Use this client instead of building one from the options above. */
  client?: NomadClient;
  /** Deadline for placement plus task start of a new host. Default 300000. */
  startTimeoutMs?: number;
  /** Deadline for a stopped host's allocation to finish after the purge. Default 60000. */
  destroyTimeoutMs?: number;
  /** `fail` (default): a placement failure fails `createHost` at once. `wait`: wait for capacity. */
  placementFailure?: 'fail' | 'wait';
  /**
   * How slot shells and commands reach a docker or raw_exec allocation:
   * - `auto` (default): through berth-agent, one exec session per host carrying every shell and
   *   command (each command its own session and pipes; files and release sweeps in one request);
   *   where it cannot run (read-only root, another CPU) one exec per shell, with the reason in
   *   `host.shellTransport`.
   * - `agent`: the agent or an error; `exec`: one exec session per shell, never the agent.
   * raw_exec runs the agent on the node itself (installed once per node at
   * `/.berth/agent-<hash>/berth-agent`, shared by its allocations; killed with every command under
   * it when Nomad stops the task). The `exec` driver always uses one exec per shell.
   */
  shellTransport?: 'auto' | 'agent' | 'exec';
  /** The agent's heartbeat watchdog (it kills everything and exits when heartbeats stop this long). Default 30000; 0 off. */
  agentHeartbeatTimeoutMs?: number;
}

export interface NomadBackend extends BackendV1<NomadHostSpec> {
  readonly client: NomadClient;
  createHost(request: CreateHostRequestV1<NomadHostSpec>, options?: WaitOptions): Promise<NomadHost>;
  listHosts(selector: LabelSelectorV1, options?: WaitOptions): Promise<HostDescriptorV1[]>;
  attachHost(descriptor: HostDescriptorV1, options?: WaitOptions): Promise<NomadHost>;
  removeHost(descriptor: HostDescriptorV1, options?: WaitOptions): Promise<void>;
  dispose(): Promise<void>;
}

export const NOMAD_CAPABILITIES: BackendCapabilitiesV1 = Object.freeze({
  persistence: true,
  archive: false,
  oneShotExec: true,
  hostLossEvents: true,
  stopStart: false,
});

/** Bound on starting the agent (install, exec, handshake) and on opening one stream through it. */
const AGENT_OPEN_TIMEOUT_MS = 30_000;

/** Drivers whose hosts run berth-agent (see `NomadHost`). */
const AGENT_DRIVERS = new Set(['docker', 'raw_exec']);

/** Group Meta key remembering a custom `workspaceRoot` (paths are not valid label values). */
const WORKSPACE_META = 'berth_workspace_root';

/** The Nomad backend: one service job per host. Synchronous; connects on first use. */
export function createNomadBackend(options: NomadBackendOptions = {}): NomadBackend {
  const client = options.client ?? new NomadClient(resolveNomadClientConfig(options));
  const startTimeoutMs = positive(options.startTimeoutMs, 300_000, 'startTimeoutMs');
  const destroyTimeoutMs = positive(options.destroyTimeoutMs, 60_000, 'destroyTimeoutMs');
  const placementFailure = options.placementFailure ?? 'fail';
  const shellTransport = options.shellTransport ?? 'auto';
  if (!['auto', 'agent', 'exec'].includes(shellTransport)) {
    throw new InvalidOptionsError(
      'nomad.shellTransport',
      `expected 'auto', 'agent' or 'exec', got ${JSON.stringify(shellTransport)}.`,
    );
  }
  const agentHeartbeatTimeoutMs = options.agentHeartbeatTimeoutMs ?? 30_000;
  if (!Number.isFinite(agentHeartbeatTimeoutMs) || agentHeartbeatTimeoutMs < 0) {
    throw new InvalidOptionsError(
      'nomad.agentHeartbeatTimeoutMs',
      'expected milliseconds ≥ 0 (0: no watchdog).',
    );
  }
  if (placementFailure !== 'fail' && placementFailure !== 'wait') {
    throw new InvalidOptionsError(
      'nomad.placementFailure',
      `expected 'fail' or 'wait', got ${JSON.stringify(placementFailure)}.`,
    );
  }

  const clusterWatch = new ClusterWatch(client);
  const spread = new NodeSpread(client, clusterWatch);
  // The CPU the agent build is chosen for, read once per node instead of a `uname -m` exec per host.
  const nodeArches = new Map<string, Promise<string | undefined>>();
  const nodeArch = (nodeId: string) => {
    let arch = nodeArches.get(nodeId);
    if (!arch) {
      arch = client.readNode(nodeId).then(
        ({ value }) => value.Attributes?.['cpu.arch'],
        () => {
          nodeArches.delete(nodeId); // refused or unreachable: ask again next time
          return undefined;
        },
      );
      nodeArches.set(nodeId, arch);
    }
    return arch;
  };

  const toHost = async (
    job: Pick<NomadJob, 'ID' | 'Meta' | 'TaskGroups'>,
    allocation: { ID: string; NodeID: string },
    signal: AbortSignal | undefined,
  ) => {
    const group = job.TaskGroups.find((candidate) => candidate.Name === TASK_GROUP_NAME);
    const driver = group?.Tasks.find((task) => task.Name === TASK_NAME)?.Driver;
    const workspaceRoot =
      group?.Meta?.[WORKSPACE_META] ??
      (driver === 'raw_exec' ? await probeAllocDataDir(client, allocation.ID, signal) : '/alloc/data');
    return new NomadHost({
      client,
      jobId: job.ID,
      allocationId: allocation.ID,
      nodeId: allocation.NodeID,
      labels: { ...(job.Meta ?? {}) },
      workspaceRoot,
      destroyTimeoutMs,
      clusterWatch,
      onGone: () => spread.forget(job.Meta?.[LABEL.pool] ?? 'pool', job.ID),
      driver: driver ?? 'unknown',
      agent: {
        mode: shellTransport === 'exec' ? 'off' : shellTransport,
        openTimeoutMs: AGENT_OPEN_TIMEOUT_MS,
        heartbeatTimeoutMs: agentHeartbeatTimeoutMs,
        nodeArch: () => nodeArch(allocation.NodeID),
      },
    });
  };

  /** When a stopped job's allocations last changed (epoch ms): its exit; undefined when unknown. */
  const stoppedAtMs = async (jobId: string, signal?: AbortSignal): Promise<number | undefined> => {
    const allocations = await client
      .jobAllocations(jobId, { signal })
      .then((result) => result.value ?? [])
      .catch(() => []);
    const times = allocations.map((allocation) => allocation.ModifyTime).filter((time) => time > 0);
    return times.length === 0 ? undefined : Math.floor(Math.max(...times) / 1_000_000);
  };

  return {
    specificationVersion: BACKEND_SPECIFICATION_V1,
    backendId: 'nomad',
    capabilities: NOMAD_CAPABILITIES,
    client,

    resolveHostSpec: resolveNomadHostSpec,

    userIsolationUnsupported: (spec) =>
      spec.driver !== 'docker' || !spec.docker
        ? `the ${spec.driver} driver runs slots on the client machine as the Nomad client's user; use the docker driver`
        : containerUserIsolationGap({
            capDrop: spec.docker.capDrop,
            capAdd: spec.docker.capAdd,
            user: spec.user,
          }),

    async createHost(request, waitOptions = {}) {
      const { signal } = waitOptions;
      throwIfAborted(signal, 'Creating a Nomad host');
      const pool = request.labels[LABEL.pool] ?? 'pool';
      const jobId = makeJobId(pool, request.profile);
      const preferred = request.spec.spreadOverNodes
        ? await spread.reserve(pool, jobId, request.spec, signal)
        : undefined;
      const job = buildNomadJob(jobId, request.spec, hostMeta(request.labels), preferred ? [preferred] : []);
      if (request.spec.workspaceRoot !== undefined)
        job.TaskGroups[0]!.Meta = { [WORKSPACE_META]: request.spec.workspaceRoot };
      try {
        const registration = await client.registerJob(job, { signal });
        request.onProgress?.({
          phase: 'placement',
          message: `Registered job ${jobId} (evaluation ${registration.EvalID.slice(0, 8)})`,
        });
        const allocation = await waitForRunningAllocation({
          client,
          jobId,
          evaluationId: registration.EvalID,
          timeoutMs: startTimeoutMs,
          placementFailure,
          signal,
          ask: { cpu: request.spec.cpu, memoryMiB: request.spec.memoryMiB, diskMiB: request.spec.diskMiB },
          fit: request.spec,
          onProgress: request.onProgress,
          // While the task starts: learn the node's CPU and pack the agent build for it.
          onPlaced: (placed) => {
            if (shellTransport !== 'exec' && AGENT_DRIVERS.has(request.spec.driver))
              void nodeArch(placed.NodeID).then((arch) => arch && prepareAgentUpload(arch));
          },
        });
        spread.placed(pool, jobId, allocation.NodeID);
        return await toHost(job, allocation, signal);
      } catch (error) {
        spread.forget(pool, jobId);
        // Remove the half-made host (also when registering failed: the answer may have been lost),
        // with a fresh deadline since the caller's signal may be what fired. If this fails too,
        // the job still carries its labels, so the pool's reaper finds it.
        await removeNomadJob(client, jobId, {
          timeoutMs: destroyTimeoutMs,
          signal: AbortSignal.timeout(destroyTimeoutMs),
        }).catch(() => undefined);
        throw error;
      }
    },

    async listHosts(selector, waitOptions = {}) {
      const { value } = await client.listJobs({
        prefix: JOB_ID_PREFIX,
        filter: metaFilter(selector),
        signal: waitOptions.signal,
      });
      return Promise.all(
        (value ?? [])
          .filter((stub) => matches(stub.Meta ?? {}, selector))
          .map(async (stub) => {
            const state = jobState(stub);
            // The reaper ages an exited host from its exit: when its last allocation stopped.
            const exitedAtMs =
              state === 'stopped' ? await stoppedAtMs(stub.ID, waitOptions.signal) : undefined;
            return {
              id: stub.ID,
              labels: { ...(stub.Meta ?? {}) },
              state,
              createdAtMs: Math.floor(stub.SubmitTime / 1_000_000),
              ...(exitedAtMs === undefined ? {} : { exitedAtMs }),
            };
          }),
      );
    },

    async attachHost(descriptor, waitOptions = {}) {
      const { signal } = waitOptions;
      throwIfAborted(signal, `Attaching Nomad host ${descriptor.id}`);
      const { value: job } = await client.readJob(descriptor.id, { signal });
      if (job.Meta?.[BACKEND_LABEL] !== 'nomad') {
        throw new NotFoundError(
          `Nomad job ${descriptor.id} is not a Berth host (no ${BACKEND_LABEL}=nomad in its Meta).`,
        );
      }
      const { value: allocations } = await client.jobAllocations(descriptor.id, { signal });
      const current = newestWanted(allocations ?? []);
      if (job.Stop || !current) {
        // A stopped Berth host is not restarted: a new allocation would have an empty workspace.
        throw new NotFoundError(
          `Nomad job ${descriptor.id} has no allocation that Nomad wants running (job ${job.Status ?? 'unknown'}); ` +
            'remove it with removeHost() and create a new host.',
        );
      }
      const running =
        current.ClientStatus === 'running' && current.TaskStates?.[TASK_NAME]?.State === 'running'
          ? current
          : await waitForRunningAllocation({
              client,
              jobId: job.ID,
              timeoutMs: startTimeoutMs,
              placementFailure,
              signal,
            });
      spread.placed(job.Meta?.[LABEL.pool] ?? 'pool', job.ID, running.NodeID);
      return toHost(job, running, signal);
    },

    async removeHost(descriptor, waitOptions = {}) {
      spread.forget(descriptor.labels[LABEL.pool] ?? 'pool', descriptor.id);
      await removeNomadJob(client, descriptor.id, {
        signal: waitOptions.signal,
        timeoutMs: destroyTimeoutMs,
      });
    },

    // Drain markers in Nomad Variables: `berth drain` reaches every machine of the cluster.
    drainMarkerStore: () => new NomadDrainMarkerStore(client),

    async dispose() {
      clusterWatch.stop();
      if (!options.client) await client.close();
    },
  };
}

/** `Meta["k"] == "v" and …`: Nomad evaluates it server-side against each job. */
export function metaFilter(selector: LabelSelectorV1): string | undefined {
  const terms = Object.entries(selector).map(
    ([key, value]) => `Meta[${JSON.stringify(key)}] == ${JSON.stringify(value)}`,
  );
  return terms.length > 0 ? terms.join(' and ') : undefined;
}

function matches(meta: Record<string, string>, selector: LabelSelectorV1): boolean {
  return Object.entries(selector).every(([key, value]) => meta[key] === value);
}

/** Host state from the job's allocation counts (running → running, pending → starting). */
export function jobState(stub: NomadJobListStub): HostStateV1 {
  if (stub.Stop || stub.Status === 'dead') return 'stopped';
  const summary = stub.JobSummary?.Summary?.[TASK_GROUP_NAME];
  if (!summary) return stub.Status === 'pending' ? 'starting' : 'unknown';
  if (summary.Running > 0) return 'running';
  if (summary.Starting > 0 || summary.Queued > 0) return 'starting';
  if (summary.Complete + summary.Failed + summary.Lost > 0) return 'stopped';
  return stub.Status === 'pending' ? 'starting' : 'unknown';
}

/** raw_exec runs on the node itself: ask the task where its allocation directory is. */
async function probeAllocDataDir(
  client: NomadClient,
  allocationId: string,
  signal: AbortSignal | undefined,
): Promise<string> {
  const result = await runOneShot(
    client,
    allocationId,
    TASK_NAME,
    ['sh', '-c', 'printf %s "$NOMAD_ALLOC_DIR"'],
    { signal },
  );
  const directory = Buffer.from(result.stdout).toString('utf8').trim();
  if (result.exitCode !== 0 || !directory.startsWith('/')) {
    throw new InternalError(
      `Could not find the allocation directory of ${allocationId} (exit ${result.exitCode}, ` +
        `stdout ${JSON.stringify(directory)}, stderr ${JSON.stringify(Buffer.from(result.stderr).toString('utf8').trim())}). ` +
        'Set `workspaceRoot` in the host spec.',
    );
  }
  return `${directory}/data`;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new InvalidOptionsError(`nomad.${name}`, `expected a positive integer, got ${String(value)}.`);
  }
  return value;
}
