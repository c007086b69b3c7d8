import { status } from '@grpc/grpc-js';
import { makeJwt, RpcError, type UnaryHandler } from './grpc-support.js';
import { type LocalModalContext, newId } from './local-modal-context.js';
import { GENERIC_STATUS, type SandboxRecord } from './sandbox-store.js';

interface Tag {
  tagName: string;
  tagValue: string;
}
interface StringMap {
  contents: Record<string, string>;
}
interface SandboxDefinition {
  entrypointArgs: string[];
  imageId: string;
  timeoutSecs: number;
  idleTimeoutSecs: number;
  workdir: string;
  networkAccess?: { networkAccessType: number; allowedCidrs: string[] } | null;
  resources?: {
    milliCpu: number;
    memoryMb: number;
    gpuConfig?: { gpuType: string; count: number } | null;
  } | null;
  secretIds: string[];
  schedulerPlacement?: { regions: string[] } | null;
  volumeMounts: { volumeId: string; mountPath: string }[];
}
interface CreateRequest {
  appId: string;
  definition: SandboxDefinition;
  tags: Tag[];
  secretSources?: { secretId?: string; env?: StringMap | null }[];
}

const OBJECT_CREATION_TYPE_UNSPECIFIED = 0;
const NETWORK_BLOCKED = 2;

