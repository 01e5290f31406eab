/**
 * Compose's dotenv format (`.env`, `env_file`): `KEY=value` lines, `#`
 * comments, an optional `export `, single quotes literal, double quotes
 * with escapes and newlines, unquoted values ending at ` #`, `KEY` alone
 * meaning "take it from the environment", and `${VAR}` in unquoted and
 * double-quoted values. A bad line is reported by its number only: it may
 * hold a secret, so no part of it is ever printed.
 */
import type { ManifestError } from '../core/types.js';
import { type Lookup, substitute } from './interpolate.js';

/** Env files larger than this are refused: a secret file is small. */
export const MAX_ENV_FILE_BYTES = 1024 * 1024;

export interface DotenvEntry {
  key: string;
  /** `undefined` for a line with a name and no `=`: taken from the environment, if set there. */
  value: string | undefined;
  line: number;
  /** Variables its value read (set ones), for tracing secrets into values. */
  uses: string[];
}

export interface DotenvResult {
  entries: DotenvEntry[];
  errors: ManifestError[];
  /** Variables the values read, found set (by `lookup` or an earlier line). */
  used: string[];
  /** Variables the values read that were unset, with their line. */
  missing: { name: string; required: boolean; line: number }[];
}

const KEY = /^[\p{L}\p{N}_.\-[\]]+$/u;
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses an env file. `lookup` answers variables the values use; earlier
 * lines of the file answer when it does not.
 */
export function parseDotenv(file: string, bytes: Uint8Array, lookup: Lookup): DotenvResult {
  const result: DotenvResult = { entries: [], errors: [], used: [], missing: [] };
  const fail = (message: string, line?: number) => {
    result.errors.push({
      file,
      line,
      column: line === undefined ? undefined : 1,
      path: '',
      message,
    });
    return result;
  };
  if (bytes.byteLength > MAX_ENV_FILE_BYTES) {
    return fail(
      `env file is ${bytes.byteLength} bytes; env files are limited to ${MAX_ENV_FILE_BYTES} bytes (1 MiB)`,
    );
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return fail('env file is not valid UTF-8 text; expected KEY=value lines');
  }
  text = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const local = new Map<string, string>();
  const vars: Lookup = (name) => lookup(name) ?? local.get(name);
  let pos = 0;
  let line = 1;
  while (pos < text.length) {
    const eol = indexOrEnd(text, '\n', pos);
    const startLine = line;
    const raw = text.slice(pos, eol);
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      pos = eol + 1;
      line++;
      continue;
    }
    const body = trimmed.replace(/^export[ \t]+/, '');
    const eq = body.indexOf('=');
    if (eq < 0) {
      // `KEY` alone: inherit from the environment.
      if (KEY.test(body))
        result.entries.push({ key: body, value: undefined, line: startLine, uses: [] });
      else fail(`line ${startLine}: expected KEY=value`, startLine);
      pos = eol + 1;
      line++;
      continue;
    }
    const key = body.slice(0, eq).trim();
    if (!KEY.test(key)) {
      fail(`line ${startLine}: expected KEY=value`, startLine);
      pos = eol + 1;
      line++;
      continue;
    }
    // Offset of the value in `text`: quoted values may run over several lines.
    const valueStart = pos + raw.indexOf('=') + 1;
    let v = valueStart;
    while (text[v] === ' ' || text[v] === '\t') v++;
    const quote = text[v];
    let value: string;
    let expandable: boolean;
    let next: number;
    let uses: string[] = [];
    if (quote === '"' || quote === "'") {
      const close = findClosingQuote(text, v + 1, quote);
      if (close < 0) {
        fail(`line ${startLine}: unclosed ${quote === '"' ? 'double' : 'single'} quote`, startLine);
        break;
      }
      const inner = text.slice(v + 1, close);
      const after = indexOrEnd(text, '\n', close);
      const tail = text.slice(close + 1, after).trim();
      line += countNewlines(text, pos, after);
      next = after + 1;
      if (tail !== '' && !tail.startsWith('#')) {
        fail(`line ${startLine}: unexpected text after the closing quote`, startLine);
        pos = next;
        line++;
        continue;
      }
      if (quote === "'") {
        value = inner;
        expandable = false;
      } else {
        value = unescapeDoubleQuoted(inner);
        expandable = true;
      }
    } else {
      value = text.slice(v, eol);
      const comment = value.search(/[ \t]#/);
      if (comment >= 0) value = value.slice(0, comment);
      value = value.trim();
      expandable = true;
      next = eol + 1;
    }
    pos = next;
    line++;
    if (expandable) {
      const expanded = substitute(value, vars);
      if (!expanded.ok) {
        fail(
          `line ${startLine}: invalid \`$\` syntax in the value; write \`$$\` for a literal \`$\``,
          startLine,
        );
        continue;
      }
      result.used.push(...expanded.used);
      uses = expanded.used;
      for (const m of expanded.missing)
        result.missing.push({ name: m.name, required: m.required, line: startLine });
      value = expanded.value;
    }
    if (value.includes('\u0000')) {
      fail(`line ${startLine}: the value contains a NUL character`, startLine);
      continue;
    }
    local.set(key, value);
    result.entries.push({ key, value, line: startLine, uses });
  }
  return result;
}

/** Entries as a mapping, later lines winning; `KEY` alone resolved through `inherit`. */
export function toEnvironment(
  entries: readonly DotenvEntry[],
  inherit: Lookup,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const value = e.value ?? inherit(e.key);
    if (value !== undefined) out[e.key] = value;
  }
  return out;
}

function indexOrEnd(text: string, ch: string, from: number): number {
  const i = text.indexOf(ch, from);
  return i < 0 ? text.length : i;
}

function countNewlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (text[i] === '\n') n++;
  return n;
}

function findClosingQuote(text: string, from: number, quote: string): number {
  for (let i = from; i < text.length; i++) {
    if (quote === '"' && text[i] === '\\') {
      i++;
      continue;
    }
    if (text[i] === quote) return i;
  }
  return -1;
}

/** `\n`, `\r`, `\t`, `\"`, `\\`; `\$` becomes `$$` so interpolation keeps it literal. */
function unescapeDoubleQuoted(inner: string): string {
  return inner.replace(/\\(.)/gs, (_m, c: string) => {
    switch (c) {
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case '$':
        return '$$';
      case '"':
      case '\\':
        return c;
      default:
        return `\\${c}`;
    }
  });
}
