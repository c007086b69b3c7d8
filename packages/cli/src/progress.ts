import type { PoolListeners } from '@berth/core';
import ora, { type Ora } from 'ora';

/**
 * What a pool does while `exec` waits (host creation, image pulls: `host:creating`,
 * `host:progress`, `host:created`): a spinner on a TTY, plain lines on stderr otherwise.
 */
export class PoolProgress {
  private spinner: Ora | undefined;

  constructor(
    private readonly tty: boolean,
    private readonly quiet: boolean,
  ) {}

  get listeners(): PoolListeners {
    return {
      'host:creating': (event) => this.show(`creating a ${event.profile} host`),
      'host:progress': (event) =>
        this.show(
          `${event.profile}: ${event.phase}: ${event.message}${event.fraction === undefined ? '' : ` (${Math.round(event.fraction * 100)}%)`}`,
        ),
      'host:created': (event) =>
        this.show(`host ${event.hostId} ready in ${Math.round(event.coldStartMs)} ms`),
      'host:adopted': (event) => this.show(`reusing host ${event.hostId}`),
      'pool:drain-requested': (event) =>
        this.show(
          `pool is drained (${event.source}${event.principal ? ` by ${event.principal}` : ''}); waiting`,
        ),
    };
  }

  show(text: string): void {
    if (this.quiet) return;
    if (!this.tty) {
      process.stderr.write(`berth: ${text}\n`);
      return;
    }
    if (this.spinner) this.spinner.text = text;
    else this.spinner = ora({ text, stream: process.stderr, discardStdin: false }).start();
  }

  /** Before the command's own output: the spinner's line is cleared. */
  stop(): void {
    this.spinner?.stop();
    this.spinner = undefined;
  }
}
