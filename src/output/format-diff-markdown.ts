import { type FleetDiff, type HostDiff, plural, summarizeDiff } from '../core/fleet-diff.js';
import type { ManifestError } from '../core/types.js';
import {
  changeText,
  type DiffReport,
  type DiffSide,
  describeSource,
  invalidSides,
  presenceNote,
  refusalNote,
  SYMBOL,
} from './format-diff.js';

/**
 * The first line of every Markdown report, so a CI job can find the comment
 * it posted before and update it instead of adding one per push.
 */
export const MARKDOWN_MARKER = '<!-- gitdock-diff -->';

/** Host sections fold into `<details>` beyond this many hosts ... */
const FOLD_HOSTS = 3;
/** ... or this many lines of host sections. */
const FOLD_LINES = 20;
/**
 * GitHub refuses comments over 65,536 characters; stop adding hosts well
 * before that and say so.
 */
const MAX_CHARS = 60_000;

/** The diff as a pull request comment: summary heading, fleet files, one section per host. */
export function formatDiffMarkdown(report: DiffReport): string {
  const out = [MARKDOWN_MARKER];
  const range = `${side(report.base)} → ${side(report.head)}`;
  if (!report.diff) {
    const invalid = invalidSides(report);
    const roles = invalid.map((s) => s.role).join(' and ');
    out.push(`### gitdock diff: ${roles} ${invalid.length > 1 ? 'are' : 'is'} invalid`, '', range);
    for (const { role, side: s } of invalid) {
      const name = s.rev === role ? `**${role}**` : `**${role}** ${code(s.rev)}`;
      out.push(
        '',
        `${name} (${code(s.commit.slice(0, 12))}) has ${plural(s.errors.length, 'error')}; nothing was compared.`,
        '',
      );
      let length = out.join('\n').length;
      for (const [i, e] of s.errors.entries()) {
        const item = errorItem(e);
        if (length + item.length > MAX_CHARS) {
          out.push(
            `- _${plural(s.errors.length - i, 'more error')} left out to fit a comment; run \`gitdock validate\` to see them all._`,
          );
          break;
        }
        out.push(item);
        length += item.length + 1;
      }
    }
    return `${out.join('\n')}\n`;
  }
  const diff = report.diff;
  out.push(`### gitdock diff: ${summarizeDiff(diff)}`, '', range);
  if (diff.fleetFiles.length > 0) out.push('', ...fleetFileTable(diff));
  const shadowed = diff.hosts.flatMap((h) => h.shadowed.map((o) => ({ host: h.host, ...o })));
  if (shadowed.length > 0) {
    out.push(
      '',
      '> **Shadowed by an override**: these hosts keep their own file, so the fleet change does not reach them.',
    );
    for (const o of shadowed) {
      out.push(`> - ${code(o.host)}: ${code(o.hostFile)} overrides ${code(o.fleetFile)}`);
    }
  }

  const sections = diff.hosts.map(hostLines);
  const fold =
    diff.hosts.length > FOLD_HOSTS || sections.reduce((n, s) => n + s.length, 0) > FOLD_LINES;
  let length = out.join('\n').length;
  for (const [i, host] of diff.hosts.entries()) {
    const section = ['', ...(fold ? folded(host, sections[i]!) : open(host, sections[i]!))];
    const size = section.join('\n').length;
    if (length + size > MAX_CHARS) {
      const left = diff.hosts.length - i;
      out.push(
        '',
        `_${plural(left, 'more host')} left out to fit a comment; run \`gitdock diff\` to see them all._`,
      );
      break;
    }
    out.push(...section);
    length += size + 1;
  }
  return `${out.join('\n')}\n`;
}

function fleetFileTable(diff: FleetDiff): string[] {
  return [
    '| fleet file | change | hosts changed | shadowed on |',
    '|---|---|---|---|',
    ...diff.fleetFiles.map(
      (f) =>
        `| ${code(f.file)} | ${f.change} | ${f.hosts.length > 0 ? f.hosts.join(', ') : '_none_'} | ${f.shadowed.join(', ') || '–'} |`,
    ),
  ];
}

/** The list of one host's changes, without its heading. */
function hostLines(host: HostDiff): string[] {
  const lines = host.services.map(
    (s) =>
      `- ${code(SYMBOL[s.change])} **${s.service}** ${s.change}: ${code(changeText(s))} (${describeSource(s).map(code).join(', ')})`,
  );
  for (const o of host.shadowed) {
    lines.push(
      `- ${code('=')} **${o.service}** unchanged: ${code(o.hostFile)} overrides ${code(o.fleetFile)}`,
    );
  }
  if (host.refusedEmpty) lines.push(`- :warning: ${escapeMarkdown(refusalNote(host.host))}`);
  return lines;
}

function title(host: HostDiff): string {
  const counts =
    host.services.length > 0 ? plural(host.services.length, 'service') + ' changed' : 'no change';
  return `${host.host}${presenceNote(host)}: ${counts}`;
}

function open(host: HostDiff, lines: string[]): string[] {
  return [`#### ${escapeMarkdown(title(host))}`, '', ...lines];
}

/** GitHub renders Markdown inside `<details>` only with a blank line after `<summary>`. */
function folded(host: HostDiff, lines: string[]): string[] {
  return [
    '<details>',
    `<summary>${escapeHtml(title(host))}</summary>`,
    '',
    ...lines,
    '',
    '</details>',
  ];
}

function side(s: DiffSide): string {
  return `${code(s.rev)} (${code(s.commit.slice(0, 12))})`;
}

function errorItem(e: ManifestError): string {
  const where = [e.file, e.line, e.column].filter((p) => p !== undefined).join(':');
  return `- ${code(where)}: ${escapeMarkdown(e.message)}`;
}

/** A code span that survives backticks in its text (label values can hold any). */
export function code(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** Free text (error messages) with Markdown and HTML made literal. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_[\]<>|#~&]/g, (c) => `\\${c}`);
}

/** Text inside an HTML element, where Markdown escapes would show literally. */
function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
