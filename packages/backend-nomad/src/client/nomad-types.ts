/**
 * Hand-written types for the parts of the Nomad HTTP API this package uses (Nomad ≥ 1.6).
 * Field names follow Nomad's JSON exactly (PascalCase); durations are nanoseconds, as on the wire.
 * Only what Berth reads or writes is typed; Nomad returns more.
 */

/** `time.Duration` on the wire: nanoseconds. */
export type NomadDurationNs = number;

export interface NomadConstraint {
  LTarget?: string;
  RTarget?: string;
  Operand?: string;
}

export interface NomadRestartPolicy {
  Attempts?: number;
  Interval?: NomadDurationNs;
  Delay?: NomadDurationNs;
  Mode?: 'fail' | 'delay';
}

export interface NomadReschedulePolicy {
  Attempts?: number;
  Interval?: NomadDurationNs;
  Delay?: NomadDurationNs;
  DelayFunction?: 'constant' | 'exponential' | 'fibonacci';
  MaxDelay?: NomadDurationNs;
  Unlimited?: boolean;
}

export interface NomadResources {
  CPU?: number;
  Cores?: number;
  MemoryMB?: number;
  MemoryMaxMB?: number;
}

export interface NomadTask {
  Name: string;
  Driver: string;
  User?: string;
  /** Driver-specific configuration (`image`, `command`, `args`, …). */
  Config: Record<string, unknown>;
  Env?: Record<string, string>;
  Resources?: NomadResources;
  KillTimeout?: NomadDurationNs;
  /** The `logs` block; `Disabled` (Nomad ≥ 1.6) collects nothing. */
  LogConfig?: { Disabled?: boolean; MaxFiles?: number; MaxFileSizeMB?: number };
  Constraints?: NomadConstraint[];
  Meta?: Record<string, string>;
}

export interface NomadEphemeralDisk {
  SizeMB?: number;
  Sticky?: boolean;
  Migrate?: boolean;
}

export interface NomadTaskGroup {
  Name: string;
  Count?: number;
  Tasks: NomadTask[];
  Constraints?: NomadConstraint[];
  RestartPolicy?: NomadRestartPolicy;
  ReschedulePolicy?: NomadReschedulePolicy;
  EphemeralDisk?: NomadEphemeralDisk;
  Affinities?: NomadAffinity[];
  Migrate?: NomadMigrateStrategy;
  Meta?: Record<string, string>;
}

export interface NomadAffinity {
  LTarget: string;
  RTarget?: string;
  Operand: string;
  Weight: number;
}

/** Durations in nanoseconds. */
export interface NomadMigrateStrategy {
  MaxParallel: number;
  HealthCheck: 'checks' | 'task_states';
  MinHealthyTime: number;
  HealthyDeadline: number;
}

/** The job as registered and as read back (`GET /v1/job/:id`). */
export interface NomadJob {
  ID: string;
  Name?: string;
  Namespace?: string;
  Region?: string;
  Type?: 'service' | 'batch' | 'system' | 'sysbatch';
  Priority?: number;
  Datacenters?: string[];
  NodePool?: string;
  Constraints?: NomadConstraint[];
  TaskGroups: NomadTaskGroup[];
  Meta?: Record<string, string>;
  /** Read-only fields returned by Nomad. */
  Status?: string;
  StatusDescription?: string;
  Stop?: boolean;
  Version?: number;
  SubmitTime?: number;
  CreateIndex?: number;
  ModifyIndex?: number;
  JobModifyIndex?: number;
}

export interface NomadTaskGroupSummary {
  Queued: number;
  Complete: number;
  Failed: number;
  Running: number;
  Starting: number;
  Lost: number;
  Unknown?: number;
}

export interface NomadJobSummary {
  JobID: string;
  Namespace?: string;
  Summary: Record<string, NomadTaskGroupSummary>;
}

/** One row of `GET /v1/jobs` (with `meta=true`, `Meta` is filled in). */
export interface NomadJobListStub {
  ID: string;
  Name: string;
  Namespace?: string;
  Type: string;
  Status: string;
  StatusDescription?: string;
  Stop: boolean;
  Datacenters?: string[];
  JobSummary?: NomadJobSummary;
  SubmitTime: number;
  CreateIndex: number;
  ModifyIndex: number;
  JobModifyIndex: number;
  Meta?: Record<string, string> | null;
}

export interface NomadJobRegisterResponse {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Warnings?: string;
  Index?: number;
}

export interface NomadJobDeregisterResponse {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Index?: number;
}

export type NomadClientStatus = 'pending' | 'running' | 'complete' | 'failed' | 'lost' | 'unknown';
export type NomadDesiredStatus = 'run' | 'stop' | 'evict';