/** The `modal.client.ModalClient` calls the SDK makes for apps, images, secrets and sandboxes. */
export function controlPlaneHandlers(ctx: LocalModalContext): Record<string, UnaryHandler> {
  const sandbox = (id: string): SandboxRecord => {
    const record = ctx.store.sandboxes.get(id);
    if (!record) throw new RpcError(status.NOT_FOUND, `Sandbox ${id} not found`);
    return record;
  };
  const waitFinished = async (record: SandboxRecord, timeoutSecs: number, signal: AbortSignal) => {
    const deadline = Date.now() + Math.min(timeoutSecs, 50) * 1000;
    await ctx.store.refresh(record);
    while (!record.result && Date.now() < deadline && !signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await ctx.store.refresh(record);
    }
    return record.result;
  };
  const create = (request: CreateRequest, isV2: boolean) => {
    ctx.stats.createTimesMs.push(Date.now());
    const { faults } = ctx;
    if (faults.resourceExhausted.count > 0) {
      faults.resourceExhausted.count--;
      throw new RpcError(
        status.RESOURCE_EXHAUSTED,
        'Too many sandboxes are being created. Please try again later.',
        faults.resourceExhausted.retryAfterSecs,
      );
    }
    if (faults.createRateLimitPerSecond > 0) {
      const now = Date.now();
      const recent = ctx.stats.createTimesMs.filter((at) => at > now - 1000).length;
      if (recent > faults.createRateLimitPerSecond) {
        throw new RpcError(status.RESOURCE_EXHAUSTED, 'Sandbox creation rate limit exceeded.', 1);
      }
    }
    const definition = request.definition;
    const image = ctx.images.get(definition.imageId);
    if (!image) throw new RpcError(status.NOT_FOUND, `Image ${definition.imageId} not found`);
    const env: Record<string, string> = {};
    for (const secretId of definition.secretIds) Object.assign(env, ctx.secretsById.get(secretId));
    for (const source of request.secretSources ?? []) {
      if (source.secretId) Object.assign(env, ctx.secretsById.get(source.secretId));
      if (source.env) Object.assign(env, source.env.contents);
    }
    const gpu = definition.resources?.gpuConfig;
    const record = ctx.store.create({
      appId: request.appId,
      isV2,
      image,
      entrypoint: definition.entrypointArgs,
      env,
      workdir: definition.workdir || undefined,
      milliCpu: definition.resources?.milliCpu || undefined,
      memoryMb: definition.resources?.memoryMb || undefined,
      blockNetwork: definition.networkAccess?.networkAccessType === NETWORK_BLOCKED,
      timeoutSecs: definition.timeoutSecs || 300,
      idleTimeoutSecs: definition.idleTimeoutSecs || undefined,
      tags: new Map(request.tags.map((tag) => [tag.tagName, tag.tagValue])),
      regions: definition.schedulerPlacement?.regions ?? [],
      gpu: gpu?.gpuType ? `${gpu.gpuType}:${gpu.count || 1}` : '',
    });
    trackStarting(ctx, record);
    return record;
  };
  const routerAccess = (record: SandboxRecord) => ({
    jwt: makeJwt({
      exp: Math.floor(Date.now() / 1000) + ctx.faults.routerTokenLifetimeSecs,
      task: record.taskId,
    }),
    url: ctx.routerUrl,
  });
  const info = (record: SandboxRecord) => ({
    id: record.id,
    createdAt: record.createdAt,
    appId: record.request.appId,
    tags: [...record.tags].map(([tagName, tagValue]) => ({ tagName, tagValue })),
    taskInfo: {
      id: record.taskId,
      startedAt: record.startedAt ?? 0,
      finishedAt: record.finishedAt ?? 0,
      ...(record.result ? { result: record.result } : {}),
    },
    regions: record.request.regions,
    timeoutSecs: record.request.timeoutSecs,
  });
  const list = async (
    request: { appId: string; beforeTimestamp: number; includeFinished: boolean; tags: Tag[] },
    v1Only: boolean,
  ) => {
    const matches = [...ctx.store.sandboxes.values()]
      .filter(
        (record) =>
          (!request.appId || record.request.appId === request.appId) && (!v1Only || !record.request.isV2),
      )
      .filter((record) => !request.beforeTimestamp || record.createdAt < request.beforeTimestamp)
      .filter((record) => request.tags.every((tag) => record.tags.get(tag.tagName) === tag.tagValue));
    await Promise.all(matches.map((record) => ctx.store.refresh(record)));
    const sandboxes = matches
      .filter((record) => request.includeFinished || !record.result)
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, 100)
      .map(info);
    return { sandboxes };
  };
  const getTaskId = async (
    request: { sandboxId: string; timeout: number },
    _metadata: unknown,
    signal: AbortSignal,
  ) => {
    const record = sandbox(request.sandboxId);
    const wait = new Promise((resolve) => setTimeout(resolve, 5000).unref());
    const abort = new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    await Promise.race([record.scheduled, wait, abort]);
    if (record.result) return { taskResult: record.result };
    return record.startedAt ? { taskId: record.taskId } : {};
  };
  const terminate = async (request: { sandboxId: string }) => {
    const record = sandbox(request.sandboxId);
    const existing = record.result;
    ctx.store.finish(record, {
      status: GENERIC_STATUS.TERMINATED,
      exitcode: 0,
      exception: 'Sandbox terminated',
    });
    return existing ? { existingResult: existing } : {};
  };
  const wait = async (
    request: { sandboxId: string; timeout: number },
    _metadata: unknown,
    signal: AbortSignal,
  ) => {
    const record = sandbox(request.sandboxId);
    const result = await waitFinished(record, request.timeout, signal);
    return { ...(result ? { result } : {}), metadata: {} };
  };
  const tagsSet = async (request: { sandboxId: string; tags: Tag[] }) => {
    sandbox(request.sandboxId).tags = new Map(request.tags.map((tag) => [tag.tagName, tag.tagValue]));
    return {};
  };
  const tagsGet = async (request: { sandboxId: string }) => ({
    tags: [...sandbox(request.sandboxId).tags].map(([tagName, tagValue]) => ({ tagName, tagValue })),
  });

  return {
    AuthTokenGet: async () => ({ token: makeJwt({ exp: Math.floor(Date.now() / 1000) + 3600 }) }),
    EnvironmentGetOrCreate: async () => ({
      environmentId: 'en-local',
      metadata: { name: 'main', settings: { imageBuilderVersion: '2025.06', webhookSuffix: '' } },
    }),
    AppGetOrCreate: async (request: {
      appName: string;
      environmentName: string;
      objectCreationType: number;
    }) => {
      const key = `${request.environmentName}/${request.appName}`;
      let appId = ctx.apps.get(key);
      if (!appId) {
        if (request.objectCreationType === OBJECT_CREATION_TYPE_UNSPECIFIED)
          throw new RpcError(status.NOT_FOUND, `App '${request.appName}' not found`);
        appId = newId('ap');
        ctx.apps.set(key, appId);
      }
      return { appId };
    },
    ImageGetOrCreate: async (request: {
      image: { dockerfileCommands: string[]; baseImages: { imageId: string }[] };
    }) => {
      if (ctx.faults.imageBuildDelayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, ctx.faults.imageBuildDelayMs).unref());
      }
      const [from, ...rest] = request.image.dockerfileCommands;
      const reference = from?.replace(/^FROM\s+/i, '') ?? '';
      const base = request.image.baseImages[0]?.imageId;
      let local = base ? ctx.images.get(base) : ctx.resolveImage(reference);
      if (!local) {
        const imageId = newId('im');
        return {
          imageId,
          result: { status: GENERIC_STATUS.FAILURE, exception: `no local test image for ${reference}` },
        };
      }
      if (rest.length > 0) {
        try {
          local = await ctx.store.docker.build(local, rest);
        } catch (error) {
          return {
            imageId: newId('im'),
            result: { status: GENERIC_STATUS.FAILURE, exception: (error as Error).message },
          };
        }
      }
      const imageId = `im-${Buffer.from(local).toString('hex').slice(0, 40)}`;
      ctx.images.set(imageId, local);
      return { imageId, result: { status: GENERIC_STATUS.SUCCESS, exitcode: 0, exception: '' } };
    },
    SecretGetOrCreate: async (request: {
      deploymentName: string;
      objectCreationType: number;
      envDict: Record<string, string>;
    }) => {
      let env: Record<string, string> | undefined;
      if (request.deploymentName) {
        env = ctx.namedSecrets.get(request.deploymentName);
        if (!env) throw new RpcError(status.NOT_FOUND, `Secret '${request.deploymentName}' not found`);
      } else {
        env = request.envDict;
      }
      const secretId = newId('st');
      ctx.secretsById.set(secretId, env);
      return { secretId };
    },
    VolumeGetOrCreate: async (request: { deploymentName: string }) => {
      let volumeId = ctx.volumes.get(request.deploymentName);
      if (!volumeId) {
        volumeId = newId('vo');
        ctx.volumes.set(request.deploymentName, volumeId);
      }
      return { volumeId };
    },
    SandboxCreate: async (request: CreateRequest) => ({ sandboxId: create(request, false).id }),
    SandboxCreateV2: async (request: CreateRequest) => {
      const record = create(request, true);
      return { sandboxId: record.id, taskId: record.taskId, commandRouterAccess: routerAccess(record) };
    },
    SandboxGetTaskId: getTaskId,
    SandboxGetTaskIdV2: getTaskId,
    SandboxGetCommandRouterAccess: async (request: { sandboxId?: string; taskId?: string }) => {
      const record = request.sandboxId
        ? sandbox(request.sandboxId)
        : ctx.store.byTask.get(request.taskId ?? '');
      if (!record) throw new RpcError(status.NOT_FOUND, 'task not found');
      return routerAccess(record);
    },
    TaskGetCommandRouterAccess: async (request: { taskId: string }) => {
      const record = ctx.store.byTask.get(request.taskId);
      if (!record) throw new RpcError(status.NOT_FOUND, `Task ${request.taskId} not found`);
      return routerAccess(record);
    },
    SandboxWait: wait,
    SandboxWaitV2: wait,
    SandboxTerminate: terminate,
    SandboxTerminateV2: terminate,
    SandboxList: (request: Parameters<typeof list>[0]) => list(request, true),
    SandboxListV2: (request: Parameters<typeof list>[0]) => list(request, false),
    SandboxTagsSet: tagsSet,
    SandboxTagsSetV2: tagsSet,
    SandboxTagsGet: tagsGet,
    SandboxTagsGetV2: tagsGet,
  };
}

function trackStarting(ctx: LocalModalContext, record: SandboxRecord): void {
  const starting = () =>
    [...ctx.store.sandboxes.values()].filter((other) => !other.startedAt && !other.result).length;
  ctx.stats.maxStarting = Math.max(ctx.stats.maxStarting, starting());
  void record.scheduled.then(() => undefined);
}
