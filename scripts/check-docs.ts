/**
 * Documentation checks `npm run docs` runs after TypeDoc (and test/docs.test.ts runs in the suite):
 * - every relative link in every Markdown file of the repository points at a file that exists, and
 *   an `#anchor` into a Markdown file at one of its headings;
 * - every `<!-- snippet: path -->` code block is exactly the file it names (so documented code is
 *   the tested code; `--fix` rewrites the blocks from the files);
 * - no source or doc cites design documents outside the repository (they moved into docs/).
 *
 *   node --import tsx scripts/check-docs.ts [--fix]
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SKIP_DIRECTORIES = new Set(['node_modules', 'dist', '.git', '.turbo', 'coverage']);
/** Generated output (the TypeDoc reference), relative to the root. */
const SKIP_PATHS = new Set(['docs/api']);
const SOURCE_EXTENSIONS = new Set(['.ts', '.md', '.sh', '.go', '.json', '.hcl', '.mjs', '.yml']);
/** Citations of the design documents that used to live outside the repository (this file is exempt). */
const OUTSIDE_CITATION = /ARCHITECTURE|LESSONS|\.\.\/shared\/|shared\/(STYLE|LESSONS|ARCHITECTURE)/;
const SNIPPET = /<!-- snippet: (\S+) -->\n(```\w*\n)([\s\S]*?)```/g;

function walk(root: string, directory = root, found: string[] = []): string[] {
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRECTORIES.has(entry.name) && !SKIP_PATHS.has(path.relative(root, full)))
        walk(root, full, found);
    } else if (SOURCE_EXTENSIONS.has(path.extname(entry.name))) {
      found.push(full);
    }
  }
  return found;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of markdown.replace(/^```[\s\S]*?^```/gm, '').split('\n')) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading?.[1]) continue;
    const base = heading[1]
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Fenced blocks and inline code hold examples, not links. */
function withoutCode(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

function linksOf(markdown: string): string[] {
  const text = withoutCode(markdown);
  const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map(
    (match) => match[1] ?? '',
  );
  const references = [...text.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((match) => match[1] ?? '');
  return [...inline, ...references];
}

/** Every problem found under `root`, one line each (`file: what`). `fix` rewrites snippet blocks. */
export function checkDocs(root: string, options: { fix?: boolean } = {}): string[] {
  const problems: string[] = [];
  const relative = (file: string) => path.relative(root, file);
  for (const file of walk(root)) {
    const text = readFileSync(file, 'utf8');
    if (file !== fileURLToPath(import.meta.url) && !/CHANGELOG\.md$/.test(file)) {
      text.split('\n').forEach((line, index) => {
        if (OUTSIDE_CITATION.test(line))
          problems.push(
            `${relative(file)}:${index + 1}: cites a document outside the repository; cite docs/ instead`,
          );
      });
    }
    if (path.extname(file) !== '.md') continue;
    for (const link of linksOf(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:
      const [target = '', anchor] = link.split('#');
      const resolved = target === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(target));
      let exists = true;
      try {
        statSync(resolved);
      } catch {
        exists = false;
      }
      if (!exists) {
        problems.push(`${relative(file)}: link to ${link}: ${relative(resolved)} does not exist`);
        continue;
      }
      if (anchor && resolved.endsWith('.md') && !headingAnchors(readFileSync(resolved, 'utf8')).has(anchor))
        problems.push(`${relative(file)}: link to ${link}: no heading #${anchor} in ${relative(resolved)}`);
    }
    let fixed = text;
    for (const match of text.matchAll(SNIPPET)) {
      const [block, source = '', fence = '', body = ''] = match;
      let content: string;
      try {
        content = readFileSync(path.resolve(root, source), 'utf8');
      } catch {
        problems.push(`${relative(file)}: snippet ${source} does not exist`);
        continue;
      }
      if (body === content) continue;
      if (options.fix) fixed = fixed.replace(block, `<!-- snippet: ${source} -->\n${fence}${content}\`\`\``);
      else problems.push(`${relative(file)}: snippet of ${source} differs from the file (run with --fix)`);
    }
    if (fixed !== text) writeFileSync(file, fixed);
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const problems = checkDocs(root, { fix: process.argv.includes('--fix') });
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(`${problems.length} documentation problem(s).`);
    process.exit(1);
  }
  console.log('docs: every relative link resolves, every snippet matches its file.');
}
