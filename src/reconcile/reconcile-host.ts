import type { Engine, PullProgress } from '../core/engine.js';
import { DEFAULTS } from '../core/normalize.js';
import { type Action, type ActionType, nextName, type Plan, planHost } from '../core/plan.js';
import { decodeSpecLabel, encodeSpecLabel } from '../core/spec-hash.js';
import { type DesiredService, type HostState, LABELS } from '../core/types.js';
import { type ErrorCode, isGitdockError } from '../errors.js';
import type { Log } from '../log.js';
import type { Clock } from './clock.js';
import { abortReason, waitUntilUp } from './wait-until-up.js';

/** Pulls run in parallel, a few at a time: layers already present never travel. */
const PULL_CONCURRENCY = 3;
/** Lines of a failed container's log quoted in its failure report. */
const LOG_TAIL_LINES = 10;

export type ProgressEvent =
  | { type: 'pull-progress'; progress: PullProgress }
  | { type: 'pull-done'; ref: string; error?: string }
  | { type: 'action-start'; service: string; action: ActionType }
  | { type: 'action-done'; outcome: ServiceOutcome };

export interface ReconcileOptions {
  engine: Engine;
  desired: HostState;
  clock: Clock;
  log: Log;
  /** Plan only: no pull, no engine mutation. */
  dryRun?: boolean;
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Aborted when a newer commit arrives: a replacement still waiting to
   * come up is undone (old container started again), actions not begun are
   * skipped, and the result says so.
   */
  signal?: AbortSignal;
  /**
   * Aborted when the agent is asked to stop: actions in progress finish
   * (a replacement comes up or is undone), actions not begun are skipped.
   */
  stopping?: AbortSignal;
  /**
   * Asked before a service is created, recreated or started: a reason
   * string holds the action back (the agent's backoff for a spec that
   * failed), undefined lets it run.
   */
  hold?: (action: Action) => string | undefined;
}

export interface ServiceOutcome {
  service: string;
  action: ActionType;
  reasons: string[];
  ok: boolean;
  /** What went wrong, for a failed action; says what is still running. */
  error?: string;
  /** The container running the service afterwards, when there is one. */
  containerId?: string;
  /** Not attempted: held back by `hold`, or preempted or stopped before it began. */
  skipped?: boolean;
  /** Failed because its image could not be pulled (a registry problem, not the release). */
  pullFailed?: boolean;
  /** The error code of a failure, from `errors.ts`, for lookup in docs/errors.md. */
  code?: ErrorCode;
  /** The last log lines of a new container that did not come up (also in `error`). */
  lastLogLines?: string[];
  durationMs: number;
}

export interface ReconcileResult {
  host: string;
  commit: string;
  plan: Plan;
  /** One per action of the plan, in plan order (empty for a dry run or a refused plan). */
  outcomes: ServiceOutcome[];
  /** Image references pulled in this run. */
  pulled: string[];
  ok: boolean;
}

/**
 * One convergence of one host: list what runs, plan against the desired
 * state, pull what is needed, then execute the plan. Every failure is
 * confined to its service: the others go on, the old container of a failed
 * service keeps running, and the result says what failed and why.
 */
export async function reconcileHost(options: ReconcileOptions): Promise<ReconcileResult> {
  const { engine, desired, log, dryRun = false } = options;
  const emit = options.onProgress ?? (() => {});
  let plan = planHost({ desired, actual: await engine.listContainers() });
  const result = (outcomes: ServiceOutcome[], pulled: string[] = []): ReconcileResult => ({
    host: desired.host,
    commit: desired.commit,
    plan,
    outcomes,
    pulled,
    ok: plan.refused === undefined && outcomes.every((o) => o.ok),
  });
  if (plan.refused) {
    log.error({ host: desired.host, commit: desired.commit, reason: plan.refused }, 'plan refused');
    return result([]);
  }
  if (dryRun) return result([]);

  // Pull before anything is stopped: a missing image must never cost a running service.
  const toPull = await imagesToPull(engine, plan);
  const pullErrors = await pullAll(options, toPull, emit);
  const pulledAlways = toPull.filter(
    (ref) =>
      !pullErrors.has(ref) &&
      desired.services.some((s) => s.imageRef === ref && s.rollout.pull === 'always'),
  );
  if (pulledAlways.length > 0) {
    // A tag may have moved: re-plan with what each pulled reference resolves to now.
    const imageIds = new Map<string, string>();
    for (const ref of pulledAlways) {
      const id = await engine.imageId(ref);
      if (id) imageIds.set(ref, id);
    }
    plan = planHost({ desired, actual: await engine.listContainers(), imageIds });
  }

  const outcomes = await executePlan(options, plan, pullErrors, emit);
  return result(
    outcomes,
    toPull.filter((ref) => !pullErrors.has(ref)),
  );
}

