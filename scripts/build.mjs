// Bundles the CLI into dist/ with esbuild: one entry, one chunk per command
// (so `gitdock validate` never loads the Docker client), dependencies left
// in node_modules. Type checking is separate (`npm run typecheck`).
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
