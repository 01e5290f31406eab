// Where a short gitdock command spends its time: node itself, each heavy
// dependency's import, one raw call to the engine, then the real commands
// (DESIGN.md section 5a). Each piece is a fresh process, as a CLI run is.
import path from 'node:path';
import { HOST } from './fleet.js';
import { check } from './proc.js';
import type { Stack } from './stack.js';

export interface ColdStartPiece {
  id: string;
  label: string;
  /** Arguments to `node`. */
  args: string[];
}

export interface ColdStartSample {
  id: string;
  label: string;
  samplesMs: number[];
}

/** Dependencies the bundled CLI imports (see scripts/build.mjs: packages stay external). */
const DEPENDENCIES = ['yaml', 'ajv', 'pino', 'isomorphic-git', 'dockerode'];

/**
 * The pieces, in the order they add up in a no-op apply. `repoDir` must hold
 * a valid fleet for host `bench`, deployed and in sync on the engine.
 */
export function coldStartPieces(stack: Stack, repoDir: string): ColdStartPiece[] {
  const bin = path.join(stack.root, 'bin', 'gitdock.js');
  const socketPath = stack.dockerHost.replace(/^unix:\/\//, '');
  // The floor for "what runs on the engine": one GET on the socket, no client library.
  const rawList = [
    "const http = require('node:http');",
    `http.get({ socketPath: ${JSON.stringify(socketPath)}, path: '/v1.41/containers/json?all=1' }, (res) => {`,
    "  res.resume(); res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 1));",
    '}).on("error", () => process.exit(1));',
  ].join('\n');
  return [
    { id: 'node', label: 'node (empty script)', args: ['-e', '0'] },
    ...DEPENDENCIES.map((dep) => ({
      id: `import-${dep}`,
      label: `node + import ${dep}`,
      args: ['--input-type=module', '-e', `await import(${JSON.stringify(dep)});`],
    })),
    { id: 'engine-list-raw', label: 'node + GET /containers/json', args: ['-e', rawList] },
    { id: 'gitdock-help', label: 'gitdock --help', args: [bin, '--help'] },
    {
      id: 'gitdock-validate',
      label: 'gitdock validate',
      args: [bin, 'validate', '--repo', repoDir],
    },
    {
      id: 'gitdock-plan',
      label: 'gitdock plan',
      args: [bin, 'plan', '--host', HOST, '--repo', repoDir],
    },
    {
      id: 'gitdock-apply-noop',
      label: 'gitdock apply (no-op)',
      args: [bin, 'apply', '--host', HOST, '--repo', repoDir],
    },
  ];
}

/**
 * Runs every piece `runs` times, round-robin (so a burst of machine noise
 * spreads over all pieces rather than one). Each must exit 0: plan's 0 also
 * proves the engine is in sync, so apply really is a no-op.
 */
export function measureColdStart(
  stack: Stack,
  pieces: ColdStartPiece[],
  runs: number,
  beforeEach: () => void = () => {},
): ColdStartSample[] {
  const samples = pieces.map((p) => ({ id: p.id, label: p.label, samplesMs: [] as number[] }));
  for (let i = 0; i < runs; i++) {
    pieces.forEach((piece, k) => {
      beforeEach();
      const r = check(process.execPath, piece.args, {
        cwd: stack.root,
        env: stack.env,
        timeoutMs: 60_000,
      });
      samples[k]!.samplesMs.push(r.ms);
    });
  }
  return samples;
}
