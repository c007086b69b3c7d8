/**
 * The repository's documentation holds together: every relative Markdown link resolves (headings
 * included), every `<!-- snippet: … -->` block is the file it names, and nothing cites design
 * documents outside the repository. `npm run docs` runs the same check after TypeDoc.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkDocs, headingAnchors } from '../scripts/check-docs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'berth-docs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('documentation', () => {
  it('every relative link in the repository resolves and every snippet matches its file', () => {
    expect(checkDocs(root)).toEqual([]);
  });

  it('finds broken links, missing headings, stale snippets and outside citations', () => {
    mkdirSync(path.join(scratch, 'docs'));
    writeFileSync(path.join(scratch, 'code.ts'), 'export const answer = 42;\n');
    writeFileSync(path.join(scratch, 'docs/a.md'), '# Title\n\n## Second `part`\n');
    writeFileSync(
      path.join(scratch, 'README.md'),
      [
        '[ok](docs/a.md#second-part) [ok too](code.ts) [web](https://example.com/x) `[in code](nowhere.md)`',
        '[gone](docs/missing.md) [no heading](docs/a.md#third)',
        `See ${['..', 'shared', ['ARCHI', 'TECTURE.md'].join('')].join('/')}.`,
        '<!-- snippet: code.ts -->',
        '```ts',
        'export const answer = 41;',
        '```',
      ].join('\n'),
    );
    expect(checkDocs(scratch)).toEqual([
      'README.md:3: cites a document outside the repository; cite docs/ instead',
      'README.md: link to docs/missing.md: docs/missing.md does not exist',
      'README.md: link to docs/a.md#third: no heading #third in docs/a.md',
      'README.md: snippet of code.ts differs from the file (run with --fix)',
    ]);
    checkDocs(scratch, { fix: true });
    expect(checkDocs(scratch).filter((problem) => problem.includes('snippet'))).toEqual([]);
  });

  it('heading anchors follow GitHub: lower case, punctuation dropped, repeats numbered', () => {
    expect([
      ...headingAnchors(
        '# 5. Lifecycle and cleanup\n## Debug log (`BERTH_DEBUG`)\n## Debug log (`BERTH_DEBUG`)\n```\n# not a heading\n```',
      ),
    ]).toEqual(['5-lifecycle-and-cleanup', 'debug-log-berth_debug', 'debug-log-berth_debug-1']);
  });
});
