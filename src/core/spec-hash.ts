import { createHash } from 'node:crypto';
import type { ContainerSpec } from './types.js';

/** JSON with object keys sorted at every level: equal specs give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** sha256 hex of a text. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The short digest that stands for a value in a recorded spec. */
function digest(text: string): string {
  return `sha256:${sha256(text).slice(0, 16)}`;
}

/** The `io.gitdock.spec-hash` label: sha256 of the canonical, defaults-filled spec. */
export function hashSpec(spec: ContainerSpec): string {
  return sha256(canonicalJson(spec));
}

/**
 * The spec as the `io.gitdock.spec` label records it. `secretDigests` holds,
 * for each field where a host-local value was masked (`command`,
 * `healthcheck`, `labels.<key>`, ...), a digest of the field as it really
 * is: the masked text alone could not tell a rotated secret from the same one.
 */
export type RecordedSpec = ContainerSpec & { secretDigests?: Record<string, string> };

/** Recorded-spec fields that are maps shown key by key in reasons: their secrets are digested per key. */
const KEYED_FIELDS = new Set(['labels', 'sysctls']);

/**
 * The spec as recorded in the `io.gitdock.spec` label, so the next plan can
 * say which field changed. Environment values are replaced by a short digest:
 * a changed secret is reported as "changed" without its value being copied
 * into container metadata a second time. Values from the host-local env file
 * (`secretValues`) are masked as `***` wherever else they occur (a secret in
 * `command`, a healthcheck, a label value), with a digest of each such field
 * in `secretDigests`. The spec hash is computed from the real spec, never
 * from this.
 */
export function recordedSpec(
  spec: ContainerSpec,
  secretValues: readonly string[] = [],
): RecordedSpec {
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.environment)) environment[k] = digest(v);
  return maskRecordedSpec({ ...spec, environment }, secretValues);
}

/**
 * A recorded spec with the host-local values masked (see `recordedSpec`).
 * Masking one again changes nothing, and the digests it already holds are
 * kept: a spec read back from a label can be compared with a fresh one.
 * Environment values are digests already and are left as they are.
 */
export function maskRecordedSpec(
  recorded: RecordedSpec,
  secretValues: readonly string[] = [],
): RecordedSpec {
  const secrets = secretsToMask(secretValues);
  if (secrets.length === 0) return recorded;
  const { secretDigests: kept, ...spec } = recorded;
  const digests: Record<string, string> = { ...kept };
  const out: Record<string, unknown> = { ...spec };
  for (const [field, value] of Object.entries(spec)) {
    if (field === 'environment') continue;
    const masked = maskValue(value, secrets);
    if (canonicalJson(masked) === canonicalJson(value)) continue;
    out[field] = masked;
    if (KEYED_FIELDS.has(field) && value && typeof value === 'object') {
      for (const [key, v] of Object.entries(value as Record<string, string>)) {
        if (maskText(v, secrets) !== v) digests[`${field}.${key}`] = digest(v);
      }
    } else {
      digests[field] = digest(canonicalJson(value));
    }
  }
  if (Object.keys(digests).length > 0) out.secretDigests = digests;
  return out as unknown as RecordedSpec;
}

/** The `io.gitdock.spec` label of a container made from `spec`; see `recordedSpec`. */
export function encodeSpecLabel(spec: ContainerSpec, secretValues: readonly string[] = []): string {
  return canonicalJson(recordedSpec(spec, secretValues));
}

/** The recorded spec of a running container, or undefined when absent or unreadable. */
export function decodeSpecLabel(label: string | undefined): RecordedSpec | undefined {
  if (!label) return undefined;
  try {
    const value = JSON.parse(label) as RecordedSpec;
    return value && typeof value === 'object' && typeof value.image === 'string'
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}

/** What masking stands in for a host-local value. */
export const SECRET_MASK = '***';

/**
 * The values to mask, longest first (a secret containing another is masked
 * whole), without duplicates and without the empty string (which would
 * match everywhere).
 */
export function secretsToMask(values: readonly string[] = []): string[] {
  return [...new Set(values.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
}

/** `text` with every secret (from `secretsToMask`) replaced by `***`. */
export function maskText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const value of secrets) out = out.split(value).join(SECRET_MASK);
  return out;
}

/**
 * A copy of `value` (any JSON) with every string masked: object keys and
 * numbers are kept, so the shape of the data is the same.
 */
export function maskValue<T>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return value;
  const visit = (v: unknown): unknown => {
    if (typeof v === 'string') return maskText(v, secrets);
    if (Array.isArray(v)) return v.map(visit);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, visit(x)]));
    }
    return v;
  };
  return visit(value) as T;
}
