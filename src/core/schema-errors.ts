import type { ErrorObject } from 'ajv';
import { NAME_PATTERN, NAME_RULE, SERVICE_NAME_RULE } from './names.js';
import type { ManifestError } from './types.js';
import type { YamlSource } from './yaml-source.js';

type Schema = Record<string, unknown>;

/**
 * Turns ajv's errors into one message per real problem, positioned in the
 * YAML file. ajv reports every failed branch of an `anyOf`; an operator
 * wants "expected a string or a list of strings", so branch noise is folded
 * into one message unless the value's type picks a single branch.
 */
export function explainSchemaErrors(
  source: YamlSource,
  rootSchema: Schema,
  errors: readonly ErrorObject[],
): ManifestError[] {
  const out: ManifestError[] = [];
  const seen = new Set<string>();
  const emit = (segments: (string | number)[], message: string, atKey = false) => {
    const path = toPointer(segments);
    const dedupe = `${path}\u0000${message}`;
    if (seen.has(dedupe)) return;
    seen.add(dedupe);
    const { line, column } = source.locate(segments, atKey);
    out.push({ file: source.file, line, column, path, message });
  };

  for (const error of selectErrors(errors, source.value, rootSchema)) {
    const segments = fromPointer(error.instancePath);
    // Environment values are secrets: a message names their kind, never their text.
    const secret = segments[0] === 'environment';
    const value = valueAt(source.value, segments);
    const shown = (v: unknown) => (secret ? describeKind(v) : describeValue(v));
    const where = displayPath(segments);
    // Only the document itself has an empty path.
    const subject = where || 'the file';
    if (secret && value === null && segments.length === 2 && typeof segments[1] === 'string') {
      // Compose would take the value from the shell; an agent has none.
      emit(
        segments,
        `${subject} has no value; expected a value (write ${segments[1]}: "" for an empty string)`,
        true,
      );
      continue;
    }
    switch (error.keyword) {
      case 'additionalProperties': {
        const field = String((error.params as { additionalProperty: string }).additionalProperty);
        const parent = schemaAt(
          rootSchema,
          error.schemaPath.replace(/\/additionalProperties$/, ''),
        );
        const known = Object.keys((parent.properties as Schema | undefined) ?? {});
        const hint = closest(field, known);
        emit(
          [...segments, field],
          `unknown field "${field}"${where ? ` in ${where}` : ''}` +
            (hint
              ? `; did you mean "${hint}"?`
              : known.length
                ? `; expected one of: ${known.join(', ')}`
                : ''),
          true,
        );
        break;
      }
      case 'required': {
        const field = (error.params as { missingProperty: string }).missingProperty;
        emit(segments, `missing required field "${field}"${where ? ` in ${where}` : ''}`);
        break;
      }
      case 'oneOf':
      case 'anyOf': {
        const union = schemaAt(rootSchema, parentSchemaPath(error.schemaPath));
        if (error.instancePath === '' && isTagDigestChoice(union)) {
          // Not a mapping at all: the root `type` error says so; "tag or
          // digest" would be noise (and `in` throws on a string).
          if (jsonType(source.value) !== 'object') break;
          const v = source.value as Record<string, unknown>;
          emit(
            [],
            'tag' in v && 'digest' in v
              ? 'give either "tag" or "digest", not both'
              : 'missing required field "tag" (or "digest")',
          );
          break;
        }
        emit(segments, `${subject}: expected ${describe(union)}, got ${shown(value)}`);
        break;
      }
      case 'pattern': {
        // A key failing `propertyNames` comes twice (pattern + propertyNames): keep the latter.
        if ((error as { propertyName?: string }).propertyName !== undefined) break;
        const owner = schemaAt(rootSchema, parentSchemaPath(error.schemaPath));
        const help = nearestDescription(rootSchema, error.schemaPath);
        if (secret) {
          emit(segments, explainSecretPattern(subject, segments, value));
          break;
        }
        emit(
          segments,
          `${subject}: ${describeValue(value)} is not valid` +
            (help ? `; ${help}` : `; expected a string matching ${String(owner.pattern)}`),
        );
        break;
      }
      case 'if':
        // The `then` branch's own error says what is wrong.
        break;
      case 'maxItems':
      case 'not': {
        // Rules written as `if`/`then` (ports with network_mode none, a
        // tmpfs mount with a source) carry their message as a description.
        const help =
          schemaAt(rootSchema, parentSchemaPath(error.schemaPath)).description ??
          nearestDescription(rootSchema, error.schemaPath);
        emit(
          segments,
          `${subject}: ${typeof help === 'string' ? help : (error.message ?? 'is invalid')}`,
        );
        break;
      }
      case 'minimum':
      case 'maximum': {
        const owner = schemaAt(rootSchema, parentSchemaPath(error.schemaPath));
        emit(
          segments,
          `${subject}: expected ${describe(owner)}${describeRange(owner)}, got ${shown(value)}`,
        );
        break;
      }
      case 'minItems': {
        const limit = (error.params as { limit: number }).limit;
        emit(
          segments,
          `${subject}: expected at least ${limit} ${limit === 1 ? 'item' : 'items'}, got ${shown(value)}`,
        );
        break;
      }
      case 'minLength':
        emit(segments, `${subject}: expected a non-empty string, got ${shown(value)}`);
        break;
      case 'type':
      case 'enum':
        emit(
          segments,
          `${subject}: expected ${describe(schemaAt(rootSchema, parentSchemaPath(error.schemaPath)))}, got ${shown(value)}`,
        );
        break;
      case 'propertyNames': {
        const name = (error.params as { propertyName?: string }).propertyName;
        const rule = schemaAt(rootSchema, error.schemaPath).pattern;
        // `"DB_PASSWORD hunter9": x` is a key with a secret in it: show the name part only.
        const key = secret && name ? `${name.split(/[\s=]/)[0]}...` : name;
        emit(
          name ? [...segments, name] : segments,
          `${where}: key "${key}" is not allowed here; expected ${describeKeyPattern(String(rule))}`,
          true,
        );
        break;
      }
      default:
        emit(segments, `${subject} ${error.message ?? 'is invalid'}`);
    }
  }
  if (out.length === 0 && errors.length > 0) {
    // Never let a failed validation read as "no problems": the caller drops
    // the file, so an empty list here would silently drop a service.
    const first = errors[0]!;
    emit(
      fromPointer(first.instancePath),
      `${displayPath(fromPointer(first.instancePath)) || 'the file'} ${first.message ?? 'is invalid'}`,
    );
  }
  return out;
}

