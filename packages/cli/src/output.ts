/** Where a command writes: results to stdout, progress and errors to stderr. */
export interface Output {
  readonly isTTY: boolean;
  line(text: string): void;
  json(value: unknown): void;
  /** A progress or warning line on stderr. */
  note(text: string): void;
}

export function processOutput(): Output {
  return {
    isTTY: process.stdout.isTTY === true,
    line: (text) => process.stdout.write(`${text}\n`),
    json: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    note: (text) => process.stderr.write(`${text}\n`),
  };
}
