import { InvalidOptionsError } from '@berth/core';

/** TLS material: each value is PEM text or a path to a PEM file (read lazily, on first request). */
export interface NomadTlsOptions {
  /** CA bundle verifying the agent's certificate. Env: `NOMAD_CACERT`. */
  caCert?: string;
  /** Directory of CA certificates (`*.pem`, `*.crt`). Env: `NOMAD_CAPATH`. */
  caPath?: string;
  /** Client certificate for mutual TLS. Env: `NOMAD_CLIENT_CERT`. */
  clientCert?: string;
  /** Client key for mutual TLS. Env: `NOMAD_CLIENT_KEY`. */
  clientKey?: string;
  /** Name checked against the agent's certificate (e.g. `server.global.nomad`). Env: `NOMAD_TLS_SERVER_NAME`. */
  serverName?: string;
  /** Skip certificate verification. Loud opt-in. Env: `NOMAD_SKIP_VERIFY`. */
  insecureSkipVerify?: boolean;
}

export interface NomadClientOptions {
  /** Agent HTTP address. Env: `NOMAD_ADDR`. Default `http://127.0.0.1:4646`. */
  address?: string;
  /** ACL token sent as `X-Nomad-Token`. Env: `NOMAD_TOKEN`. Never logged. */
  token?: string;
  /** Namespace of every call. Env: `NOMAD_NAMESPACE`. Default: the agent's (`default`). */
  namespace?: string;
  /** Region of every call. Env: `NOMAD_REGION`. Default: the agent's. */
  region?: string;
  /** HTTP basic auth (`user:password`) for a proxy in front of Nomad. Env: `NOMAD_HTTP_AUTH`. */
  httpAuth?: string;
  tls?: NomadTlsOptions;
  /** Give up connecting after this long. Default 5000. */
  connectTimeoutMs?: number;
  /** Overall deadline of one non-blocking request. Default 30000. */
  requestTimeoutMs?: number;
  /** Retries of idempotent calls on connection errors, 429 and 5xx. Default 3. */
  retries?: number;
  /** First backoff delay; doubles per retry, with jitter. Default 200. */
  retryMinDelayMs?: number;
  /** Cap of one backoff delay. Default 3000. */
  retryMaxDelayMs?: number;
  /** Interval of exec-websocket heartbeats (Nomad's CLI uses 10 s). Default 10000. */
  execHeartbeatIntervalMs?: number;
  /** Environment to read `NOMAD_*` from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface ResolvedNomadTls {
  readonly caCert: string | undefined;
  readonly caPath: string | undefined;
  readonly clientCert: string | undefined;
  readonly clientKey: string | undefined;
  readonly serverName: string | undefined;
  readonly insecureSkipVerify: boolean;
}

export interface ResolvedNomadClientConfig {
  /** Normalised, without a trailing slash. */
  readonly address: string;
  readonly token: string | undefined;
  readonly namespace: string | undefined;
  readonly region: string | undefined;
  readonly httpAuth: string | undefined;
  readonly tls: ResolvedNomadTls;
  /** True when the agent speaks https or TLS material was given. */
  readonly usesTls: boolean;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly retries: number;
  readonly retryMinDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly execHeartbeatIntervalMs: number;
}

export const DEFAULT_NOMAD_ADDRESS = 'http://127.0.0.1:4646';

/** Go's `strconv.ParseBool`, which the Nomad CLI uses for `NOMAD_SKIP_VERIFY`; undefined when invalid. */
export function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

/**
 * Merges explicit options over `NOMAD_*` environment variables (read exactly as the Nomad CLI
 * reads them: empty means unset, invalid `NOMAD_SKIP_VERIFY` is ignored) over defaults.
 * Pure: no file is read here; TLS files are read when the first request is sent.
 */
