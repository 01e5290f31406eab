import { type Action, type ActionType, hasChanges, type Plan } from '../core/plan.js';
import type { ResourceAction, ResourceActionType } from '../core/resource-plan.js';
import { maskText, maskValue, secretsToMask } from '../core/spec-hash.js';
import type { ResourceOutcome } from '../reconcile/apply-resources.js';
import type { ReconcileResult, ServiceOutcome } from '../reconcile/reconcile-host.js';

/**
 * The values from the host-local env file of every service the plan is
 * about: whatever the plan or apply prints passes through them, so a value
 * that reaches a reason, an image reference or a failed container's last
 * log lines is shown as `***`.
 */
export function planSecrets(plan: Plan): string[] {
  return secretsToMask(
    plan.actions.flatMap((a) => ('desired' in a ? (a.desired.secretValues ?? []) : [])),
  );
}

const SYMBOL: Record<ActionType, string> = {
  create: '+',
  recreate: '~',
  start: '>',
  remove: '-',
  'in-sync': '=',
  conflict: '!',
  wait: '.',
};

export interface Style {
  color: boolean;
}

const COLORS = { green: 32, yellow: 33, red: 31, cyan: 36, dim: 2, bold: 1 } as const;

function paint(style: Style, color: keyof typeof COLORS, text: string): string {
  return style.color ? `\u001b[${COLORS[color]}m${text}\u001b[0m` : text;
}

const ACTION_COLOR: Record<ActionType, keyof typeof COLORS> = {
  create: 'green',
  recreate: 'yellow',
  start: 'cyan',
  remove: 'red',
  'in-sync': 'dim',
  conflict: 'red',
  wait: 'yellow',
};

/** Counts of actions by type, in a fixed order. */
export function countActions(actions: readonly { type: ActionType }[]): Record<ActionType, number> {
  const counts: Record<ActionType, number> = {
    create: 0,
    recreate: 0,
    start: 0,
    remove: 0,
    'in-sync': 0,
    conflict: 0,
    wait: 0,
  };
  for (const a of actions) counts[a.type]++;
  return counts;
}

function summaryLine(actions: readonly { type: ActionType }[]): string {
  const c = countActions(actions);
  const changes = [
    c.create && `${c.create} to create`,
    c.recreate && `${c.recreate} to recreate`,
    c.start && `${c.start} to start`,
    c.remove && `${c.remove} to remove`,
  ].filter(Boolean);
  return [
    changes.length ? changes.join(', ') : 'no changes',
    `${c['in-sync']} in sync`,
    ...(c.conflict ? [`${c.conflict} conflict${c.conflict === 1 ? '' : 's'}`] : []),
  ].join('; ');
}

/**
 * The plan as a person reads it: one line per network and volume, then one
 * per service (by identity: `<project>/<service>` for a Compose service),
 * each with its reasons.
 */
export function formatPlanText(plan: Plan, style: Style): string {
  return maskText(planText(plan, style), planSecrets(plan));
}

function planText(plan: Plan, style: Style): string {
  const lines = [`host ${plan.host} at ${plan.commit.slice(0, 12)}`];
  if (plan.refused) {
    lines.push(paint(style, 'red', `  refused (GITDOCK_E_EMPTY_HOST_REFUSED): ${plan.refused}`));
    return `${lines.join('\n')}\n`;
  }
  const resources = plan.resources ?? [];
  const width = Math.max(
    0,
    ...plan.actions.map((a) => a.service.length),
    ...resources.map((r) => resourceLabel(kindOfType(r.type, r), r.name).length),
  );
  for (const r of resources) {
    const label = resourceLabel(kindOfType(r.type, r), r.name);
    lines.push(resourceLine(r.type, label, resourceReasons(r), width, style));
  }
  for (const action of plan.actions) {
    lines.push(actionLine(action.type, action.service, reasonsOf(action), width, style));
  }
  const resourceSummary = summarizeResources(resources);
  lines.push(`Plan: ${summaryLine(plan.actions)}${resourceSummary ? `; ${resourceSummary}` : ''}.`);
  return `${lines.join('\n')}\n`;
}

