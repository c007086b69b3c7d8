import type { App, Image, ModalClient, Sandbox, SandboxCreateParams, Secret, Volume } from 'modal';
import { MODAL_MAX_TIMEOUT_SECONDS, type ModalHostSpec } from './modal-host-spec.js';

export interface SpecResources {
  readonly app: App;
  readonly image: Image;
  readonly secrets: readonly Secret[];
  readonly volumes: Readonly<Record<string, Volume>>;
}

/**
 * The app, images, secrets and volumes sandboxes need, looked up once per backend: an image is
 * built (`ImageGetOrCreate`) once per spec, not once per sandbox.
 */
export class ModalResources {
  #app: Promise<App> | undefined;
  readonly #images = new Map<string, Promise<Image>>();
  readonly #secrets = new Map<string, Promise<Secret>>();
  readonly #volumes = new Map<string, Promise<Volume>>();

  constructor(
    private readonly client: () => Promise<ModalClient>,
    private readonly appName: string,
    private readonly environment: string | undefined,
  ) {}

  app(): Promise<App> {
    this.#app ??= (async () =>
      (await this.client()).apps.fromName(this.appName, {
        createIfMissing: true,
        ...(this.environment ? { environment: this.environment } : {}),
      }))().catch((error: unknown) => {
      this.#app = undefined;
      throw error;
    });
    return this.#app;
  }

  async forSpec(spec: ModalHostSpec): Promise<SpecResources> {
    const app = await this.app();
    const imageKey = JSON.stringify([spec.image, spec.dockerfileCommands]);
    const image = this.#cached(this.#images, imageKey, async () => {
      const modal = await this.client();
      let built = modal.images.fromRegistry(spec.image);
      if (spec.dockerfileCommands.length > 0) built = built.dockerfileCommands([...spec.dockerfileCommands]);
      return built.build(app);
    });
    const secrets = Promise.all(
      spec.secrets.map((name) =>
        this.#cached(this.#secrets, name, async () =>
          (await this.client()).secrets.fromName(
            name,
            this.environment ? { environment: this.environment } : {},
          ),
        ),
      ),
    );
    const volumes = Promise.all(
      Object.entries(spec.volumes).map(async ([mountPath, name]) => {
        const volume = await this.#cached(this.#volumes, name, async () =>
          (await this.client()).volumes.fromName(name, {
            createIfMissing: true,
            ...(this.environment ? { environment: this.environment } : {}),
          }),
        );
        return [mountPath, volume] as const;
      }),
    );
    return { app, image: await image, secrets: await secrets, volumes: Object.fromEntries(await volumes) };
  }

  async createSandbox(app: App, image: Image, params: SandboxCreateParams): Promise<Sandbox> {
    return (await this.client()).sandboxes.create(app, image, params);
  }

  #cached<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
    let value = cache.get(key);
    if (!value) {
      value = load().catch((error: unknown) => {
        cache.delete(key);
        throw error;
      });
      cache.set(key, value);
    }
    return value;
  }
}

/**
 * The SDK's create parameters for a spec. The lifetime is always set: the spec's `timeoutMs`, else
 * the pool's `hostLifetimeMs` (Modal's own default is 5 minutes), never past Modal's 24 h.
 */
export function sandboxParams(
  spec: ModalHostSpec,
  hostLifetimeMs: number | undefined,
  resources: Pick<SpecResources, 'secrets' | 'volumes'>,
): SandboxCreateParams {
  const poolSeconds =
    hostLifetimeMs === undefined || !Number.isFinite(hostLifetimeMs)
      ? MODAL_MAX_TIMEOUT_SECONDS
      : Math.max(1, Math.ceil(hostLifetimeMs / 1000));
  const timeoutSeconds = Math.min(spec.timeoutSeconds ?? poolSeconds, poolSeconds, MODAL_MAX_TIMEOUT_SECONDS);
  return {
    timeoutMs: timeoutSeconds * 1000,
    ...(spec.idleTimeoutSeconds ? { idleTimeoutMs: spec.idleTimeoutSeconds * 1000 } : {}),
    ...(spec.cpu === undefined ? {} : { cpu: spec.cpu }),
    ...(spec.memoryMiB === undefined ? {} : { memoryMiB: spec.memoryMiB }),
    ...(spec.gpu === undefined ? {} : { gpu: spec.gpu }),
    ...(Object.keys(spec.env).length > 0 ? { env: { ...spec.env } } : {}),
    ...(resources.secrets.length > 0 ? { secrets: [...resources.secrets] } : {}),
    ...(Object.keys(resources.volumes).length > 0 ? { volumes: { ...resources.volumes } } : {}),
    ...(spec.workdir ? { workdir: spec.workdir } : {}),
    ...(spec.regions.length > 0 ? { regions: [...spec.regions] } : {}),
    ...(spec.blockNetwork ? { blockNetwork: true } : {}),
    ...(spec.cidrAllowlist ? { outboundCidrAllowlist: [...spec.cidrAllowlist] } : {}),
  };
}