/** References the plan needs that must be pulled: missing ones, and all `pull: always` ones. */
async function imagesToPull(engine: Engine, plan: Plan): Promise<string[]> {
  const refs = new Set<string>();
  for (const action of plan.actions) {
    if (!('desired' in action) || action.type === 'conflict') continue;
    const { imageRef, rollout } = action.desired;
    if (rollout.pull === 'always') refs.add(imageRef);
    else if (
      (action.type === 'create' || action.type === 'recreate') &&
      !(await engine.imageId(imageRef))
    ) {
      refs.add(imageRef);
    }
  }
  return [...refs].sort();
}

async function pullAll(
  options: ReconcileOptions,
  refs: string[],
  emit: (e: ProgressEvent) => void,
): Promise<Map<string, string>> {
  const { engine, log } = options;
  const errors = new Map<string, string>();
  const queue = [...refs];
  const worker = async () => {
    for (let ref = queue.shift(); ref !== undefined; ref = queue.shift()) {
      // Stopping: pulls under way finish, the rest wait for the next start.
      if (options.stopping?.aborted) return;
      log.info({ image: ref }, 'pulling image');
      try {
        await engine.pullImage(ref, (progress) => emit({ type: 'pull-progress', progress }));
        log.info({ image: ref }, 'image pulled');
        emit({ type: 'pull-done', ref });
      } catch (err) {
        const message = (err as Error).message;
        log.error({ image: ref, err: message }, 'image pull failed');
        errors.set(ref, message);
        emit({ type: 'pull-done', ref, error: message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PULL_CONCURRENCY, refs.length) }, worker));
  return errors;
}

/**
 * Runs the plan: removals first, one by one; then every service as soon as
 * the services it depends on are done, so independent services roll out
 * (and wait out their settle time) side by side.
 */
async function executePlan(
  options: ReconcileOptions,
  plan: Plan,
  pullErrors: Map<string, string>,
  emit: (e: ProgressEvent) => void,
): Promise<ServiceOutcome[]> {
  const outcomes = new Map<Action, ServiceOutcome>();
  const run = async (action: Action) => {
    emit({ type: 'action-start', service: action.service, action: action.type });
    const outcome = await runAction(options, action, pullErrors);
    outcomes.set(action, outcome);
    emit({ type: 'action-done', outcome });
  };
  const removals = plan.actions.filter((a) => a.type === 'remove');
  for (const action of removals) await run(action);

  const done = new Map<string, Promise<void>>();
  for (const action of plan.actions) {
    if (action.type === 'remove') continue;
    const deps = 'desired' in action ? action.desired.dependsOn : [];
    done.set(
      action.service,
      Promise.all(deps.map((d) => done.get(d))).then(() => run(action)),
    );
  }
  await Promise.all(done.values());
  return plan.actions.map((a) => outcomes.get(a)!);
}

async function runAction(
  options: ReconcileOptions,
  action: Action,
  pullErrors: Map<string, string>,
): Promise<ServiceOutcome> {
  const { engine, clock, log } = options;
  const started = clock.now();
  const base = {
    service: action.service,
    action: action.type,
    reasons: 'reasons' in action ? action.reasons : [],
  };
  const finish: Finish = (ok, extra = {}) => {
    const outcome = { ...base, ok, ...extra, durationMs: clock.now() - started };
    const fields = {
      service: action.service,
      action: action.type,
      reasons: base.reasons,
      ...extra,
    };
    if (ok && action.type === 'in-sync') log.debug(fields, 'service in sync');
    else if (ok) log.info(fields, 'service converged');
    else log.error(fields, 'service failed');
    return outcome;
  };

  if (action.type !== 'in-sync' && action.type !== 'conflict') {
    const held = options.signal?.aborted
      ? `${abortReason(options.signal)} before it began`
      : options.stopping?.aborted
        ? 'not begun: the agent is stopping'
        : action.type !== 'remove'
          ? options.hold?.(action)
          : undefined;
    if (held) return { ...finish(false, { error: held }), skipped: true };
  }
  try {
    switch (action.type) {
      case 'in-sync':
        return finish(true, { containerId: action.container.id });
      case 'conflict':
        return finish(false, { error: action.reasons.join('; '), code: 'GITDOCK_E_NAME_CONFLICT' });
      case 'remove':
        await engine.stopContainer(
          action.container.id,
          recordedGracePeriod(action.container.labels),
        );
        await engine.removeContainer(action.container.id);
        return finish(true);
      case 'start': {
        await engine.startContainer(action.container.id);
        const up = await waitUntilUp(
          engine,
          action.container.id,
          action.desired.rollout,
          clock,
          options.signal,
        );
        if (up.up) return finish(true, { containerId: action.container.id });
        const lines = await lastLogLines(engine, action.container.id);
        return finish(false, {
          error: `${up.reason}${formatLogLines(lines)}`,
          code: 'GITDOCK_E_ROLLOUT_FAILED',
          ...(lines.length > 0 ? { lastLogLines: lines } : {}),
        });
      }
      case 'create':
      case 'recreate': {
        const pullError = pullErrors.get(action.desired.imageRef);
        if (pullError) {
          return finish(false, {
            pullFailed: true,
            code: 'GITDOCK_E_PULL_FAILED',
            error:
              `${pullError}` +
              (action.type === 'recreate' ? '; the running container was left as it is' : ''),
          });
        }
        return action.type === 'create'
          ? action.adopt
            ? await adopt(options, action.desired, action.adopt.id, finish)
            : await create(options, action.desired, finish)
          : await replace(
              options,
              action.desired,
              action.container,
              action.interrupted === true,
              finish,
            );
      }
    }
  } catch (err) {
    return isGitdockError(err)
      ? finish(false, { error: err.message, code: err.code })
      : finish(false, { error: String(err) });
  }
}

type Finish = (
  ok: boolean,
  extra?: {
    error?: string;
    containerId?: string;
    pullFailed?: boolean;
    code?: ErrorCode;
    lastLogLines?: string[];
  },
) => ServiceOutcome;

async function create(options: ReconcileOptions, desired: DesiredService, finish: Finish) {
  const { engine, clock } = options;
  const id = await engine.createContainer(
    createOptions(desired, desired.name, options.desired.commit),
  );
  const up = await startAndWait(engine, id, desired, clock, options.signal);
  if (up.up) return finish(true, { containerId: id });
  // Nothing ran before: remove the failed container so the next apply retries cleanly.
  const lines = await lastLogLines(engine, id);
  await engine.removeContainer(id);
  return finish(false, {
    error: `${up.reason}${formatLogLines(lines)}`,
    code: 'GITDOCK_E_ROLLOUT_FAILED',
    ...(lines.length > 0 ? { lastLogLines: lines } : {}),
  });
}

/**
 * Finishes an update cut short after the old container was removed: the
 * replacement, already made to this spec, is started if it is not running,
 * must come up like any new container, and takes the service's name. If it
 * does not come up it is removed and a container is made afresh.
 */
async function adopt(
  options: ReconcileOptions,
  desired: DesiredService,
  id: string,
  finish: Finish,
) {
  const { engine, clock, log } = options;
  const up = await startAndWait(engine, id, desired, clock, options.signal);
  if (!up.up) {
    log.warn(
      { service: desired.name, reason: up.reason },
      'left-over replacement did not come up; making a new container',
    );
    await engine.removeContainer(id);
    return create(options, desired, finish);
  }
  await engine.renameContainer(id, desired.name);
  return finish(true, { containerId: id });
}

/**
 * The replace sequence (DESIGN section 3): the new container is created
 * under a temporary name while the old one still runs; the old one is only
 * stopped (stop-first) or kept running (start-first) until the new one is up;
 * then the old one is removed and the new one takes the service's name. If
 * the new one does not come up it is removed and the old one started again.
 */
async function replace(
  options: ReconcileOptions,
  desired: DesiredService,
  old: { id: string; state: string; labels: Record<string, string> },
  interrupted: boolean,
  finish: Finish,
) {
  const { engine, clock, log } = options;
  // After an interrupted update the old container may be stopped only
  // because the update stopped it: it counts as running, so a failure
  // starts it again.
  const wasRunning = old.state === 'running' || old.state === 'restarting' || interrupted;
  const gracePeriod = recordedGracePeriod(old.labels);
  const id = await engine.createContainer(
    createOptions(desired, nextName(desired.name), options.desired.commit),
  );
  const startFirst = desired.rollout.order === 'start-first';
  if (!startFirst && wasRunning) await engine.stopContainer(old.id, gracePeriod);
  const up = await startAndWait(engine, id, desired, clock, options.signal);
  if (!up.up) {
    const lines = await lastLogLines(engine, id);
    await engine.removeContainer(id);
    if (wasRunning) await engine.startContainer(old.id);
    log.warn(
      { service: desired.name, reason: up.reason },
      'new container failed; old container kept',
    );
    return finish(false, {
      error: `new container ${up.reason}; ${wasRunning ? 'the old container was started again' : 'the old container was left as it was'}${formatLogLines(lines)}`,
      containerId: old.id,
      code: 'GITDOCK_E_ROLLOUT_FAILED',
      ...(lines.length > 0 ? { lastLogLines: lines } : {}),
    });
  }
  if (startFirst && wasRunning) await engine.stopContainer(old.id, gracePeriod);
  await engine.removeContainer(old.id);
  await engine.renameContainer(id, desired.name);
  return finish(true, { containerId: id });
}

async function startAndWait(
  engine: Engine,
  id: string,
  desired: DesiredService,
  clock: Clock,
  signal: AbortSignal | undefined,
): ReturnType<typeof waitUntilUp> {
  try {
    await engine.startContainer(id);
  } catch (err) {
    if (!isGitdockError(err)) throw err;
    return { up: false, reason: `could not start: ${err.message}` };
  }
  return waitUntilUp(engine, id, desired.rollout, clock, signal);
}

function createOptions(desired: DesiredService, name: string, commit: string) {
  return {
    name,
    image: desired.imageRef,
    spec: desired.spec,
    labels: {
      [LABELS.host]: desired.host,
      [LABELS.service]: desired.name,
      [LABELS.specHash]: desired.specHash,
      [LABELS.image]: desired.imageRef,
      [LABELS.commit]: commit,
      [LABELS.spec]: encodeSpecLabel(desired.spec),
      [LABELS.dependsOn]: desired.dependsOn.join(','),
    },
  };
}

function recordedGracePeriod(labels: Record<string, string>): number {
  return decodeSpecLabel(labels[LABELS.spec])?.stopGracePeriodMs ?? DEFAULTS.stopGracePeriodMs;
}

/** The container's last log lines; none when the engine cannot give them (never fatal). */
async function lastLogLines(engine: Engine, id: string): Promise<string[]> {
  try {
    const text = (await engine.logTail(id, LOG_TAIL_LINES)).trimEnd();
    return text ? text.split('\n').map((line) => line.trimEnd()) : [];
  } catch {
    return [];
  }
}

function formatLogLines(lines: readonly string[]): string {
  return lines.length > 0 ? `\n  last log lines:\n${lines.map((l) => `    ${l}`).join('\n')}` : '';
}
