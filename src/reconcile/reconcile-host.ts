import type { Engine, PullProgress } from '../core/engine.js';
import { type Action, type ActionType, type Plan, planHost, shortId } from '../core/plan.js';
import type { ResourceAction } from '../core/resource-plan.js';
import { DEFAULT_MAX_PARALLEL } from '../core/schema.js';
import type {
  ActualContainer,
  ActualNetwork,
  ActualVolume,
  DesiredService,
  HostState,
  RolloutPolicy,
} from '../core/types.js';
import { type ErrorCode, isGitdockError, messageOf } from '../errors.js';
import { type Log, withSecretsMasked } from '../log.js';
import {
  applyResourcesAfter,
  applyResourcesBefore,
  type ResourceOutcome,
  type ResourcesBefore,
} from './apply-resources.js';
import { anySignal, type Clock } from './clock.js';
import { createPullRegistry, ensureImage } from './ensure-image.js';
import { createLimit } from './limit.js';
import {
  adoptReplacement,
  createService,
  type DependencyCondition,
  removeContainer,
  replaceService,
  type StepContext,
  type StepResult,
  startService,
  waitForDependency,
} from './replace.js';
import { abortReason } from './wait-until-up.js';

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
   * Aborted when a newer commit arrives: pulls in flight are cut, actions
   * not begun are skipped, and a replacement still waiting to come up is
   * undone (old container started again) when `superseded` says the newer
   * commit changes that service; otherwise it is let finish.
   */
  signal?: AbortSignal;
  /** With `signal` aborted: does the newer commit change this service? Default: yes. */
  superseded?: (service: string) => boolean;
  /**
   * With `signal` aborted for this service: is the newer commit's image for
   * it already on the host? Then a stop-first replacement in flight hands
   * the service over to the next pass instead of starting the old container
   * again, so a burst of commits stops it once, not once per commit.
   */
  handOver?: (service: string) => boolean;
  /**
   * Aborted when the agent is asked to stop: pulls are cut, actions in
   * progress finish (a replacement comes up or is undone), actions not
   * begun are skipped.
   */
  stopping?: AbortSignal;
  /**
   * Asked before a service is created, recreated or started: a reason
   * string holds the action back (the agent's hold on a spec that failed),
   * undefined lets it run.
   */
  hold?: (action: Action) => string | undefined;
  /** How this action's service is rolled out, when not as its manifest says (a start-first retry). */
  rolloutFor?: (action: Action) => RolloutPolicy | undefined;
  /**
   * Where images come from. Default: pulled inline (a missing image is
   * pulled, then the service goes on). The agent pulls in the background
   * instead, so a pass never waits on a registry.
   */
  images?: ImageProvider;
  /**
   * The state directory: repo files a service mounts are written under it,
   * and host data lives under it by default. A service that mounts either
   * fails (GITDOCK_E_STATE_DIR) without it; the others are not concerned.
   */
  stateDir?: string;
}

/** Makes a service's image available on the host. */
export interface ImageProvider {
  /**
   * The local image ID to run, or `pending` while a pull is under way (the
   * service waits for a later pass). Rejects with GITDOCK_E_PULL_FAILED.
   */
  ensure(
    desired: DesiredService,
    signal: AbortSignal,
  ): Promise<{ id: string } | { pending: string }>;
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
  /** Cut short or undone because a newer commit arrived or the agent is stopping. */
  preempted?: boolean;
  /** The container is being removed by the engine: look again soon. */
  waiting?: boolean;
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
  /** One per resource action of the plan, in plan order (empty for a dry run or a refused plan). */
  resources: ResourceOutcome[];
  /** Image references pulled in this run. */
  pulled: string[];
  ok: boolean;
}

/**
 * One convergence of one host: list what runs, plan against the desired
 * state, then converge every service on its own: pull its image (before
 * anything of it is stopped), then create, replace or start it. Every
 * failure is confined to its service: a stalled pull or an engine refusal
 * holds up that service alone, the others go on, the old container of a
 * failed service keeps running, and the result says what failed and why.
 * Only a failure to list the containers (the engine away) fails the whole.
 */