export function resolveNomadClientConfig(
  options: NomadClientOptions = {},
  path = 'nomad',
): ResolvedNomadClientConfig {
  const env = options.env ?? process.env;
  const fromEnv = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const field = (name: string) => `${path}.${name}`;

  const rawAddress = options.address ?? fromEnv('NOMAD_ADDR') ?? DEFAULT_NOMAD_ADDRESS;
  const addressSource =
    options.address === undefined && fromEnv('NOMAD_ADDR') !== undefined ? ' (from NOMAD_ADDR)' : '';
  const address = normaliseAddress(rawAddress, field('address'), addressSource);

  const skipVerifyEnv = fromEnv('NOMAD_SKIP_VERIFY');
  const tlsInput = options.tls ?? {};
  const tls: ResolvedNomadTls = {
    caCert: tlsInput.caCert ?? fromEnv('NOMAD_CACERT'),
    caPath: tlsInput.caPath ?? fromEnv('NOMAD_CAPATH'),
    clientCert: tlsInput.clientCert ?? fromEnv('NOMAD_CLIENT_CERT'),
    clientKey: tlsInput.clientKey ?? fromEnv('NOMAD_CLIENT_KEY'),
    serverName: tlsInput.serverName ?? fromEnv('NOMAD_TLS_SERVER_NAME'),
    insecureSkipVerify:
      tlsInput.insecureSkipVerify ??
      (skipVerifyEnv === undefined ? false : (parseGoBool(skipVerifyEnv) ?? false)),
  };
  if ((tls.clientCert === undefined) !== (tls.clientKey === undefined)) {
    throw new InvalidOptionsError(
      field(tls.clientCert === undefined ? 'tls.clientCert' : 'tls.clientKey'),
      'mutual TLS needs both a client certificate and its key (NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY).',
    );
  }
  const usesTls = address.startsWith('https://');
  // Like the Nomad CLI, TLS variables from the environment are ignored for an http:// address; TLS
  // options passed explicitly are not, since they show the caller expects an encrypted connection.
  if (!usesTls && (tlsInput.caCert || tlsInput.caPath || tlsInput.clientCert)) {
    throw new InvalidOptionsError(
      field('address'),
      `TLS options are set but the address ${address} is plain http; use https://.`,
    );
  }

  const config: ResolvedNomadClientConfig = {
    address,
    token: options.token ?? fromEnv('NOMAD_TOKEN'),
    namespace: options.namespace ?? fromEnv('NOMAD_NAMESPACE'),
    region: options.region ?? fromEnv('NOMAD_REGION'),
    httpAuth: options.httpAuth ?? fromEnv('NOMAD_HTTP_AUTH'),
    tls,
    usesTls,
    connectTimeoutMs: positiveInteger(options.connectTimeoutMs, 5_000, field('connectTimeoutMs')),
    requestTimeoutMs: positiveInteger(options.requestTimeoutMs, 30_000, field('requestTimeoutMs')),
    retries: nonNegativeInteger(options.retries, 3, field('retries')),
    retryMinDelayMs: nonNegativeInteger(options.retryMinDelayMs, 200, field('retryMinDelayMs')),
    retryMaxDelayMs: nonNegativeInteger(options.retryMaxDelayMs, 3_000, field('retryMaxDelayMs')),
    execHeartbeatIntervalMs: positiveInteger(
      options.execHeartbeatIntervalMs,
      10_000,
      field('execHeartbeatIntervalMs'),
    ),
  };
  if (config.retryMaxDelayMs < config.retryMinDelayMs) {
    throw new InvalidOptionsError(
      field('retryMaxDelayMs'),
      `expected \`retryMaxDelayMs\` (${config.retryMaxDelayMs}) to be ≥ \`retryMinDelayMs\` (${config.retryMinDelayMs}).`,
    );
  }
  for (const [name, value] of [
    ['token', config.token],
    ['namespace', config.namespace],
    ['region', config.region],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || /[\r\n]/.test(value))) {
      throw new InvalidOptionsError(field(name), 'expected a single-line string.');
    }
  }
  return config;
}

function normaliseAddress(raw: string, field: string, source: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new InvalidOptionsError(field, 'expected the Nomad HTTP address, e.g. `http://127.0.0.1:4646`.');
  }
  if (raw.startsWith('unix://')) {
    throw new InvalidOptionsError(
      field,
      `unix socket addresses (${raw}${source}) are not supported; use http:// or https://.`,
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidOptionsError(
      field,
      `${JSON.stringify(raw)}${source} is not a URL; include the scheme, e.g. \`http://${raw}\`.`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidOptionsError(
      field,
      `expected an http:// or https:// address, got ${JSON.stringify(raw)}${source}.`,
    );
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new InvalidOptionsError(
      field,
      `the address${source} must not carry a query, fragment or credentials; use \`token\` / \`httpAuth\` instead.`,
    );
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

function positiveInteger(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new InvalidOptionsError(field, `expected a positive integer, got ${String(value)}.`);
  }
  return value;
}

function nonNegativeInteger(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new InvalidOptionsError(field, `expected a non-negative integer, got ${String(value)}.`);
  }
  return value;
}
