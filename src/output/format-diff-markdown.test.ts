import { describe, expect, it } from 'vitest';
import type { FleetDiff, HostDiff, ServiceChange } from '../core/fleet-diff.js';
import type { DiffReport } from './format-diff.js';
import {
  code,
  escapeMarkdown,
  formatDiffMarkdown,
  MARKDOWN_MARKER,
} from './format-diff-markdown.js';

const BASE = 'b'.repeat(40);
const HEAD = 'c'.repeat(40);

function added(service: string): ServiceChange {
  return {
    service,
    change: 'added',
    headFile: `hosts/h/${service}.yaml`,
    image: `registry.example.com/${service}:1`,
    reasons: [],
    recreate: false,
    files: [`hosts/h/${service}.yaml`],
  };
}

function hostWith(host: string, services: number): HostDiff {
  return {
    host,
    presence: 'both',
    services: Array.from({ length: services }, (_, i) => added(`svc-${i}`)),
    shadowed: [],
    refusedEmpty: false,
  };
}

function report(hosts: HostDiff[]): DiffReport {
  const services = hosts.reduce((n, h) => n + h.services.length, 0);
  const diff: FleetDiff = {
    base: BASE,
    head: HEAD,
    hosts,
    fleetFiles: [],
    counts: {
      compared: hosts.length,
      hosts: hosts.length,
      services,
      added: services,
      removed: 0,
      changed: 0,
      shadowed: 0,
    },
  };
  return {
    base: { rev: 'main', commit: BASE, errors: [] },
    head: { rev: 'HEAD', commit: HEAD, errors: [] },
    diff,
  };
}

const count = (text: string, what: string) => text.split(what).length - 1;

describe('formatDiffMarkdown', () => {
  it('starts with the marker CI looks for', () => {
    expect(formatDiffMarkdown(report([hostWith('a', 1)])).split('\n')[0]).toBe(MARKDOWN_MARKER);
  });

  it.each([
    ['3 short hosts stay open', [1, 1, 1], 0],
    ['4 hosts fold', [1, 1, 1, 1], 4],
    ['20 lines of changes stay open', [10, 10], 0],
    ['21 lines of changes fold', [10, 11], 2],
  ])('%s', (_name, sizes, details) => {
    const text = formatDiffMarkdown(report(sizes.map((n, i) => hostWith(`web-${i + 1}`, n))));
    expect(count(text, '<details>')).toBe(details);
    expect(count(text, '</details>')).toBe(details);
    expect(count(text, '#### web-')).toBe(details === 0 ? sizes.length : 0);
  });

  it('leaves out hosts that would not fit in a GitHub comment, and says so', () => {
    const hosts = Array.from({ length: 200 }, (_, i) => hostWith(`web-${i + 1}`, 5));
    const text = formatDiffMarkdown(report(hosts));
    expect(text.length).toBeLessThan(65_536);
    const shown = count(text, '<summary>');
    expect(shown).toBeGreaterThan(10);
    expect(shown).toBeLessThan(200);
    expect(text.trimEnd().split('\n').at(-1)).toBe(
      `_${200 - shown} more hosts left out to fit a comment; run \`gitdock diff\` to see them all._`,
    );
  });
});

describe('formatDiffMarkdown of an invalid revision', () => {
  it('lists every error, and leaves out what would not fit in a comment', () => {
    const errors = Array.from({ length: 2000 }, (_, i) => ({
      file: `hosts/web-${i}/app.yaml`,
      line: 3,
      column: 1,
      path: '/port',
      message: 'unknown field "port"; did you mean "ports"?',
    }));
    const text = formatDiffMarkdown({
      base: { rev: 'main', commit: BASE, errors: [] },
      head: { rev: 'HEAD', commit: HEAD, errors },
    });
    expect(text.length).toBeLessThan(65_536);
    const shown = count(text, 'did you mean');
    expect(shown).toBeGreaterThan(100);
    expect(text.trimEnd().split('\n').at(-1)).toBe(
      `- _${2000 - shown} more errors left out to fit a comment; run \`gitdock validate\` to see them all._`,
    );
  });

  it('names both sides when both are invalid', () => {
    const error = { file: 'hosts/a/x.yaml', line: 1, column: 1, path: '', message: 'bad <b>' };
    const text = formatDiffMarkdown({
      base: { rev: 'origin/main', commit: BASE, errors: [error] },
      head: { rev: 'HEAD', commit: HEAD, errors: [error] },
    });
    expect(text).toBe(
      [
        MARKDOWN_MARKER,
        '### gitdock diff: BASE and HEAD are invalid',
        '',
        '`origin/main` (`bbbbbbbbbbbb`) → `HEAD` (`cccccccccccc`)',
        '',
        '**BASE** `origin/main` (`bbbbbbbbbbbb`) has 1 error; nothing was compared.',
        '',
        '- `hosts/a/x.yaml:1:1`: bad \\<b\\>',
        '',
        '**HEAD** (`cccccccccccc`) has 1 error; nothing was compared.',
        '',
        '- `hosts/a/x.yaml:1:1`: bad \\<b\\>',
        '',
      ].join('\n'),
    );
  });
});

describe('code', () => {
  it.each([
    ['tag 1.4 -> 1.5', '`tag 1.4 -> 1.5`'],
    ['labels.x a`b -> c', '``labels.x a`b -> c``'],
    ['`edge`', '`` `edge` ``'],
  ])('%s', (text, expected) => {
    expect(code(text)).toBe(expected);
  });
});

describe('escapeMarkdown', () => {
  it('makes Markdown and HTML literal', () => {
    expect(escapeMarkdown('use `_`, <b> and *x* | [y]')).toBe(
      'use \\`\\_\\`, \\<b\\> and \\*x\\* \\| \\[y\\]',
    );
  });
});
