import { setMaxListeners } from 'node:events';
import type { AgentStatus } from '../core/agent-status.js';
import type { Engine, EngineEvent } from '../core/engine.js';
import { rolloutHosts } from '../core/fleet.js';
import type { HostEnvByProject, HostState } from '../core/types.js';
import { messageOf } from '../errors.js';
import type { Log } from '../log.js';
import type { Clock } from '../reconcile/clock.js';
import { readRevision } from '../reconcile/read-revision.js';
import { AppliedReporter } from './applied-reporter.js';
import { BackgroundPulls } from './background-pulls.js';
import type { BackoffPolicy } from './backoff.js';
import { followEngineEvents } from './engine-watch.js';
import { type Hold, type HoldPolicy, Holds } from './holds.js';
import { type PassOutcome, type PassWork, ReconcileLoop } from './loop.js';
import { OwnEvents } from './own-events.js';
import { judgeNewerCommit } from './preemption.js';
import { QuietTrigger } from './quiet-trigger.js';
import { type PassResult, reconcilePass } from './reconcile-pass.js';
import { StatusStore } from './status-store.js';
import { appliedRef, type BranchSource } from './types.js';
import { type RolloutRule, WaveGate } from './wave-gate.js';

/** Branch changes closer together than this (or during a pass) are a burst. */
const BURST_WINDOW_MS = 3_000;
/** How often a host whose wave waits reads the other hosts' reports (jittered up to 20%). */
const DEFAULT_WAVE_POLL_MS = 2_000;
/** Rollout rules kept by commit: the one in force and the newest, and a few before. */
const RULE_CACHE_SIZE = 8;
/**
 * A webhook's fetch waits a random time of up to this much per host the
 * fleet names, at most WEBHOOK_SPREAD_MAX_MS: a push reaches the git server
 * as ~100 fetches a second, not all of the fleet's at one instant.
 */
const WEBHOOK_SPREAD_PER_HOST_MS = 10;
const WEBHOOK_SPREAD_MAX_MS = 10_000;
/** A burst ends after this long without a change... */
const BURST_QUIET_MS = 1_000;
/** ...or this long after it began, however busy the branch. */
const BURST_MAX_WAIT_MS = 10_000;

export interface AgentObserver {
  /** After every pass, with its result and the status it produced. */
  onPass?(pass: {
    result: PassResult['result'];
    /** What started this pass (its coalesced triggers). */
    trigger: string;
    status: AgentStatus;
    durationMs: number;
    convergedAfterMs?: number;
  }): void;
  /** The engine became reachable or unreachable. */
  onEngine?(reachable: boolean): void;
}

/** Where holds are kept between runs of the agent. */
export interface HoldStore {
  load(): Promise<Hold[]>;
  save(holds: readonly Hold[]): Promise<void>;
}

export interface AgentOptions {
  host: string;
  source: BranchSource;
  engine: Engine;
  clock: Clock;
  log: Log;
  /** Periodic resync (and, for a remote, fetch) interval; jittered up to 10%. */
  intervalMs: number;
  /** Backoff of a pass that failed for a reason outside any one spec (engine, git). */
  retry: BackoffPolicy;
  /** How failed specs are held (see `Holds`). */
  holdPolicy: HoldPolicy;
  holdStore?: HoldStore;
  /** Quiet time after an engine event before a pass, so a burst of events makes one pass. */
  eventDebounceMs?: number;
  /** Move refs/gitdock/applied/<host> to each commit applied in full (`--report-ref`). */
  reportRef?: boolean;
  /** The host-local Compose variables (`--env-dir`), read every pass. */
  hostEnv?: () => Promise<HostEnvByProject>;
  /** Where Compose repo files and host data live (`--state-dir`). */
  stateDir?: string;
  /** Applied to every desired state resolved (`--publish-address`, `--bind-root`: several agents on one machine). */
  rewriteDesired?: (state: HostState) => HostState;
  /** How often a host whose wave waits reads the others' reports (`--wave-poll`). Default 2 s. */
  wavePollMs?: number;
  observer?: AgentObserver;
  random?: () => number;
}

