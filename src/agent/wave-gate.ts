import type { RolloutStatus } from '../core/agent-status.js';
import {
  assignWaves,
  type Blocker,
  decideGate,
  type HostReports,
  type RolloutConfig,
} from '../core/rollout.js';
import { messageOf } from '../errors.js';
import type { Log } from '../log.js';
import type { Clock } from '../reconcile/clock.js';
import { withJitter } from './backoff.js';
import type { BranchSource } from './types.js';

/** A waiting host reads the reports at most every this much per host of the fleet (see `wait`). */
const POLL_SPREAD_PER_HOST_MS = 10;

/** The rollout rule at a commit: gitdock.yaml `rollout` and the hosts it names. */
export interface RolloutRule {
  config: RolloutConfig | undefined;
  hosts: string[];
}

export interface WaveGateOptions {
  host: string;
  source: BranchSource;
  clock: Clock;
  log: Log;
  /** The rule at a commit (read from git; the gate caches nothing itself). */
  ruleAt(commit: string): Promise<RolloutRule>;
  /**
   * The commit this host runs now, as far as the agent knows: the one its
   * last valid pass worked toward (a release it began and that failed half
   * way included), not the last applied in full.
   */
  current(): string | null;
  /** How often a waiting host reads the others' reports again. */
  pollMs: number;
  random?: () => number;
}

export type GateCheck =
  | { go: true; skipped: string[] }
  | {
      go: false;
      rollout: RolloutStatus;
      /** The commit the host runs now, whose desired state drift is healed against (none on a new host). */
      current: string | undefined;
      requeueAfterMs: number;
      /** Pull the waiting commit's images now: once per commit, and not while the release is halted. */
      prePull: boolean;
    };

/** Commits whose first sighting is remembered (the one waiting, and a newer one judged meanwhile). */
const SEEN_KEPT = 4;

/**
 * Decides, pass by pass, whether this host may apply the newest commit
 * (`decideGate` in core/rollout.ts does the deciding). It remembers, per
 * commit, when this agent first saw it and when it first saw its gate open:
 * the soak and `down_after` run on this agent's own clock.
 *
 * The rule in force is the one of the commit the host runs now (the one
 * its last valid pass worked toward, or after a restart its own applied
 * ref), so a commit cannot switch off its own gate; a host that has applied
 * nothing yet takes the newest commit's rule.
 */
export class WaveGate {
  private readonly seen = new Map<
    string,
    { firstSeenAt: number; openSeenAt?: number; prePulled?: boolean }
  >();

  constructor(private readonly options: WaveGateOptions) {}

  async check(commit: string, signal?: AbortSignal): Promise<GateCheck> {
    try {
      return await this.decide(commit, signal);
    } catch (err) {
      // The rule could not be read (git away, a commit missing from the
      // cache): shut, said so, and drift is still healed.
      const now = this.options.clock.now();
      return this.wait(
        {
          commit,
          wave: 0,
          waves: 0,
          state: 'waiting',
          blockers: [],
          since: new Date(this.sighting(commit, now).firstSeenAt).toISOString(),
          error: `reading the rollout rule failed: ${messageOf(err)}`,
        },
        this.options.current() ?? undefined,
        1,
      );
    }
  }

  /** When this agent first saw `commit` (its own clock), remembered for a few commits. */
  private sighting(commit: string, now: number) {
    let seen = this.seen.get(commit);
    if (!seen) {
      seen = { firstSeenAt: now };
      this.seen.set(commit, seen);
      while (this.seen.size > SEEN_KEPT) this.seen.delete(this.seen.keys().next().value!);
    }
    return seen;
  }

  private async decide(commit: string, signal?: AbortSignal): Promise<GateCheck> {
    const { host, clock } = this.options;
    const now = clock.now();
    const seen = this.sighting(commit, now);
    let current = this.options.current() ?? undefined;
    if (current === commit) return { go: true, skipped: [] };

    let reports: HostReports | undefined;
    let reportError: string | undefined;
    const readReports = async () => {
      try {
        reports = (await this.options.source.readReports?.(signal)) ?? {
          applied: new Map(),
          failed: new Map(),
        };
      } catch (err) {
        reportError = messageOf(err);
      }
    };
    // After a restart the agent knows what it runs from its own report.
    if (current === undefined) {
      await readReports();
      current = reports?.applied.get(host);
      if (current === commit) return { go: true, skipped: [] };
    }
    const rule = await this.options.ruleAt(current ?? commit);
    if (!rule.config) return { go: true, skipped: [] };
    const waves = assignWaves(rule.hosts, rule.config);
    const wave = waves.get(host);
    if (wave === undefined || wave === 0) return { go: true, skipped: [] };
    const waveCount = Math.max(...waves.values()) + 1;
    if (!reports && reportError === undefined) await readReports();

    const base = {
      commit,
      wave: wave + 1,
      waves: waveCount,
      since: new Date(seen.firstSeenAt).toISOString(),
    };
    if (!reports) {
      this.options.log.warn({ commit, err: reportError }, "reading the hosts' reports failed");
      return this.wait(
        { ...base, state: 'waiting', blockers: [], error: reportError ?? 'no reports' },
        current,
        rule.hosts.length,
      );
    }
    const decision = decideGate({
      host,
      commit,
      config: rule.config,
      hosts: rule.hosts,
      reports,
      firstSeenAt: seen.firstSeenAt,
      openSeenAt: seen.openSeenAt,
      now,
    });
    if (decision.type === 'go') {
      if (decision.skipped.length > 0)
        this.options.log.warn(
          { commit, skipped: decision.skipped },
          'hosts of earlier waves never reported: going on without them (down_hosts: skip)',
        );
      return { go: true, skipped: decision.skipped };
    }
    const blockers = decision.blockers.map(wireBlocker);
    if (decision.type === 'halted')
      return this.wait({ ...base, state: 'halted', blockers }, current, rule.hosts.length);
    if (decision.soakEndsAt === undefined) {
      // Shut (again): a soak starts afresh when it opens.
      delete seen.openSeenAt;
      return this.wait({ ...base, state: 'waiting', blockers }, current, rule.hosts.length);
    }
    seen.openSeenAt = decision.openSeenAt;
    return {
      go: false,
      rollout: {
        ...base,
        state: 'soaking',
        blockers,
        soakEndsAt: new Date(decision.soakEndsAt).toISOString(),
      },
      current,
      requeueAfterMs: Math.max(0, decision.soakEndsAt - now),
      prePull: this.prePullOnce(commit),
    };
  }

  private prePullOnce(commit: string): boolean {
    const seen = this.seen.get(commit);
    if (!seen || seen.prePulled) return false;
    seen.prePulled = true;
    return true;
  }

  private wait(rollout: RolloutStatus, current: string | undefined, hosts: number): GateCheck {
    const { pollMs, random } = this.options;
    // At most ~100 reads a second reach the remote, however big the fleet,
    // and jittered: the hosts of a wave do not all ask at the same instant.
    const every = Math.max(pollMs, hosts * POLL_SPREAD_PER_HOST_MS);
    // A halted release pulls nothing: its images may be the reason it halted.
    const prePull =
      rollout.state !== 'halted' && !rollout.error && this.prePullOnce(rollout.commit);
    return { go: false, rollout, current, requeueAfterMs: withJitter(every, 0.2, random), prePull };
  }
}

function wireBlocker(b: Blocker): RolloutStatus['blockers'][number] {
  return { host: b.host, wave: b.wave + 1, state: b.state, applied: b.applied };
}