export async function reconcileHost(given: ReconcileOptions): Promise<ReconcileResult> {
  // Host secrets can reach log lines (a failed container's last output):
  // every line this run logs is masked with them.
  const options = {
    ...given,
    log: withSecretsMasked(
      given.log,
      given.desired.services.flatMap((s) => s.secretValues ?? []),
    ),
  };
  const { engine, desired, log, dryRun = false } = options;
  const plan = planHost({ desired, ...(await readActualState(engine, desired)) });
  const result = (
    outcomes: ServiceOutcome[],
    resources: ResourceOutcome[] = [],
    pulled: string[] = [],
  ): ReconcileResult => ({
    host: desired.host,
    commit: desired.commit,
    plan,
    outcomes,
    resources,
    pulled,
    ok:
      plan.refused === undefined &&
      outcomes.every((o) => o.ok) &&
      resources.every((r) => r.ok || r.skipped === true),
  });
  if (plan.refused) {
    log.error({ host: desired.host, commit: desired.commit, reason: plan.refused }, 'plan refused');
    return result([]);
  }
  if (dryRun) return result([]);
  const emit = options.onProgress ?? (() => {});
  const pulls = createPullRegistry(engine, log, {
    onProgress: (progress) => emit({ type: 'pull-progress', progress }),
    onDone: (ref, error) => emit({ type: 'pull-done', ref, ...(error ? { error } : {}) }),
  });
  const images: ImageProvider = options.images ?? {
    ensure: async (service, signal) => ({ id: await ensureImage(pulls, service, signal) }),
  };
  const { outcomes, resources } = await executePlan(options, plan, images, emit);
  return result(outcomes, resources, [...pulls.pulled].sort());
}

/** What `planHost` compares the desired state with, read from the engine. */
export interface ActualState {
  actual: ActualContainer[];
  networks: ActualNetwork[];
  volumes: ActualVolume[];
}

/**
 * Every container, network and volume on the engine, read at once. A
 * one-shot's container that has exited is inspected for its exit code when
 * the listing lacks it: exited 0 is done, anything else is run again.
 */
export async function readActualState(engine: Engine, desired: HostState): Promise<ActualState> {
  const [actual, networks, volumes] = await Promise.all([
    engine.listContainers(),
    engine.listNetworks(),
    engine.listVolumes(),
  ]);
  const oneShots = new Set(desired.services.filter((s) => s.oneShot).map((s) => s.containerName));
  const withCodes = await Promise.all(
    actual.map(async (c) => {
      if (!oneShots.has(c.name) || c.state !== 'exited' || 'exitCode' in c) return c;
      const status = await engine.inspectContainer(c.id);
      return { ...c, exitCode: status.exitCode } as ActualContainer;
    }),
  );
  return { actual: withCodes, networks, volumes };
}

/**
 * Runs the plan: removals first, one by one; then networks and volumes the
 * services need; then every service as soon as the services it depends on
 * are done (and, where it says so, healthy or completed), so independent
 * services roll out (and wait out their settle time) side by side, at most
 * `max_parallel` of them at once; last, networks and volumes no longer wanted.
 */