/**
 * The agent: wires the generic loop (`loop.ts`) to one reconcile pass
 * (`reconcile-pass.ts`), the triggers (the branch moved, engine events that
 * are not the agent's own, a retry asked for), the holds and their store,
 * the background pulls, and the status (`status-store.ts`).
 */
export class Agent {
  private readonly store: StatusStore;
  private readonly loop: ReconcileLoop;
  private readonly own: OwnEvents;
  private readonly holds: Holds;
  private readonly pulls: BackgroundPulls;
  private readonly stopping = new AbortController();
  /** The commit and desired state the pass in flight works toward. */
  private inFlight: { commit: string; target: HostState } | undefined;
  /** Services a newer commit changes: the pass in flight undoes their replacements. */
  private superseded = new Set<string>();
  /** Counts the newer-commit judgements started, so that a late, older one is dropped. */
  private preemptAsked = 0;
  /** Of those, the ones whose newer image is on the host: handed over, not undone. */
  private handOver = new Set<string>();
  private lastValid: HostState | undefined;
  private savedHolds = '[]';
  /** When the branch was last seen to move. */
  private lastSourceChange = Number.NEGATIVE_INFINITY;
  /** Branch changes of a burst, and engine events, waiting for a quiet moment. */
  private readonly branchBurst: QuietTrigger;
  private readonly engineBurst: QuietTrigger;
  private readonly reporter: AppliedReporter;
  private readonly waves: WaveGate;
  private readonly rules = new Map<string, Promise<RolloutRule>>();
  private warnedNoReport = false;
  /** Hosts the fleet repo named at the last pass. */
  private fleetHosts = 1;

  constructor(private readonly options: AgentOptions) {
    const { source, clock, log } = options;
    // Every service of a pass, every pull and every quiet wait listens on it.
    setMaxListeners(0, this.stopping.signal);
    this.store = new StatusStore({
      host: options.host,
      branch: source.branch,
      source: source.description,
      watched: !source.remote,
      ...(options.reportRef ? { appliedRef: appliedRef(options.host) } : {}),
    });
    this.reporter = new AppliedReporter({ host: options.host, source, log, store: this.store });
    this.waves = new WaveGate({
      host: options.host,
      source,
      clock,
      log,
      ruleAt: (commit) => this.ruleAt(commit),
      // What the host was last converged toward: a release it began and that
      // failed half way included (its services at that commit stay as they are).
      current: () => this.lastValid?.commit ?? null,
      pollMs: options.wavePollMs ?? DEFAULT_WAVE_POLL_MS,
      ...(options.random ? { random: options.random } : {}),
    });
    const release = (reasons: string[], fetch: boolean) => {
      for (const r of reasons) this.loop.trigger(r, { fetch });
    };
    const signal = this.stopping.signal;
    this.branchBurst = new QuietTrigger({
      clock,
      quietMs: BURST_QUIET_MS,
      maxWaitMs: BURST_MAX_WAIT_MS,
      signal,
      release,
    });
    const debounceMs = options.eventDebounceMs ?? 200;
    this.engineBurst = new QuietTrigger({
      clock,
      quietMs: debounceMs,
      maxWaitMs: debounceMs,
      signal,
      release,
    });
    this.own = new OwnEvents(options.engine, clock);
    this.holds = new Holds(options.holdPolicy);
    this.pulls = new BackgroundPulls({
      engine: this.own.engine,
      log,
      clock,
      onDone: (ref) => this.loop.trigger(`image ${ref} pulled`),
    });
    this.loop = new ReconcileLoop({
      clock,
      resyncMs: options.intervalMs,
      fetchOnResync: source.remote,
      backoff: options.retry,
      pass: (work) => this.pass(work),
      nextDue: (now) => this.holds.nextRetryAt(now),
      dueReason: 'held spec due for an automatic retry',
      ...(options.random ? { random: options.random } : {}),
    });
  }

