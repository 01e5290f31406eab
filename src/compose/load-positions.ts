import type { ManifestError, SourcePosition } from '../core/types.js';

export type JsonPath = readonly (string | number)[];

/**
 * Where each value of a loaded Compose tree was written. Positions hang off
 * the container (mapping or list) that holds the value, keyed by its key or
 * index, so they survive merges that move values between trees: a merge
 * copies the position with the value.
 */
export class Positions {
  private readonly values = new WeakMap<object, Map<string | number, SourcePosition>>();
  private readonly keys = new WeakMap<object, Map<string | number, SourcePosition>>();

  set(container: object, key: string | number, pos: SourcePosition, keyPos?: SourcePosition) {
    const map = this.values.get(container) ?? new Map<string | number, SourcePosition>();
    this.values.set(container, map);
    map.set(key, pos);
    if (keyPos) {
      const keys = this.keys.get(container) ?? new Map<string | number, SourcePosition>();
      this.keys.set(container, keys);
      keys.set(key, keyPos);
    }
  }

  get(container: object, key: string | number): SourcePosition | undefined {
    return this.values.get(container)?.get(key);
  }

  getKey(container: object, key: string | number): SourcePosition | undefined {
    return this.keys.get(container)?.get(key) ?? this.get(container, key);
  }

  /** Gives `to[toKey]` the position of `from[fromKey]`. */
  copy(from: object, fromKey: string | number, to: object, toKey: string | number) {
    const pos = this.values.get(from)?.get(fromKey);
    if (pos) this.set(to, toKey, pos, this.keys.get(from)?.get(fromKey));
  }

  /** Position of the value at `path` below `root`, else of its nearest located parent. */
  locate(root: unknown, path: JsonPath, fallback: SourcePosition, key = false): SourcePosition {
    let node = root;
    let best = fallback;
    for (const [i, segment] of path.entries()) {
      if (node === null || typeof node !== 'object') break;
      const last = i === path.length - 1;
      const pos = last && key ? this.getKey(node, segment) : this.get(node, segment);
      if (pos) best = pos;
      node = (node as Record<string | number, unknown>)[segment];
    }
    return best;
  }
}

/** The JSON pointer of a path: `/services/web/ports/0`. */
export function toPointer(path: JsonPath): string {
  return path.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** `services.web.ports[0]`: how paths read in messages. */
export function displayPath(path: JsonPath): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** Builds a positioned error. */
export function errorAt(pos: SourcePosition, path: JsonPath, message: string): ManifestError {
  return { file: pos.file, line: pos.line, column: pos.column, path: toPointer(path), message };
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