const RESOURCE_SYMBOL: Record<ResourceActionType, string> = {
  'network-create': '+',
  'network-recreate': '~',
  'network-remove': '-',
  'network-in-sync': '=',
  'volume-create': '+',
  'volume-in-sync': '=',
  'volume-unused': '?',
  'volume-remove': '-',
  'resource-error': '!',
};

const RESOURCE_COLOR: Record<ResourceActionType, keyof typeof COLORS> = {
  'network-create': 'green',
  'network-recreate': 'yellow',
  'network-remove': 'red',
  'network-in-sync': 'dim',
  'volume-create': 'green',
  'volume-in-sync': 'dim',
  'volume-unused': 'yellow',
  'volume-remove': 'red',
  'resource-error': 'red',
};

/** `create`, `unused`, `error`: the action word of a resource line (its kind goes with its name). */
function resourceVerb(type: ResourceActionType): string {
  return type === 'resource-error' ? 'error' : type.slice(type.indexOf('-') + 1);
}

function kindOfType(type: ResourceActionType, action?: ResourceAction): 'network' | 'volume' {
  if (action?.type === 'resource-error') return action.kind;
  return type.startsWith('network-') ? 'network' : 'volume';
}

/** `network shop_default`: a resource as its line names it. */
function resourceLabel(kind: 'network' | 'volume', name: string): string {
  return `${kind} ${name}`;
}

function resourceReasons(action: ResourceAction): string[] {
  if (action.type === 'resource-error' && action.services.length > 0) {
    return [...action.reasons, `blocks ${action.services.join(', ')}`];
  }
  return action.reasons;
}

function resourceLine(
  type: ResourceActionType,
  label: string,
  reasons: string[],
  width: number,
  style: Style,
) {
  const head = `  ${RESOURCE_SYMBOL[type]} ${resourceVerb(type).padEnd(8)} ${label.padEnd(width)}`;
  return `${paint(style, RESOURCE_COLOR[type], head)}${reasons.length ? `  ${reasons.join(', ')}` : ''}`;
}

/** `resources: 1 to create, 1 to recreate; 1 unused volume; 1 error`, or '' when all are in sync. */
function summarizeResources(actions: readonly { type: ResourceActionType }[]): string {
  const count = (...types: ResourceActionType[]) =>
    actions.filter((a) => types.includes(a.type)).length;
  const create = count('network-create', 'volume-create');
  const recreate = count('network-recreate');
  const remove = count('network-remove', 'volume-remove');
  const unused = count('volume-unused');
  const errors = count('resource-error');
  const parts = [
    create && `${create} to create`,
    recreate && `${recreate} to recreate`,
    remove && `${remove} to remove`,
  ].filter(Boolean);
  const notes = [
    ...(unused ? [`${unused} unused volume${unused === 1 ? '' : 's'}`] : []),
    ...(errors ? [`${errors} resource error${errors === 1 ? '' : 's'}`] : []),
  ];
  if (parts.length === 0 && notes.length === 0) return '';
  return [`resources: ${parts.length ? parts.join(', ') : 'no changes'}`, ...notes].join('; ');
}

function reasonsOf(action: Action): string[] {
  return 'reasons' in action ? action.reasons : [];
}

function actionLine(
  type: ActionType,
  service: string,
  reasons: string[],
  width: number,
  style: Style,
) {
  const head = `  ${SYMBOL[type]} ${type.padEnd(8)} ${service.padEnd(width)}`;
  return `${paint(style, ACTION_COLOR[type], head)}${reasons.length ? `  ${reasons.join(', ')}` : ''}`;
}

/** The plan as data: stable field names for scripts. */
export function planToJson(plan: Plan) {
  return maskValue(planJson(plan), planSecrets(plan));
}

function planJson(plan: Plan) {
  return {
    host: plan.host,
    commit: plan.commit,
    refused: plan.refused ?? null,
    changes: hasChanges(plan),
    resources: (plan.resources ?? []).map((r) => ({
      type: r.type,
      kind: kindOfType(r.type, r),
      name: r.name,
      reasons: r.reasons,
      services: 'services' in r ? r.services : [],
    })),
    actions: plan.actions.map((a) => ({
      type: a.type,
      service: a.service,
      reasons: reasonsOf(a),
      image: 'desired' in a ? a.desired.imageRef : null,
      containerId: 'container' in a ? a.container.id : null,
    })),
  };
}

