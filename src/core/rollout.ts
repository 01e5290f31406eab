/**
 * Waves: the order in which a new commit may be applied across hosts
 * (gitdock.yaml `rollout`). Pure: each agent decides by itself, from the
 * other hosts' reports (`refs/gitdock/applied/<host>` and
 * `refs/gitdock/failed/<host>`), whether the commit it wants to apply may go
 * ahead on its host. There is no coordinator: the git remote carries the
 * reports, and the waiting agent's own clock measures the soak.
 *
 * The gate of commit C for a host in wave N (N > 0) is open when every host
 * of waves 0..N-1 has applied C in full: its applied ref points at C, which
 * the agent moves only after a pass at C that converged with every service
 * Healthy (the health gate passed, no service held). A host of an earlier
 * wave whose failed ref points at C halts the release for every later wave.
 */
import type { RolloutStatus } from './agent-status.js';
import { matchesHost } from './host-selector.js';
import { isValidName } from './names.js';

/** gitdock.yaml `rollout`, parsed. */
export interface RolloutConfig {
  /**
   * Host names or globs per wave, in order. A host belongs to the first wave
   * that matches it; hosts named in gitdock.yaml that no wave matches form a
   * last wave of their own.
   */
  waves: string[][];
  /** How long the gate must have been seen open before a later wave applies. */
  soakMs: number;
  /**
   * A host of an earlier wave that has neither applied C nor failed at it:
   * `wait` (default) holds the later waves until it reports; `skip` lets them
   * go once `downAfterMs` has passed since this agent first saw C.
   */
  downHosts: 'wait' | 'skip';
  /** With `downHosts: skip`: how long a silent host is waited for. */
  downAfterMs: number;
}

export const DEFAULT_DOWN_AFTER_MS = 10 * 60_000;

/** Each host's wave (0 = first), for the hosts gitdock.yaml names. */
export function assignWaves(hosts: readonly string[], config: RolloutConfig): Map<string, number> {
  const out = new Map<string, number>();
  const last = config.waves.length;
  for (const host of hosts) {
    const index = config.waves.findIndex((wave) => matchesHost(wave, host));
    out.set(host, index === -1 ? last : index);
  }
  return out;
}

/** What the other hosts have reported, read from the remote. */
export interface HostReports {
  /** `refs/gitdock/applied/<host>` by host. */
  applied: ReadonlyMap<string, string>;
  /** `refs/gitdock/failed/<host>` by host: the commit a pass failed at. */
  failed: ReadonlyMap<string, string>;
}

/** Sorts `refs/gitdock/<kind>/<host>` refs (name to commit) into reports. */
export function reportsOf(refs: Iterable<readonly [string, string]>): HostReports {
  const applied = new Map<string, string>();
  const failed = new Map<string, string>();
  for (const [name, commit] of refs) {
    const match = /^refs\/gitdock\/(applied|failed)\/(.+)$/.exec(name);
    if (!match || !isValidName(match[2]!)) continue;
    (match[1] === 'applied' ? applied : failed).set(match[2]!, commit);
  }
  return { applied, failed };
}

export interface GateInput {
  host: string;
  /** The commit this host wants to apply. */
  commit: string;
  /** The rule in force: the rollout of the commit the host runs now. */
  config: RolloutConfig;
  /** The hosts gitdock.yaml names, at that same commit. */
  hosts: readonly string[];
  reports: HostReports;
  /** When this agent first saw `commit` as its target (its own clock). */
  firstSeenAt: number;
  /** When this agent first saw the gate of `commit` open; undefined while it has not. */
  openSeenAt: number | undefined;
  now: number;
}

/** Why a host of an earlier wave holds the release up. */
export interface Blocker {
  host: string;
  wave: number;
  /** `failed`: it failed at the commit (halts); `pending`: it has not applied it yet. */
  state: 'failed' | 'pending';
  /** The commit its applied ref points at, if any. */
  applied: string | null;
}

export type GateDecision =
  /** Apply now: the host is in the first wave, or every earlier host applied C (and the soak is over). */
  | { type: 'go'; wave: number; skipped: string[] }
  /** Wait: earlier hosts have not applied C yet, or the soak runs. */
  | {
      type: 'wait';
      wave: number;
      blockers: Blocker[];
      /** Set once the gate is open and only the soak remains. */
      soakEndsAt?: number;
      /** When the gate opened as seen here (to remember for the next pass). */
      openSeenAt?: number;
    }
  /** Halted: an earlier host failed at C. Only a newer commit moves it. */
  | { type: 'halted'; wave: number; blockers: Blocker[] };

/**
 * Whether `host` may apply `commit` now, under `config`. A host gitdock.yaml
 * does not name is not part of any wave and always goes.
 */
export function decideGate(input: GateInput): GateDecision {
  const waves = assignWaves(input.hosts, input.config);
  const wave = waves.get(input.host);
  if (wave === undefined || wave === 0) return { type: 'go', wave: wave ?? 0, skipped: [] };
  const failed: Blocker[] = [];
  const pending: Blocker[] = [];
  for (const [other, otherWave] of waves) {
    if (otherWave >= wave || other === input.host) continue;
    const applied = input.reports.applied.get(other) ?? null;
    if (applied === input.commit) continue;
    const blocker = { host: other, wave: otherWave, applied };
    if (input.reports.failed.get(other) === input.commit)
      failed.push({ ...blocker, state: 'failed' });
    else pending.push({ ...blocker, state: 'pending' });
  }
  if (failed.length > 0) return { type: 'halted', wave, blockers: [...failed, ...pending] };
  const { config, now } = input;
  const skipping = config.downHosts === 'skip' && now - input.firstSeenAt >= config.downAfterMs;
  if (pending.length > 0 && !skipping) return { type: 'wait', wave, blockers: pending };
  const skipped = pending.map((b) => b.host);
  const openSeenAt = input.openSeenAt ?? now;
  const soakEndsAt = openSeenAt + config.soakMs;
  if (now < soakEndsAt) return { type: 'wait', wave, blockers: [], soakEndsAt, openSeenAt };
  return { type: 'go', wave, skipped };
}

/** What the fleet table and the log say of a waiting host: who holds it up. */
export function describeRollout(r: RolloutStatus): string {
  const hosts = (state: 'failed' | 'pending') =>
    r.blockers
      .filter((b) => b.state === state)
      .map((b) => b.host)
      .join(', ');
  if (r.waves === 0) return `gate shut: ${r.error ?? 'no rule'}`;
  const at = `wave ${r.wave} of ${r.waves}`;
  if (r.state === 'halted')
    return `${at}: halted, ${hosts('failed')} failed at ${r.commit.slice(0, 7)}`;
  if (r.state === 'soaking') return `${at}: soaking until ${r.soakEndsAt}`;
  if (r.error) return `${at}: cannot read the hosts' reports (${r.error})`;
  return `${at}: waiting for ${hosts('pending')} to apply ${r.commit.slice(0, 7)}`;
}
