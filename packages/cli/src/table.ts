import Table from 'cli-table3';

/**
 * Columns aligned with two spaces and no borders (like `kubectl get`), so the table reads well in
 * a terminal and stays easy to `grep`/`awk`; the header is bold on a TTY only.
 */
export function renderTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  tty: boolean,
): string {
  const table = new Table({
    head: tty ? head.map((title) => `\u001b[1m${title}\u001b[22m`) : [...head],
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  for (const row of rows) table.push([...row]);
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}