async function executePlan(
  options: ReconcileOptions,
  plan: Plan,
  images: ImageProvider,
  emit: (e: ProgressEvent) => void,
): Promise<{ outcomes: ServiceOutcome[]; resources: ResourceOutcome[] }> {
  const { engine, clock, log } = options;
  const outcomes = new Map<Action, ServiceOutcome>();
  const record = (action: Action, outcome: ServiceOutcome) => {
    outcomes.set(action, outcome);
    emit({ type: 'action-done', outcome });
  };
  const run = async (action: Action, before: ResourcesBefore | undefined) => {
    emit({ type: 'action-start', service: action.service, action: action.type });
    record(action, await runAction(options, action, images, before));
  };
  for (const action of plan.actions.filter((a) => a.type === 'remove')) {
    await run(action, undefined);
  }

  const resourceActions = plan.resources ?? [];
  const before =
    resourceActions.length > 0
      ? await applyResourcesBefore(
          {
            engine,
            clock,
            log,
            host: options.desired.host,
            containerOf: (service) => containerOf(plan, service),
            holdRecreate: (action) => holdNetworkRecreate(options, plan, action, images),
          },
          resourceActions,
        )
      : undefined;

  // A service takes a place only once its dependencies are done and their
  // conditions met (a `service_healthy` wait can be long): holding one while
  // waiting would idle it, and could starve the very dependency it waits for.
  const limit = createLimit(options.desired.maxParallel ?? DEFAULT_MAX_PARALLEL);
  const done = new Map<string, Promise<ServiceOutcome | undefined>>();
  const byService = new Map(
    plan.actions.filter((a) => a.type !== 'remove').map((a) => [a.service, a]),
  );
  for (const action of plan.actions) {
    if (action.type === 'remove') continue;
    const deps = 'desired' in action ? action.desired.dependsOn : [];
    done.set(
      action.service,
      Promise.all(deps.map((d) => done.get(d))).then(async (depOutcomes) => {
        const unmet = await unmetDependency(options, action, byService, deps, depOutcomes);
        if (unmet) {
          record(action, dependencyFailure(options, action, unmet));
        } else if (touchesContainers(action)) {
          await limit(() => run(action, before));
        } else {
          await run(action, before);
        }
        return outcomes.get(action);
      }),
    );
  }
  await Promise.all(done.values());
  const after = await applyResourcesAfter({ engine, clock, log }, resourceActions);
  return {
    outcomes: plan.actions.map((a) => outcomes.get(a)!),
    resources: resourceActions.map((r) => before?.outcomes.get(r) ?? after.get(r)!),
  };
}

/**
 * Whether an action may create, replace or start a container, and so counts
 * against `max_parallel`. In sync, conflict and wait only report, unless
 * `pull: always` may turn an in-sync service into a replacement.
 */
function touchesContainers(action: Action): boolean {
  if (action.type === 'in-sync') return action.desired.rollout.pull === 'always';
  return action.type === 'create' || action.type === 'recreate' || action.type === 'start';
}

/** The container a service has in the plan (for removal before its network is recreated). */
function containerOf(plan: Plan, service: string): ActualContainer | undefined {
  const action = plan.actions.find((a) => a.type === 'recreate' && a.service === service);
  return action && action.type === 'recreate' && action.removedFirst ? action.container : undefined;
}

/**
 * Recreating a network stops its services until they are made again: not
 * while the pass is cut short, a service on it is held back, or the image
 * of one is not here yet.
 */
async function holdNetworkRecreate(
  options: ReconcileOptions,
  plan: Plan,
  network: Extract<ResourceAction, { type: 'network-recreate' }>,
  images: ImageProvider,
): Promise<string | undefined> {
  if (options.signal?.aborted) return `${abortReason(options.signal)} before it began`;
  if (options.stopping?.aborted) return 'not begun: the agent is stopping';
  const pulls = anySignal([options.signal, options.stopping]);
  try {
    for (const service of network.recreate) {
      const action = plan.actions.find((a) => a.service === service && a.type !== 'remove');
      if (!action || !('desired' in action)) continue;
      const held = options.hold?.(action);
      if (held) return `${service}: ${held}`;
      try {
        const image = await images.ensure(action.desired, pulls.signal);
        if ('pending' in image) return `${service}: ${image.pending}`;
      } catch (err) {
        return `${service}: ${messageOf(err)}`;
      }
    }
    return undefined;
  } finally {
    pulls.dispose();
  }
}

/**
 * Before a service is started, what `depends_on` conditions ask of its
 * dependencies: `service_healthy` (healthy now) and
 * `service_completed_successfully` (exited 0), each waited for within the
 * dependency's health timeout. Undefined when met, or when this action
 * starts nothing.
 */
