// Watching a simulated fleet converge: every agent's /status polled at a
// fixed interval, each host stamped with the moment it was first seen
// converged at the commit. Bounded in time.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** The part of the agent's /status (src/core/agent-status.ts) the bench reads. */
export interface StatusView {
  desiredCommit: string | null;
  servicesCommit: string | null;
  lastAppliedCommit?: string | null;
  services: { name: string; sync: string; health: string }[];
}

/** Converged at `commit`: the agent wants it, judged its services at it, and every one is Synced and Healthy. */
export function hostConverged(status: StatusView, commit: string): boolean {
  return (
    status.desiredCommit === commit &&
    status.servicesCommit === commit &&
    status.services.length > 0 &&
    status.services.every((s) => s.sync === 'Synced' && s.health === 'Healthy')
  );
}

export interface WatchedHost {
  name: string;
  agentUrl: string;
}

export interface Convergence {
  /** ms from `startedAt` to the first poll that saw each host converged. */
  lagMs: Record<string, number>;
  /** ms to the last host. */
  totalMs: number;
  polls: number;
}

async function readStatus(agentUrl: string): Promise<StatusView | undefined> {
  try {
    const res = await fetch(`${agentUrl}/status`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    return (await res.json()) as StatusView;
  } catch {
    return undefined; // busy or restarting: the next poll asks again
  }
}

/**
 * Polls every host every `intervalMs` until all are converged at `commit`;
 * lags are measured from `startedAt` (performance.now()). Throws after
 * `timeoutMs` naming the hosts still out, with what their status said.
 */
export async function waitForFleet(
  hosts: readonly WatchedHost[],
  commit: string,
  options: { startedAt: number; intervalMs: number; timeoutMs: number; shouldStop?: () => void },
): Promise<Convergence> {
  const lagMs: Record<string, number> = {};
  const last = new Map<string, StatusView | undefined>();
  let polls = 0;
  const deadline = options.startedAt + options.timeoutMs;
  while (Object.keys(lagMs).length < hosts.length) {
    options.shouldStop?.();
    if (performance.now() > deadline) {
      const out = hosts.filter((h) => lagMs[h.name] === undefined);
      const what = out
        .slice(0, 4)
        .map((h) => {
          const s = last.get(h.name);
          if (!s) return `${h.name}: no answer`;
          const bad = s.services.filter((x) => x.sync !== 'Synced' || x.health !== 'Healthy');
          return `${h.name}: desired ${s.desiredCommit?.slice(0, 8)}, services at ${s.servicesCommit?.slice(0, 8)}, ${bad.map((x) => `${x.name} ${x.sync}/${x.health}`).join(' ') || 'all Synced/Healthy'}`;
        })
        .join('; ');
      throw new Error(
        `${out.length} host(s) not converged at ${commit.slice(0, 8)} after ${options.timeoutMs} ms: ${what}`,
      );
    }
    const pending = hosts.filter((h) => lagMs[h.name] === undefined);
    await Promise.all(
      pending.map(async (h) => {
        const s = await readStatus(h.agentUrl);
        const at = performance.now();
        last.set(h.name, s);
        if (s && hostConverged(s, commit)) lagMs[h.name] = at - options.startedAt;
      }),
    );
    polls++;
    if (Object.keys(lagMs).length < hosts.length) await sleep(options.intervalMs);
  }
  return { lagMs, totalMs: Math.max(...Object.values(lagMs)), polls };
}

/** The p-th percentile (0-100) by nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}
