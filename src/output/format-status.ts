import {
  type FleetStatus,
  type FleetSync,
  formatAge,
  type HostRow,
  imageLabel,
  type ServiceRow,
  short,
  summarizeFleetStatus,
} from '../core/fleet-status.js';
import type { Style } from './format-plan.js';

const COLORS = { green: 32, yellow: 33, red: 31, dim: 2, bold: 1 } as const;
const SYNC_COLOR: Record<FleetSync, keyof typeof COLORS> = {
  Synced: 'green',
  OutOfSync: 'yellow',
  Failed: 'red',
  Unknown: 'dim',
};

function paint(style: Style, color: keyof typeof COLORS, text: string): string {
  return style.color ? `\u001b[${COLORS[color]}m${text}\u001b[0m` : text;
}

const HEADER = ['HOST', 'SERVICE', 'DESIRED', 'RUNNING', 'SYNC', 'HEALTH', 'AGENT'] as const;

/**
 * One table of hosts x services, then what needs a word (an unreachable
 * agent, a pending commit, why a service is not Synced), then the summary:
 *
 *     HOST   SERVICE  DESIRED  RUNNING           SYNC       HEALTH   AGENT
 *     web-1  app      1.5.0    1.5.0 9f8e7d6c5b4a  Synced     Healthy  8s ago
 *     web-2  app      1.5.0    1.4.2 1a2b3c4d5e6f  OutOfSync  Unknown  unreachable
 *
 *     web-2: unreachable (connection refused)
 *       shown from refs/gitdock/applied/web-2 at 1a2b3c4d5e6f (committed 2h ago); health unknown
 *       app: not applied: image 1.4.2 -> 1.5.0
 *
 *     2 hosts, 2 services: 1 Synced, 1 OutOfSync; 1 agent unreachable
 */
export function formatStatusText(status: FleetStatus, style: Style): string {
  const head = `Fleet at ${short(status.commit)} (${status.rev}${status.branch ? `, branch ${status.branch}` : ''})`;
  const rows: { cells: string[]; sync: FleetSync | null }[] = [];
  for (const host of status.hosts) {
    const services: (ServiceRow | null)[] = host.services.length > 0 ? host.services : [null];
    services.forEach((s, i) => {
      rows.push({
        cells: [
          i === 0 ? host.host : '',
          s?.service ?? '(none)',
          s?.desiredImage ? imageLabel(s.desiredImage) : '-',
          s?.runningImage
            ? `${imageLabel(s.runningImage)}${s.runningCommit ? ` ${short(s.runningCommit)}` : ''}`
            : '-',
          s?.sync ?? host.sync,
          s?.health ?? '-',
          i === 0 ? agentCell(host) : '',
        ],
        sync: s?.sync ?? host.sync,
      });
    });
  }
  const widths = HEADER.map((h, c) => Math.max(h.length, ...rows.map((r) => r.cells[c]!.length)));
  const line = (cells: readonly string[], sync: FleetSync | null) =>
    cells
      .map((cell, c) => {
        const padded = c === cells.length - 1 ? cell : cell.padEnd(widths[c]!);
        return c === 4 && sync ? paint(style, SYNC_COLOR[sync], padded) : padded;
      })
      .join('  ')
      .trimEnd();

  const out = [head, '', paint(style, 'bold', line(HEADER, null))];
  for (const r of rows) out.push(line(r.cells, r.sync));
  const details = status.hosts.flatMap((h) => hostDetails(h));
  if (details.length > 0) out.push('', ...details);
  if (status.waves) out.push('', ...wavesLines(status));
  out.push('', summarizeFleetStatus(status));
  return `${out.join('\n')}\n`;
}

/**
 * The release of the revision by waves, from the hosts' reports:
 *
 *     Release of 1a2b3c4 by waves (halted at wave 1: a later wave waits for a revert or a fix):
 *       wave 1  web-1 failed
 *       wave 2  web-2 pending, web-3 pending
 */
function wavesLines(status: FleetStatus): string[] {
  const view = status.waves!;
  const halted =
    view.haltedAt === null
      ? ''
      : ` (halted at wave ${view.haltedAt}: the later waves wait for a revert or a fix)`;
  const lines = [`Release of ${short(status.commit)} by waves${halted}:`];
  for (const w of view.waves)
    lines.push(`  wave ${w.wave}  ${w.hosts.map((h) => `${h.host} ${h.state}`).join(', ')}`);
  return lines;
}

/** The AGENT cell: when the agent last reconciled, or why nothing came from it. */
function agentCell(host: HostRow): string {
  if (host.reachable === null) return 'no agent';
  if (!host.reachable) return 'unreachable';
  const last = host.lastReconcile;
  if (!last) return 'no pass yet';
  const age = last.ageMs === null ? '?' : `${formatAge(last.ageMs)} ago`;
  const result = last.result === 'success' ? '' : ` ${last.result}`;
  return `${age}${result}${host.pending ? ' pending' : ''}`;
}

function hostDetails(host: HostRow): string[] {
  const lines: string[] = [];
  if (host.reachable === false) lines.push(`unreachable (${host.error ?? 'unknown error'})`);
  lines.push(...host.notes);
  for (const s of host.services) {
    if (s.reason && (s.sync !== 'Synced' || s.health !== 'Healthy')) {
      lines.push(`${s.service}: ${s.reason.split('\n')[0]}`);
    }
  }
  if (lines.length === 0) return [];
  return [`${host.host}: ${lines[0]}`, ...lines.slice(1).map((l) => `  ${l}`)];
}

/**
 * The status as data, for scripts. The shape is stable: fields are only ever
 * added; absent values are `null`.
 */
export function statusToJson(status: FleetStatus) {
  const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));
  return {
    rev: status.rev,
    commit: status.commit,
    branch: status.branch,
    synced: status.synced,
    summary: summarizeFleetStatus(status),
    counts: status.counts,
    waves: status.waves,
    hosts: status.hosts.map((h) => ({
      host: h.host,
      agent: h.agent,
      reachable: h.reachable,
      error: h.error,
      source: h.source,
      sync: h.sync,
      pending: h.pending,
      agentBranch: h.agentBranch,
      agentCommit: h.agentCommit,
      lastAppliedCommit: h.lastAppliedCommit,
      lastReconcile: h.lastReconcile
        ? {
            result: h.lastReconcile.result,
            at: h.lastReconcile.at,
            ageSeconds: seconds(h.lastReconcile.ageMs),
          }
        : null,
      appliedRef: h.appliedRef
        ? {
            ref: h.appliedRef.ref,
            commit: h.appliedRef.commit,
            committedAt: h.appliedRef.committedAt,
            ageSeconds: seconds(h.appliedRef.ageMs),
          }
        : null,
      rollout: h.rollout,
      notes: h.notes,
      services: h.services.map((s) => ({
        service: s.service,
        sync: s.sync,
        health: s.health,
        desiredImage: s.desiredImage,
        runningImage: s.runningImage,
        runningCommit: s.runningCommit,
        reason: s.reason,
      })),
    })),
  };
}