function describeRange(schema: Schema): string {
  const { minimum: min, maximum: max } = schema;
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` of at least ${min}`;
  return max !== undefined ? ` of at most ${max}` : '';
}

/** Key rules of the schemas in words. */
function describeKeyPattern(pattern: string): string {
  if (pattern === NAME_PATTERN.source) return NAME_RULE;
  if (pattern === '^[^=\\s]+$' || pattern === '^[^=\\s\\u0000]+$')
    return 'a name without `=`, whitespace or NUL';
  if (pattern.startsWith('^(?!io\\.gitdock\\.)'))
    return "a name without `=` or whitespace, not starting with `io.gitdock.` (reserved for gitdock's own labels)";
  if (pattern === '^[a-z0-9][a-z0-9_.-]{1,62}$') return `a service name: ${SERVICE_NAME_RULE}`;
  return `a key matching ${pattern}`;
}

/**
 * Drops errors that only restate a failed `anyOf` branch. When the value's
 * JSON type matches exactly one branch, that branch's own errors are kept
 * (they are more precise); otherwise the `anyOf` error stands alone.
 */
function selectErrors(
  errors: readonly ErrorObject[],
  root: unknown,
  rootSchema: Schema,
): ErrorObject[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  // A union's branch errors live under `<union schemaPath>/<index>/...`.
  const keep = new Set(errors);
  for (const union of unions) {
    if (
      union.instancePath === '' &&
      isTagDigestChoice(schemaAt(rootSchema, parentSchemaPath(union.schemaPath)))
    ) {
      // "tag or digest": the union's own message says it all.
      for (const e of errors)
        if (e !== union && e.schemaPath.startsWith(`${union.schemaPath}/`)) keep.delete(e);
      continue;
    }
    const value = valueAt(root, fromPointer(union.instancePath));
    // A union error's schemaPath points at the `anyOf`/`oneOf` array itself.
    const branches = schemaAt(rootSchema, union.schemaPath) as unknown as Schema[];
    const matching = branches.map((b, i) => ({ i, b })).filter(({ b }) => typeMatches(b, value));
    // Every item of a list shares one schemaPath: scope by instancePath too,
    // or one item's union would discard another item's errors.
    const inside = errors.filter(
      (e) =>
        e !== union &&
        e.schemaPath.startsWith(`${union.schemaPath}/`) &&
        isWithin(e.instancePath, union.instancePath),
    );
    if (matching.length === 1) {
      const branchPrefix = `${union.schemaPath}/${matching[0]!.i}/`;
      keep.delete(union);
      for (const e of inside) if (!e.schemaPath.startsWith(branchPrefix)) keep.delete(e);
    } else {
      for (const e of inside) keep.delete(e);
    }
  }
  return errors.filter((e) => keep.has(e));
}

function isWithin(pointer: string, parent: string): boolean {
  return pointer === parent || pointer.startsWith(`${parent}/`);
}

function isTagDigestChoice(schema: Schema): boolean {
  const oneOf = schema.oneOf as Schema[] | undefined;
  return (
    Array.isArray(oneOf) &&
    oneOf.every((b) => Array.isArray(b.required) && Object.keys(b).length === 1)
  );
}

