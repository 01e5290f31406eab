// What the agent bench reads besides the event stream: the agent's pass
// counter from its /metrics (127.0.0.1), a container's state from the
// private engine's unix socket, and the agent process's CPU and RSS from
// /proc. Every wait here is bounded.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { apiRequest } from './engine-api.js';
import { run } from './proc.js';

/** `gitdock_reconcile_total{result}`: passes by result, as the agent counts them. */
export type PassCounts = Record<string, number>;

const METRIC_LINE = /^gitdock_reconcile_total\{result="([a-z]+)"\}\s+([0-9.eE+-]+)$/;

/** Reads `gitdock_reconcile_total` from an agent's `/metrics`. */
export async function readPassCounts(agentUrl: string): Promise<PassCounts> {
  const res = await fetch(`${agentUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${agentUrl}/metrics: ${res.status}`);
  const counts: PassCounts = {};
  for (const line of (await res.text()).split('\n')) {
    const m = METRIC_LINE.exec(line.trim());
    if (m) counts[m[1]!] = Number(m[2]);
  }
  if (Object.keys(counts).length === 0)
    throw new Error(`${agentUrl}/metrics has no gitdock_reconcile_total series`);
  return counts;
}

/** Passes between two readings, by result (results that did not move are left out). */
export function passesBetween(before: PassCounts, after: PassCounts): PassCounts {
  const diff: PassCounts = {};
  for (const [result, n] of Object.entries(after)) {
    const d = n - (before[result] ?? 0);
    if (d !== 0) diff[result] = d;
  }
  return diff;
}

export function totalPasses(counts: PassCounts): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** Adds `more` into `into` (per result). */
export function addPasses(into: PassCounts, more: PassCounts): void {
  for (const [result, n] of Object.entries(more)) into[result] = (into[result] ?? 0) + n;
}

export interface ContainerState {
  id: string;
  running: boolean;
}

/** `GET /containers/<name>/json` on the engine: its ID and whether it runs; undefined for no such container. */
export async function containerState(
  socketPath: string,
  name: string,
): Promise<ContainerState | undefined> {
  const path = `/containers/${encodeURIComponent(name)}/json`;
  const res = await apiRequest(socketPath, 'GET', path, { timeoutMs: 10_000 });
  if (res.status === 404) return undefined;
  if (res.status !== 200)
    throw new Error(`GET /containers/${name}/json: ${res.status} ${res.text}`);
  const c = JSON.parse(res.text) as { Id: string; State: { Running: boolean } };
  return { id: c.Id, running: c.State.Running };
}

/**
 * Polls the engine every `intervalMs` until a container named `name` runs;
 * returns when the answer saying so arrived (performance.now()). Throws
 * after `timeoutMs`.
 */
export async function waitUntilRunning(
  socketPath: string,
  name: string,
  options: { intervalMs: number; timeoutMs: number },
): Promise<number> {
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    const state = await containerState(socketPath, name);
    const at = performance.now();
    if (state?.running) return at;
    if (at > deadline)
      throw new Error(`${name} was not running again within ${options.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, options.intervalMs));
  }
}

/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)). */
export const CLOCK_TICKS = Number(run('getconf', ['CLK_TCK']).stdout.trim()) || 100;

/** CPU seconds (user + system) of a process, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  return ticks / CLOCK_TICKS;
}

/** Resident set size of a process in MB, from /proc/<pid>/status. */
export function rssMB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}
