import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidOptionsError } from '@berth/core';
import type Dockerode from 'dockerode';

/** How to reach the Docker daemon. Everything is optional: by default Berth probes the usual sockets. */
export interface DockerConnectionOptions {
  /** Bring your own dockerode client; Berth then probes nothing else and never closes it. */
  readonly docker?: Dockerode;
  /** A Unix socket (or Windows named pipe) path, e.g. `/var/run/docker.sock`. Only it is tried. */
  readonly socketPath?: string;
  /** A TCP host name or address. Only it is tried. */
  readonly host?: string;
  /** TCP port (default 2376 with TLS, 2375 without). */
  readonly port?: number;
  /** `https` when `tls` is given or the port is 2376; `ssh` tunnels through `ssh://user@host`. */
  readonly protocol?: 'http' | 'https' | 'ssh';
  /** TLS client material for `protocol: 'https'` (PEM contents, not paths). */
  readonly tls?: {
    readonly ca?: string | Buffer;
    readonly cert?: string | Buffer;
    readonly key?: string | Buffer;
  };
  /** Environment to read `DOCKER_HOST`, `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`, `XDG_RUNTIME_DIR` from. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** One address Berth will probe, and how to build a client for it (lazily: TLS files are read then). */
export interface DockerEndpoint {
  /** Shown in errors: `unix:///var/run/docker.sock`, `tcp://10.0.0.5:2376 (TLS)`. */
  readonly address: string;
  /** True when the user named it (option or `DOCKER_HOST`): no fallback to others. */
  readonly explicit: boolean;
  readonly create: () => Dockerode.DockerOptions | Dockerode;
}

const DEFAULT_SOCKET = '/var/run/docker.sock';

/**
 * Turns options + environment into the ordered list of endpoints to probe. Pure and synchronous
 * (no file reads): invalid `DOCKER_HOST` values throw `InvalidOptionsError` here, at construction.
 */
export function resolveDockerEndpoints(options: DockerConnectionOptions = {}): DockerEndpoint[] {
  const env = options.env ?? process.env;
  const { docker } = options;
  if (docker) {
    const modem = docker.modem as { socketPath?: unknown; host?: unknown; port?: unknown };
    const address =
      typeof modem.socketPath === 'string'
        ? `unix://${modem.socketPath}`
        : typeof modem.host === 'string'
          ? `tcp://${modem.host}:${String(modem.port ?? '')}`
          : 'the dockerode client passed as `docker`';
    return [{ address, explicit: true, create: () => docker }];
  }
  if (options.socketPath !== undefined) {
    if (options.socketPath.trim() === '')
      throw new InvalidOptionsError('socketPath', 'expected a non-empty path.');
    return [socketEndpoint(options.socketPath, true)];
  }
  if (options.host !== undefined) {
    return [tcpEndpoint(options, env, true)];
  }
  const dockerHost = env.DOCKER_HOST?.trim();
  if (dockerHost) return [parseDockerHost(dockerHost, env)];

  const runtimeDir =
    env.XDG_RUNTIME_DIR ||
    (typeof process.getuid === 'function' ? `/run/user/${process.getuid()}` : undefined);
  const home = env.HOME || homedir();
  const candidates = [
    DEFAULT_SOCKET,
    runtimeDir ? join(runtimeDir, 'docker.sock') : undefined, // rootless Docker
    join(home, '.docker', 'run', 'docker.sock'), // Docker Desktop
    join(home, '.docker', 'desktop', 'docker.sock'),
    runtimeDir ? join(runtimeDir, 'podman', 'podman.sock') : undefined, // rootless Podman
    '/run/podman/podman.sock',
  ];
  const unique = [...new Set(candidates.filter((path): path is string => path !== undefined))];
  return unique.map((path) => socketEndpoint(path, false));
}

function socketEndpoint(socketPath: string, explicit: boolean): DockerEndpoint {
  const address = socketPath.startsWith('//./pipe/') ? `npipe://${socketPath}` : `unix://${socketPath}`;
  return {
    address,
    explicit,
    // Explicit `undefined`s override docker-modem's own reading of process.env.DOCKER_HOST.
    create: () => ({ socketPath, host: undefined, port: undefined, protocol: undefined }),
  };
}

function tcpEndpoint(
  options: DockerConnectionOptions,
  env: Readonly<Record<string, string | undefined>>,
  explicit: boolean,
  source = 'host',
): DockerEndpoint {
  const host = options.host ?? '';
  if (host.trim() === '') throw new InvalidOptionsError(source, 'expected a non-empty host name.');
  const port = options.port;
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65_535)) {
    throw new InvalidOptionsError('port', `expected an integer 1..65535, got ${String(port)}.`);
  }
  const protocol = options.protocol ?? (options.tls || port === 2376 || tlsVerify(env) ? 'https' : 'http');
  const effectivePort = port ?? (protocol === 'https' ? 2376 : protocol === 'ssh' ? 22 : 2375);
  const scheme = protocol === 'ssh' ? 'ssh' : 'tcp';
  const address = `${scheme}://${host}:${effectivePort}${protocol === 'https' ? ' (TLS)' : ''}`;
  return {
    address,
    explicit,
    create: () => {
      const tls = protocol === 'https' ? (options.tls ?? readCertPath(env)) : undefined;
      return {
        host,
        port: effectivePort,
        protocol,
        socketPath: undefined,
        ca: tls?.ca,
        cert: tls?.cert,
        key: tls?.key,
      } as Dockerode.DockerOptions;
    },
  };
}

