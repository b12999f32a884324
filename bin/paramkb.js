#!/usr/bin/env node
// The CLI entry: runs the compiled TypeScript in dist/ (built by `npm install`).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const cli = fileURLToPath(new URL('../dist/electron/node/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('paramkb: the compiled CLI is missing; run `npm install` (or `npm run build`) in the ParamKB folder.\n');
  process.exit(1);
}
const { runCli } = await import(pathToFileURL(cli).href);
await runCli(process.argv);
