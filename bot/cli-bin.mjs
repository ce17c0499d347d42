#!/usr/bin/env node
// The `lf` executable (package.json "bin"). Runs the compiled CLI (dist/, `npm run build`) when it exists: start-up
// in a fraction of a second. From a checkout without a build it runs the TypeScript source through tsx (slower).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const inDist = /[\\/]dist[\\/]bot[\\/]?$/.test(here);
const compiled = inDist ? new URL('./cli-main.js', import.meta.url) : new URL('../dist/bot/cli-main.js', import.meta.url);
let entry;
if (existsSync(compiled)) entry = compiled;
else {
  (await import('tsx/esm/api')).register();
  entry = new URL('./cli-main.ts', import.meta.url);
}
const { lfMain } = await import(entry.href);
process.exit(await lfMain(process.argv.slice(2)));
