import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { controlPlaneHandlers } from './control-plane-handlers.js';
import { buildImplementation, loadModalServices, RpcError, readJwt } from './grpc-support.js';
import {
  defaultImageResolver,
  type LocalModalContext,
  type LocalModalFaults,
  type LocalModalStats,
} from './local-modal-context.js';
import { routerHandlers } from './router-handlers.js';
import { GENERIC_STATUS, type SandboxRecord, SandboxStore } from './sandbox-store.js';

export interface StartLocalModalOptions {
  /** Registry reference → local image, beside the defaults (debian/ubuntu/python → berth-test/debian:12…). */
  readonly images?: Readonly<Record<string, string>>;
  /** Named secrets `Secret.fromName` finds. */
  readonly secrets?: Readonly<Record<string, Record<string, string>>>;
  readonly faults?: Partial<LocalModalFaults>;
}

/** How long close() lets open calls finish before cutting them. */
const SHUTDOWN_GRACE_MS = 2_000;

/** Environment variables that point the unmodified `modal` SDK at a local control plane. */
export interface LocalModalEnv {
  readonly MODAL_SERVER_URL: string;
  readonly MODAL_TOKEN_ID: string;
  readonly MODAL_TOKEN_SECRET: string;
  [name: string]: string;
}

/**
 * A local Modal control plane and task command router (one gRPC server, plaintext: the SDK uses
 * insecure credentials for both when `MODAL_SERVER_URL` is localhost) built from Modal's published
 * protos, backing each sandbox with a real Docker container (`berth-modal-<sandbox id>`).
 */
export class LocalModal {
  readonly faults: LocalModalFaults;
  readonly stats: LocalModalStats;
  readonly #ctx: LocalModalContext;
  readonly #server: grpc.Server;
  readonly url: string;

