import { type NomadExecOptions, NomadExecSession } from './nomad-exec-session.js';
import { NomadHttpTransport, type NomadQueryResult, type QueryValue } from './nomad-http-transport.js';
import type {
  NomadAllocation,
  NomadAllocationListStub,
  NomadEvaluation,
  NomadJob,
  NomadJobDeregisterResponse,
  NomadJobListStub,
  NomadJobRegisterResponse,
  NomadNode,
  NomadNodeListStub,
  NomadVariable,
} from './nomad-types.js';
import {
  type NomadClientOptions,
  type ResolvedNomadClientConfig,
  resolveNomadClientConfig,
} from './resolve-nomad-client-config.js';
import { type BlockingQuery, type WatchOptions, watchBlockingQuery } from './watch-blocking-query.js';

export interface CallOptions {
  signal?: AbortSignal;
}

/** Options of a read; with `index` set it becomes a blocking query. */
export interface ReadOptions extends CallOptions {
  /** Block until the data's index passes this one (see `watch` for the loop). */
  index?: number;
  /** How long the agent may block. Default 60000 when `index` is set. */
  waitMs?: number;
}

export interface ListOptions extends ReadOptions {
  /** ID prefix. */
  prefix?: string;
  /** A Nomad filter expression, e.g. `Meta["berth.pool"] == "p1"`. */
  filter?: string;
}

/**
 * A small typed client for the parts of the Nomad HTTP API Berth uses: status, jobs, allocations,
 * evaluations, nodes, blocking queries and the alloc exec websocket. Every call takes an
 * `AbortSignal`; idempotent calls are retried with backoff; failures are `BerthError`s.
 * Construction does no I/O.
 */
export class NomadClient {
  readonly config: ResolvedNomadClientConfig;
  private readonly transport: NomadHttpTransport;

  constructor(options: NomadClientOptions | ResolvedNomadClientConfig = {}) {
    this.config = isResolved(options) ? options : resolveNomadClientConfig(options);
    this.transport = new NomadHttpTransport(this.config);
  }

  /** The Raft leader's RPC address, e.g. `127.0.0.1:4647`; empty when there is none. */
  async leader(options: CallOptions = {}): Promise<string> {
    return (await this.get<string>('/v1/status/leader', 'read the cluster leader', options)).value ?? '';
  }

  async registerJob(job: NomadJob, options: CallOptions = {}): Promise<NomadJobRegisterResponse> {
    const body = { Job: { ...job, Namespace: job.Namespace ?? this.config.namespace } };
    const result = await this.transport.request<NomadJobRegisterResponse>({
      method: 'POST',
      path: '/v1/jobs',
      body,
      // Registering the same job spec again is a no-op update, so a lost answer may be retried.
      idempotent: true,
      operation: `register job ${job.ID}`,
      field: 'spec',
      signal: options.signal,
    });
    return result.value;
  }

  readJob(jobId: string, options: ReadOptions = {}): Promise<NomadQueryResult<NomadJob>> {
    return this.get(`/v1/job/${encodeURIComponent(jobId)}`, `read job ${jobId}`, options);
  }

  /** Jobs by ID prefix and/or filter; `meta: true` (the default here) fills in each job's Meta. */
  listJobs(options: ListOptions & { meta?: boolean } = {}): Promise<NomadQueryResult<NomadJobListStub[]>> {
    return this.get('/v1/jobs', 'list jobs', options, {
      prefix: options.prefix,
      filter: options.filter,
      meta: options.meta ?? true,
    });
  }

  /** Sets a task group's count. Berth never scales its own jobs down (the scheduler picks the victim). */
  async scaleJob(
    jobId: string,
    group: string,
    count: number,
    options: CallOptions & { message?: string } = {},
  ): Promise<NomadJobRegisterResponse> {
    const result = await this.transport.request<NomadJobRegisterResponse>({
      method: 'POST',
      path: `/v1/job/${encodeURIComponent(jobId)}/scale`,
      body: { Count: count, Target: { Group: group }, Message: options.message ?? 'scaled by berth' },
      idempotent: true,
      operation: `scale job ${jobId} group ${group} to ${count}`,
      signal: options.signal,
    });
    return result.value;
  }

  /** Stops a job; with `purge` it is removed from the state store at once. */
  async stopJob(
    jobId: string,
    options: CallOptions & { purge?: boolean } = {},
  ): Promise<NomadJobDeregisterResponse> {
    const result = await this.transport.request<NomadJobDeregisterResponse>({
      method: 'DELETE',
      path: `/v1/job/${encodeURIComponent(jobId)}`,
      query: { purge: options.purge ?? false },
      idempotent: true,
      operation: `${options.purge ? 'stop and purge' : 'stop'} job ${jobId}`,
      signal: options.signal,
    });
    return result.value;
  }

  jobAllocations(
    jobId: string,
    options: ReadOptions & { all?: boolean } = {},
  ): Promise<NomadQueryResult<NomadAllocationListStub[]>> {
    return this.get(
      `/v1/job/${encodeURIComponent(jobId)}/allocations`,
      `list allocations of job ${jobId}`,
      options,
      {
        all: options.all,
      },
    );
  }

  jobEvaluations(jobId: string, options: ReadOptions = {}): Promise<NomadQueryResult<NomadEvaluation[]>> {
    return this.get(
      `/v1/job/${encodeURIComponent(jobId)}/evaluations`,
      `list evaluations of job ${jobId}`,
      options,
    );
  }

  listAllocations(options: ListOptions = {}): Promise<NomadQueryResult<NomadAllocationListStub[]>> {
    return this.get('/v1/allocations', 'list allocations', options, {
      prefix: options.prefix,
      filter: options.filter,
    });
  }