async function unmetDependency(
  options: ReconcileOptions,
  action: Action,
  byService: ReadonlyMap<string, Action>,
  deps: readonly string[],
  depOutcomes: readonly (ServiceOutcome | undefined)[],
): Promise<string | { waiting: true; reason: string } | undefined> {
  if (action.type !== 'create' && action.type !== 'recreate' && action.type !== 'start') {
    return undefined;
  }
  const conditions = action.desired.dependsOnConditions ?? {};
  for (const [i, dep] of deps.entries()) {
    const condition = conditions[dep];
    if (condition !== 'service_healthy' && condition !== 'service_completed_successfully') continue;
    const outcome = depOutcomes[i];
    const depAction = byService.get(dep);
    const id =
      outcome?.containerId ??
      (depAction && 'container' in depAction ? depAction.container.id : undefined);
    if (!id) {
      // A dependency that waits (its image is being pulled, its old container
      // removed) has not failed: the dependent waits with it.
      if (outcome?.waiting)
        return {
          waiting: true,
          reason: `${dep} ${describeCondition(condition)}: it waits (${outcome.error ?? 'not ready'})`,
        };
      return `${dep} ${describeCondition(condition)}: ${outcome?.error ? `it failed: ${outcome.error}` : 'it has no container'}`;
    }
    const timeoutMs =
      depAction && 'desired' in depAction
        ? depAction.desired.rollout.healthTimeoutMs
        : action.desired.rollout.healthTimeoutMs;
    try {
      const unmet = await waitForDependency(
        { engine: options.engine, clock: options.clock, signal: options.signal },
        id,
        condition as DependencyCondition,
        timeoutMs,
      );
      if (unmet) return `${dep} ${describeCondition(condition)}: ${unmet}`;
    } catch (err) {
      return `${dep} ${describeCondition(condition)}: ${messageOf(err)}`;
    }
  }
  return undefined;
}

function describeCondition(
  condition: 'service_healthy' | 'service_completed_successfully',
): string {
  return condition === 'service_healthy'
    ? 'must be healthy first'
    : 'must complete successfully first';
}

function dependencyFailure(
  options: ReconcileOptions,
  action: Action,
  unmet: string | { waiting: true; reason: string },
): ServiceOutcome {
  const fields = {
    service: action.service,
    action: action.type,
    reasons: 'reasons' in action ? action.reasons : [],
  };
  if (typeof unmet !== 'string') {
    options.log.info({ ...fields, reason: unmet.reason }, 'service waits for its dependency');
    return {
      ...fields,
      ok: false,
      waiting: true,
      error: `not started yet: ${unmet.reason}`,
      durationMs: 0,
    };
  }
  const error = `not started: ${unmet}${'container' in action && action.type === 'recreate' ? '; the running container was left as it is' : ''}`;
  options.log.error({ ...fields, error }, 'service failed');
  return { ...fields, ok: false, error, code: 'GITDOCK_E_ROLLOUT_FAILED', durationMs: 0 };
}

