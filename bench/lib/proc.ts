// Child processes for the bench: every command is bounded by a timeout and
// timed from spawn to exit, which is what a user waiting at a shell sees.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command after this long (SIGTERM) and fail. Default 120 s. */
  timeoutMs?: number;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** Runs `cmd args` to completion; never throws for a non-zero exit, only for a spawn error or timeout. */
export function run(cmd: string, args: string[], options: RunOptions = {}): RunResult {
  const started = performance.now();
  const r = spawnSync(cmd, args, {
    cwd: options.cwd,
    env: options.env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  const ms = performance.now() - started;
  if (r.error) throw new Error(`${describe(cmd, args)}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms };
}

/** Like `run`, but a non-zero exit throws with the end of the command's stderr. */
export function check(cmd: string, args: string[], options: RunOptions = {}): RunResult {
  const r = run(cmd, args, options);
  if (r.status !== 0) {
    const detail = tail(r.stderr) || tail(r.stdout);
    throw new Error(`${describe(cmd, args)} exited with ${r.status ?? 'a signal'}: ${detail}`);
  }
  return r;
}

/** Wall time of `fn` in ms (for a sequence of commands timed as one operation). */
export function timed(fn: () => void): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

function describe(cmd: string, args: string[]): string {
  const text = [cmd, ...args].join(' ');
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
