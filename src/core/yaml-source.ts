import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from 'yaml';
import type { ManifestError } from './types.js';

/** Manifests larger than this are refused before parsing. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/**
 * More aliases than this in one document is treated as an alias bomb
 * ("billion laughs"): a real manifest has a handful at most.
 */
const MAX_ALIAS_COUNT = 100;

/** A parsed YAML file that can point back at the line:column of any JSON path. */
export interface YamlSource {
  file: string;
  value: unknown;
  /** Position of the value at `path` (or of its key, when `key` is set); falls back to the nearest parent. */
  locate(path: readonly (string | number)[], key?: boolean): { line: number; column: number };
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Parses one YAML file; every problem comes back as a positioned error, nothing throws. */
export function parseYamlSource(
  file: string,
  bytes: Uint8Array,
): { ok: true; value: YamlSource } | { ok: false; errors: ManifestError[] } {
  const fail = (message: string, line?: number, column?: number) => ({
    ok: false as const,
    errors: [{ file, line, column, path: '', message }],
  });
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    return fail(
      `file is ${bytes.byteLength} bytes; manifests are limited to ${MAX_MANIFEST_BYTES} bytes (1 MiB)`,
    );
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return fail('file is not valid UTF-8 text; expected a YAML mapping');
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    uniqueKeys: true,
    prettyErrors: false,
    // YAML 1.2 core schema: `on`/`yes` stay strings, as in Compose v2.
    version: '1.2',
  });
  if (doc.errors.length > 0) {
    // Later parse errors mostly cascade from the first: report that one.
    const first = doc.errors[0]!;
    const pos = lineCounter.linePos(first.pos[0]);
    if (first.code === 'DUPLICATE_KEY') {
      // Name the key and its JSON path: "Map keys must be unique" alone
      // leaves the reader to find which one.
      const path = pathToKeyAt(doc.contents, first.pos[0]);
      if (path) {
        return {
          ok: false,
          errors: [
            {
              file,
              line: pos.line,
              column: pos.col,
              path: path
                .map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`)
                .join(''),
              message: `duplicate key "${path.at(-1)}": expected each key once per mapping`,
            },
          ],
        };
      }
    }
    return fail(`not valid YAML: ${first.message}`, pos.line, pos.col);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // toJS throws for an alias bomb and for an alias with no anchor: only
    // the first is a resource problem.
    const unresolved = firstUnresolvedAlias(doc);
    if (unresolved) {
      const pos = lineCounter.linePos(unresolved.range?.[0] ?? 0);
      return fail(
        `not valid YAML: alias *${unresolved.source} has no anchor &${unresolved.source} before it`,
        pos.line,
        pos.col,
      );
    }
    return fail(
      `YAML aliases expand too far (${(err as Error).message}); at most ${MAX_ALIAS_COUNT} alias uses are allowed`,
    );
  }

  const position = (offset: number | undefined) => {
    if (offset === undefined) return { line: 1, column: 1 };
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };

  const locate: YamlSource['locate'] = (path, key = false) => {
    let node: unknown = doc.contents;
    let keyNode: unknown;
    for (const segment of path) {
      keyNode = undefined;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && scalarValue(p.key) === String(segment));
        if (!pair) break;
        keyNode = pair.key;
        node = pair.value ?? pair.key;
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment];
        if (item === undefined) break;
        node = item;
      } else break;
    }
    const target = (key && keyNode ? keyNode : node) as Node | undefined;
    return position(target?.range?.[0]);
  };

  return { ok: true, value: { file, value, locate } };
}

function firstUnresolvedAlias(doc: Document): Alias | undefined {
  const anchors = new Set<string>();
  let found: Alias | undefined;
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node)) {
        if (anchors.has(node.source)) return undefined;
        found = node;
        return visit.BREAK;
      }
      if (node.anchor) anchors.add(node.anchor);
      return undefined;
    },
  });
  return found;
}

/** The JSON path of the mapping key that starts at `offset`, if any. */
function pathToKeyAt(node: unknown, offset: number): (string | number)[] | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = scalarValue(pair.key) ?? '';
      if ((pair.key as Node | null)?.range?.[0] === offset) return [key];
      const inner = pathToKeyAt(pair.value, offset);
      if (inner) return [key, ...inner];
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const inner = pathToKeyAt(item, offset);
      if (inner) return [i, ...inner];
    }
  }
  return undefined;
}

function scalarValue(node: unknown): string | undefined {
  return isScalar(node) ? String(node.value) : undefined;
}
