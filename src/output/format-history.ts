import { formatManifestError } from '../commands/options.js';
import { plural } from '../core/fleet-diff.js';
import {
  commitSubject,
  formatCommitDate,
  type HistoryEntry,
  type HistoryFilter,
  type HistoryResult,
} from '../core/history.js';
import { changeText, describeSource, hostDiffToJson, refusalNote, SYMBOL } from './format-diff.js';
import type { Style } from './format-plan.js';

/** What `gitdock history` found, and what it was asked. */
export interface HistoryReport {
  rev: string;
  /** The commit `rev` named: where the walk started. */
  commit: string;
  filter: HistoryFilter;
  limit: number;
  maxScan: number;
  result: HistoryResult;
}

/** The marker of a commit the agents refuse. */
export const INVALID_MARKER = 'invalid manifests (not applied by the agent)';

/** Invalid commits show this many errors in text; `gitdock validate` lists them all. */
const ERRORS_SHOWN = 3;

function paint(style: Style, code: number, text: string): string {
  return style.color ? `\u001b[${code}m${text}\u001b[0m` : text;
}

/** `host web-2, service appserver`, `every host`: what the history is about. */
export function describeFilter(filter: HistoryFilter): string {
  const parts = [
    filter.host === undefined ? 'every host' : `host ${filter.host}`,
    ...(filter.service === undefined ? [] : [`service ${filter.service}`]),
  ];
  return parts.join(', ');
}

/** `2024-05-01 14:03 +0200`, as git log prints dates. */
function textDate(entry: HistoryEntry): string {
  const iso = formatCommitDate(entry.commit.author);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} ${iso.slice(19).replace(':', '')}`;
}

/**
 * One block per commit, newest first: a header line (short sha, date,
 * author, subject), then one line per changed service:
 *
 *     web-2: appserver tag 1.4.2 -> 1.5.0  (services/appserver.yaml)
 *     web-2: + memcached registry.example.com/memcached:1.6  (hosts/web-2/memcached.yaml)
 */
export function formatHistoryText(report: HistoryReport, style: Style): string {
  const blocks = report.result.entries.map((e) => entryLines(e, style).join('\n'));
  if (blocks.length === 0) {
    return `No commit changed the desired state of ${describeFilter(report.filter)} in ${plural(report.result.scanned, 'commit')} read from ${report.rev} (${report.commit.slice(0, 12)}).\n`;
  }
  return `${blocks.join('\n\n')}\n`;
}

function entryLines(entry: HistoryEntry, style: Style): string[] {
  const c = entry.commit;
  const lines = [
    `${paint(style, 33, c.oid.slice(0, 12))}  ${textDate(entry)}  ${c.author.name}  ${commitSubject(c.message)}`,
  ];
  if (entry.errors.length > 0) {
    lines.push(
      paint(style, 31, `  ! ${INVALID_MARKER}: ${plural(entry.errors.length, 'error')}`),
      ...entry.errors.slice(0, ERRORS_SHOWN).map((e) => `    ${formatManifestError(e)}`),
    );
    if (entry.errors.length > ERRORS_SHOWN) {
      lines.push(
        `    ... ${entry.errors.length - ERRORS_SHOWN} more (gitdock validate --rev ${c.oid.slice(0, 12)})`,
      );
    }
    return lines;
  }
  if (entry.validAgain) {
    const since = entry.comparedWith
      ? `compared with ${entry.comparedWith.slice(0, 12)}, the last valid commit`
      : 'compared with an empty repository: no earlier commit is valid';
    lines.push(`  manifests valid again: agents apply from here; ${since}`);
  }
  for (const host of entry.hosts) {
    for (const s of host.services) {
      const what = s.change === 'changed' ? s.service : `${SYMBOL[s.change]} ${s.service}`;
      const text = `${what} ${changeText(s)}`;
      const painted =
        s.change === 'changed' ? text : paint(style, s.change === 'added' ? 32 : 31, text);
      lines.push(`  ${host.host}: ${painted}  (${describeSource(s).join(', ')})`);
    }
    for (const o of host.shadowed) {
      lines.push(
        `  ${host.host}: = ${o.service} shadowed: ${o.hostFile} overrides ${o.fleetFile} (fleet change not applied)`,
      );
    }
    if (host.refusedEmpty)
      lines.push(paint(style, 31, `  ${host.host}: ! ${refusalNote(host.host)}`));
  }
  return lines;
}

/** The message for stderr when the walk stopped at the scan limit, else undefined. */
export function scanLimitNote(report: HistoryReport): string | undefined {
  if (report.result.stoppedBy !== 'scan-limit') return undefined;
  return `stopped after reading ${plural(report.result.scanned, 'commit')} (--max-scan ${report.maxScan}); older commits were not searched: raise --max-scan to look further back`;
}

/**
 * The report as data, for scripts. The shape is stable: fields are only
 * ever added; absent values are `null`.
 */
export function historyToJson(report: HistoryReport) {
  return {
    rev: report.rev,
    commit: report.commit,
    host: report.filter.host ?? null,
    service: report.filter.service ?? null,
    limit: report.limit,
    maxScan: report.maxScan,
    scanned: report.result.scanned,
    stoppedBy: report.result.stoppedBy,
    commits: report.result.entries.map((e) => ({
      sha: e.commit.oid,
      date: formatCommitDate(e.commit.author),
      author: { name: e.commit.author.name, email: e.commit.author.email },
      subject: commitSubject(e.commit.message),
      parents: e.commit.parents,
      valid: e.errors.length === 0,
      errors: e.errors.map((err) => ({
        file: err.file,
        line: err.line ?? null,
        column: err.column ?? null,
        path: err.path,
        message: err.message,
      })),
      comparedWith: e.comparedWith ?? null,
      validAgain: e.validAgain,
      hosts: e.hosts.map(hostDiffToJson),
    })),
  };
}
