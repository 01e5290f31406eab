import type {
  ReconcileResultKind,
  RolloutStatus,
  ServiceStatus,
  StatusError,
} from '../core/agent-status.js';
import type { Engine } from '../core/engine.js';
import { resolveHost } from '../core/fleet.js';
import type { Action } from '../core/plan.js';
import type { HostEnvByProject, HostState, Result } from '../core/types.js';
import { type ErrorCode, isGitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';
import type { Clock } from '../reconcile/clock.js';
import { readRevision } from '../reconcile/read-revision.js';
import {
  type ReconcileResult,
  reconcileHost,
  type ServiceOutcome,
} from '../reconcile/reconcile-host.js';
import type { BackgroundPulls } from './background-pulls.js';
import { engineAnswers } from './engine-watch.js';
import { describeHold, type Holds } from './holds.js';
import { readServiceStatuses } from './service-status.js';
import { manifestErrorsToStatus } from './status.js';
import type { BranchSource } from './types.js';
import type { WaveGate } from './wave-gate.js';

/** How soon a pass looks again at a container the engine is still removing. */
const WAIT_REQUEUE_MS = 500;

export interface PassDeps {
  host: string;
  source: BranchSource;
  /** The engine as the agent calls it (its own calls' events are recognised). */
  engine: Engine;
  clock: Clock;
  log: Log;
  holds: Holds;
  pulls: BackgroundPulls;
  /**
   * The host-local Compose variables (`--env-dir`), read afresh every pass
   * so a rotated secret is picked up by the next one. None: no variables.
   */
  hostEnv?: () => Promise<HostEnvByProject>;
  /** Where repo files of Compose services are written and host data lives (`--state-dir`). */
  stateDir?: string;
  /** Applied to every desired state resolved (`--publish-address`, `--bind-root`). */
  rewriteDesired?: (state: HostState) => HostState;
  /** Waves: whether the newest commit may be applied on this host yet. */
  waves?: WaveGate;
}

export interface PassInput {
  reasons: string[];
  fetch: boolean;
  /** Aborted by a newer commit. */
  signal: AbortSignal;
  /** Aborted when the agent is stopping. */
  stopping: AbortSignal;
  /** With `signal` aborted: does the newer commit change this service? */
  superseded: (service: string) => boolean;
  /** With `signal` aborted: may this service's replacement be handed over to the next pass? */
  handOver?: (service: string) => boolean;
  /** The desired state at the last valid commit: what drift is healed against under an invalid one. */
  lastValid: HostState | undefined;
  /** Told what the pass works toward, once known (so a newer commit can be compared with it). */
  onTarget?: (commit: string, target: HostState) => void;
}

export interface PassResult {
  result: Exclude<ReconcileResultKind, 'running'>;
  /** What the branch pointed at (null when it could not be read). */
  commit: string | null;
  /** The valid desired state this pass worked toward, if any. */
  target: HostState | undefined;
  /** Whether the pass attempted anything on the engine (not only in sync or held). */
  acted: boolean;
  errors: StatusError[];
  /** Per-service state after the pass; undefined when the engine could not be read. */
  services: ServiceStatus[] | undefined;
  engine: { reachable: boolean; error?: string };
  git?: { reachable: boolean; error?: string; fetchedAt?: number };
  /** A failure outside any one spec (engine away, fetch failed): the loop backs off. */
  transient: boolean;
  fetchFailed: boolean;
  requeueAfterMs?: number;
  /** While the newest commit waits for this host's wave; null when it was applied (or needed no wave). */
  rollout?: RolloutStatus | null;
  /** How many hosts the fleet repo names at the newest commit (it spreads webhook fetches). */
  fleetHosts?: number;
}

/**
 * One reconcile pass (controller-runtime's `Reconcile`): fetch if asked,
 * read the branch, validate the whole revision, converge the engine toward
 * it (or, under an invalid commit, heal drift toward the last valid one),
 * update the holds, and read back every service's state. It re-reads git
 * and the engine every time and trusts nothing that woke it. No timers, no
 * flags: what the loop needs next is in the result.
 */
export async function reconcilePass(deps: PassDeps, input: PassInput): Promise<PassResult> {
  const errors: StatusError[] = [];
  const git = await fetchIfAsked(deps, input, errors);
  const fetchFailed = git?.reachable === false;
  const base = {
    errors,
    fetchFailed,
    acted: false,
    services: undefined,
    engine: { reachable: true },
    ...(git ? { git } : {}),
  };
  const read = await readDesired(deps, errors);
  if (!read.ok)
    return { ...base, result: 'failure', commit: null, target: undefined, transient: true };
  const { commit, desired } = read;
  // Every result from here on says how big the fleet is (webhook fetches are spread by it).
  const known = read.fleetHosts !== undefined ? { ...base, fleetHosts: read.fleetHosts } : base;
  // An invalid commit is never applied; drift is still healed against the
  // last valid commit (none yet after a restart: then nothing is done).
  const invalid = !desired.ok;
  let target = desired.ok ? desired.value : input.lastValid;
  if (!target) return { ...known, result: 'invalid', commit, target, transient: fetchFailed };
  // A commit whose wave has not come yet is not applied: drift is healed at
  // the commit the host runs, as under an invalid one.
  const gate =
    desired.ok && deps.waves ? await deps.waves.check(commit, input.stopping) : undefined;
  const gated = gate !== undefined && !gate.go;
  const gateRequeueMs = gate && !gate.go ? gate.requeueAfterMs : Number.POSITIVE_INFINITY;
  const wave = gate ? { rollout: gate.go ? null : gate.rollout } : {};
  if (gate && !gate.go) {
    target = await desiredAtCurrent(deps, input, gate.current);
    if (!target)
      return {
        ...known,
        ...wave,
        result: 'gated',
        commit,
        target,
        transient: fetchFailed,
        requeueAfterMs: gateRequeueMs,
      };
  }

  input.onTarget?.(target.commit, target);
  deps.holds.retain(target.services);
  recordPullFailures(deps, target);
  // While its wave waits, the newest commit's images are pulled already: when
  // the gate opens, only the replacements remain.
  const waiting = gate && !gate.go && desired.ok ? desired.value.services : [];
  deps.pulls.retain(
    new Set([...target.services, ...waiting].map((s) => s.imageRef)),
    'no longer wanted by the newest commit',
  );
  if (gate && !gate.go && gate.prePull)
    for (const service of waiting)
      deps.pulls.ensure(service, input.stopping).catch(() => {
        // Its failure is the pass's to report once the gate opens.
      });
  let outcome: ReconcileResult;
  try {
    outcome = await converge(deps, input, target);
  } catch (err) {
    // Only listing the containers fails a whole pass: the engine is away, or refuses.
    errors.push(errorOf(err, 'GITDOCK_E_ENGINE_REQUEST'));
    deps.log.error({ err: messageOf(err) }, 'reconcile failed');
    const away = isGitdockError(err, 'GITDOCK_E_ENGINE_UNREACHABLE');
    return {
      ...known,
      result: invalid ? 'invalid' : 'failure',
      commit,
      target,
      engine: away ? { reachable: false, error: messageOf(err) } : { reachable: true },
      transient: true,
    };
  }
  recordHolds(deps, target, outcome.outcomes, await engineWentAway(deps, outcome));
  errors.push(...outcomeErrors(outcome), ...heldErrors(deps, target, outcome));
  const { services, engine } = await readBack(deps, target);
  const removing = outcome.outcomes.some((o) => o.waiting && o.action === 'wait');
  const requeueAfterMs = Math.min(
    removing ? WAIT_REQUEUE_MS : Number.POSITIVE_INFINITY,
    gateRequeueMs,
  );
  return {
    ...known,
    ...wave,
    result: invalid ? 'invalid' : gated ? 'gated' : resultOf(outcome, input),
    commit,
    target,
    acted: outcome.outcomes.some((o) => o.action !== 'in-sync' && !o.skipped),
    services,
    engine,
    // A failed pull backs off through its hold; a failed fetch or an engine gone, through the loop.
    transient: fetchFailed || !engine.reachable,
    ...(Number.isFinite(requeueAfterMs) ? { requeueAfterMs } : {}),
  };
}

/**
 * The desired state at the commit the host runs, while a newer one waits
 * for its wave: the last valid target when it is that commit, else read
 * from git. None on a host that has applied nothing yet.
 */
async function desiredAtCurrent(
  deps: PassDeps,
  input: PassInput,
  current: string | undefined,
): Promise<HostState | undefined> {
  if (current === undefined) return undefined;
  if (input.lastValid?.commit === current) return input.lastValid;
  const read = await resolveAt(deps, current).catch(() => undefined);
  return read?.desired.ok ? read.desired.value : undefined;
}

/** The host's desired state at a commit, as every pass resolves it, and how many hosts the fleet has. */
async function resolveAt(
  deps: PassDeps,
  commit: string,
): Promise<{ desired: Result<HostState>; fleetHosts?: number }> {
  const { fleet } = await readRevision({ git: deps.source.git, rev: commit });
  if (!fleet.ok) return { desired: fleet };
  const resolved = resolveHost(fleet.value, deps.host, commit, {
    hostEnv: (await deps.hostEnv?.()) ?? new Map(),
  });
  const desired =
    resolved.ok && deps.rewriteDesired
      ? { ok: true as const, value: deps.rewriteDesired(resolved.value) }
      : resolved;
  return { desired, fleetHosts: fleet.value.knownHosts.length };
}

/** Fetches a remote when asked; a failure is reported, and the commit already fetched is used. */
async function fetchIfAsked(
  deps: PassDeps,
  input: PassInput,
  errors: StatusError[],
): Promise<PassResult['git']> {
  if (!input.fetch || !deps.source.remote) return undefined;
  try {
    await deps.source.update(input.stopping);
    return { reachable: true, fetchedAt: deps.clock.now() };
  } catch (err) {
    errors.push(errorOf(err, 'GITDOCK_E_GIT_FETCH'));
    deps.log.warn(
      { err: messageOf(err) },
      'fetch failed; going on with the commit already fetched',
    );
    return { reachable: false, error: messageOf(err) };
  }
}

/** The branch's commit and the host's desired state there (invalid manifests as errors). */
async function readDesired(
  deps: PassDeps,
  errors: StatusError[],
): Promise<
  { ok: true; commit: string; desired: Result<HostState>; fleetHosts?: number } | { ok: false }
> {
  const { source, log } = deps;
  try {
    const commit = await source.head();
    const { desired, fleetHosts } = await resolveAt(deps, commit);
    if (!desired.ok) {
      errors.push(...manifestErrorsToStatus(desired.errors));
      log.error({ commit, errors: desired.errors.length }, 'revision is invalid; nothing applied');
      for (const e of desired.errors)
        log.error({ commit, file: e.file, line: e.line, column: e.column }, e.message);
    }
    return { ok: true, commit, desired, ...(fleetHosts !== undefined ? { fleetHosts } : {}) };
  } catch (err) {
    errors.push(errorOf(err, 'GITDOCK_E_GIT_READ'));
    log.error({ err: messageOf(err) }, 'reading the branch failed');
    return { ok: false };
  }
}

/** The failures of a pass's services for /status: attempts that failed, and a refused plan. */
function outcomeErrors(outcome: ReconcileResult): StatusError[] {
  const errors: StatusError[] = outcome.outcomes
    .filter((o) => !o.ok && !o.skipped && !o.preempted && !o.waiting)
    .map((o) => ({
      code: o.code ?? 'GITDOCK_E_APPLY_FAILED',
      message: `${o.service}: ${o.error ?? 'failed'}`,
      service: o.service,
    }));
  if (outcome.plan.refused)
    errors.push({ code: 'GITDOCK_E_EMPTY_HOST_REFUSED', message: outcome.plan.refused });
  return errors;
}

/**
 * Whether the engine is gone after a pass in which something failed: then
 * the failures may be its doing (a dockerd shutting down refuses to start
 * what it just stopped), and none of them counts as a failed release.
 */
async function engineWentAway(deps: PassDeps, outcome: ReconcileResult): Promise<boolean> {
  const failed = outcome.outcomes.some(
    (o) => !o.ok && !o.skipped && !o.preempted && !o.waiting && o.action !== 'conflict',
  );
  return failed && !(await engineAnswers(deps.engine));
}

/**
 * The services held at a failure that this pass did not try again: their
 * failure stays among the errors for as long as it holds.
 */
function heldErrors(deps: PassDeps, target: HostState, outcome: ReconcileResult): StatusError[] {
  const now = deps.clock.now();
  const errors: StatusError[] = [];
  for (const o of outcome.outcomes) {
    if (!o.skipped) continue;
    const desired = target.services.find((s) => s.name === o.service);
    const hold = desired && deps.holds.get(desired.name, desired.specHash);
    if (hold)
      errors.push({
        code: hold.code,
        message: `${o.service}: ${describeHold(hold, now)}`,
        service: o.service,
      });
  }
  return errors;
}

/** Every service's state after the pass, or why the engine could not say. */
async function readBack(
  deps: PassDeps,
  target: HostState,
): Promise<{ services: ServiceStatus[] | undefined; engine: PassResult['engine'] }> {
  try {
    return { services: await readServiceStatuses(deps, target), engine: { reachable: true } };
  } catch (err) {
    const away = isGitdockError(err, 'GITDOCK_E_ENGINE_UNREACHABLE');
    return {
      services: undefined,
      engine: away ? { reachable: false, error: messageOf(err) } : { reachable: true },
    };
  }
}

function resultOf(outcome: ReconcileResult, input: PassInput): PassResult['result'] {
  if (outcome.plan.refused) return 'refused';
  if (input.signal.aborted) return 'preempted';
  if (input.stopping.aborted && outcome.outcomes.some((o) => o.skipped || o.preempted))
    return 'stopped';
  if (outcome.ok) return 'success';
  return outcome.outcomes.every((o) => o.ok || o.waiting) ? 'waiting' : 'failure';
}

function converge(deps: PassDeps, input: PassInput, target: HostState): Promise<ReconcileResult> {
  const { holds, clock } = deps;
  const startFirstRetries = new Set<string>();
  return reconcileHost({
    engine: deps.engine,
    desired: target,
    clock,
    log: deps.log,
    signal: input.signal,
    stopping: input.stopping,
    superseded: input.superseded,
    ...(input.handOver ? { handOver: input.handOver } : {}),
    images: deps.pulls,
    ...(deps.stateDir !== undefined ? { stateDir: deps.stateDir } : {}),
    hold: (action: Action) => {
      if (!('desired' in action)) return undefined;
      const verdict = holds.verdict(action.desired, clock.now());
      if (verdict.type === 'hold') return verdict.reason;
      if (verdict.type === 'retry') {
        deps.log.info(
          { service: action.service, startFirst: verdict.startFirst },
          'retrying a held spec',
        );
        if (verdict.startFirst) startFirstRetries.add(action.service);
      }
      return undefined;
    },
    rolloutFor: (action: Action) =>
      'desired' in action && startFirstRetries.has(action.service)
        ? { ...action.desired.rollout, order: 'start-first' }
        : undefined,
  });
}

/** Successes and in-sync services end their holds; a failed attempt starts or extends one. */
function recordHolds(
  deps: PassDeps,
  target: HostState,
  outcomes: readonly ServiceOutcome[],
  engineAway: boolean,
): void {
  const now = deps.clock.now();
  for (const o of outcomes) {
    const desired = target.services.find((s) => s.name === o.service);
    if (!desired) continue;
    if (o.ok) {
      deps.holds.clear(o.service);
      continue;
    }
    // Held, preempted, stopping, waiting on the engine or a pull, or a name conflict: no new attempt failed.
    if (o.skipped || o.preempted || o.waiting || o.action === 'conflict') continue;
    // Only a new spec that failed is a failed release. Starting again a
    // container that ran at this spec (drift healing), a pull, or anything
    // while the engine went away (a dockerd shutting down refuses to start
    // what it has just stopped) is retried after a backoff.
    const transient =
      engineAway ||
      o.action === 'start' ||
      o.pullFailed === true ||
      o.code === 'GITDOCK_E_ENGINE_UNREACHABLE';
    deps.holds.recordFailure(
      {
        service: o.service,
        specHash: desired.specHash,
        commit: target.commit,
        kind: transient ? 'transient' : 'rollout',
        code: o.code ?? 'GITDOCK_E_APPLY_FAILED',
        reason: o.error ?? 'failed',
        ...(o.lastLogLines ? { lastLogLines: o.lastLogLines } : {}),
      },
      now,
      desired,
    );
  }
}

/** Pulls that failed in the background since the last pass fail the services of their image. */
function recordPullFailures(deps: PassDeps, target: HostState): void {
  const failed = deps.pulls.takeFailures();
  if (failed.size === 0) return;
  const now = deps.clock.now();
  for (const service of target.services) {
    const error = failed.get(service.imageRef);
    if (!error || error.data.aborted === true) continue;
    deps.holds.recordFailure(
      {
        service: service.name,
        specHash: service.specHash,
        commit: target.commit,
        kind: 'transient',
        code: error.code,
        reason: error.message,
      },
      now,
      service,
    );
  }
}

function errorOf(err: unknown, fallback: ErrorCode): StatusError {
  return { code: isGitdockError(err) ? err.code : fallback, message: messageOf(err) };
}
