import { BerthError } from '@berth/core';

/** The exit codes of `berth` (documented in the README; scripts rely on them). */
export const EXIT = {
  ok: 0,
  /** A Berth error not listed below (the code is printed). */
  failed: 1,
  /** Bad flags or arguments (commander's own errors included). */
  usage: 2,
  /** Configuration: INVALID_OPTIONS, BACKEND_UNAVAILABLE, AUTHENTICATION, CAPABILITY_UNSUPPORTED. */
  configuration: 3,
  /** `--wait` ran out of time before every live process saw the change. */
  waitTimedOut: 4,
  /** `reap` could not remove some hosts it meant to. */
  partial: 5,
  /** `exec`: Berth failed before or around the command (no command exit code to pass on). */
  execFailed: 125,
  /** Interrupted (SIGINT). */
  interrupted: 130,
} as const;

const CONFIGURATION_CODES = new Set([
  'INVALID_OPTIONS',
  'BACKEND_UNAVAILABLE',
  'AUTHENTICATION',
  'CAPABILITY_UNSUPPORTED',
]);

/** An error the CLI itself raises, with the exit code it means. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** `exec` failed around the command: exit 125 (usage errors stay 2, configuration errors 3). */
export class ExecFailure extends Error {
  constructor(readonly failure: unknown) {
    super('exec failed');
    this.name = 'ExecFailure';
  }
}

/** One actionable line plus the code: `berth: <message> [CODE]`. */
export function describeFailure(error: unknown): { line: string; exitCode: number } {
  if (error instanceof ExecFailure) {
    const inner = describeFailure(error.failure);
    const kept: number[] = [EXIT.usage, EXIT.configuration];
    return { line: inner.line, exitCode: kept.includes(inner.exitCode) ? inner.exitCode : EXIT.execFailed };
  }
  if (error instanceof CliError)
    return { line: `berth: ${error.message} [${error.code}]`, exitCode: error.exitCode };
  if (BerthError.isInstance(error)) {
    const exitCode = CONFIGURATION_CODES.has(error.code) ? EXIT.configuration : EXIT.failed;
    return { line: `berth: ${oneLine(error.message)} [${error.code}]`, exitCode };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { line: `berth: ${oneLine(message)} [INTERNAL]`, exitCode: EXIT.failed };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
