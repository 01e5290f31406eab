import { formatManifestError } from '../commands/options.js';
import {
  type FleetDiff,
  type HostDiff,
  hasFleetChanges,
  type ServiceChange,
  summarizeDiff,
} from '../core/fleet-diff.js';
import type { ManifestError } from '../core/types.js';
import type { Style } from './format-plan.js';

/** One side of a diff: the revision as given, its commit, and its manifest errors. */
export interface DiffSide {
  rev: string;
  commit: string;
  errors: ManifestError[];
}

/** What `gitdock diff` found: both sides, and the comparison when both are valid. */
export interface DiffReport {
  base: DiffSide;
  head: DiffSide;
  /** Undefined when either side has errors: an invalid revision is not compared. */
  diff?: FleetDiff;
}

export const SYMBOL: Record<ServiceChange['change'], string> = {
  added: '+',
  removed: '-',
  changed: '~',
};

const COLOR: Record<ServiceChange['change'], number> = { added: 32, removed: 31, changed: 33 };

function paint(style: Style, code: number, text: string): string {
  return style.color ? `\u001b[${code}m${text}\u001b[0m` : text;
}

/** `origin/main (9f8e7d6c5b4a)`: the name the user gave, and the commit it was. */
export function sideLabel(side: DiffSide): string {
  return `${side.rev} (${side.commit.slice(0, 12)})`;
}

/** `HEAD (d61e07e09a8f)`, or `BASE origin/main (9368e340ce83)` when the name says more than the role. */
export function roleLabel(role: 'BASE' | 'HEAD', side: DiffSide): string {
  return side.rev === role ? `${role} (${side.commit.slice(0, 12)})` : `${role} ${sideLabel(side)}`;
}

/** The sides that have errors, with their role, BASE first. */
export function invalidSides(report: DiffReport): { role: 'BASE' | 'HEAD'; side: DiffSide }[] {
  return [
    { role: 'BASE' as const, side: report.base },
    { role: 'HEAD' as const, side: report.head },
  ].filter((s) => s.side.errors.length > 0);
}

/** `(new host)`, `(no longer named in the repo)`, or nothing. */
export function presenceNote(host: HostDiff): string {
  if (host.presence === 'added') return ' (new host)';
  if (host.presence === 'removed') return ' (no longer named in the repo)';
  return '';
}

/**
 * Where a change comes from: the changed files behind it, and, when the
 * manifest that defines the service is another one at HEAD, both of them.
 */
export function describeSource(change: ServiceChange): string[] {
  const switched =
    change.baseFile !== undefined &&
    change.headFile !== undefined &&
    change.baseFile !== change.headFile;
  const named = switched ? [`now ${change.headFile}`, `was ${change.baseFile}`] : [];
  const rest = change.files.filter(
    (f) => !switched || (f !== change.baseFile && f !== change.headFile),
  );
  return [...named, ...rest];
}

/** What a change does: its reasons, or for an addition or removal the image. */
export function changeText(change: ServiceChange): string {
  if (change.change !== 'changed') return change.image;
  return change.reasons.join(', ') + (change.recreate ? '' : ' (no recreate)');
}

/** The refusal `plan` and `apply` will print, said ahead of time. */
export function refusalNote(host: string): string {
  return `apply will refuse to remove every service of ${host} unless gitdock.yaml sets hosts.${host}.allow_empty: true`;
}

/** The diff as a person reads it, in plan's style: one line per changed service. */
export function formatDiffText(report: DiffReport, style: Style): string {
  const lines = [`diff ${sideLabel(report.base)} -> ${sideLabel(report.head)}`];
  if (!report.diff) {
    lines.push(...invalidLines(report));
    return `${lines.join('\n')}\n`;
  }
  const diff = report.diff;
  for (const host of diff.hosts) {
    lines.push(`host ${host.host}${presenceNote(host)}`);
    const width = Math.max(
      0,
      ...host.services.map((s) => s.service.length),
      ...host.shadowed.map((s) => s.service.length),
    );
    for (const s of host.services) {
      const head = paint(
        style,
        COLOR[s.change],
        `  ${SYMBOL[s.change]} ${s.service.padEnd(width)}`,
      );
      lines.push(`${head}  ${changeText(s)}  (${describeSource(s).join(', ')})`);
    }
    for (const o of host.shadowed) {
      lines.push(
        `  = ${o.service.padEnd(width)}  shadowed: ${o.hostFile} overrides ${o.fleetFile} (fleet change not applied)`,
      );
    }
    if (host.refusedEmpty) lines.push(paint(style, 31, `  ! ${refusalNote(host.host)}`));
  }
  if (diff.fleetFiles.length > 0) {
    lines.push('fleet files');
    const width = Math.max(...diff.fleetFiles.map((f) => f.file.length));
    for (const f of diff.fleetFiles) {
      const parts = [
        `${f.change}, reaches ${f.hosts.length > 0 ? f.hosts.join(', ') : 'no named host'}`,
        ...(f.shadowed.length > 0 ? [`shadowed on ${f.shadowed.join(', ')}`] : []),
      ];
      lines.push(`  ${f.file.padEnd(width)}  ${parts.join('; ')}`);
    }
  }
  lines.push(`Diff: ${summarizeDiff(diff)}.`);
  return `${lines.join('\n')}\n`;
}

function invalidLines(report: DiffReport): string[] {
  return invalidSides(report).flatMap(({ role, side }) => [
    `${roleLabel(role, side)} is invalid: ${side.errors.length} ${side.errors.length === 1 ? 'error' : 'errors'}; nothing was compared`,
    ...side.errors.map((e) => `  ${formatManifestError(e)}`),
  ]);
}

/**
 * The report as data, for scripts. The shape is stable: fields are only
 * ever added. Optional fields are `null` rather than missing.
 */
export function diffToJson(report: DiffReport) {
  const side = (s: DiffSide) => ({
    rev: s.rev,
    commit: s.commit,
    valid: s.errors.length === 0,
    errors: s.errors.map((e) => ({
      file: e.file,
      line: e.line ?? null,
      column: e.column ?? null,
      path: e.path,
      message: e.message,
    })),
  });
  const diff = report.diff;
  return {
    base: side(report.base),
    head: side(report.head),
    valid: diff !== undefined,
    changed: diff ? hasFleetChanges(diff) : null,
    summary: diff ? summarizeDiff(diff) : null,
    counts: diff ? diff.counts : null,
    hosts: (diff?.hosts ?? []).map(hostDiffToJson),
    fleetFiles: diff?.fleetFiles ?? [],
  };
}

/** One host's changes in the JSON shape that `diff` and `history` share (absent values as null). */
export function hostDiffToJson(h: HostDiff) {
  return {
    host: h.host,
    presence: h.presence,
    refusedEmpty: h.refusedEmpty,
    services: h.services.map((s) => ({
      service: s.service,
      change: s.change,
      baseFile: s.baseFile ?? null,
      headFile: s.headFile ?? null,
      image: s.image,
      reasons: s.reasons,
      recreate: s.recreate,
      files: s.files,
    })),
    shadowed: h.shadowed,
  };
}