function typeMatches(schema: Schema, value: unknown): boolean {
  const types =
    schema.type === undefined ? undefined : ([] as string[]).concat(schema.type as string);
  if (types === undefined) {
    if (Array.isArray(schema.anyOf))
      return (schema.anyOf as Schema[]).some((b) => typeMatches(b, value));
    if (Array.isArray(schema.enum))
      return (schema.enum as unknown[]).some((e) => typeof e === typeof value);
    return true;
  }
  return types.some(
    (t) => jsonType(value) === t || (t === 'number' && jsonType(value) === 'integer'),
  );
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** A schema in words: "a string or a list of strings". */
export function describe(schema: Schema): string {
  return joinAlternatives(alternatives(schema));
}

/** The kinds of value a schema accepts, each in words: ["a string", "a list of strings"]. */
function alternatives(schema: Schema): string[] {
  // A `type` beside a union (the root: an object that has tag or digest)
  // says what the value is; the union only constrains it further.
  if ((Array.isArray(schema.anyOf) || Array.isArray(schema.oneOf)) && schema.type === undefined) {
    return ((schema.anyOf ?? schema.oneOf) as Schema[]).flatMap(alternatives);
  }
  if (Array.isArray(schema.enum)) {
    return [`one of ${(schema.enum as unknown[]).map((e) => JSON.stringify(e)).join(', ')}`];
  }
  const types = schema.type === undefined ? [] : ([] as string[]).concat(schema.type as string);
  const words = types.map((t) => {
    switch (t) {
      case 'array':
        // "a list of strings, integers or mappings"
        return schema.items
          ? `a list of ${joinAlternatives(alternatives(schema.items as Schema).map(plural))}`
          : 'a list';
      case 'object':
        return 'a mapping';
      case 'integer':
        return 'an integer';
      case 'null':
        return 'nothing';
      default:
        return `a ${t}`;
    }
  });
  return words.length > 0 ? words : ['a value'];
}

function joinAlternatives(words: readonly string[]): string {
  return words.length > 1
    ? `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`
    : (words[0] ?? 'a value');
}

/** "an integer" -> "integers". */
function plural(phrase: string): string {
  return phrase.replace(/^an? (\w+)/, (_m, w: string) => `${w}s`);
}

/**
 * The description of the schema at `schemaPath` or its closest ancestor that
 * has one, up to the field it belongs to: `volumes[0].target` must not be
 * explained by the description of `volumes`.
 */
function nearestDescription(root: Schema, schemaPath: string): string | undefined {
  for (let path = parentSchemaPath(schemaPath); path.length > 1; path = parentSchemaPath(path)) {
    const d = schemaAt(root, path).description;
    if (typeof d === 'string') return d;
    if (/\/properties\/[^/]+$/.test(path)) return undefined;
  }
  return undefined;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const type = jsonType(value);
  if (type === 'object') return 'a mapping';
  if (type === 'array') return (value as unknown[]).length === 0 ? 'an empty list' : 'a list';
  if (type === 'null') return 'an empty value';
  const text = JSON.stringify(value);
  return `${type === 'integer' ? 'number' : type} ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}

/**
 * The message for an environment entry or value that fails its pattern,
 * which never contains the text: `- "DB_PASSWORD hunter9"` is a secret
 * with a typo, and this message reaches CI logs, the agent log and /status.
 */
function explainSecretPattern(
  subject: string,
  segments: readonly (string | number)[],
  value: unknown,
): string {
  const hidden = 'the entry is not shown: it may hold a secret';
  if (typeof segments[1] !== 'number') {
    return `${subject}: the value holds a NUL character, which no process environment can carry (the value is not shown: it may be a secret)`;
  }
  const text = typeof value === 'string' ? value : '';
  if (text.includes('\u0000')) {
    return `${subject}: expected KEY=value without NUL characters, which no process environment can carry (${hidden})`;
  }
  if (!text.includes('=') && !/\s/.test(text)) {
    return `${subject}: expected KEY=value; without "=" the variable would be taken from a shell, which an agent does not have (write KEY= for an empty string; ${hidden})`;
  }
  return `${subject}: expected KEY=value: a name without "=" or whitespace, "=", then the value (${hidden})`;
}

/** A value's kind without its text: for values that may be secrets. */
function describeKind(value: unknown): string {
  const type = jsonType(value);
  if (type === 'string' || type === 'boolean') return `a ${type}`;
  if (type === 'integer' || type === 'number') return 'a number';
  return describeValue(value);
}

function parentSchemaPath(schemaPath: string): string {
  return schemaPath.replace(/\/[^/]+$/, '');
}

function schemaAt(root: Schema, schemaPath: string): Schema {
  let node: unknown = root;
  for (const raw of schemaPath.replace(/^#\/?/, '').split('/')) {
    if (raw === '') continue;
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = (node as Record<string, unknown> | undefined)?.[key];
  }
  return (node ?? {}) as Schema;
}

function valueAt(root: unknown, segments: readonly (string | number)[]): unknown {
  let node = root;
  for (const s of segments) node = (node as Record<string | number, unknown> | undefined)?.[s];
  return node;
}

function fromPointer(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s));
}

function toPointer(segments: readonly (string | number)[]): string {
  return segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** `ports[0].target`, `environment.RAILS_ENV`: how paths read in messages. */
export function displayPath(segments: readonly (string | number)[]): string {
  return segments
    .map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join('');
}

/** The closest known name within edit distance 2, for "did you mean". */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
