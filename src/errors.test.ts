// Keeps the error registry and docs/errors.md in step, both ways: every code
// has its `## CODE` section, and every `##` section is a code that exists.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS } from './errors.js';

const DOC_PATH = 'docs/errors.md';
const doc = readFileSync(new URL(`../${DOC_PATH}`, import.meta.url), 'utf8');
/** Every level-2 heading of the page: the page has one per code and no others. */
const headings = [...doc.matchAll(/^## +(.*?)\s*$/gm)].map((m) => m[1]!);
const codes = Object.keys(ERRORS);

describe('error registry', () => {
  it.each(codes)(`%s has a "## CODE" section in ${DOC_PATH}`, (code) => {
    expect(headings).toContain(code);
  });

  it.each(headings)(`${DOC_PATH} section "## %s" is a code in ERRORS`, (heading) => {
    expect(codes).toContain(heading);
  });

  it(`documents each code once in ${DOC_PATH}`, () => {
    const repeated = headings.filter((h, i) => headings.indexOf(h) !== i);
    expect(repeated).toEqual([]);
  });

  it.each(Object.entries(ERRORS))('%s is well-formed', (code, entry) => {
    expect(code).toMatch(/^GITDOCK_E_[A-Z_]+$/);
    expect(Number.isInteger(entry.exit)).toBe(true);
    expect(entry.exit).toBeGreaterThan(0);
    // A process exit status is one byte.
    expect(entry.exit).toBeLessThan(256);
    expect(entry.summary.trim()).not.toBe('');
  });
});
