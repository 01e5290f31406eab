// vitest globalSetup of the `integration` project: brings the test stack up
// (scripts/stack.sh: private dockerd, registry on 127.0.0.1, test images) and
// exports its environment so the forked test workers inherit it.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import type { StackEnv } from './stack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    gitdockStack: StackEnv;
  }
}

const STACK_SH = fileURLToPath(new URL('../../scripts/stack.sh', import.meta.url));
const KEYS = ['DOCKER_HOST', 'GITDOCK_REGISTRY', 'GITDOCK_STACK_DIR'] as const;

function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim().replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

export default function setup(project: TestProject): void {
  const started = Date.now();
  const r = spawnSync('bash', [STACK_SH, 'up'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 15 * 60_000,
    env: process.env,
  });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `exit status ${r.status ?? r.signal}`;
    throw new Error(
      `test stack failed to start (bash scripts/stack.sh up: ${why}); see the output above`,
    );
  }
  const dir = process.env.GITDOCK_STACK_DIR ?? '/tmp/gitdock-stack';
  const vars = parseEnvFile(readFileSync(`${dir}/env`, 'utf8'));
  for (const key of KEYS) {
    const value = vars[key];
    if (!value) throw new Error(`${dir}/env does not set ${key}`);
    process.env[key] = value;
  }
  const stack: StackEnv = {
    dockerHost: vars.DOCKER_HOST!,
    registry: vars.GITDOCK_REGISTRY!,
    stackDir: vars.GITDOCK_STACK_DIR!,
  };
  project.provide('gitdockStack', stack);
  const ms = Date.now() - started;
  if (ms > 2000) console.error(`[stack] up in ${(ms / 1000).toFixed(1)}s`);
}
