import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from 'yaml';
import type { ManifestError, SourcePosition } from '../core/types.js';
import { type JsonPath, type Positions, toPointer } from './load-positions.js';

/** Compose files larger than this are refused before parsing. */
export const MAX_COMPOSE_FILE_BYTES = 1024 * 1024;

/**
 * Alias uses allowed in one file, counting uses inside expanded aliases: a
 * real file has dozens; an alias bomb ("billion laughs") needs millions.
 */
const MAX_ALIAS_EXPANSIONS = 10_000;

/** One Compose file parsed: plain JSON plus what its `!reset`/`!override` tags asked for. */
export interface ComposeYaml {
  file: string;
  value: Record<string, unknown>;
  /** Paths tagged `!reset`: removed from what earlier files set (and absent from `value`). */
  resets: JsonPath[];
  /** Paths tagged `!override`: replace what earlier files set instead of merging with it. */
  overrides: JsonPath[];
}

/**
 * Values that Compose passes on as strings: a number or boolean written
 * there keeps the exact text of the file (`123456789012345678`, `1.10`,
 * `true`), never a float's rendering of it.
 */
const TEXT_VALUE_PATHS: readonly (readonly string[])[] = [
  ['services', '*', 'environment', '*'],
  ['services', '*', 'labels', '*'],
  ['services', '*', 'annotations', '*'],
  ['services', '*', 'sysctls', '*'],
  ['services', '*', 'extra_hosts', '*'],
  ['services', '*', 'deploy', 'labels', '*'],
  ['services', '*', 'build', 'args', '*'],
  ['services', '*', 'build', 'labels', '*'],
  ['services', '*', 'logging', 'options', '*'],
  ['services', '*', 'networks', '*', 'driver_opts', '*'],
  ['services', '*', 'volumes', '*', 'volume', 'labels', '*'],
  ['networks', '*', 'labels', '*'],
  ['networks', '*', 'driver_opts', '*'],
  ['volumes', '*', 'labels', '*'],
  ['volumes', '*', 'driver_opts', '*'],
  ['configs', '*', 'labels', '*'],
  ['secrets', '*', 'labels', '*'],
];

/**
 * Permission bits. Compose v2 reads YAML with Go's yaml, which parses an
 * integer with a leading 0 as octal (`mode: 0700` is 448), as docker-compose
 * 1.29's YAML 1.1 does; YAML 1.2 (this parser) would read 700.
 */
const MODE_PATHS: readonly (readonly string[])[] = [
  ['services', '*', 'volumes', '*', 'tmpfs', 'mode'],
  ['services', '*', 'configs', '*', 'mode'],
  ['services', '*', 'secrets', '*', 'mode'],
];

/** `0700` written as a plain integer: octal, as Go's yaml reads it. */
const LEADING_ZERO_OCTAL = /^0[0-7]+$/;

function matchesPath(patterns: readonly (readonly string[])[], path: JsonPath): boolean {
  return patterns.some(
    (pattern) =>
      pattern.length === path.length && pattern.every((p, i) => p === '*' || p === String(path[i])),
  );
}

/** Whether `path` is a mode field whose leading-0 integers are octal. */
export function isModePath(path: JsonPath): boolean {
  return matchesPath(MODE_PATHS, path);
}