  get status(): AgentStatus {
    this.store.tick(this.options.clock.now(), this.loop.nextWakeAt());
    return this.store.status;
  }

  /**
   * The branch may have moved (a watched ref changed, a webhook arrived):
   * trigger a pass, and preempt the one in flight if the newer commit is
   * valid and changes a service it works on. An invalid commit never
   * preempts: it changes nothing.
   */
  sourceChanged(reason: string, options: { fetch?: boolean } = {}): void {
    const now = this.options.clock.now();
    const running = this.inFlight;
    // A change while a pass is at work, or soon after the last one, is a
    // burst of commits: wait for a quiet moment, so the next pass goes to
    // the newest commit at once instead of to each one in turn (each would
    // stop the services it changes once more).
    const burst = running !== undefined || now - this.lastSourceChange < BURST_WINDOW_MS;
    this.lastSourceChange = now;
    if (running) void this.maybePreempt(running, options.fetch === true);
    if (burst) this.branchBurst.add(reason, options.fetch === true);
    else this.loop.trigger(reason, options);
  }

  /**
   * A verified webhook: fetch, after a random wait that grows with the fleet
   * (see WEBHOOK_SPREAD_PER_HOST_MS), so the fleet's fetches are spread.
   */
  webhook(reason: string): void {
    const spreadMs = Math.min(this.fleetHosts * WEBHOOK_SPREAD_PER_HOST_MS, WEBHOOK_SPREAD_MAX_MS);
    const delayMs = Math.floor((this.options.random ?? Math.random)() * spreadMs);
    if (delayMs <= 0) {
      this.sourceChanged(reason, { fetch: true });
      return;
    }
    this.options.clock.sleep(delayMs, this.stopping.signal).then(
      () => this.sourceChanged(reason, { fetch: true }),
      () => {},
    );
  }

  /** An engine event: drift, unless it is the echo of the agent's own call. A burst makes one pass. */
  engineEvent(event: EngineEvent): void {
    if (this.own.isOwn(event)) return;
    this.engineBurst.add(`engine: ${event.action} ${event.name ?? event.containerId.slice(0, 12)}`);
  }

  /** An operator asks for one more try of held services (all when none named). */
  requestRetry(services?: string[]): string[] {
    const found = this.holds.requestRetry(services);
    if (found.length > 0) this.loop.trigger(`retry asked for ${found.join(', ')}`);
    return found;
  }

  /** Aborts the pass in flight (a second SIGTERM): its half-done replacement is undone. */
  abortCurrentPass(reason: string): void {
    this.superseded = new Set(this.inFlight?.target.services.map((s) => s.name));
    this.loop.preempt(reason);
  }

