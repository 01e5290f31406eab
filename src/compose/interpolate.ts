/**
 * Compose's variable interpolation (`$VAR`, `${VAR}`, `${VAR:-d}`,
 * `${VAR-d}`, `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`,
 * `$$`), as Compose v2 does it: defaults and alternatives may themselves
 * hold variables; a `$` not followed by `$`, `{` or a name stays as written.
 */

/** Looks a variable up; `undefined` means unset (an empty string is set). */
export type Lookup = (name: string) => string | undefined;

export type SubstituteResult =
  | {
      ok: true;
      value: string;
      /** Variables read and found set, in order. */
      used: string[];
      /** Variables read that were unset with no default; `required` when `?` asked for a value. */
      missing: { name: string; required: boolean; message?: string }[];
    }
  | { ok: false; message: string; offset: number };

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

class SyntaxFailure extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/** Interpolates one string. */
export function substitute(template: string, lookup: Lookup): SubstituteResult {
  const used: string[] = [];
  const missing: { name: string; required: boolean; message?: string }[] = [];
  try {
    const value = expand(template, 0, template.length, lookup, used, missing);
    return { ok: true, value, used, missing };
  } catch (err) {
    if (!(err instanceof SyntaxFailure)) throw err;
    return { ok: false, message: err.message, offset: err.offset };
  }
}

/** True if the string holds anything interpolation would change. */
export function hasInterpolation(text: string): boolean {
  return text.includes('$');
}

function expand(
  s: string,
  start: number,
  end: number,
  lookup: Lookup,
  used: string[],
  missing: { name: string; required: boolean; message?: string }[],
): string {
  let out = '';
  let i = start;
  while (i < end) {
    const ch = s[i]!;
    if (ch !== '$') {
      out += ch;
      i++;
      continue;
    }
    const next = s[i + 1];
    if (i + 1 < end && next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (i + 1 < end && next !== undefined && NAME_START.test(next)) {
      let j = i + 1;
      while (j < end && NAME_CHAR.test(s[j]!)) j++;
      const name = s.slice(i + 1, j);
      const v = lookup(name);
      if (v === undefined) missing.push({ name, required: false });
      else used.push(name);
      out += v ?? '';
      i = j;
      continue;
    }
    if (i + 1 < end && next === '{') {
      const close = findClose(s, i + 2, end);
      if (close < 0) throw new SyntaxFailure(i, 'unclosed "$' + '{": expected "}" after the name');
      out += braced(s, i, i + 2, close, lookup, used, missing);
      i = close + 1;
      continue;
    }
    // A lone `$` (before a digit, a space, the end): Compose keeps it.
    out += '$';
    i++;
  }
  return out;
}

/** Index of the `}` closing a `${` whose body starts at `from`, nested `${...}` skipped. */
function findClose(s: string, from: number, end: number): number {
  let depth = 0;
  for (let i = from; i < end; i++) {
    const ch = s[i];
    if (ch === '$' && s[i + 1] === '$') {
      i++;
      continue;
    }
    if (ch === '$' && s[i + 1] === '{') {
      depth++;
      i++;
      continue;
    }
    if (ch === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

function braced(
  s: string,
  dollar: number,
  bodyStart: number,
  close: number,
  lookup: Lookup,
  used: string[],
  missing: { name: string; required: boolean; message?: string }[],
): string {
  let j = bodyStart;
  if (j >= close || !NAME_START.test(s[j]!)) {
    throw new SyntaxFailure(
      dollar,
      `invalid variable name in "${s.slice(dollar, close + 1)}": expected a letter or "_" first`,
    );
  }
  while (j < close && NAME_CHAR.test(s[j]!)) j++;
  const name = s.slice(bodyStart, j);
  const value = lookup(name);
  if (j === close) {
    if (value === undefined) missing.push({ name, required: false });
    else used.push(name);
    return value ?? '';
  }
  let op = s[j]!;
  let k = j + 1;
  if (op === ':') {
    op = `:${s[j + 1] ?? ''}`;
    k = j + 2;
  }
  if (!['-', ':-', '?', ':?', '+', ':+'].includes(op) || k > close) {
    throw new SyntaxFailure(
      dollar,
      `invalid interpolation "${s.slice(dollar, close + 1)}": expected \${NAME}, \${NAME:-default}, \${NAME-default}, \${NAME:?error}, \${NAME?error}, \${NAME:+alt} or \${NAME+alt}`,
    );
  }
  const unset = value === undefined;
  const unsetOrEmpty = unset || value === '';
  const rest = () => expand(s, k, close, lookup, used, missing);
  if (!unset) used.push(name);
  switch (op) {
    case ':-':
      return unsetOrEmpty ? rest() : value!;
    case '-':
      return unset ? rest() : value!;
    case ':+':
      return unsetOrEmpty ? '' : rest();
    case '+':
      return unset ? '' : rest();
    default: {
      // `?` and `:?`: the value is required.
      if (op === ':?' ? unsetOrEmpty : unset) {
        missing.push({ name, required: true, message: rest() });
        return '';
      }
      return value!;
    }
  }
}

/** What interpolating a tree found, reported as it goes. */
export interface InterpolationEvents {
  used(name: string): void;
  missing(
    miss: { name: string; required: boolean; message?: string },
    path: readonly (string | number)[],
    container: object,
    key: string | number,
  ): void;
  invalid(
    message: string,
    path: readonly (string | number)[],
    container: object,
    key: string | number,
  ): void;
}

/**
 * Interpolates every string value of a Compose tree in place (keys are
 * never interpolated, as in Compose). Top-level `x-*` fields other than
 * `x-gitdock` are skipped: they are dropped from the model anyway.
 */
export function interpolateTree(
  root: Record<string, unknown>,
  lookup: Lookup,
  events: InterpolationEvents,
): void {
  const visit = (container: Record<string | number, unknown>, path: (string | number)[]) => {
    const keys: (string | number)[] = Array.isArray(container)
      ? container.map((_, i) => i)
      : Object.keys(container);
    for (const key of keys) {
      if (
        path.length === 0 &&
        typeof key === 'string' &&
        key.startsWith('x-') &&
        key !== 'x-gitdock'
      )
        continue;
      const value = container[key];
      const here = [...path, key];
      if (typeof value === 'string') {
        if (!hasInterpolation(value)) continue;
        const result = substitute(value, lookup);
        if (!result.ok) {
          events.invalid(result.message, here, container, key);
          continue;
        }
        for (const name of result.used) events.used(name);
        for (const miss of result.missing) events.missing(miss, here, container, key);
        container[key] = result.value;
      } else if (value !== null && typeof value === 'object') {
        visit(value as Record<string | number, unknown>, here);
      }
    }
  };
  visit(root, []);
}