  readAllocation(
    allocationId: string,
    options: ReadOptions = {},
  ): Promise<NomadQueryResult<NomadAllocation>> {
    return this.get(
      `/v1/allocation/${encodeURIComponent(allocationId)}`,
      `read allocation ${allocationId}`,
      options,
    );
  }

  /** Stops one allocation (the scheduler replaces it if the job still wants it). */
  async stopAllocation(allocationId: string, options: CallOptions = {}): Promise<{ EvalID: string }> {
    const result = await this.transport.request<{ EvalID: string }>({
      method: 'POST',
      path: `/v1/allocation/${encodeURIComponent(allocationId)}/stop`,
      idempotent: true,
      operation: `stop allocation ${allocationId}`,
      signal: options.signal,
    });
    return result.value;
  }

  /** `resources: true`: each stub carries the node's total and reserved resources. */
  listNodes(
    options: ListOptions & { resources?: boolean } = {},
  ): Promise<NomadQueryResult<NomadNodeListStub[]>> {
    return this.get('/v1/nodes', 'list nodes', options, {
      prefix: options.prefix,
      filter: options.filter,
      ...(options.resources ? { resources: true } : {}),
    });
  }

  readNode(nodeId: string, options: ReadOptions = {}): Promise<NomadQueryResult<NomadNode>> {
    return this.get(`/v1/node/${encodeURIComponent(nodeId)}`, `read node ${nodeId}`, options);
  }

  /**
   * Asks the allocation's own client for its resource usage: the server forwards it over the
   * node's connection, so it fails at once (`No path to node`) when the node is unreachable,
   * long before Nomad marks the node down.
   */
  async probeAllocationClient(allocationId: string, options: CallOptions = {}): Promise<void> {
    await this.transport.request<unknown>({
      method: 'GET',
      path: `/v1/client/allocation/${encodeURIComponent(allocationId)}/stats`,
      idempotent: false,
      operation: `reach the client of allocation ${allocationId}`,
      signal: options.signal,
    });
  }

  readEvaluation(
    evaluationId: string,
    options: ReadOptions = {},
  ): Promise<NomadQueryResult<NomadEvaluation>> {
    return this.get(
      `/v1/evaluation/${encodeURIComponent(evaluationId)}`,
      `read evaluation ${evaluationId}`,
      options,
    );
  }

  /**
   * Blocking-query loop over one of the read methods: yields the current value, then each change.
   * `for await (const { value } of client.watch((o) => client.readAllocation(id, o), { signal }))`.
   */
  watch<T>(read: (options: ReadOptions) => Promise<NomadQueryResult<T>>, options: WatchOptions = {}) {
    const query: BlockingQuery<T> = (queryOptions) => read(queryOptions);
    return watchBlockingQuery(query, options);
  }

  /** One Nomad Variable (`/v1/var/:path`), items included; `NotFoundError` when there is none. */
  readVariable(path: string, options: CallOptions = {}): Promise<NomadQueryResult<NomadVariable>> {
    return this.get(variableUrl(path), `read variable ${path}`, options);
  }

  /** Creates or replaces a Nomad Variable: readers see the old items or the new ones, never a mix. */
  async putVariable(
    path: string,
    items: Readonly<Record<string, string>>,
    options: CallOptions = {},
  ): Promise<NomadVariable> {
    const result = await this.transport.request<NomadVariable>({
      method: 'PUT',
      path: variableUrl(path),
      body: { Namespace: this.config.namespace, Path: path, Items: items },
      idempotent: true,
      operation: `write variable ${path}`,
      signal: options.signal,
    });
    return result.value;
  }

  /** Deletes a Nomad Variable; deleting one that is not there succeeds. */
  async deleteVariable(path: string, options: CallOptions = {}): Promise<void> {
    await this.transport.request<unknown>({
      method: 'DELETE',
      path: variableUrl(path),
      idempotent: true,
      operation: `delete variable ${path}`,
      signal: options.signal,
    });
  }

  /** The variables under `prefix` (metadata only, no items). */
  listVariables(prefix: string, options: CallOptions = {}): Promise<NomadQueryResult<NomadVariable[]>> {
    return this.get('/v1/vars', `list variables under ${prefix}`, options, { prefix });
  }

  /** Opens an alloc exec websocket (`nomad alloc exec`) running `command` in `task`. */
  exec(allocationId: string, options: NomadExecOptions): Promise<NomadExecSession> {
    return NomadExecSession.open(this.transport, allocationId, options);
  }

  /** Closes pooled sockets. Idempotent; later calls fail. */
  close(): Promise<void> {
    return this.transport.close();
  }

  private get<T>(
    path: string,
    operation: string,
    options: ReadOptions,
    query: Record<string, QueryValue> = {},
  ): Promise<NomadQueryResult<T>> {
    return this.transport.request<T>({
      method: 'GET',
      path,
      query,
      idempotent: true,
      operation,
      signal: options.signal,
      blocking:
        options.index === undefined ? undefined : { index: options.index, waitMs: options.waitMs ?? 60_000 },
    });
  }
}

/** `/v1/var/<path>` with each segment escaped (the slashes are the path's own). */
function variableUrl(path: string): string {
  return `/v1/var/${path.split('/').map(encodeURIComponent).join('/')}`;
}

function isResolved(
  options: NomadClientOptions | ResolvedNomadClientConfig,
): options is ResolvedNomadClientConfig {
  return typeof (options as ResolvedNomadClientConfig).usesTls === 'boolean';
}
