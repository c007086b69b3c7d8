import { randomUUID } from 'node:crypto';
import type { SandboxStore } from './sandbox-store.js';

/** Faults a test switches on while the SDK talks to the control plane. */
export interface LocalModalFaults {
  /** The next `count` sandbox creates fail RESOURCE_EXHAUSTED carrying Modal's retry policy. */
  resourceExhausted: { count: number; retryAfterSecs: number };
  /** How long every image build (`ImageGetOrCreate`) takes: real builds take seconds. */
  imageBuildDelayMs: number;
  /** How long a created sandbox waits before its container starts (slow scheduling). */
  schedulingDelayMs: number;
  /** Each exec output stream is cut (UNAVAILABLE) after sending this many bytes; 0: never. */
  cutOutputAfterBytes: number;
  /** Control-plane credentials are refused (a revoked or expired token). */
  rejectCredentials: boolean;
  /** Server-side creation rate limit per second, as Modal enforces (0: none). */
  createRateLimitPerSecond: number;
  /** Lifetime of task command router tokens handed out from now on (the SDK refreshes expired ones). */
  routerTokenLifetimeSecs: number;
}

export interface LocalModalStats {
  /** Epoch ms of every sandbox create that reached the server (rejected ones included). */
  readonly createTimesMs: number[];
  /** RPC name → number of calls. */
  readonly calls: Map<string, number>;
  /** RPCs the SDK made that the control plane does not implement. */
  readonly unimplemented: string[];
  /** Output streams cut by `cutOutputAfterBytes`. */
  cutStreams: number;
  /** Most sandboxes starting (created, container not yet up) at one time. */
  maxStarting: number;
}

export interface LocalModalContext {
  readonly store: SandboxStore;
  readonly faults: LocalModalFaults;
  readonly stats: LocalModalStats;
  readonly tokenId: string;
  readonly tokenSecret: string;
  /** `https://127.0.0.1:<port>`: the SDK dials it in plaintext because the server URL is localhost. */
  routerUrl: string;
  readonly apps: Map<string, string>;
  /** image id → local image the sandbox runs. */
  readonly images: Map<string, string>;
  /** Named secrets a test registers, and the ids handed out (named or ephemeral). */
  readonly namedSecrets: Map<string, Record<string, string>>;
  readonly secretsById: Map<string, Record<string, string>>;
  readonly volumes: Map<string, string>;
  /** Registry reference → local test image; unknown references fail the image build. */
  resolveImage(reference: string): string | undefined;
}

export function newId(prefix: string): string {
  return `${prefix}-${randomUUID().replaceAll('-', '').slice(0, 22)}`;
}

/** Maps registry references to the locally built test images (never pulled). */
export function defaultImageResolver(
  extra: Readonly<Record<string, string>>,
): (ref: string) => string | undefined {
  return (reference) => {
    if (extra[reference]) return extra[reference];
    if (reference.startsWith('berth-test/')) return reference;
    const name = reference.replace(/^docker\.io\/(library\/)?/, '').split(/[:@]/)[0] ?? '';
    if (['debian', 'ubuntu', 'python'].includes(name)) return 'berth-test/debian:12';
    if (['busybox', 'alpine'].includes(name)) return 'berth-test/busybox:1';
    return undefined;
  };
}
