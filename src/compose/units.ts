/**
 * Compose's value forms: byte sizes (`512m`, `1g`, `1.5gb`, or a number of bytes),
 * durations (`1m30s`), CPU counts. Compose reads byte sizes with
 * docker/go-units `RAMInBytes`: binary multiples, case-insensitive, an
 * optional `b`/`ib` suffix, so `1k` = `1kb` = `1KiB` = 1024.
 */
import { parseDuration } from '../core/duration.js';

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** A byte size in bytes, or undefined when it is not one (the caller reports it). */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 ? value : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const m = /^([0-9]+(?:\.[0-9]+)?) ?([kmgtp]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) return undefined;
  // go-units truncates toward zero (int64 conversion), so 1.5k is 1536 and 0.3k is 307.
  return Math.trunc(Number(m[1]) * BYTE_UNITS[m[2]!.toLowerCase()]!);
}

/**
 * A memory size that may also be `-1` (unlimited, for `memswap_limit`).
 * Undefined when it is neither.
 */
export function parseMemorySize(value: unknown): number | undefined {
  if (value === -1 || value === '-1') return -1;
  return parseByteSize(value);
}

/** A Compose duration (`10s`, `1m30s`, `500ms`) in milliseconds, or undefined when it is not one. */
export function parseComposeDuration(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return parseDuration(value);
  } catch {
    return undefined;
  }
}

/** A CPU count (`0.5`, `"1.5"`, `2`) in the engine's NanoCpus, or undefined when it is not one. */
export function parseCpus(value: unknown): number | undefined {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(value.trim())
        ? Number(value)
        : Number.NaN;
  if (!Number.isFinite(n) || n < 0) return undefined;
  return Math.round(n * 1e9);
}

/** An integer given as a YAML number or as its text (`"1024"`), or undefined. */
export function parseInteger(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (typeof value === 'string' && /^-?[0-9]+$/.test(value.trim())) return Number(value);
  return undefined;
}

/** A plain JSON object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A scalar as the text Compose would pass on (`8080` -> `"8080"`, `true` -> `"true"`). */
export function scalarText(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : undefined;
}

/** Compose's "string or list of strings" fields (`dns`, `tmpfs`, `dns_search`). */
export function stringOrList(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    const items = value.map(scalarText);
    return items.every((i) => i !== undefined) ? (items as string[]) : undefined;
  }
  const one = scalarText(value);
  return one === undefined ? undefined : [one];
}

/**
 * Compose's "map or list of `KEY=value`" fields (`sysctls`, `labels`,
 * `driver_opts`), as entries. A list item without `=` gets the value `''`.
 * Undefined when the shape is wrong.
 */
export function mapOrListEntries(value: unknown): [string, string][] | undefined {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) {
    const out: [string, string][] = [];
    for (const item of value) {
      if (typeof item !== 'string') return undefined;
      const eq = item.indexOf('=');
      out.push(eq === -1 ? [item, ''] : [item.slice(0, eq), item.slice(eq + 1)]);
    }
    return out;
  }
  if (!isRecord(value)) return undefined;
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(value)) {
    const text = v === null ? '' : scalarText(v);
    if (text === undefined) return undefined;
    out.push([k, text]);
  }
  return out;
}

/** An object with its keys sorted, so equal maps compare and hash equal. */
export function sortedRecord<T>(entries: Iterable<[string, T]>): Record<string, T> {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * A boolean, also given as the text an interpolated value leaves
 * (`read_only: ${RO}` -> `"true"`), as Compose casts it by the schema's type.
 */
export function asBool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const v = value.toLowerCase();
    if (['true', 'yes', 'y', 'on', '1'].includes(v)) return true;
    if (['false', 'no', 'n', 'off', '0'].includes(v)) return false;
  }
  return undefined;
}
