// Runs `gitdock agent` as a real child process (the built CLI), so tests can
// send it SIGTERM or SIGKILL, read its JSON logs and poll its HTTP status.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentStatus } from '../../src/core/agent-status.js';
import { stackEnv } from './stack.js';

const BIN = fileURLToPath(new URL('../../bin/gitdock.js', import.meta.url));

export interface AgentProcess {
  proc: ChildProcess;
  url: string;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  status(): Promise<AgentStatusView>;
  /** Sends the signal and waits (bounded) for the process to exit; returns its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** What the agent serves at /status: the one wire type. */
export type AgentStatusView = AgentStatus;

/**
 * The agent's --state-dir when a test gives none: one per repository, so an
 * agent restarted on the same repository finds the failures it held (as a
 * real one would), and no test sees another's.
 */
function stateDirFor(args: string[]): string[] {
  if (args.includes('--state-dir')) return [];
  const repo = args[args.indexOf('--repo') + 1] ?? 'none';
  const key = createHash('sha256').update(repo).digest('hex').slice(0, 16);
  return ['--state-dir', join(tmpdir(), `gitdock-test-state-${key}`)];
}

export async function startAgent(
  args: string[],
  env: Record<string, string> = {},
): Promise<AgentProcess> {
  const argv = [BIN, 'agent', '--listen', '127.0.0.1:0', ...stateDirFor(args), ...args];
  const proc = spawn(process.execPath, argv, {
    env: { ...process.env, DOCKER_HOST: stackEnv().dockerHost, GITDOCK_LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffer = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line));
      } catch {
        logs.push({ msg: line });
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));

  const url = await waitFor(
    () => logs.find((l) => l.msg === 'agent listening')?.url as string | undefined,
    {
      timeoutMs: 15_000,
      what: () => `agent to listen (stderr: ${stderr}; logs: ${JSON.stringify(logs)})`,
    },
  );
  return {
    proc,
    url,
    logs,
    async status() {
      const res = await fetch(`${url}/status`);
      return (await res.json()) as AgentStatusView;
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000));
      const code = await Promise.race([exited, timeout]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      return code;
    },
  };
}

/**
 * Polls `probe` until it returns a value other than undefined/false, every
 * 50 ms, for at most `timeoutMs`: bounded, never a fixed sleep.
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; what: string | (() => string) },
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const what = typeof options.what === 'function' ? options.what() : options.what;
  throw new Error(
    `timed out waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`,
  );
}

export interface WaitConvergedOptions {
  timeoutMs?: number;
  /** Fewer services than this is not convergence (the first pass has not reported yet). */
  minServices?: number;
}

/** Every service Synced at `commit`, applied, and no pass in flight; returns that status. */
export async function waitConverged(
  agent: AgentProcess,
  commit: string,
  { timeoutMs = 20_000, minServices = 0 }: WaitConvergedOptions = {},
): Promise<AgentStatusView> {
  return waitFor(
    async () => {
      const s = await agent.status();
      return (
        s.lastAppliedCommit === commit &&
        s.servicesCommit === commit &&
        // No pass in flight: the verdicts are not those of a pass that a newer change is redoing.
        !s.running &&
        s.services.length >= minServices &&
        s.services.every((x) => x.sync === 'Synced') &&
        s
      );
    },
    { timeoutMs, what: `convergence at ${commit.slice(0, 12)}` },
  );
}