async function runAction(
  options: ReconcileOptions,
  action: Action,
  images: ImageProvider,
  resources: ResourcesBefore | undefined,
): Promise<ServiceOutcome> {
  const { engine, clock, log } = options;
  const started = clock.now();
  const base = {
    service: action.service,
    action: action.type,
    reasons: 'reasons' in action ? action.reasons : [],
  };
  const finish = (ok: boolean, extra: Partial<ServiceOutcome> = {}): ServiceOutcome => {
    const outcome = { ...base, ok, ...extra, durationMs: clock.now() - started };
    const { lastLogLines: _lines, ...fields } = { ...base, ...extra };
    if (ok && action.type === 'in-sync') log.debug(fields, 'service in sync');
    else if (ok) log.info(fields, 'service converged');
    // Skipped, preempted or waiting: nothing failed; the next pass takes it up.
    else if (extra.skipped || extra.preempted || extra.waiting)
      log.info(fields, 'service not converged yet');
    else log.error(fields, 'service failed');
    return outcome;
  };
  const fromStep = (step: StepResult, extra: Partial<ServiceOutcome> = {}): ServiceOutcome => {
    const preempted = !step.ok && serviceSignal.aborted;
    return step.ok
      ? finish(true, { containerId: step.containerId, ...extra })
      : finish(false, {
          error: step.error,
          code: step.code,
          ...(step.containerId ? { containerId: step.containerId } : {}),
          ...(step.lastLogLines ? { lastLogLines: step.lastLogLines } : {}),
          ...(preempted ? { preempted: true } : {}),
          ...extra,
        });
  };

  if (action.type === 'conflict') {
    return finish(false, { error: action.reasons.join('; '), code: 'GITDOCK_E_NAME_CONFLICT' });
  }
  if (action.type === 'wait') {
    return finish(false, { error: action.reasons.join('; '), waiting: true });
  }
  // A network or volume it needs could not be had: the service alone fails,
  // and the container it has (if any) is left as it is.
  const blocked = action.type !== 'remove' ? resources?.blocked.get(action.service) : undefined;
  if (blocked && action.type !== 'in-sync') {
    const removed =
      action.type === 'recreate' && resources?.removed.has(action.container.id) === true;
    const kept =
      'container' in action && !removed ? '; the running container was left as it is' : '';
    return blocked.skipped
      ? finish(false, { error: `${blocked.error}${kept}`, skipped: true })
      : finish(false, { error: `${blocked.error}${kept}`, code: blocked.code });
  }
  if (action.type !== 'in-sync') {
    const cut = options.signal?.aborted
      ? `${abortReason(options.signal)} before it began`
      : options.stopping?.aborted
        ? 'not begun: the agent is stopping'
        : undefined;
    if (cut) return finish(false, { error: cut, skipped: true });
    const held = action.type !== 'remove' ? options.hold?.(action) : undefined;
    if (held) {
      const kept = await startOldMeanwhile(
        { engine, clock, log, commit: options.desired.commit, signal: options.signal },
        action,
      );
      return finish(false, { error: `${held}${kept}`, skipped: true });
    }
  }
  const service = serviceAbortSignal(options, action.service);
  const serviceSignal = service.signal;
  const ctx: StepContext = {
    engine,
    clock,
    log,
    commit: options.desired.commit,
    signal: serviceSignal,
    handOver: () => options.handOver?.(action.service) === true,
    ...(options.stateDir !== undefined ? { stateDir: options.stateDir } : {}),
  };
  const pulls = anySignal([options.signal, options.stopping]);
  const pullSignal = pulls.signal;
  try {
    switch (action.type) {
      case 'remove':
        await removeContainer(engine, action.container);
        return finish(true);
      case 'in-sync':
      case 'start': {
        const rollout = options.rolloutFor?.(action) ?? action.desired.rollout;
        // `pull: always`: the tag may have moved; a new image means a replacement.
        const moved = await movedImage(images, action.desired, action.container, pullSignal);
        if (moved && 'pending' in moved) {
          if (action.type === 'in-sync') return finish(true, { containerId: action.container.id });
        } else if (moved) {
          if (options.hold?.(action))
            return finish(false, { error: options.hold(action)!, skipped: true });
          const reasons = [...base.reasons.filter(() => action.type === 'start'), moved.moved];
          log.info({ service: action.service, reasons }, 'image moved; replacing the container');
          return fromStep(
            await replaceService(ctx, action.desired, rollout, action.container, false),
            { action: 'recreate', reasons },
          );
        }
        if (action.type === 'in-sync') return finish(true, { containerId: action.container.id });
        return fromStep(await startService(ctx, rollout, action.container.id, action.desired));
      }
      case 'create':
      case 'recreate': {
        const asked = options.rolloutFor?.(action) ?? action.desired.rollout;
        // A container docker compose made holds the service's ports: never start-first.
        const rollout =
          action.type === 'recreate' && action.compose !== undefined
            ? { ...asked, order: 'stop-first' as const }
            : asked;
        try {
          const image = await images.ensure(action.desired, pullSignal);
          if ('pending' in image) {
            const kept = await startOldMeanwhile(ctx, action);
            return finish(false, { error: `${image.pending}${kept}`, waiting: true });
          }
        } catch (err) {
          const aborted = isGitdockError(err) && err.data.aborted === true;
          const kept = await startOldMeanwhile(ctx, action);
          return finish(false, {
            ...(aborted ? { preempted: true } : { pullFailed: true }),
            code: 'GITDOCK_E_PULL_FAILED',
            error:
              messageOf(err) +
              (kept ||
                (action.type === 'recreate' ? '; the running container was left as it is' : '')),
          });
        }
        if (action.type === 'recreate' && resources?.removed.has(action.container.id)) {
          // Removed with its network: made afresh on the new one.
          return fromStep(await createService(ctx, action.desired, rollout));
        }
        if (action.type === 'recreate' && action.removedFirst) {
          return finish(false, {
            error: 'its network was not recreated; the running container was left as it is',
            code: 'GITDOCK_E_APPLY_FAILED',
          });
        }
        if (action.type === 'recreate') {
          return fromStep(
            await replaceService(
              ctx,
              action.desired,
              rollout,
              action.container,
              action.interrupted === true,
            ),
          );
        }
        return fromStep(
          action.adopt
            ? await adoptReplacement(ctx, action.desired, rollout, action.adopt.id)
            : await createService(ctx, action.desired, rollout),
        );
      }
    }
  } catch (err) {
    return isGitdockError(err)
      ? finish(false, {
          error: err.message,
          code: err.code,
          ...(err.code === 'GITDOCK_E_PULL_FAILED'
            ? err.data.aborted === true
              ? { preempted: true }
              : { pullFailed: true }
            : {}),
        })
      : finish(false, { error: String(err), code: 'GITDOCK_E_ENGINE_REQUEST' });
  } finally {
    pulls.dispose();
    service.dispose();
  }
}

