import type { ClientHttp2Stream } from 'node:http2';
import { constants as http2Constants } from 'node:http2';
import { PassThrough, Writable } from 'node:stream';
import { type ChannelCloseInfoV1, channelStdin, type HostChannelV1 } from '@berth/core';
import { FRAME_EXIT, FRAME_STDERR, FRAME_STDOUT, FrameReader } from './frame-reader.js';

/**
 * A `HostChannelV1` over one agent stream: the request body is the process's stdin, the response
 * body carries framed stdout, stderr and the exit status. Backpressure is per stream: a consumer
 * that stops reading stdout pauses this stream only, and HTTP/2 flow control stalls the process's
 * pipe inside the host while every other slot on the host keeps going.
 */
export function agentChannel(stream: ClientHttp2Stream, stdinSent = false): HostChannelV1 {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const reader = new FrameReader();
  let exit: ChannelCloseInfoV1 | undefined;
  let closedByClient = false;
  let streamError: Error | undefined;

  const resumeWhenDrained = () => {
    if (!stdout.writableNeedDrain && !stderr.writableNeedDrain) stream.resume();
  };
  stdout.on('drain', resumeWhenDrained);
  stderr.on('drain', resumeWhenDrained);
  stream.on('data', (chunk: Buffer) => {
    let frames: ReturnType<FrameReader['push']>;
    try {
      frames = reader.push(chunk);
    } catch (error) {
      streamError = error as Error;
      stream.close(http2Constants.NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    let full = false;
    for (const frame of frames) {
      if (frame.kind === FRAME_STDOUT) full = !stdout.write(frame.payload) || full;
      else if (frame.kind === FRAME_STDERR) full = !stderr.write(frame.payload) || full;
      else if (frame.kind === FRAME_EXIT) exit = parseExit(frame.payload);
    }
    if (full) stream.pause();
  });
  stream.on('error', (error: Error) => {
    streamError ??= error;
  });

  const closed = new Promise<ChannelCloseInfoV1>((resolve) => {
    stream.once('close', () => {
      stdout.end();
      stderr.end();
      let info: ChannelCloseInfoV1;
      if (exit) info = exit;
      else if (closedByClient) info = {};
      else
        info = {
          // The agent connection (or this stream) went away before the process reported an exit.
          error: streamError ?? new Error('the host agent stream ended before the process exited'),
          transportDropped: true,
        };
      resolve(info);
    });
  });

  // stdinSent: the whole stdin went with the request (CommandRequestV1.stdin); nothing more to write.
  const stdin = stdinSent ? endedWritable() : channelStdin(stream);

  return {
    stdin,
    stdout,
    stderr,
    closed,
    close: () => {
      if (stream.closed || stream.destroyed) return;
      closedByClient = true;
      // RST_STREAM: the agent closes the process's stdin (EOF), as a dropped exec would.
      stream.close(http2Constants.NGHTTP2_CANCEL);
    },
  };
}

function parseExit(payload: Buffer): ChannelCloseInfoV1 {
  try {
    const status = JSON.parse(payload.toString('utf8')) as { exitCode?: unknown; error?: unknown };
    if (typeof status.exitCode === 'number') return { exitCode: status.exitCode };
    return { error: new Error(`the host agent could not wait for the process: ${String(status.error)}`) };
  } catch {
    return { error: new Error('the host agent sent an unreadable exit status') };
  }
}

function endedWritable(): Writable {
  const writable = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  writable.end();
  return writable;
}
