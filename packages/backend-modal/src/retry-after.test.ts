import { describe, expect, it } from 'vitest';
import { mapModalError } from './map-modal-error.js';
import { decodeRetryAfterMs, retryAfterMiddleware } from './retry-after.js';
import { encodeRetryStatus } from './testing/local-modal/grpc-support.js';

describe("Modal's retry delay", () => {
  it('is decoded from the RPCStatus trailer Modal sends with RESOURCE_EXHAUSTED', () => {
    expect(decodeRetryAfterMs(encodeRetryStatus(8, 'slow down', 5))).toBe(5000);
    expect(decodeRetryAfterMs(encodeRetryStatus(8, 'slow down', 0.25))).toBe(250);
    expect(decodeRetryAfterMs(undefined)).toBeUndefined();
    expect(decodeRetryAfterMs(Buffer.from([0x08, 0x08, 0x12, 0x40]))).toBeUndefined(); // truncated
  });

  it('the middleware keeps it on the error the SDK throws, and CAPACITY carries it', async () => {
    const thrown = Object.assign(new Error('RESOURCE_EXHAUSTED'), { name: 'ClientError', code: 8 });
    const call = {
      request: {},
      // What nice-grpc hands a middleware: the rest of the chain, here a call that fails with a trailer.
      next: (_request: unknown, options: { onTrailer?: (trailer: Map<string, unknown>) => void }) => ({
        [Symbol.asyncIterator]: () => ({
          next: async () => {
            options.onTrailer?.(new Map([['grpc-status-details-bin', encodeRetryStatus(8, 'slow down', 5)]]));
            throw thrown;
          },
        }),
      }),
    };
    const run = (retryAfterMiddleware as unknown as (c: typeof call, o: object) => AsyncGenerator)(call, {});
    await expect(run.next()).rejects.toBe(thrown);
    expect(mapModalError(thrown, { operation: 'create a Modal sandbox' })).toMatchObject({
      code: 'CAPACITY',
      retryAfterMs: 5000,
    });
  });
});
