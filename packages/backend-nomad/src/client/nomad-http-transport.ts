import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidOptionsError, throwIfAborted } from '@berth/core';
import { Agent, fetch } from 'undici';
import {
  classifyNomadFailure,
  mapNomadError,
  NomadHttpError,
  NomadRequestTimeoutError,
  parseRetryAfterMs,
} from '../map-nomad-error.js';
import type { ResolvedNomadClientConfig } from './resolve-nomad-client-config.js';
import { retryWithBackoff } from './retry-with-backoff.js';

export type QueryValue = string | number | boolean | undefined;

export interface NomadRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path under the address, e.g. `/v1/jobs`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, QueryValue>>;
  readonly body?: unknown;
  readonly signal?: AbortSignal;
  /** Safe to repeat after a lost answer: retried on connection errors, 429 and 5xx. */
  readonly idempotent: boolean;
  /** Human phrase for error messages, e.g. `read job berth-x`. */
  readonly operation: string;
  /** Option blamed when Nomad answers 400. */
  readonly field?: string;
  /** Blocking query: return when the index passes `index`, or after `waitMs`. */
  readonly blocking?: { readonly index: number; readonly waitMs: number };
}

/** A response body with the query metadata Nomad sends in headers. */
export interface NomadQueryResult<T> {
  readonly value: T;
  /** `X-Nomad-Index`: the Raft index of the data; feed it back for a blocking query. */
  readonly index: number;
  readonly knownLeader: boolean | undefined;
  readonly lastContactMs: number | undefined;
}

/** TLS material as the socket layer wants it (PEM contents). */
export interface NomadTlsMaterial {
  readonly ca?: string[];
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  readonly rejectUnauthorized: boolean;
}

/**
 * HTTP plumbing: one undici `Agent` (bounded connect timeout, TLS material, keep-alive), auth
 * headers, namespace/region parameters, per-request deadlines, retries and error mapping.
 */
export class NomadHttpTransport {
  private agentPromise: Promise<Agent> | undefined;
  private tlsPromise: Promise<NomadTlsMaterial> | undefined;
  private closed = false;

  constructor(readonly config: ResolvedNomadClientConfig) {}

  async request<T>(request: NomadRequest): Promise<NomadQueryResult<T>> {
    throwIfAborted(request.signal, capitalise(request.operation));
    const policy = {
      retries: this.config.retries,
      minDelayMs: this.config.retryMinDelayMs,
      maxDelayMs: this.config.retryMaxDelayMs,
    };
    try {
      return await retryWithBackoff(
        () => this.attempt<T>(request),
        (error) => classifyNomadFailure(error, request.idempotent),
        policy,
        request.signal,
      );
    } catch (error) {
      if (request.signal?.aborted) throwIfAborted(request.signal, capitalise(request.operation));
      throw mapNomadError(error, {
        address: this.config.address,
        operation: request.operation,
        namespace: this.config.namespace,
        field: request.field,
        connectTimeoutMs: this.config.connectTimeoutMs,
        tokenConfigured: this.config.token !== undefined,
        tlsWithoutClientCert: this.config.usesTls && this.config.tls.clientCert === undefined,
      });
    }
  }

