import type { Engine } from '../core/engine.js';
import { resolveHost } from '../core/fleet.js';
import type { HostEnvByProject, HostState } from '../core/types.js';
import { readRevision } from '../reconcile/read-revision.js';
import type { BranchSource } from './types.js';

/** What a newer commit means for the pass in flight. */
export type Preemption =
  | {
      preempt: false;
      why: 'same commit' | 'invalid' | 'no change here' | 'wave not open';
      commit: string;
    }
  | {
      preempt: true;
      commit: string;
      /** Services whose desired spec the newer commit changes (added and removed ones too). */
      superseded: Set<string>;
      /** Of those, the ones whose newer image is on the host already: handed over, not undone. */
      handOver: Set<string>;
    };

/**
 * Reads the branch's newest commit and decides whether it preempts the pass
 * working toward `running`: only a valid commit that changes a service the
 * pass works on does. An invalid commit changes nothing, so it never
 * preempts (DESIGN 3a).
 */
export async function judgeNewerCommit(options: {
  source: BranchSource;
  engine: Engine;
  host: string;
  running: { commit: string; target: HostState };
  /** The host-local Compose variables, as the pass reads them. */
  hostEnv?: () => Promise<HostEnvByProject>;
  /** As the pass applies it. */
  rewriteDesired?: (state: HostState) => HostState;
  /** Whether this host's wave allows the newer commit now (waves); without it, always. */
  gateOpen?: (commit: string) => Promise<boolean>;
}): Promise<Preemption> {
  const { source, engine, host, running } = options;
  const commit = await source.head();
  if (commit === running.commit) return { preempt: false, why: 'same commit', commit };
  const { fleet } = await readRevision({ git: source.git, rev: commit });
  const next = fleet.ok
    ? resolveHost(fleet.value, host, commit, { hostEnv: (await options.hostEnv?.()) ?? new Map() })
    : fleet;
  if (!next.ok) return { preempt: false, why: 'invalid', commit };
  const target = options.rewriteDesired ? options.rewriteDesired(next.value) : next.value;
  const superseded = changedServices(running.target, target);
  if (superseded.size === 0) return { preempt: false, why: 'no change here', commit };
  if (options.gateOpen && !(await options.gateOpen(commit)))
    return { preempt: false, why: 'wave not open', commit };
  const handOver = new Set<string>();
  for (const service of target.services) {
    if (!superseded.has(service.name) || service.rollout.pull === 'always') continue;
    if (await engine.imageId(service.imageRef).catch(() => undefined)) handOver.add(service.name);
  }
  return { preempt: true, commit, superseded, handOver };
}

/** Services whose desired spec differs between two desired states (added and removed ones too). */
export function changedServices(before: HostState, after: HostState): Set<string> {
  const old = new Map(before.services.map((s) => [s.name, s.specHash]));
  const changed = new Set<string>();
  for (const s of after.services) if (old.get(s.name) !== s.specHash) changed.add(s.name);
  for (const name of old.keys())
    if (!after.services.some((s) => s.name === name)) changed.add(name);
  return changed;
}
