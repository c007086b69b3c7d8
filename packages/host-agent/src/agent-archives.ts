import type { ClientHttp2Stream } from 'node:http2';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileError, readBody, responseStatus } from './agent-requests.js';

/**
 * Tar in and out through the agent (`/v1/archive/put`, `/v1/archive/get`; ../README.md): the
 * archive streams both ways, so a large tree costs no more client memory than a chunk.
 */

/** Sends `prefix` then the whole `archive` as the request body; resolves once the agent extracted it. */
export async function sendArchive(
  stream: ClientHttp2Stream,
  prefix: Buffer,
  archive: Readable,
  path: string,
  host: string,
): Promise<void> {
  const body = readBody(stream, false);
  body.catch(() => undefined);
  const status = responseStatus(stream);
  status.catch(() => undefined);
  stream.write(prefix);
  // The agent may answer (an error) before it read everything: its status says why, not the pipe.
  const sent = pipeline(archive, stream).catch((error: unknown) => error);
  const code = await status;
  if (code !== 204) throw fileError({ status: code, body: await body }, path, host);
  const failed = await sent;
  if (failed) throw failed;
}

/** Asks for a tar of `path`; the response body is the archive, streamed. */
export async function receiveArchive(
  stream: ClientHttp2Stream,
  prefix: Buffer,
  path: string,
  host: string,
): Promise<Readable> {
  const status = responseStatus(stream);
  status.catch(() => undefined);
  stream.end(prefix);
  const code = await status;
  if (code !== 200) throw fileError({ status: code, body: await readBody(stream, false) }, path, host);
  return stream;
}
