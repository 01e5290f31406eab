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

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The `io.gitdock.spec-hash` label: sha256 of the canonical, defaults-filled spec. */
export function hashSpec(spec: ContainerSpec): string {
  return sha256(canonicalJson(spec));
}

/**
 * The spec as recorded in the `io.gitdock.spec` label, so the next plan can
 * say which field changed. Environment values are replaced by a short digest:
 * a changed secret is reported as "changed" without its value being copied
 * into container metadata a second time.
 */
export function recordedSpec(spec: ContainerSpec): ContainerSpec {
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.environment)) {
    environment[k] = `sha256:${sha256(v).slice(0, 16)}`;
  }
  return { ...spec, environment };
}

export function encodeSpecLabel(spec: ContainerSpec): string {
  return canonicalJson(recordedSpec(spec));
}

/** The recorded spec of a running container, or undefined when absent or unreadable. */
export function decodeSpecLabel(label: string | undefined): ContainerSpec | undefined {
  if (!label) return undefined;
  try {
    const value = JSON.parse(label) as ContainerSpec;
    return value && typeof value === 'object' && typeof value.image === 'string'
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}
