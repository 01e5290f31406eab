import type { Action, ActionType, Plan } from '../core/plan.js';
import type { ReconcileResult, ServiceOutcome } from '../reconcile/reconcile-host.js';

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

/** The plan as a person reads it: one line per service with its reasons. */
export function formatPlanText(plan: Plan, style: Style): string {
  const lines = [`host ${plan.host} at ${plan.commit.slice(0, 12)}`];
  if (plan.refused) {
    lines.push(paint(style, 'red', `  refused (GITDOCK_E_EMPTY_HOST_REFUSED): ${plan.refused}`));
    return `${lines.join('\n')}\n`;
  }
  const width = Math.max(0, ...plan.actions.map((a) => a.service.length));
  for (const action of plan.actions) {
    lines.push(actionLine(action.type, action.service, reasonsOf(action), width, style));
  }
  lines.push(`Plan: ${summaryLine(plan.actions)}.`);
  return `${lines.join('\n')}\n`;
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
  return {
    host: plan.host,
    commit: plan.commit,
    refused: plan.refused ?? null,
    changes: plan.actions.some((a) => a.type !== 'in-sync' && a.type !== 'conflict'),
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
  const lines = [`host ${result.host} at ${result.commit.slice(0, 12)}`];
  const width = Math.max(0, ...result.outcomes.map((o) => o.service.length));
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
  lines.push(applySummary(result.outcomes));
  return `${lines.join('\n')}\n`;
}

function applySummary(outcomes: ServiceOutcome[]): string {
  const failed = outcomes.filter((o) => !o.ok).length;
  const changed = outcomes.filter((o) => o.ok && o.action !== 'in-sync').length;
  const inSync = outcomes.filter((o) => o.action === 'in-sync').length;
  return `Applied: ${changed} changed, ${inSync} in sync, ${failed} failed.`;
}

export function applyToJson(result: ReconcileResult) {
  return {
    host: result.host,
    commit: result.commit,
    ok: result.ok,
    refused: result.plan.refused ?? null,
    pulled: result.pulled,
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
