#!/usr/bin/env node
// Runs the bundled CLI from dist/ (built by `npm run build`, which `npm ci`
// runs through the `prepare` script).
import { main } from '../dist/cli.js';

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});
process.exitCode = code;
