import type { Engine } from '../core/engine.js';
import { changesEngine } from '../core/plan.js';
import { networkSettings, type ResourceAction } from '../core/resource-plan.js';
import { canonicalJson } from '../core/spec-hash.js';
import type { ActualContainer } from '../core/types.js';
import { LABELS } from '../core/types.js';
import { type ErrorCode, isGitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';
import type { Clock } from './clock.js';
import { removeContainer } from './replace.js';

/** What became of one network or volume action. */
export interface ResourceOutcome {
  type: ResourceAction['type'];
  /** `network` or `volume`. */
  kind: 'network' | 'volume';
  name: string;
  reasons: string[];
  ok: boolean;
  error?: string;
  code?: ErrorCode;
  /** Not attempted this pass (a recreation held back); the next pass takes it up. */
  skipped?: boolean;
  durationMs: number;
}

export interface ResourceStepContext {
  engine: Engine;
  clock: Clock;
  log: Log;
  host: string;
  /**
   * Why a network may not be recreated now (the pass is cut short, a
   * service attached to it is held back or its image is not here yet),
   * or undefined: recreating it stops its services until they are made again.
   */
  holdRecreate?: (
    action: Extract<ResourceAction, { type: 'network-recreate' }>,
  ) => Promise<string | undefined>;
  /** The container a service identity has now (to remove before its network is recreated). */
  containerOf: (service: string) => ActualContainer | undefined;
}

/** Why a service cannot run on this pass. */
export interface Blocked {
  error: string;
  code: ErrorCode;
  skipped?: true;
}

/** What the services need to know of the resources made before them. */
export interface ResourcesBefore {
  outcomes: Map<ResourceAction, ResourceOutcome>;
  /**
   * Service identity -> why a network or volume it uses could not be had
   * (`skipped`: not attempted this pass, nothing failed).
   */
  blocked: Map<string, Blocked>;
  /** IDs of containers removed because their network was recreated. */
  removed: Set<string>;
}

/**
 * Before the services: networks recreated (their attached containers removed
 * first), networks and volumes created, errors recorded. Every resource on
 * its own: one that fails blocks only the services that use it.
 */
export async function applyResourcesBefore(
  ctx: ResourceStepContext,
  actions: readonly ResourceAction[],
): Promise<ResourcesBefore> {
  const outcomes = new Map<ResourceAction, ResourceOutcome>();
  const blocked = new Map<string, Blocked>();
  const removed = new Set<string>();
  const block = (services: readonly string[], error: string, code: ErrorCode, skipped = false) => {
    for (const s of services) {
      if (!blocked.has(s)) blocked.set(s, { error, code, ...(skipped ? { skipped: true } : {}) });
    }
  };
  for (const action of actions) {
    const started = ctx.clock.now();
    const finish = (ok: boolean, extra: Partial<ResourceOutcome> = {}) => {
      const outcome = outcomeOf(action, ok, extra, ctx.clock.now() - started);
      outcomes.set(action, outcome);
      logOutcome(ctx.log, outcome);
    };
    switch (action.type) {
      case 'resource-error': {
        const error = action.reasons.join('; ');
        finish(false, { error, code: 'GITDOCK_E_APPLY_FAILED' });
        block(action.services, `${action.kind} ${action.name}: ${error}`, 'GITDOCK_E_APPLY_FAILED');
        break;
      }
      case 'network-create':
      case 'volume-create': {
        const failure = await attempt(() =>
          action.type === 'network-create'
            ? ctx.engine.createNetwork(action.network, networkLabels(ctx.host, action.network))
            : ctx.engine.createVolume(action.volume, {
                [LABELS.host]: ctx.host,
                [LABELS.project]: action.volume.project,
              }),
        );
        if (!failure) {
          finish(true);
          break;
        }
        finish(false, failure);
        block(
          action.services,
          `${action.type === 'network-create' ? 'network' : 'volume'} ${action.name} could not be created: ${failure.error}`,
          failure.code,
        );
        break;
      }
      case 'network-recreate': {
        const held = await ctx.holdRecreate?.(action);
        if (held) {
          finish(false, { error: held, skipped: true });
          block(
            action.recreate,
            `network ${action.name} is not recreated yet: ${held}`,
            'GITDOCK_E_APPLY_FAILED',
            true,
          );
          break;
        }
        const failure = await recreateNetwork(ctx, action, removed);
        if (!failure) {
          finish(true);
          break;
        }
        finish(false, failure);
        block(
          action.services,
          `network ${action.name} could not be recreated: ${failure.error}`,
          failure.code,
        );
        break;
      }
      default:
        // Removals wait for the services (`applyResourcesAfter`); the rest changes nothing.
        if (!changesEngine(action)) finish(true);
    }
  }
  return { outcomes, blocked, removed };
}

/**
 * After the services: networks and volumes no longer wanted are removed
 * (their containers are gone by now; one still attached fails the removal
 * alone, and the next pass tries again).
 */
export async function applyResourcesAfter(
  ctx: Pick<ResourceStepContext, 'engine' | 'clock' | 'log'>,
  actions: readonly ResourceAction[],
): Promise<Map<ResourceAction, ResourceOutcome>> {
  const outcomes = new Map<ResourceAction, ResourceOutcome>();
  for (const action of actions) {
    if (action.type !== 'network-remove' && action.type !== 'volume-remove') continue;
    const started = ctx.clock.now();
    const failure = await attempt(() =>
      action.type === 'network-remove'
        ? ctx.engine.removeNetwork(action.id)
        : ctx.engine.removeVolume(action.name),
    );
    const outcome = outcomeOf(action, !failure, failure ?? {}, ctx.clock.now() - started);
    outcomes.set(action, outcome);
    logOutcome(ctx.log, outcome);
  }
  return outcomes;
}

/** The labels gitdock puts on a network it makes: owner, project, and its settings for the next plan. */
export function networkLabels(
  host: string,
  network: { project: string; specHash: string } & Parameters<typeof networkSettings>[0],
): Record<string, string> {
  return {
    [LABELS.host]: host,
    [LABELS.project]: network.project,
    [LABELS.resourceHash]: network.specHash,
    // The settings, so a later plan can say which of them changed (as `io.gitdock.spec` on containers).
    [LABELS.spec]: canonicalJson(networkSettings(network)),
  };
}

/** Removes the attached containers, then the network, then makes it again. */
async function recreateNetwork(
  ctx: ResourceStepContext,
  action: Extract<ResourceAction, { type: 'network-recreate' }>,
  removed: Set<string>,
): Promise<{ error: string; code: ErrorCode } | undefined> {
  for (const service of action.recreate) {
    const container = ctx.containerOf(service);
    if (!container) continue;
    const failure = await attempt(() => removeContainer(ctx.engine, container));
    if (failure) return { ...failure, error: `removing ${container.name}: ${failure.error}` };
    removed.add(container.id);
  }
  return (
    (await attempt(() => ctx.engine.removeNetwork(action.id))) ??
    (await attempt(() =>
      ctx.engine.createNetwork(action.network, networkLabels(ctx.host, action.network)),
    ))
  );
}

async function attempt(
  step: () => Promise<unknown>,
): Promise<{ error: string; code: ErrorCode } | undefined> {
  try {
    await step();
    return undefined;
  } catch (err) {
    return {
      error: messageOf(err),
      code: isGitdockError(err) ? err.code : 'GITDOCK_E_ENGINE_REQUEST',
    };
  }
}

function outcomeOf(
  action: ResourceAction,
  ok: boolean,
  extra: Partial<ResourceOutcome>,
  durationMs: number,
): ResourceOutcome {
  return {
    type: action.type,
    kind: kindOf(action),
    name: action.name,
    reasons: action.reasons,
    ok,
    ...extra,
    durationMs,
  };
}

/** Whether an action is about a network or a volume. */
export function kindOf(action: ResourceAction): 'network' | 'volume' {
  if (action.type === 'resource-error') return action.kind;
  return action.type.startsWith('network-') ? 'network' : 'volume';
}

function logOutcome(log: Log, outcome: ResourceOutcome): void {
  const { durationMs: _ms, ...fields } = outcome;
  if (outcome.ok && (outcome.type.endsWith('-in-sync') || outcome.type === 'volume-unused')) {
    log.debug(fields, 'resource in sync');
  } else if (outcome.ok) log.info(fields, 'resource converged');
  else if (outcome.skipped) log.info(fields, 'resource not converged yet');
  else log.error(fields, 'resource failed');
}