  /** Full URL of `path` with the namespace/region parameters and `query`. */
  url(path: string, query: Readonly<Record<string, QueryValue>> = {}): URL {
    const url = new URL(this.config.address + path);
    const all: Record<string, QueryValue> = {
      namespace: this.config.namespace,
      region: this.config.region,
      ...query,
    };
    for (const [key, value] of Object.entries(all)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  /** Headers every call carries. The token is never logged or put into messages. */
  headers(): Record<string, string> {
    const headers: Record<string, string> = {};
    if (this.config.token) headers['X-Nomad-Token'] = this.config.token;
    if (this.config.httpAuth)
      headers.Authorization = `Basic ${Buffer.from(this.config.httpAuth).toString('base64')}`;
    return headers;
  }

  /** CA / client certificate contents, read once from the configured files. */
  tlsMaterial(): Promise<NomadTlsMaterial> {
    this.tlsPromise ??= loadTlsMaterial(this.config);
    return this.tlsPromise;
  }

  /** Closes idle sockets. Later requests fail. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const agent = await this.agentPromise?.catch(() => undefined);
    await agent?.close().catch(() => undefined);
  }

  private agent(): Promise<Agent> {
    this.agentPromise ??= this.tlsMaterial().then(
      (tls) =>
        new Agent({
          connect: {
            timeout: this.config.connectTimeoutMs,
            ...(this.config.usesTls ? tls : {}),
          },
          // Deadlines are enforced per request (blocking queries legitimately wait minutes).
          headersTimeout: 0,
          bodyTimeout: 0,
          keepAliveTimeout: 4_000,
        }),
    );
    return this.agentPromise;
  }

  private async attempt<T>(request: NomadRequest): Promise<NomadQueryResult<T>> {
    if (this.closed) throw new Error('the Nomad client was closed');
    const query: Record<string, QueryValue> = { ...request.query };
    let timeoutMs = this.config.requestTimeoutMs;
    if (request.blocking) {
      query.index = request.blocking.index;
      query.wait = `${Math.max(1, Math.round(request.blocking.waitMs / 1000))}s`;
      // Nomad adds up to wait/16 of jitter before answering.
      timeoutMs += Math.ceil(request.blocking.waitMs * (17 / 16));
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    const headers = this.headers();
    let body: string | undefined;
    if (request.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(request.body);
    }
    const dispatcher = await this.agent();
    try {
      const response = await fetch(this.url(request.path, query), {
        method: request.method,
        headers,
        body,
        signal,
        dispatcher,
      });
      const text = await response.text();
      if (!response.ok) {
        throw new NomadHttpError(
          response.status,
          text,
          request.method,
          request.path,
          parseRetryAfterMs(response.headers.get('retry-after')),
        );
      }
      const indexHeader = response.headers.get('x-nomad-index');
      const leaderHeader = response.headers.get('x-nomad-knownleader');
      const contactHeader = response.headers.get('x-nomad-lastcontact');
      return {
        value: (text === '' ? null : JSON.parse(text)) as T,
        index: indexHeader === null ? 0 : Number(indexHeader) || 0,
        knownLeader: leaderHeader === null ? undefined : leaderHeader === 'true',
        lastContactMs: contactHeader === null ? undefined : Number(contactHeader),
      };
    } catch (error) {
      if (timeout.aborted && !request.signal?.aborted) {
        throw new NomadRequestTimeoutError(timeoutMs, request.method, request.path);
      }
      throw error;
    }
  }
}

async function loadTlsMaterial(config: ResolvedNomadClientConfig): Promise<NomadTlsMaterial> {
  const { tls } = config;
  const ca: string[] = [];
  if (tls.caCert) ca.push(await pemOrFile(tls.caCert, 'tls.caCert (NOMAD_CACERT)'));
  if (tls.caPath) {
    const directory = tls.caPath;
    const names = await readdir(directory).catch((error: unknown) => {
      throw unreadable('tls.caPath (NOMAD_CAPATH)', directory, error);
    });
    for (const name of names.filter((entry) => /\.(pem|crt|cer)$/i.test(entry)).sort()) {
      ca.push(await pemOrFile(join(directory, name), 'tls.caPath (NOMAD_CAPATH)'));
    }
  }
  return {
    ...(ca.length > 0 ? { ca } : {}),
    ...(tls.clientCert
      ? { cert: await pemOrFile(tls.clientCert, 'tls.clientCert (NOMAD_CLIENT_CERT)') }
      : {}),
    ...(tls.clientKey ? { key: await pemOrFile(tls.clientKey, 'tls.clientKey (NOMAD_CLIENT_KEY)') } : {}),
    ...(tls.serverName ? { servername: tls.serverName } : {}),
    rejectUnauthorized: !tls.insecureSkipVerify,
  };
}

/** PEM text is used as is; anything else is a path to a PEM file. */
async function pemOrFile(value: string, field: string): Promise<string> {
  if (value.includes('-----BEGIN')) return value;
  try {
    return await readFile(value, 'utf8');
  } catch (error) {
    throw unreadable(field, value, error);
  }
}

function unreadable(field: string, path: string, error: unknown): InvalidOptionsError {
  const reason = error instanceof Error ? error.message : String(error);
  return new InvalidOptionsError(`nomad.${field}`, `could not read ${path}: ${reason}`, { cause: error });
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