export function keepsText(path: JsonPath): boolean {
  // Mapping values only: a list entry (`- 1`) is not `KEY=value` text.
  if (typeof path.at(-1) !== 'string') return false;
  return matchesPath(TEXT_VALUE_PATHS, path);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

class YamlFailure extends Error {
  constructor(
    readonly offset: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** Parses one Compose file; every problem comes back as a positioned error, nothing throws. */
export function parseComposeYaml(
  file: string,
  bytes: Uint8Array,
  positions: Positions,
): { ok: true; value: ComposeYaml } | { ok: false; errors: ManifestError[] } {
  const fail = (message: string, line?: number, column?: number) => ({
    ok: false as const,
    errors: [{ file, line, column, path: '', message }],
  });
  if (bytes.byteLength > MAX_COMPOSE_FILE_BYTES) {
    return fail(
      `file is ${bytes.byteLength} bytes; Compose files are limited to ${MAX_COMPOSE_FILE_BYTES} bytes (1 MiB)`,
    );
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return fail('file is not valid UTF-8 text; expected a YAML mapping');
  }
  const lineCounter = new LineCounter();
  // YAML 1.2 core schema, as Compose v2 reads it: `on`/`yes` stay strings.
  const doc = parseDocument(text, {
    lineCounter,
    uniqueKeys: true,
    prettyErrors: false,
    version: '1.2',
  });
  const at = (offset: number | undefined): SourcePosition => {
    if (offset === undefined) return { file, line: 1, column: 1 };
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, column: p.col };
  };
  if (doc.errors.length > 0) {
    // Later parse errors mostly cascade from the first: report that one.
    const first = doc.errors[0]!;
    const pos = at(first.pos[0]);
    const message =
      first.code === 'DUPLICATE_KEY'
        ? 'duplicate key: expected each key once per mapping'
        : `not valid YAML: ${first.message}`;
    return fail(message, pos.line, pos.column);
  }
  const walker = new Walker(doc, text, at, positions);
  let value: unknown;
  try {
    value = walker.convert(doc.contents, []);
  } catch (err) {
    if (!(err instanceof YamlFailure)) throw err;
    const pos = at(err.offset);
    return fail(err.message, pos.line, pos.column);
  }
  if (value === null || value === undefined) {
    return fail('file is empty; expected a mapping with `services`');
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    return fail('expected a mapping at the top of the file (`services:`, `networks:`, ...)', 1, 1);
  }
  return {
    ok: true,
    value: {
      file,
      value: value as Record<string, unknown>,
      resets: walker.resets,
      overrides: walker.overrides,
    },
  };
}

class Walker {
  readonly resets: JsonPath[] = [];
  readonly overrides: JsonPath[] = [];
  private expansions = 0;
  private readonly active = new Set<Node>();
  /** Anchors by name, in document order: `Alias.resolve` rescans the whole document per alias. */
  private readonly anchors = new Map<string, Node[]>();

  constructor(
    doc: Document,
    private readonly text: string,
    private readonly at: (offset: number | undefined) => SourcePosition,
    private readonly positions: Positions,
  ) {
    visit(doc, {
      Node: (_key, node) => {
        if (node.anchor) {
          const list = this.anchors.get(node.anchor) ?? [];
          list.push(node);
          this.anchors.set(node.anchor, list);
        }
      },
    });
  }

  /** The anchor an alias names: the last one defined before it, as YAML says. */
  private anchorFor(alias: import('yaml').Alias): Node | undefined {
    const at = alias.range?.[0] ?? 0;
    const candidates = this.anchors.get(alias.source) ?? [];
    let found: Node | undefined;
    for (const node of candidates) if ((node.range?.[0] ?? 0) < at) found = node;
    return found;
  }

  /** The node an alias points at, counted against the alias-bomb cap. */
  private deref(node: unknown): unknown {
    let current = node;
    while (isAlias(current)) {
      if (++this.expansions > MAX_ALIAS_EXPANSIONS) {
        throw new YamlFailure(
          current.range?.[0],
          `YAML aliases expand too far; at most ${MAX_ALIAS_EXPANSIONS} alias uses are allowed`,
        );
      }
      const target = this.anchorFor(current);
      if (!target) {
        throw new YamlFailure(
          current.range?.[0],
          `not valid YAML: alias *${current.source} has no anchor &${current.source} before it`,
        );
      }
      current = target;
    }
    return current;
  }

  convert(raw: unknown, path: (string | number)[]): unknown {
    const node = this.deref(raw);
    if (node === null || node === undefined) return null;
    if (this.active.has(node as Node)) {
      throw new YamlFailure((raw as Node).range?.[0], 'YAML alias refers to itself');
    }
    const tag = (node as Node).tag;
    if (tag === '!reset') {
      this.resets.push([...path]);
      return RESET;
    }
    if (tag === '!override') this.overrides.push([...path]);
    else if (tag && !tag.startsWith('tag:yaml.org,2002:')) {
      throw new YamlFailure(
        (node as Node).range?.[0],
        `unknown YAML tag ${tag}; Compose knows only !reset and !override`,
      );
    }
    if (isScalar(node)) return this.scalar(node, path);
    this.active.add(node as Node);
    try {
      if (isSeq(node)) {
        const out: unknown[] = [];
        for (const item of node.items) {
          const value = this.convert(item, [...path, out.length]);
          if (value === RESET) continue;
          this.positions.set(out, out.length, this.at(nodeStart(item)));
          out.push(value);
        }
        return out;
      }
      if (isMap(node)) return this.mapping(node, path);
    } finally {
      this.active.delete(node as Node);
    }
    throw new YamlFailure((node as Node).range?.[0], 'unsupported YAML node');
  }

  private scalar(node: import('yaml').Scalar, path: JsonPath): unknown {
    const value = node.value;
    if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
      if (keepsText(path)) return this.sourceText(node);
      if (typeof value === 'bigint') return Number(value);
      if (typeof value === 'number' && isModePath(path)) {
        const text = this.sourceText(node);
        if (LEADING_ZERO_OCTAL.test(text)) return Number.parseInt(text, 8);
      }
      return value;
    }
    if (value === null || value === undefined) return null;
    if (typeof value === 'string') return value;
    // Timestamps, binary: not in the core schema, but keep their text.
    return this.sourceText(node);
  }

  /** The scalar as written in the file (plain scalars: numbers and booleans are never quoted). */
  private sourceText(node: import('yaml').Scalar): string {
    const range = node.range;
    if (!range) return String(node.value);
    return this.text.slice(range[0], range[1]).trim();
  }

  private keyText(key: unknown): string {
    const node = this.deref(key);
    if (node === null || node === undefined) return '';
    if (!isScalar(node)) {
      throw new YamlFailure((node as Node).range?.[0], 'mapping keys must be plain strings');
    }
    return typeof node.value === 'string' ? node.value : this.sourceText(node);
  }

  private mapping(node: import('yaml').YAMLMap, path: (string | number)[]): unknown {
    const out: Record<string, unknown> = {};
    const explicit = new Set<string>();
    for (const pair of node.items) {
      const k = this.keyText(pair.key);
      if (k !== '<<') explicit.add(k);
    }
    for (const pair of node.items) {
      const k = this.keyText(pair.key);
      if (k === '<<') {
        this.mergeKey(pair.value, out, explicit, path);
        continue;
      }
      const value = this.convert(pair.value, [...path, k]);
      if (value === RESET) continue;
      this.define(out, k, value, pair.value ?? pair.key, pair.key);
    }
    return out;
  }

  private define(
    out: Record<string, unknown>,
    key: string,
    value: unknown,
    at: unknown,
    keyAt: unknown,
  ) {
    // `__proto__` as a plain assignment would change the prototype.
    Object.defineProperty(out, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    this.positions.set(out, key, this.at(nodeStart(at)), this.at(nodeStart(keyAt)));
  }

  /**
   * YAML merge keys (`<<: *base`, `<<: [*a, *b]`): keys of the mapping win,
   * then the merged mappings in order, the first one that has a key winning.
   */
  private mergeKey(
    value: unknown,
    out: Record<string, unknown>,
    explicit: Set<string>,
    path: (string | number)[],
  ) {
    const source = this.deref(value);
    const sources = isSeq(source) ? source.items : [value];
    for (const item of sources) {
      const target = this.deref(item);
      if (!isMap(target)) {
        throw new YamlFailure(
          nodeStart(item),
          'a YAML merge key `<<` takes a mapping or a list of mappings',
        );
      }
      for (const pair of target.items) {
        const k = this.keyText(pair.key);
        if (k === '<<' || explicit.has(k) || Object.hasOwn(out, k)) continue;
        const v = this.convert(pair.value, [...path, k]);
        if (v === RESET) continue;
        this.define(out, k, v, pair.value ?? pair.key, pair.key);
      }
      // Nested merge keys inside the merged mapping.
      const nested = target.items.find((p) => this.keyText(p.key) === '<<');
      if (nested)
        this.mergeKey(nested.value, out, new Set([...explicit, ...Object.keys(out)]), path);
    }
  }
}

/** Marks a value tagged `!reset`; never left in a converted tree. */
const RESET = Symbol('reset');

function nodeStart(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}

/** Paths of a file's `!reset`/`!override` below `prefix`, made relative to it. */
export function pathsBelow(paths: readonly JsonPath[], prefix: JsonPath): JsonPath[] {
  return paths
    .filter((p) => p.length > prefix.length && prefix.every((s, i) => String(p[i]) === String(s)))
    .map((p) => p.slice(prefix.length));
}

export { toPointer };