function parseDockerHost(value: string, env: Readonly<Record<string, string | undefined>>): DockerEndpoint {
  const hint =
    'expected unix:///path/docker.sock, tcp://host:port, ssh://user@host or npipe:////./pipe/name.';
  if (value.startsWith('unix://')) {
    const path = value.slice('unix://'.length);
    if (!path) throw new InvalidOptionsError('DOCKER_HOST', `\`${value}\` has no socket path; ${hint}`);
    return socketEndpoint(path, true);
  }
  if (value.startsWith('npipe://')) {
    const path = value.slice('npipe://'.length);
    if (!path) throw new InvalidOptionsError('DOCKER_HOST', `\`${value}\` has no pipe name; ${hint}`);
    return socketEndpoint(path, true);
  }
  let url: URL;
  try {
    url = new URL(value.includes('://') ? value : `tcp://${value}`);
  } catch (error) {
    throw new InvalidOptionsError('DOCKER_HOST', `\`${value}\` is not a valid address; ${hint}`, {
      cause: error,
    });
  }
  const port = url.port === '' ? undefined : Number(url.port);
  switch (url.protocol) {
    case 'tcp:':
    case 'http:':
      return tcpEndpoint(
        { host: url.hostname, port, protocol: tlsVerify(env) || port === 2376 ? 'https' : 'http' },
        env,
        true,
        'DOCKER_HOST',
      );
    case 'https:':
      return tcpEndpoint({ host: url.hostname, port, protocol: 'https' }, env, true, 'DOCKER_HOST');
    case 'ssh:': {
      const endpoint = tcpEndpoint({ host: url.hostname, port, protocol: 'ssh' }, env, true, 'DOCKER_HOST');
      const username = decodeURIComponent(url.username);
      return {
        ...endpoint,
        create: () => ({
          ...(endpoint.create() as Dockerode.DockerOptions),
          username: username || undefined,
          sshOptions: { agent: env.SSH_AUTH_SOCK },
        }),
      };
    }
    default:
      throw new InvalidOptionsError(
        'DOCKER_HOST',
        `unsupported scheme \`${url.protocol}\` in \`${value}\`; ${hint}`,
      );
  }
}

function tlsVerify(env: Readonly<Record<string, string | undefined>>): boolean {
  const value = env.DOCKER_TLS_VERIFY?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/** Reads ca.pem / cert.pem / key.pem from DOCKER_CERT_PATH (default ~/.docker). Runs on first use only. */
function readCertPath(env: Readonly<Record<string, string | undefined>>): {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
} {
  const directory = env.DOCKER_CERT_PATH || join(env.HOME || homedir(), '.docker');
  const read = (file: string): Buffer => {
    try {
      return readFileSync(join(directory, file));
    } catch (error) {
      throw new InvalidOptionsError(
        'DOCKER_CERT_PATH',
        `cannot read ${join(directory, file)} for the TLS connection to Docker. Put ca.pem, cert.pem and key.pem ` +
          'there (as `docker-machine env` / `docker context` export them) or unset DOCKER_TLS_VERIFY.',
        { cause: error },
      );
    }
  };
  return { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') };
}
