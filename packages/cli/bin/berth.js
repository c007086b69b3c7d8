#!/usr/bin/env node
// The `berth` command. Runs the built CLI (dist/); in a fresh clone before `npm run build` it runs
// the TypeScript sources through tsx (a devDependency of the repository), so `npx berth --help`
// works straight after `npm ci`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write('berth: @berth/cli is not built; run `npm run build` first. [INTERNAL]\n');
    process.exit(1);
  }
  register({ tsconfig: fileURLToPath(new URL('../tsconfig.source.json', import.meta.url)) });
  await import(new URL('../src/main.ts', import.meta.url).href);
}