/**
 * A replacement that cannot go ahead now (its spec is held, its image is
 * still coming or could not be pulled) leaves the old container serving:
 * one stopped meanwhile (`docker stop` by hand, a crash) is started again,
 * as drift of any service is healed. Says so, for the outcome's message.
 */
async function startOldMeanwhile(ctx: StepContext, action: Action): Promise<string> {
  if (
    action.type !== 'recreate' ||
    (action.container.state !== 'exited' && action.container.state !== 'created')
  )
    return '';
  try {
    const step = await startService(
      ctx,
      action.desired.rollout,
      action.container.id,
      action.desired,
    );
    return step.ok
      ? '; the old container was started again meanwhile'
      : `; the old container did not start again: ${step.error}`;
  } catch (err) {
    return `; the old container did not start again: ${messageOf(err)}`;
  }
}

/**
 * Under `pull: always`, pulls the reference again and says why the running
 * container must be replaced when the reference now names another image.
 */
async function movedImage(
  images: ImageProvider,
  desired: DesiredService,
  container: { imageId: string },
  signal: AbortSignal,
): Promise<{ moved: string } | { pending: string } | undefined> {
  if (desired.rollout.pull !== 'always') return undefined;
  const image = await images.ensure(desired, signal);
  if ('pending' in image) return image;
  if (image.id === container.imageId) return undefined;
  return {
    moved: `image ${desired.imageRef} now resolves to ${shortId(image.id)} (running ${shortId(container.imageId)})`,
  };
}

/**
 * The signal that undoes this service's replacement: the pass's own, but
 * only once a newer commit is known to change this service (a replacement
 * toward a spec that stays wanted is let finish: undoing it would cost one
 * more stop of the service).
 */
function serviceAbortSignal(
  options: ReconcileOptions,
  service: string,
): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const pass = options.signal;
  if (!pass) return { signal: controller.signal, dispose: () => {} };
  const check = () => {
    if (options.superseded?.(service) ?? true) controller.abort(pass.reason);
  };
  if (pass.aborted) check();
  else pass.addEventListener('abort', check, { once: true });
  // One listener per service on the pass's signal: taken off when the service is done.
  return { signal: controller.signal, dispose: () => pass.removeEventListener('abort', check) };
}
