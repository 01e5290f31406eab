// What a simulated fleet costs at rest, read from /proc: every process whose
// command line names the sim directory (dockerds, containerds, shims,
// agents) and everything below them (the containers' processes, git).
import fs from 'node:fs';
import { CLOCK_TICKS } from './agent-probe.js';

export type ProcessKind = 'dockerd' | 'containerd' | 'shim' | 'agent' | 'gitServer' | 'other';

export interface ProcInfo {
  pid: number;
  ppid: number;
  kind: ProcessKind;
  /** user + system CPU seconds so far */
  cpuSeconds: number;
  rssMB: number;
}

function readProc(
  pid: number,
): { ppid: number; cmdline: string[]; cpu: number; rss: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    return {
      ppid: Number(fields[1]),
      cmdline,
      cpu: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS,
      rss: kb / 1024,
    };
  } catch {
    return undefined; // gone, or a kernel thread
  }
}

/** Names a process by its program: the engines, the shims, gitdock agents and the sim's git server (node), the rest (containers' processes, git). */
export function kindOf(cmdline: readonly string[]): ProcessKind {
  const prog = (cmdline[0] ?? '').split('/').pop() ?? '';
  if (prog === 'dockerd') return 'dockerd';
  if (prog === 'containerd') return 'containerd';
  if (prog.startsWith('containerd-shim')) return 'shim';
  if (prog === 'node' || prog.startsWith('node')) {
    // `gitdock sim serve-git` (the sim's git remote) runs from the same CLI as the agents.
    if (cmdline.includes('serve-git')) return 'gitServer';
    if (cmdline.includes('agent')) return 'agent';
  }
  return 'other';
}

/** The processes of the sim: those whose command line holds `marker`, and their descendants. */
export function simProcesses(marker: string): ProcInfo[] {
  const all = new Map<number, { ppid: number; cmdline: string[]; cpu: number; rss: number }>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const p = readProc(pid);
    if (p) all.set(pid, p);
  }
  const roots = [...all]
    .filter(([, p]) => p.cmdline.some((a) => a.includes(marker)))
    .map(([pid]) => pid);
  const chosen = new Set(roots);
  // Descendants, bounded by the process count (a parent chain cannot be longer).
  for (let round = 0; round < all.size; round++) {
    let added = false;
    for (const [pid, p] of all) {
      if (!chosen.has(pid) && chosen.has(p.ppid)) {
        chosen.add(pid);
        added = true;
      }
    }
    if (!added) break;
  }
  return [...chosen].map((pid) => {
    const p = all.get(pid)!;
    return { pid, ppid: p.ppid, kind: kindOf(p.cmdline), cpuSeconds: p.cpu, rssMB: p.rss };
  });
}

export interface IdleCost {
  seconds: number;
  /** Processes per kind (at the end). */
  count: Record<ProcessKind, number>;
  /** RSS per kind and in all, MB (at the end; shared pages counted in every process). */
  rssMB: Record<ProcessKind | 'total', number>;
  /** CPU over the window, % of one core, per kind and in all (processes alive at both ends). */
  cpuPercent: Record<ProcessKind | 'total', number>;
}

const KINDS: ProcessKind[] = ['dockerd', 'containerd', 'shim', 'agent', 'gitServer', 'other'];

/** CPU and RSS of the sim's processes over `seconds` of leaving it alone. */
export async function measureIdle(marker: string, seconds: number): Promise<IdleCost> {
  const before = new Map(simProcesses(marker).map((p) => [p.pid, p]));
  const started = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const wall = (Date.now() - started) / 1000;
  const after = simProcesses(marker);
  const zero = () =>
    Object.fromEntries([...KINDS, 'total'].map((k) => [k, 0])) as Record<
      ProcessKind | 'total',
      number
    >;
  const rss = zero();
  const cpu = zero();
  const count = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<ProcessKind, number>;
  for (const p of after) {
    count[p.kind]++;
    rss[p.kind] += p.rssMB;
    rss.total += p.rssMB;
    const b = before.get(p.pid);
    if (b) {
      const share = ((p.cpuSeconds - b.cpuSeconds) / wall) * 100;
      cpu[p.kind] += share;
      cpu.total += share;
    }
  }
  const round = (o: Record<string, number>) => {
    for (const k of Object.keys(o)) o[k] = Math.round(o[k]! * 10) / 10;
  };
  round(rss);
  round(cpu);
  return { seconds: Math.round(wall * 10) / 10, count, rssMB: rss, cpuPercent: cpu };
}