  /**
   * Runs until `signal` aborts, then returns once the pass in hand has
   * finished the services it had begun (a replacement comes up or is undone)
   * and skipped the rest: a shutdown never leaves a half-made container.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { source, log, clock } = this.options;
    const restored = (await this.options.holdStore?.load().catch(() => [])) ?? [];
    this.holds.restore(restored);
    if (restored.length > 0)
      log.info(
        { services: restored.map((h) => h.service) },
        'held specs restored: a restart is not a retry',
      );
    this.savedHolds = JSON.stringify(this.holds.entries());
    const onStop = () => {
      this.stopping.abort('the agent is stopping');
      this.pulls.abortAll('the agent is stopping');
    };
    signal.addEventListener('abort', onStop, { once: true });
    const stopWatching = await source.watch(
      (reason) => this.sourceChanged(`git: ${reason}`),
      (state) => {
        this.store.setWatch(state.watching, state.error, clock.now());
        if (state.watching) this.sourceChanged('git: repository watch restored');
      },
    );
    // Watching, unless the watch said otherwise while it started (the repository away).
    if (!source.remote && this.store.status.watch?.since === undefined)
      this.store.setWatch(true, undefined, clock.now());
    const events = followEngineEvents({
      engine: this.options.engine,
      host: this.options.host,
      clock,
      retry: this.options.retry,
      signal,
      onEvent: (e) => {
        if (!this.store.status.engine.reachable) this.engineBack();
        this.engineEvent(e);
      },
      onAway: (why) => this.engineAway(why),
      onBack: () => this.engineBack(),
    });
    this.loop.trigger('startup', { fetch: true });
    try {
      await this.loop.run(signal);
    } finally {
      signal.removeEventListener('abort', onStop);
      await stopWatching();
      await events;
      // Bounded by the push timeout: the record of what runs is worth finishing.
      await this.reporter.settled();
      log.info({ host: this.options.host }, 'agent stopped');
    }
  }

  private async pass(work: PassWork): Promise<PassOutcome> {
    const { clock, log } = this.options;
    const startedAt = clock.now();
    this.store.passStarted(work, startedAt);
    this.superseded = new Set();
    this.handOver = new Set();
    const result = await reconcilePass(
      {
        host: this.options.host,
        source: this.options.source,
        engine: this.own.engine,
        clock,
        log,
        holds: this.holds,
        pulls: this.pulls,
        ...(this.options.hostEnv ? { hostEnv: this.options.hostEnv } : {}),
        ...(this.options.stateDir !== undefined ? { stateDir: this.options.stateDir } : {}),
        ...(this.options.rewriteDesired ? { rewriteDesired: this.options.rewriteDesired } : {}),
        waves: this.waves,
      },
      {
        reasons: work.reasons,
        fetch: work.fetch,
        signal: work.signal,
        stopping: this.stopping.signal,
        superseded: (service) => this.superseded.has(service),
        handOver: (service) => this.handOver.has(service),
        lastValid: this.lastValid,
        onTarget: (commit, target) => {
          this.inFlight = { commit, target };
        },
      },
    );
    this.inFlight = undefined;
    if (result.fleetHosts !== undefined) this.fleetHosts = result.fleetHosts;
    this.own.passEnded();
    this.pulls.passEnded();
    if (result.target && result.result !== 'invalid') this.lastValid = result.target;
    await this.saveHolds();
    const finishedAt = clock.now();
    const { news, convergedAfterMs } = this.store.passFinished(work, result, {
      startedAt,
      finishedAt,
    });
    const fields = {
      result: result.result,
      commit: result.commit,
      trigger: work.reasons.join(', '),
      durationMs: finishedAt - startedAt,
    };
    if (news) log.info(fields, 'reconcile finished');
    else log.debug(fields, 'reconcile finished');
    this.options.observer?.onPass?.({
      result: result.result,
      trigger: work.reasons.join(', '),
      status: this.store.status,
      durationMs: finishedAt - startedAt,
      ...(convergedAfterMs !== undefined ? { convergedAfterMs } : {}),
    });
    this.report(result);
    return {
      failed: result.transient,
      fetchOnRetry: result.fetchFailed,
      ...(result.requeueAfterMs !== undefined ? { requeueAfterMs: result.requeueAfterMs } : {}),
    };
  }

  /**
   * What the other hosts' waves read: the applied ref moves to a commit only
   * once it runs here in full with every service Healthy (a one-shot: done);
   * the failed ref, once a new spec of it failed here and is held.
   */
  private report(result: PassResult): void {
    const commit = result.commit;
    if (!commit || result.target?.commit !== commit) return;
    if (result.result === 'success') {
      const oneShots = new Set(result.target.services.filter((s) => s.oneShot).map((s) => s.name));
      const healthy = result.services?.every(
        (s) => s.sync === 'Synced' && (s.health === 'Healthy' || oneShots.has(s.name)),
      );
      if (healthy) this.reporter.schedule(commit);
      return;
    }
    // Any held service of the commit: a new container that did not come up,
    // and an image that cannot be pulled too (a later wave would meet it as
    // well). A halt is lifted by the host applying the commit after all.
    const specs = new Set(result.target.services.map((s) => `${s.name}@${s.specHash}`));
    const failedHere = this.holds.entries().some((h) => specs.has(`${h.service}@${h.specHash}`));
    if (result.result === 'failure' && failedHere) this.reporter.scheduleFailed(commit);
  }

