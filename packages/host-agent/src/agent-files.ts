import type { ClientHttp2Stream } from 'node:http2';
import type { Readable } from 'node:stream';
import {
  InternalError,
  type SlotCleanRequestV1,
  type SlotCleanResultV1,
  type SlotUserV1,
  type WaitOptions,
} from '@berth/core';
import { receiveArchive, sendArchive } from './agent-archives.js';
import { fileError, prefixed, readBody, responseStatus } from './agent-requests.js';

/** What `AgentFiles` needs of its session: a request stream, and a bound on the work done with it. */
export interface AgentRequester {
  request(path: string, signal: AbortSignal | undefined): ClientHttp2Stream;
  bounded<T>(stream: ClientHttp2Stream, work: Promise<T>, signal: AbortSignal | undefined): Promise<T>;
  /** Names the host in messages. */
  readonly host: string;
}

/**
 * Files, archives and slot cleaning through the agent, one request each and no process in the
 * host (wire format in ../README.md). With `user`, the agent does the work with that user's file
 * permissions (`isolation: 'user'`).
 */
export class AgentFiles {
  constructor(private readonly agent: AgentRequester) {}

  /** Replaces the file at `path` (absolute) with `data`, creating parent directories. */
  async writeFile(
    path: string,
    data: Uint8Array,
    options: WaitOptions & { mode?: number; user?: SlotUserV1 } = {},
  ): Promise<void> {
    const request = { path, mode: options.mode ?? 0o644, user: options.user };
    const response = await this.#call('/v1/file/write', request, data, options.signal);
    if (response.status !== 204) throw fileError(response, path, this.agent.host);
  }

  /** The bytes of the regular file at `path` (absolute); `NotFoundError` when there is none. */
  async readFile(path: string, options: WaitOptions & { user?: SlotUserV1 } = {}): Promise<Buffer> {
    const response = await this.#call(
      '/v1/file/read',
      { path, user: options.user },
      undefined,
      options.signal,
    );
    if (response.status !== 200) throw fileError(response, path, this.agent.host);
    return response.body;
  }

  /** A slot's sweep and reset in one request (`HostV1.cleanSlot`). */
  async cleanSlot(request: SlotCleanRequestV1, options: WaitOptions = {}): Promise<SlotCleanResultV1> {
    const response = await this.#call('/v1/clean', request, undefined, options.signal);
    if (response.status !== 200) {
      throw new InternalError(
        `The host agent in ${this.agent.host} could not clean a slot: ${response.body.toString().trim()} (HTTP ${response.status}).`,
      );
    }
    const { warnings } = JSON.parse(response.body.toString()) as { warnings?: string[] };
    return { warnings: warnings ?? [] };
  }

  /** Extracts the tar stream `archive` into `directory` (`HostV1.putArchive`). */
  async putArchive(
    directory: string,
    archive: Readable,
    options: WaitOptions & { user?: SlotUserV1 } = {},
  ): Promise<void> {
    const stream = this.agent.request('/v1/archive/put', options.signal);
    const prefix = prefixed({ path: directory, user: options.user });
    await this.agent.bounded(
      stream,
      sendArchive(stream, prefix, archive, directory, this.agent.host),
      options.signal,
    );
  }

  /** A tar stream of `path`, a file or a tree, symlinks stored as links (`HostV1.getArchive`). */
  async getArchive(path: string, options: WaitOptions & { user?: SlotUserV1 } = {}): Promise<Readable> {
    const stream = this.agent.request('/v1/archive/get', options.signal);
    const prefix = prefixed({ path, user: options.user });
    return this.agent.bounded(stream, receiveArchive(stream, prefix, path, this.agent.host), options.signal);
  }

  /** One request with a prefixed JSON body (and `data` after it); the whole response body. */
  async #call(
    path: string,
    request: object,
    data: Uint8Array | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; body: Buffer }> {
    const stream = this.agent.request(path, signal);
    stream.end(data ? Buffer.concat([prefixed(request), data]) : prefixed(request));
    // Both listeners at once: a bodiless answer (204) may end and close the stream in one go.
    const body = readBody(stream);
    body.catch(() => undefined);
    const work = (async () => ({ status: await responseStatus(stream), body: await body }))();
    return this.agent.bounded(stream, work, signal);
  }
}
