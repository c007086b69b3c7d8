import { BerthError } from '@berth/core';
import { AgentStartError } from '@berth/host-agent';
import type { NomadClient } from './client/nomad-client.js';
import type { NomadExecSession } from './client/nomad-exec-session.js';

/** Lines the start scripts write on stderr: what they need from us, and when the agent starts. */
export const MARKER_PREFIX = 'berth-agent-start: ';

/**
 * Starts `"$@"` after saying so on stderr: the line is the proof that the exec really ran (Nomad's
 * docker driver may report a fresh exec as exited, code 0, before it started).
 */
export const START_SCRIPT = `echo "${MARKER_PREFIX}exec" >&2; exec "$@"`;

/**
 * Positional: install directory, install path, size, gzip size (0: send it plain), then the
 * agent's argv. Starts the agent when the file has the build's size; otherwise asks on stderr for
 * the build (gzip when the task has `gunzip`), reads exactly that many bytes from stdin with `dd`
 * (the same stdin then carries the agent's protocol), renames it into place and starts it: one
 * exec for check, upload and start. Exit 86: cannot write there; 87: the upload did not arrive
 * whole (no `dd` with `iflag=fullblock`, say): the caller installs the slow way.
 */
export const INSTALL_AND_START_SCRIPT = [
  'd=$1 p=$2 n=$3 z=$4',
  'shift 4',
  'has() { s=$({ wc -c < "$p"; } 2>/dev/null) && [ "$((s + 0))" -eq "$n" ]; }',
  'if ! has; then',
  `  mkdir -p "$d" 2>/dev/null || { echo "${MARKER_PREFIX}failed: cannot create $d" >&2; exit 86; }`,
  '  t=$p.$$.tmp',
  '  if [ "$z" -gt 0 ] && command -v gunzip >/dev/null 2>&1; then',
  `    echo "${MARKER_PREFIX}send gzip" >&2`,
  '    dd bs="$z" count=1 iflag=fullblock 2>/dev/null | gunzip -c > "$t"',
  '  else',
  `    echo "${MARKER_PREFIX}send raw" >&2`,
  '    dd bs="$n" count=1 iflag=fullblock of="$t" 2>/dev/null',
  '  fi',
  '  chmod 755 "$t" 2>/dev/null && mv -f "$t" "$p" && has ||',
  `    { rm -f "$t"; echo "${MARKER_PREFIX}failed: the upload did not arrive whole" >&2; exit 87; }`,
  'fi',
  `echo "${MARKER_PREFIX}exec" >&2`,
  'exec "$p" "$@"',
].join('\n');

/** What a start script asked for or said. */
export type StartMarker =
  | { readonly kind: 'exec' }
  | { readonly kind: 'send'; readonly format: 'gzip' | 'raw' }
  | { readonly kind: 'failed'; readonly reason: string };

/** Splits stderr into marker lines and everything else (kept for diagnostics). */
export class StartMarkerReader {
  #pending = '';
  said = '';

  /** The markers in `chunk`; text that is not a marker goes to `said`. */
  push(chunk: string): StartMarker[] {
    this.#pending += chunk;
    const markers: StartMarker[] = [];
    for (let end = this.#pending.indexOf('\n'); end >= 0; end = this.#pending.indexOf('\n')) {
      const line = this.#pending.slice(0, end);
      this.#pending = this.#pending.slice(end + 1);
      const marker = line.startsWith(MARKER_PREFIX)
        ? parseMarker(line.slice(MARKER_PREFIX.length))
        : undefined;
      if (marker) markers.push(marker);
      else if (this.said.length < 4096) this.said += `${line}\n`;
    }
    return markers;
  }

  /** What is left once no marker follows: text without a final newline. */
  rest(): string {
    return this.said + this.#pending;
  }
}

function parseMarker(text: string): StartMarker | undefined {
  if (text === 'exec') return { kind: 'exec' };
  if (text === 'send gzip' || text === 'send raw')
    return { kind: 'send', format: text === 'send gzip' ? 'gzip' : 'raw' };
  if (text.startsWith('failed: ')) return { kind: 'failed', reason: text.slice('failed: '.length) };
  return undefined;
}

export type StartOutcome =
  | { readonly started: NomadExecSession; readonly said: string }
  | { readonly failed: string; readonly exitCode: number | undefined; readonly said: string };

const START_ATTEMPTS = 3;

/**
 * Runs a start script in a fresh exec session until it says `exec` (then the session carries the
 * agent), it fails, or it ends. A session that ends with code 0 before saying anything never ran
 * (the docker driver's early "exited"), and one dropped before it said anything: another one is
 * opened, a few times. Sends `upload` when asked. Bounded by `timeoutMs` per attempt.
 */
export async function runStartScript(
  client: NomadClient,
  allocationId: string,
  task: string,
  command: readonly string[],
  options: { readonly timeoutMs: number; readonly upload?: { raw: Buffer; gzip: Buffer | undefined } },
): Promise<StartOutcome> {
  for (let attempt = 1; ; attempt++) {
    let outcome: StartOutcome;
    try {
      const session = await client.exec(allocationId, { task, command });
      outcome = await awaitMarkers(session, options);
    } catch (error) {
      // The docker driver may also drop a fresh exec (websocket 1006, no exit code).
      if (!BerthError.hasCode(error, 'BACKEND_UNAVAILABLE') || attempt >= START_ATTEMPTS) throw error;
      continue;
    }
    if ('started' in outcome || outcome.exitCode !== 0 || outcome.failed !== '' || attempt >= START_ATTEMPTS)
      return outcome;
  }
}

function awaitMarkers(
  session: NomadExecSession,
  options: { readonly timeoutMs: number; readonly upload?: { raw: Buffer; gzip: Buffer | undefined } },
): Promise<StartOutcome> {
  const reader = new StartMarkerReader();
  let failed = '';
  let done = false;
  return new Promise<StartOutcome>((resolve, reject) => {
    const finish = (outcome: StartOutcome | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.stderr.off('data', onData);
      if (outcome instanceof Error) {
        session.close();
        reject(outcome);
      } else resolve(outcome);
    };
    const timer = setTimeout(
      () =>
        finish(
          new AgentStartError(
            `The agent did not start within ${options.timeoutMs} ms${reader.rest() ? `: ${reader.rest().trim()}` : ''}.`,
            { transient: true },
          ),
        ),
      options.timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      for (const marker of reader.push(chunk.toString('utf8'))) {
        if (marker.kind === 'exec') return finish({ started: session, said: reader.said });
        if (marker.kind === 'failed') failed = marker.reason;
        else if (marker.kind === 'send') {
          const bytes = marker.format === 'gzip' ? options.upload?.gzip : options.upload?.raw;
          // Not ended: after these bytes the same stdin carries the agent's protocol.
          if (bytes) session.stdin.write(bytes);
        }
      }
    };
    session.stderr.on('data', onData);
    void session.exited.then((exit) => {
      if (exit.exitCode === undefined && exit.error && !failed) return finish(exit.error);
      finish({ failed, exitCode: exit.exitCode, said: reader.rest() });
    });
  });
}