  private constructor(server: grpc.Server, ctx: LocalModalContext, port: number) {
    this.#server = server;
    this.#ctx = ctx;
    this.faults = ctx.faults;
    this.stats = ctx.stats;
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(options: StartLocalModalOptions = {}): Promise<LocalModal> {
    const faults: LocalModalFaults = {
      resourceExhausted: { count: 0, retryAfterSecs: 0.2 },
      imageBuildDelayMs: 0,
      schedulingDelayMs: 0,
      cutOutputAfterBytes: 0,
      rejectCredentials: false,
      createRateLimitPerSecond: 0,
      routerTokenLifetimeSecs: 3600,
      ...options.faults,
    };
    const instanceId = randomUUID().slice(0, 8);
    const ctx: LocalModalContext = {
      store: new SandboxStore(instanceId, () => faults.schedulingDelayMs),
      faults,
      stats: { createTimesMs: [], calls: new Map(), unimplemented: [], cutStreams: 0, maxStarting: 0 },
      tokenId: `ak-local-${instanceId}`,
      tokenSecret: `as-local-${randomUUID()}`,
      routerUrl: '',
      apps: new Map(),
      images: new Map(),
      namedSecrets: new Map(Object.entries(options.secrets ?? {})),
      secretsById: new Map(),
      volumes: new Map(),
      resolveImage: defaultImageResolver(options.images ?? {}),
    };
    await ctx.store.docker.removeOrphans();
    const services = loadModalServices();
    const server = new grpc.Server({ 'grpc.max_receive_message_length': 100 * 1024 * 1024 });
    const hooks = (checkAuth: (method: string, metadata: grpc.Metadata) => void) => ({
      check: checkAuth,
      unimplemented: (method: string) => ctx.stats.unimplemented.push(method),
      count: (method: string) => ctx.stats.calls.set(method, (ctx.stats.calls.get(method) ?? 0) + 1),
    });
    server.addService(
      services.modalClient,
      buildImplementation(
        services.modalClient,
        { unary: controlPlaneHandlers(ctx), stream: {} },
        hooks((_method, metadata) => checkCredentials(ctx, metadata)),
      ),
    );
    const router = routerHandlers(ctx);
    server.addService(
      services.taskCommandRouter,
      buildImplementation(
        services.taskCommandRouter,
        router,
        hooks((_method, metadata) => checkRouterToken(metadata)),
      ),
    );
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      );
    });
    ctx.routerUrl = `https://127.0.0.1:${port}`;
    return new LocalModal(server, ctx, port);
  }

  /** What a process needs in its environment to use this control plane through the SDK. */
  env(options: { sandboxV2?: boolean } = {}): LocalModalEnv {
    return {
      MODAL_SERVER_URL: this.url,
      MODAL_TOKEN_ID: this.#ctx.tokenId,
      MODAL_TOKEN_SECRET: this.#ctx.tokenSecret,
      MODAL_SANDBOX_V2: options.sandboxV2 === false ? 'false' : 'true',
      MODAL_CONFIG_PATH: '/nonexistent/berth-local-modal.toml',
    };
  }

  /** Every sandbox the server knows, finished ones included. */
  sandboxes(): readonly SandboxRecord[] {
    return [...this.#ctx.store.sandboxes.values()];
  }

  /** Sandboxes still running (or starting), after checking their containers. */
  async runningSandboxes(): Promise<SandboxRecord[]> {
    const all = this.sandboxes();
    await Promise.all(all.map((record) => this.#ctx.store.refresh(record)));
    return all.filter((record) => !record.result);
  }

  /** Ends a sandbox as Modal would from outside (the dashboard, `modal sandbox stop`, a crash). */
  terminateFromOutside(sandboxId: string, reason = 'Sandbox terminated from the dashboard'): void {
    const record = this.#ctx.store.sandboxes.get(sandboxId);
    if (!record) throw new Error(`no sandbox ${sandboxId}`);
    this.#ctx.store.finish(record, { status: GENERIC_STATUS.TERMINATED, exitcode: 0, exception: reason });
  }

  /**
   * The largest number of sandbox creates that reached the server within any `windowMs` (default
   * one second; a test on a loaded machine may shorten it to allow for arrival jitter).
   */
  maxCreatesPerSecond(windowMs = 1000): number {
    const times = [...this.stats.createTimesMs].sort((a, b) => a - b);
    let best = 0;
    for (let start = 0, end = 0; end < times.length; end++) {
      while ((times[end] ?? 0) - (times[start] ?? 0) >= windowMs) start++;
      best = Math.max(best, end - start + 1);
    }
    return best;
  }

  async close(): Promise<void> {
    await this.#ctx.store.close();
    // tryShutdown waits for every open call; one a handler still holds (a long poll, a slow image
    // build) would hang the caller's teardown, so the grace is short and the rest is cut.
    await new Promise<void>((resolve) => {
      const grace = setTimeout(resolve, SHUTDOWN_GRACE_MS);
      this.#server.tryShutdown(() => {
        clearTimeout(grace);
        resolve();
      });
    });
    this.#server.forceShutdown();
  }
}

function checkCredentials(ctx: LocalModalContext, metadata: grpc.Metadata): void {
  const tokenId = metadata.get('x-modal-token-id')[0];
  const tokenSecret = metadata.get('x-modal-token-secret')[0];
  if (ctx.faults.rejectCredentials || tokenId !== ctx.tokenId || tokenSecret !== ctx.tokenSecret) {
    throw new RpcError(grpc.status.UNAUTHENTICATED, 'Token ID or secret is invalid or expired.');
  }
}

function checkRouterToken(metadata: grpc.Metadata): void {
  const header = String(metadata.get('authorization')[0] ?? '');
  const payload = readJwt(header.replace(/^Bearer /, ''));
  if (!payload || Number(payload.exp) * 1000 < Date.now()) {
    throw new RpcError(grpc.status.UNAUTHENTICATED, 'task command router token is invalid or expired');
  }
}
