import type { Engine, PullProgress } from '../core/engine.js';
import { type Action, type ActionType, type Plan, planHost, shortId } from '../core/plan.js';
import type { DesiredService, HostState, RolloutPolicy } from '../core/types.js';
import { type ErrorCode, isGitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';
import { anySignal, type Clock } from './clock.js';
import { createPullRegistry, ensureImage } from './ensure-image.js';
import {
  adoptReplacement,
  createService,
  removeContainer,
  replaceService,
  type StepContext,
  type StepResult,
  startService,
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
export async function reconcileHost(options: ReconcileOptions): Promise<ReconcileResult> {
  const { engine, desired, log, dryRun = false } = options;
  const plan = planHost({ desired, actual: await engine.listContainers() });
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
  const emit = options.onProgress ?? (() => {});
  const pulls = createPullRegistry(engine, log, {
    onProgress: (progress) => emit({ type: 'pull-progress', progress }),
    onDone: (ref, error) => emit({ type: 'pull-done', ref, ...(error ? { error } : {}) }),
  });
  const images: ImageProvider = options.images ?? {
    ensure: async (service, signal) => ({ id: await ensureImage(pulls, service, signal) }),
  };
  const outcomes = await executePlan(options, plan, images, emit);
  return result(outcomes, [...pulls.pulled].sort());
}

/**
 * Runs the plan: removals first, one by one; then every service as soon as
 * the services it depends on are done, so independent services roll out
 * (and wait out their settle time) side by side.
 */
async function executePlan(
  options: ReconcileOptions,
  plan: Plan,
  images: ImageProvider,
  emit: (e: ProgressEvent) => void,
): Promise<ServiceOutcome[]> {
  const outcomes = new Map<Action, ServiceOutcome>();
  const run = async (action: Action) => {
    emit({ type: 'action-start', service: action.service, action: action.type });
    const outcome = await runAction(options, action, images);
    outcomes.set(action, outcome);
    emit({ type: 'action-done', outcome });
  };
  for (const action of plan.actions.filter((a) => a.type === 'remove')) await run(action);

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
  images: ImageProvider,
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
        return fromStep(await startService(ctx, rollout, action.container.id));
      }
      case 'create':
      case 'recreate': {
        const rollout = options.rolloutFor?.(action) ?? action.desired.rollout;
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
    const step = await startService(ctx, action.desired.rollout, action.container.id);
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
