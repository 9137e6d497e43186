#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is compiled to dist/ by `npm run build`. It calls run() explicitly, so
// every way of starting it works (node bin/updraft.js, npx, npm exec, npm link, global installs).
const path = require('node:path');
let cli;
try {
  cli = require('../dist/cli/main.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(path.join('dist', 'cli', 'main.js'))) {
    const root = path.resolve(__dirname, '..');
    process.stderr.write(
      `updraft: the CLI is not built (${path.join(root, 'dist', 'cli', 'main.js')} is missing); run \`npm run build\` in ${root}\n`,
    );
    process.exit(1);
  }
  throw err;
}
void cli.run(process.argv);
