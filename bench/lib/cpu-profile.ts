// Where a short gitdock command spends its time: a `node --cpu-prof` profile
// summed by self time per source (dist/ chunks mapped back to src/ files
// through their source maps, node_modules by package, node's own modules,
// and the profiler's (program), (garbage collector) and (idle): idle is
// time spent waiting, for git or the engine).
import fs from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Profiled wall time, ms (from the profiler's start, after node's own boot). */
  totalMs: number;
  /** Self time per source, ms, largest first. */
  bySource: { source: string; ms: number }[];
  /** Self time per function, ms, the largest 15. */
  topFunctions: { fn: string; source: string; ms: number }[];
}

/** Groups a script URL into what a reader cares about. */
function sourceOf(
  url: string,
  root: string,
  maps: Map<string, SourceMap | null>,
  line: number,
  column: number,
): string {
  if (url === '') return '(native/runtime)';
  // node's own modules by area: the module loader (resolving, reading, compiling) shows here.
  if (url.startsWith('node:')) return url.split('/').slice(0, 3).join('/');
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = file.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = file.slice(nm + '/node_modules/'.length).split('/');
    return `node_modules/${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (file.endsWith('.js') && file.includes(`${path.sep}dist${path.sep}`)) {
    let map = maps.get(file);
    if (map === undefined) {
      try {
        map = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')));
      } catch {
        map = null;
      }
      maps.set(file, map);
    }
    const entry = map?.findEntry(line, column) as { originalSource?: string } | undefined;
    if (entry?.originalSource) {
      const src = entry.originalSource.replace(/^(?:webpack:\/\/|file:\/\/)/, '');
      const i = src.indexOf('node_modules/');
      if (i !== -1) {
        const rest = src.slice(i + 'node_modules/'.length).split('/');
        return `node_modules/${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]} (bundled)`;
      }
      const s = src.indexOf('src/');
      return s !== -1 ? src.slice(s) : src;
    }
  }
  return path.relative(root, file);
}

/** Sums self time of a `.cpuprofile` by source and by function. */
export function summarizeProfile(profileFile: string, root: string): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(profileFile, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  const maps = new Map<string, SourceMap | null>();
  const bySource = new Map<string, number>();
  const byFn = new Map<string, { fn: string; source: string; us: number }>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const special = /^\((program|garbage collector|idle|root)\)$/.test(f.functionName);
    const source = special
      ? f.functionName
      : sourceOf(f.url, root, maps, f.lineNumber, f.columnNumber);
    bySource.set(source, (bySource.get(source) ?? 0) + us);
    const key = `${f.functionName}|${source}`;
    const e = byFn.get(key) ?? { fn: f.functionName || '(anonymous)', source, us: 0 };
    e.us += us;
    byFn.set(key, e);
  }
  const ms = (us: number) => Math.round(us / 100) / 10;
  return {
    totalMs: ms(p.endTime - p.startTime),
    bySource: [...bySource]
      .map(([source, us]) => ({ source, ms: ms(us) }))
      .sort((a, b) => b.ms - a.ms),
    topFunctions: [...byFn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, 15)
      .map((e) => ({ fn: e.fn, source: e.source, ms: ms(e.us) })),
  };
}

/** Sums several summaries' sources (ms per source, median over profiles). */
export function medianBySource(summaries: ProfileSummary[]): { source: string; ms: number }[] {
  const all = new Map<string, number[]>();
  for (const s of summaries)
    for (const e of s.bySource) all.set(e.source, [...(all.get(e.source) ?? []), e.ms]);
  const med = (v: number[]) => {
    const padded = [...v, ...Array(summaries.length - v.length).fill(0)].sort((a, b) => a - b);
    const m = Math.floor(padded.length / 2);
    return padded.length % 2 ? padded[m]! : (padded[m - 1]! + padded[m]!) / 2;
  };
  return [...all]
    .map(([source, v]) => ({ source, ms: Math.round(med(v) * 10) / 10 }))
    .sort((a, b) => b.ms - a.ms);
}
