// Child processes for the bench: every command is bounded by a timeout and
// timed from spawn to exit, which is what a user waiting at a shell sees.
import { spawn, spawnSync } from 'node:child_process';
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

/**
 * Like `run`, without blocking this process (so several run side by side,
 * or the bench keeps polling meanwhile); kills the command after
 * `timeoutMs` (default 120 s) and resolves with what it had.
 */
export function runAsync(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr = (stderr + c).slice(-64_000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${describe(cmd, args)}: ${err.message}`));
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** `runAsync`, but a non-zero exit rejects with the end of the command's stderr. */
export async function checkAsync(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const r = await runAsync(cmd, args, options);
  if (r.status !== 0) {
    throw new Error(
      `${describe(cmd, args)} exited with ${r.status ?? 'a signal'}: ${tail(r.stderr) || tail(r.stdout)}`,
    );
  }
  return r;
}
