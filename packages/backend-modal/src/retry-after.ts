import type { ModalClientParams } from 'modal';

type ClientMiddleware = NonNullable<ModalClientParams['grpcMiddleware']>[number];

/** Where the Modal retry delay travels on an error, once `retryAfterMiddleware` saw it. */
const RETRY_AFTER_MS = Symbol.for('berth.modal.retryAfterMs');

/**
 * The delay Modal asked for, from the `grpc-status-details-bin` trailer: a `modal.client.RPCStatus`
 * (details = field 3, `google.protobuf.Any`) holding an `RPCRetryPolicy { float retry_after_secs = 1 }`.
 * Hand-decoded (three fields): the SDK keeps its decoders private. Undefined when absent or malformed.
 */
export function decodeRetryAfterMs(statusDetails: Uint8Array | undefined): number | undefined {
  if (!statusDetails) return undefined;
  try {
    for (const detail of fields(statusDetails)) {
      if (detail.field !== 3 || !detail.bytes) continue;
      let typeUrl = '';
      let value: Uint8Array | undefined;
      for (const part of fields(detail.bytes)) {
        if (part.field === 1 && part.bytes) typeUrl = Buffer.from(part.bytes).toString('utf8');
        if (part.field === 2 && part.bytes) value = part.bytes;
      }
      if (!typeUrl.endsWith('/modal.client.RPCRetryPolicy') || !value) continue;
      for (const policy of fields(value)) {
        if (policy.field === 1 && policy.fixed32 !== undefined) {
          const secs = policy.fixed32.readFloatLE(0);
          return Number.isFinite(secs) && secs > 0 ? Math.round(secs * 1000) : undefined;
        }
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

interface Field {
  readonly field: number;
  readonly bytes?: Uint8Array;
  readonly fixed32?: Buffer;
}

function* fields(buffer: Uint8Array): Generator<Field> {
  const bytes = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = bytes[at++];
      if (byte === undefined) throw new RangeError('truncated varint');
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new RangeError('varint too long');
  };
  while (at < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        varint();
        yield { field };
        break;
      case 1:
        at += 8;
        yield { field };
        break;
      case 2: {
        const length = varint();
        if (at + length > bytes.length) throw new RangeError('truncated field');
        yield { field, bytes: bytes.subarray(at, at + length) };
        at += length;
        break;
      }
      case 5:
        if (at + 4 > bytes.length) throw new RangeError('truncated fixed32');
        yield { field, fixed32: bytes.subarray(at, at + 4) };
        at += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${key & 7}`);
    }
  }
}

/** The retry delay Modal asked for with this error, if `retryAfterMiddleware` recorded one. */
export function retryAfterOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const value = (error as { [RETRY_AFTER_MS]?: unknown })[RETRY_AFTER_MS];
  return typeof value === 'number' ? value : undefined;
}

/**
 * gRPC middleware that keeps Modal's retry delay on the error: the SDK reads it from the trailer to
 * wait out throttling, but the `ClientError` it finally throws (past `maxThrottleWaitSecs`) no
 * longer carries it. Added to the backend's own client; pass it in `grpcMiddleware` to your own.
 */
export const retryAfterMiddleware: ClientMiddleware = async function* retryAfter(call, options) {
  let statusDetails: Uint8Array | undefined;
  const onTrailer = (trailer: Parameters<NonNullable<typeof options.onTrailer>>[0]) => {
    const raw = trailer.get('grpc-status-details-bin');
    statusDetails = raw == null ? undefined : typeof raw === 'string' ? Buffer.from(raw, 'base64') : raw;
    options.onTrailer?.(trailer);
  };
  try {
    return yield* call.next(call.request, { ...options, onTrailer });
  } catch (error) {
    const retryAfterMs = decodeRetryAfterMs(statusDetails);
    if (retryAfterMs !== undefined && typeof error === 'object' && error !== null) {
      Object.defineProperty(error, RETRY_AFTER_MS, { value: retryAfterMs, configurable: true });
    }
    throw error;
  }
};
