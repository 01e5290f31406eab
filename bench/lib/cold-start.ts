// Where a short gitdock command spends its time: node itself, one raw call
// to the engine, then each command loaded (`--help`) and run (DESIGN.md
// section 5a). Each piece is a fresh process, as a CLI run is.
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

/**
 * The pieces, in the order they add up in a no-op apply. A command's
 * `--help` loads its module and everything that module imports statically,
 * but reads no git and calls no engine (the git and Docker clients are
 * imported lazily, when used); the differences between rows say where the
 * time goes. `repoDir` must hold a valid fleet for host `bench`, deployed
 * and in sync on the engine.
 */
export function coldStartPieces(stack: Stack, repoDir: string): ColdStartPiece[] {
  const bin = path.join(stack.root, 'bin', 'gitdock.js');
  const socketPath = stack.dockerHost.replace(/^unix:\/\//, '');
  // The floor for "what runs on the engine": one GET on the socket, no client library.
  const rawList = [
    "const http = require('node:http');",
    `http.get({ socketPath: ${JSON.stringify(socketPath)}, path: '/v1.41/containers/json?all=1' }, (res) => {`,
    "  res.resume(); res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 1));",
    "}).on('error', () => process.exit(1));",
  ].join('\n');
  const target = ['--host', HOST, '--repo', repoDir];
  return [
    { id: 'node', label: 'node (empty script)', args: ['-e', '0'] },
    { id: 'engine-list-raw', label: 'node + GET /containers/json', args: ['-e', rawList] },
    { id: 'gitdock-help', label: 'gitdock --help', args: [bin, '--help'] },
    {
      id: 'gitdock-validate-help',
      label: 'gitdock validate --help',
      args: [bin, 'validate', '--help'],
    },
    {
      id: 'gitdock-validate',
      label: 'gitdock validate',
      args: [bin, 'validate', '--repo', repoDir],
    },
    { id: 'gitdock-plan-help', label: 'gitdock plan --help', args: [bin, 'plan', '--help'] },
    { id: 'gitdock-plan', label: 'gitdock plan', args: [bin, 'plan', ...target] },
    { id: 'gitdock-apply-help', label: 'gitdock apply --help', args: [bin, 'apply', '--help'] },
    { id: 'gitdock-apply-noop', label: 'gitdock apply (no-op)', args: [bin, 'apply', ...target] },
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
