// Bundles the CLI into dist/ with esbuild: one chunk per command, so
// `gitdock validate` never loads the Docker client, and dependencies bundled
// in so a run resolves and reads a few files instead of hundreds (DESIGN
// section 5a: a CLI pays for every module it loads). Type checking is
// separate (`npm run typecheck`).
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

// Chunk names carry a content hash, so every build adds files and leaves the
// old ones: a running agent may still import them lazily, so a plain build
// keeps them. `--clean` (npm pack, through prepack) starts from an empty
// dist/ so the package ships only what this build made.
if (process.argv.includes('--clean')) {
  rmSync(fileURLToPath(new URL('../dist', import.meta.url)), { recursive: true, force: true });
}

const unsupported = fileURLToPath(new URL('./stubs/unsupported.cjs', import.meta.url));

/** Modules required at load time by dockerode/docker-modem for features gitdock never uses. */
const stubbed = /^(ssh2|@grpc\/grpc-js|@grpc\/proto-loader|protobufjs)$/;

await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // pino-pretty is loaded at run time, and only on a terminal.
  external: ['pino-pretty'],
  // Bundled CommonJS dependencies call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __gitdockCreateRequire } from 'node:module'; const require = __gitdockCreateRequire(import.meta.url);",
  },
  plugins: [
    {
      name: 'stub-unused',
      setup(b) {
        b.onResolve({ filter: stubbed }, () => ({ path: unsupported }));
      },
    },
  ],
  sourcemap: 'linked',
  logLevel: 'warning',
});