  /** The rollout rule at a commit, cached: read on every pass while a wave waits. */
  private ruleAt(commit: string): Promise<RolloutRule> {
    let rule = this.rules.get(commit);
    if (!rule) {
      rule = readRevision({ git: this.options.source.git, rev: commit }).then(({ fleet }) => {
        if (!fleet.ok) return { config: undefined, hosts: [] };
        const config = fleet.value.rollout;
        if (config && !this.options.reportRef && !this.warnedNoReport) {
          this.warnedNoReport = true;
          this.options.log.warn(
            { commit },
            'gitdock.yaml sets waves (rollout) but this agent does not report (--report-ref): later waves will wait for it',
          );
        }
        return { config, hosts: rolloutHosts(fleet.value.config) };
      });
      // A read that failed is not kept: the next pass reads again.
      rule.catch(() => this.rules.delete(commit));
      this.rules.set(commit, rule);
      while (this.rules.size > RULE_CACHE_SIZE) this.rules.delete(this.rules.keys().next().value!);
    }
    return rule;
  }

  private async maybePreempt(
    running: { commit: string; target: HostState },
    fetch: boolean,
  ): Promise<void> {
    const { source, log, host } = this.options;
    // Two pushes during one pass judge in parallel: only the latest verdict counts.
    const asked = ++this.preemptAsked;
    try {
      if (fetch && source.remote) await source.update();
      const verdict = await judgeNewerCommit({
        source,
        engine: this.own.engine,
        host,
        running,
        ...(this.options.hostEnv ? { hostEnv: this.options.hostEnv } : {}),
        ...(this.options.rewriteDesired ? { rewriteDesired: this.options.rewriteDesired } : {}),
        // A newer commit whose wave has not come does not cut the pass in
        // flight: the host finishes what it began and waits for the newer one.
        gateOpen: async (commit) => (await this.waves.check(commit)).go,
      });
      if (this.inFlight !== running || asked !== this.preemptAsked) return;
      if (!verdict.preempt) {
        if (verdict.why === 'invalid')
          log.info(
            { commit: verdict.commit },
            'newer commit is invalid; the pass in progress goes on',
          );
        return;
      }
      this.superseded = verdict.superseded;
      this.handOver = verdict.handOver;
      log.info(
        { from: running.commit, to: verdict.commit, services: [...verdict.superseded] },
        'newer commit: preempting the pass in progress',
      );
      this.loop.preempt('preempted by a newer commit');
    } catch {
      // The next pass reads the source again and reports the error.
    }
  }

  private async saveHolds(): Promise<void> {
    const text = JSON.stringify(this.holds.entries());
    if (text === this.savedHolds || !this.options.holdStore) return;
    try {
      await this.options.holdStore.save(this.holds.entries());
      this.savedHolds = text;
    } catch (err) {
      this.options.log.warn(
        { err: messageOf(err) },
        'saving the held specs failed; a restart would retry them',
      );
    }
  }

  /** The engine's event stream broke and the engine does not answer: health is Unknown until it does. */
  private engineAway(why: string): void {
    const { clock, log } = this.options;
    if (this.store.status.engine.reachable) {
      log.warn({ err: why }, 'engine unreachable; services show health Unknown until it is back');
      this.options.observer?.onEngine?.(false);
    }
    this.store.setEngine(false, why, clock.now());
  }

  /** The engine answers again: say so, and let a pass find what happened meanwhile. */
  private engineBack(): void {
    const { clock, log } = this.options;
    const wasAway = !this.store.status.engine.reachable;
    if (wasAway) {
      this.holds.clearTransient();
      log.info('engine reachable again');
      this.options.observer?.onEngine?.(true);
    }
    this.store.setEngine(true, undefined, clock.now());
    this.loop.trigger(wasAway ? 'engine reachable again' : 'engine event stream reconnected');
  }
}
