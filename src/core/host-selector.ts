/**
 * Matches host names against a fleet file's `hosts:` selector. Globs are
 * shell-style (`*`, `?`, `[a-c]`) over a single name, so a few lines here
 * beat a glob library built for paths.
 *
 * A glob is checked before use (`checkGlob`, and the schema's
 * `HOST_GLOB_PATTERN`, which accepts exactly the same globs): an unclosed
 * `[hb` or a reversed range `[9-1]` used to pass and match nothing, or
 * throw when turned into a RegExp.
 */
export function matchesHost(selector: readonly string[], host: string): boolean {
  return selector.some((pattern) => globToRegExp(pattern)?.test(host) ?? false);
}

/** Characters of a host name, in code point order (`.` < digits < `_` < letters). */
const NAME_CHARS = '.0123456789_abcdefghijklmnopqrstuvwxyz';

/**
 * The JSON Schema pattern of one glob: name characters, `*`, `?`, and
 * classes `[...]` of name characters and ranges in order (`[a-c]`, not
 * `[c-a]`), with a literal `-` only first or last. Built from NAME_CHARS so
 * that the range order is part of the pattern.
 */
export const HOST_GLOB_PATTERN = buildGlobPattern();

function buildGlobPattern(): string {
  const esc = (c: string) => (c === '.' ? '\\.' : c);
  const ranges = [...NAME_CHARS]
    .map((c, i) => `${esc(c)}-[${NAME_CHARS.slice(i).replace('.', '\\.')}]`)
    .join('|');
  const item = `(${ranges}|[a-z0-9_.])`;
  const klass = `\\[(-|-?${item}+-?)\\]`;
  return `^([a-z0-9*?_.-]|${klass})+$`;
}

/** What is wrong with a glob, in words, or undefined when it is fine. */
export function checkGlob(pattern: string): string | undefined {
  const parsed = parseGlob(pattern);
  return typeof parsed === 'string' ? parsed : undefined;
}

const cache = new Map<string, RegExp | undefined>();

function globToRegExp(pattern: string): RegExp | undefined {
  if (cache.has(pattern)) return cache.get(pattern);
  const parsed = parseGlob(pattern);
  const re = typeof parsed === 'string' ? undefined : parsed;
  cache.set(pattern, re);
  return re;
}

const ESCAPE = (c: string) => c.replace(/[.+^${}()|\\\]\-[*?/]/g, '\\$&');

/** The RegExp of a glob, or a message saying what is wrong with it. */
function parseGlob(pattern: string): RegExp | string {
  if (pattern === '') return 'an empty glob matches no host';
  let source = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') source += '[^/]*';
    else if (ch === '?') source += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1)
        return `"[" at position ${i + 1} is never closed; expected a class such as [ab] or [0-9]`;
      const klass = parseClass(pattern.slice(i + 1, end));
      if (!klass.ok) return klass.message;
      source += klass.source;
      i = end;
    } else if (NAME_CHARS.includes(ch) || ch === '-') source += ESCAPE(ch);
    else return `"${ch}" cannot be part of a host name; expected name characters, *, ? or [...]`;
  }
  return new RegExp(`${source}$`);
}

/** `a-c_` -> `[a-c_]` (a RegExp class), or a message saying what is wrong. */
function parseClass(inner: string): { ok: true; source: string } | { ok: false; message: string } {
  const result = parseClassText(inner);
  return result.startsWith('[') ? { ok: true, source: result } : { ok: false, message: result };
}

/** A RegExp class (starts with `[`) or a message (never does). */
function parseClassText(inner: string): string {
  if (inner === '') return '"[]" matches nothing; expected a class such as [ab] or [0-9]';
  let out = '';
  let body = inner;
  if (body === '-') return '[\\-]';
  if (body.startsWith('-')) {
    out += '\\-';
    body = body.slice(1);
  }
  let tail = '';
  if (body.endsWith('-')) {
    tail = '\\-';
    body = body.slice(0, -1);
  }
  if (body === '') return `class [${inner}]: a "-" stands alone only as [-]`;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (!NAME_CHARS.includes(c)) {
      return `"${c}" in [${inner}]: a class holds name characters and ranges such as a-c (a "-" only first or last)`;
    }
    if (body[i + 1] === '-' && i + 2 < body.length) {
      const d = body[i + 2]!;
      if (!NAME_CHARS.includes(d)) {
        return `"${d}" in [${inner}]: a class holds name characters and ranges such as a-c`;
      }
      if (d < c) return `range ${c}-${d} in [${inner}] is reversed; write ${d}-${c}`;
      out += `${ESCAPE(c)}-${ESCAPE(d)}`;
      i += 2;
    } else out += ESCAPE(c);
  }
  return `[${out}${tail}]`;
}