export interface NomadTaskEvent {
  Type: string;
  /** Unix nanoseconds. */
  Time: number;
  DisplayMessage?: string;
  Message?: string;
  Details?: Record<string, string>;
  FailsTask?: boolean;
  DriverError?: string;
  SetupError?: string;
  ValidationError?: string;
  DownloadError?: string;
  KillError?: string;
  ExitCode?: number;
  Signal?: number;
}

export interface NomadTaskState {
  State: 'pending' | 'running' | 'dead' | string;
  Failed: boolean;
  Restarts: number;
  Events?: NomadTaskEvent[] | null;
}

/** `GET /v1/job/:id/allocations` and `GET /v1/allocations` rows. */
export interface NomadAllocationListStub {
  ID: string;
  EvalID: string;
  Name: string;
  Namespace: string;
  NodeID: string;
  NodeName: string;
  JobID: string;
  TaskGroup: string;
  DesiredStatus: NomadDesiredStatus | string;
  DesiredDescription?: string;
  ClientStatus: NomadClientStatus | string;
  ClientDescription?: string;
  TaskStates?: Record<string, NomadTaskState> | null;
  /** Set on the allocation when the drainer (or an operator) wants it moved. */
  DesiredTransition?: { Migrate?: boolean | null; Reschedule?: boolean | null } | null;
  FollowupEvalID?: string;
  NextAllocation?: string;
  CreateIndex: number;
  ModifyIndex: number;
  /** Unix nanoseconds. */
  CreateTime: number;
  ModifyTime: number;
}

/** `GET /v1/allocation/:id`: the stub's fields plus the job it runs. */
export interface NomadAllocation extends NomadAllocationListStub {
  Job?: NomadJob;
}

/** Why the scheduler could not place a task group (`Evaluation.FailedTGAllocs`). */
export interface NomadAllocationMetric {
  NodesEvaluated: number;
  NodesFiltered: number;
  NodesInPool?: number;
  NodePool?: string;
  NodesAvailable?: Record<string, number> | null;
  ClassFiltered?: Record<string, number> | null;
  ConstraintFiltered?: Record<string, number> | null;
  NodesExhausted: number;
  ClassExhausted?: Record<string, number> | null;
  DimensionExhausted?: Record<string, number> | null;
  QuotaExhausted?: string[] | null;
  CoalescedFailures?: number;
}

export interface NomadEvaluation {
  ID: string;
  Namespace?: string;
  JobID: string;
  Type?: string;
  TriggeredBy?: string;
  Status: 'pending' | 'complete' | 'failed' | 'canceled' | 'blocked' | string;
  StatusDescription?: string;
  BlockedEval?: string;
  NextEval?: string;
  PreviousEval?: string;
  FailedTGAllocs?: Record<string, NomadAllocationMetric> | null;
  QueuedAllocations?: Record<string, number> | null;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface NomadDriverInfo {
  Detected: boolean;
  Healthy: boolean;
  HealthDescription?: string;
}

export interface NomadNodeListStub {
  ID: string;
  Name: string;
  Address: string;
  Datacenter: string;
  NodePool?: string;
  NodeClass?: string;
  Status: 'initializing' | 'ready' | 'down' | 'disconnected' | string;
  SchedulingEligibility: 'eligible' | 'ineligible' | string;
  Drain: boolean;
  Drivers?: Record<string, NomadDriverInfo> | null;
  Version?: string;
  /** In a list only when asked for (`GET /v1/nodes?resources=true`). */
  NodeResources?: {
    Cpu?: { CpuShares?: number; TotalCpuCores?: number };
    Memory?: { MemoryMB?: number };
    Disk?: { DiskMB?: number };
  } | null;
  ReservedResources?: {
    Cpu?: { CpuShares?: number };
    Memory?: { MemoryMB?: number };
    Disk?: { DiskMB?: number };
  } | null;
  CreateIndex: number;
  ModifyIndex: number;
}

/** A Nomad Variable (`/v1/var/:path`); `Items` only when read one by one, not in lists. */
export interface NomadVariable {
  Namespace: string;
  Path: string;
  Items?: Record<string, string>;
  CreateIndex?: number;
  ModifyIndex?: number;
  ModifyTime?: number;
}

/** `GET /v1/node/:id`: what Berth reads of one node. */
export interface NomadNode extends Omit<NomadNodeListStub, 'Drivers'> {
  Drivers?: Record<string, NomadDriverInfo> | null;
  /** Fingerprinted attributes, e.g. `cpu.arch` (`amd64`, `arm64`), `kernel.name`. */
  Attributes?: Record<string, string> | null;
  /** While a drain runs: its deadline (RFC 3339; zero time = none). */
  DrainStrategy?: { Deadline: number; ForceDeadline: string; IgnoreSystemJobs?: boolean } | null;
}