/** What apply did, service by service, and a closing summary. */
export function formatApplyText(result: ReconcileResult, style: Style): string {
  if (result.plan.refused) return formatPlanText(result.plan, style);
  return maskText(applyText(result, style), planSecrets(result.plan));
}

function applyText(result: ReconcileResult, style: Style): string {
  const lines = [`host ${result.host} at ${result.commit.slice(0, 12)}`];
  const resources = result.resources ?? [];
  const width = Math.max(
    0,
    ...result.outcomes.map((o) => o.service.length),
    ...resources.map((r) => resourceLabel(r.kind, r.name).length),
  );
  for (const r of resources) lines.push(resourceOutcomeLine(r, width, style));
  for (const o of result.outcomes) {
    if (o.ok) {
      const time =
        o.action === 'in-sync'
          ? ''
          : paint(style, 'dim', ` (${(o.durationMs / 1000).toFixed(1)}s)`);
      lines.push(`${actionLine(o.action, o.service, o.reasons, width, style)}${time}`);
    } else {
      lines.push(
        `${paint(style, 'red', `  x ${o.action.padEnd(8)} ${o.service.padEnd(width)}`)}  FAILED${o.code ? ` (${o.code})` : ''}: ${o.error ?? 'unknown error'}`,
      );
    }
  }
  lines.push(applySummary(result.outcomes, resources));
  return `${lines.join('\n')}\n`;
}

function resourceOutcomeLine(r: ResourceOutcome, width: number, style: Style): string {
  const label = resourceLabel(r.kind, r.name);
  if (r.skipped) return resourceLine(r.type, label, [`not yet: ${r.error ?? ''}`], width, style);
  if (r.ok) {
    const quiet = r.type.endsWith('-in-sync') || r.type === 'volume-unused';
    const time = quiet ? '' : paint(style, 'dim', ` (${(r.durationMs / 1000).toFixed(1)}s)`);
    return `${resourceLine(r.type, label, r.reasons, width, style)}${time}`;
  }
  return `${paint(style, 'red', `  x ${resourceVerb(r.type).padEnd(8)} ${label.padEnd(width)}`)}  FAILED${r.code ? ` (${r.code})` : ''}: ${r.error ?? 'unknown error'}`;
}

function applySummary(outcomes: ServiceOutcome[], resources: readonly ResourceOutcome[]): string {
  const failed = outcomes.filter((o) => !o.ok).length;
  const changed = outcomes.filter((o) => o.ok && o.action !== 'in-sync').length;
  const inSync = outcomes.filter((o) => o.action === 'in-sync').length;
  const changing = resources.filter(
    (r) =>
      !r.type.endsWith('-in-sync') && r.type !== 'volume-unused' && r.type !== 'resource-error',
  );
  const resourceChanged = changing.filter((r) => r.ok).length;
  const resourceFailed = resources.filter((r) => !r.ok && !r.skipped).length;
  const resourcePart =
    resourceChanged + resourceFailed > 0
      ? ` Resources: ${resourceChanged} changed, ${resourceFailed} failed.`
      : '';
  return `Applied: ${changed} changed, ${inSync} in sync, ${failed} failed.${resourcePart}`;
}

export function applyToJson(result: ReconcileResult) {
  return maskValue(applyJson(result), planSecrets(result.plan));
}

function applyJson(result: ReconcileResult) {
  return {
    host: result.host,
    commit: result.commit,
    ok: result.ok,
    refused: result.plan.refused ?? null,
    pulled: result.pulled,
    resources: (result.resources ?? []).map((r) => ({
      type: r.type,
      kind: r.kind,
      name: r.name,
      ok: r.ok,
      reasons: r.reasons,
      error: r.error ?? null,
      code: r.code ?? null,
      skipped: r.skipped === true,
      durationMs: r.durationMs,
    })),
    services: result.outcomes.map((o) => ({
      service: o.service,
      action: o.action,
      ok: o.ok,
      reasons: o.reasons,
      error: o.error ?? null,
      code: o.code ?? null,
      containerId: o.containerId ?? null,
      durationMs: o.durationMs,
    })),
  };
}
