import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));

export interface LoadedServices {
  readonly modalClient: grpc.ServiceDefinition;
  readonly taskCommandRouter: grpc.ServiceDefinition;
}

/** Modal's two services from the vendored protos (see ../proto/README.md). */
export function loadModalServices(): LoadedServices {
  const definition = protoLoader.loadSync(
    ['modal_proto/api.proto', 'modal_proto/task_command_router.proto'],
    { includeDirs: [PROTO_DIR], keepCase: false, longs: Number, enums: Number, defaults: true, oneofs: true },
  );
  const service = (name: string) => definition[name] as grpc.ServiceDefinition;
  return {
    modalClient: service('modal.client.ModalClient'),
    taskCommandRouter: service('modal.task_command_router.TaskCommandRouter'),
  };
}

/** A gRPC error; with `retryAfterSecs`, Modal's `RPCRetryPolicy` rides in the status details. */
export class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
    readonly retryAfterSecs?: number,
  ) {
    super(message);
  }

  toServiceError(): Partial<grpc.StatusObject> & { message: string } {
    const metadata = new grpc.Metadata();
    if (this.retryAfterSecs !== undefined) {
      metadata.set(
        'grpc-status-details-bin',
        encodeRetryStatus(this.code, this.message, this.retryAfterSecs),
      );
    }
    return { code: this.code, details: this.message, message: this.message, metadata };
  }
}

// Hand-encoded protobuf: modal.client.RPCStatus { code=1, message=2, details=3 (Any) } holding an
// RPCRetryPolicy { float retry_after_secs = 1 }: the two messages the SDK decodes from the trailer.
export function encodeRetryStatus(code: number, message: string, retryAfterSecs: number): Buffer {
  const policy = Buffer.alloc(5);
  policy[0] = 0x0d; // field 1, fixed32
  policy.writeFloatLE(retryAfterSecs, 1);
  const any = Buffer.concat([
    lengthDelimited(1, Buffer.from('type.googleapis.com/modal.client.RPCRetryPolicy')),
    lengthDelimited(2, policy),
  ]);
  return Buffer.concat([
    Buffer.from([0x08]),
    varint(code),
    lengthDelimited(2, Buffer.from(message)),
    lengthDelimited(3, any),
  ]);
}

function lengthDelimited(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(field << 3) | 2]), varint(bytes.length), bytes]);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

export type UnaryHandler = (request: never, metadata: grpc.Metadata, signal: AbortSignal) => Promise<object>;
export type StreamHandler = (
  request: never,
  metadata: grpc.Metadata,
  write: (message: object) => void,
  signal: AbortSignal,
) => Promise<void>;

export interface HandlerSet {
  readonly unary: Record<string, UnaryHandler>;
  readonly stream: Record<string, StreamHandler>;
}

/**
 * grpc-js handlers for every method of `service`: implemented ones run `handlers` after `check`,
 * every other one fails with UNIMPLEMENTED and is recorded in `unimplemented`, so a test (or an SDK
 * upgrade that makes a new call) fails loudly instead of silently getting an empty answer.
 */
export function buildImplementation(
  service: grpc.ServiceDefinition,
  handlers: HandlerSet,
  hooks: {
    check(method: string, metadata: grpc.Metadata): void;
    unimplemented(method: string): void;
    count(method: string): void;
  },
): grpc.UntypedServiceImplementation {
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [method, definition] of Object.entries(service)) {
    const unary = handlers.unary[method];
    const stream = handlers.stream[method];
    if (definition.responseStream && !definition.requestStream) {
      implementation[method] = ((call: grpc.ServerWritableStream<never, object>) => {
        hooks.count(method);
        const abort = new AbortController();
        call.on('cancelled', () => abort.abort());
        const run = async () => {
          if (!stream) throw unimplementedError(method, hooks);
          hooks.check(method, call.metadata);
          await stream(call.request, call.metadata, (message) => call.write(message), abort.signal);
        };
        run().then(
          () => call.end(),
          (error: unknown) => call.emit('error', toServiceError(error)),
        );
      }) as grpc.UntypedHandleCall;
    } else if (definition.requestStream) {
      implementation[method] = (_call: unknown, callback: grpc.sendUnaryData<object>) => {
        hooks.count(method);
        callback(toServiceError(unimplementedError(method, hooks)) as grpc.ServiceError);
      };
    } else {
      implementation[method] = ((
        call: grpc.ServerUnaryCall<never, object>,
        callback: grpc.sendUnaryData<object>,
      ) => {
        hooks.count(method);
        const abort = new AbortController();
        call.on('cancelled', () => abort.abort());
        const run = async () => {
          if (!unary) throw unimplementedError(method, hooks);
          hooks.check(method, call.metadata);
          return unary(call.request, call.metadata, abort.signal);
        };
        run().then(
          (response) => callback(null, response),
          (error: unknown) => callback(toServiceError(error) as grpc.ServiceError),
        );
      }) as grpc.UntypedHandleCall;
    }
  }
  return implementation;
}

function unimplementedError(method: string, hooks: { unimplemented(method: string): void }): RpcError {
  hooks.unimplemented(method);
  return new RpcError(
    grpc.status.UNIMPLEMENTED,
    `the local Modal control plane does not implement ${method}`,
  );
}

function toServiceError(error: unknown): Partial<grpc.StatusObject> & { message: string } {
  if (error instanceof RpcError) return error.toServiceError();
  const message = error instanceof Error ? error.message : String(error);
  return { code: grpc.status.INTERNAL, details: message, message };
}

/** A JWT-shaped token (unsigned: only the local server reads it) whose payload the SDK parses for `exp`. */
export function makeJwt(payload: Record<string, string | number>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.local`;
}

export function readJwt(token: string): Record<string, unknown> | undefined {
  try {
    const payload = token.split('.')[1];
    return payload
      ? (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
