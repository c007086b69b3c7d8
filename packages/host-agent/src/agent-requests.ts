import type { ClientHttp2Stream } from 'node:http2';
import http2 from 'node:http2';
import { type BerthError, type CommandRequestV1, InternalError, NotFoundError } from '@berth/core';

/** Request and response helpers for the agent's HTTP/2 API (the wire format is in ../README.md). */

/** Requests up to this size ride in the `berth-request` header; larger ones start the body. */
const HEADER_REQUEST_LIMIT = 8 << 10;

/**
 * How a /v1/exec request goes out. A small one is a `berth-request` header (JSON, non-ASCII
 * escaped, never HPACK-indexed: it holds the command's environment) so that, with its stdin known
 * and empty, the whole request is one HEADERS frame, one packet on a remote link. A large one is
 * the body prefix `[length u32 BE][JSON]`; the stdin follows either way.
 */
export function commandRequest(request: CommandRequestV1): {
  headers: http2.OutgoingHttpHeaders;
  body: Uint8Array | undefined;
  endStream: boolean;
} {
  const json = JSON.stringify({ argv: request.argv, cwd: request.cwd, env: request.env, user: request.user });
  const endStream = request.stdin !== undefined;
  const header = asciiJson(json);
  if (header.length <= HEADER_REQUEST_LIMIT) {
    const headers = { 'berth-request': header, [http2.sensitiveHeaders]: ['berth-request'] };
    return { headers, body: request.stdin, endStream };
  }
  const prefix = prefixed(JSON.parse(json) as object);
  return { headers: {}, body: request.stdin ? Buffer.concat([prefix, request.stdin]) : prefix, endStream };
}

/** JSON with every non-ASCII character escaped: a header value must be visible ASCII. */
function asciiJson(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `[length u32 BE][JSON]`, the start of every request body the agent parses. */
export function prefixed(request: object): Buffer {
  const json = Buffer.from(JSON.stringify(request));
  const header = Buffer.alloc(4);
  header.writeUInt32BE(json.length);
  return Buffer.concat([header, json]);
}

export function fileError(
  response: { status: number; body: Buffer },
  path: string,
  host: string,
): BerthError {
  const said = response.body.toString('utf8').trim();
  if (response.status === 404) return new NotFoundError(`No file at ${path} in ${host}.`);
  if (response.status === 409) return new NotFoundError(`${path} in ${host} is not a regular file.`);
  // A slot's own user (isolation: 'user') reaching outside its workspace: it exists, but not for it.
  if (response.status === 403)
    return new InternalError(`No access to ${path} in ${host}: ${said} (permission denied).`);
  return new InternalError(
    `The host agent in ${host} could not access ${path}: ${said} (HTTP ${response.status}).`,
  );
}

export function responseStatus(stream: ClientHttp2Stream): Promise<number> {
  return responseHeaders(stream).then((headers) => Number(headers[':status']));
}

export function responseHeaders(stream: ClientHttp2Stream): Promise<http2.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    let answered = false;
    stream.once('response', (headers) => {
      answered = true;
      resolve(headers);
    });
    stream.once('error', reject);
    // Every stream closes; an error (and its stack) is built only for one that never answered.
    stream.once('close', () => {
      if (!answered) reject(new Error(`the stream closed before a response (code ${stream.rstCode})`));
    });
  });
}

/** The response body as text. Not `for await`: that would wait for our own (open) request side. */
export function readAll(stream: ClientHttp2Stream): Promise<string> {
  return readBody(stream, false).then((body) => body.toString('utf8'));
}

/**
 * The response body. Not `for await`: that would wait for our own (open) request side. `whole`:
 * reject when the stream is reset before its end (a file must not come back cut short).
 */
export function readBody(stream: ClientHttp2Stream, whole = true): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let ended = false;
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => {
      ended = true;
      resolve(Buffer.concat(chunks));
    });
    stream.once('close', () => {
      if (ended || !whole) resolve(Buffer.concat(chunks));
      else reject(new Error(`the host agent reset the stream before its end (code ${stream.rstCode})`));
    });
  });
}
