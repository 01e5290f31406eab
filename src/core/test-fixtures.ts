/**
 * Shared fakes for the core's unit tests: inline file trees for
 * `loadFleet`, and desired services / engine containers for `planHost`.
 * Test-only; nothing in src/ imports it outside `*.test.ts`.
 */
import { expect } from 'vitest';
import { type Fleet, loadFleet } from './fleet.js';
import { DEFAULTS, imageReference } from './normalize.js';
import { encodeSpecLabel, hashSpec } from './spec-hash.js';
import {
  type ActualContainer,
  type ContainerSpec,
  type DesiredService,
  type HostState,
  LABELS,
  type ManifestError,
} from './types.js';

const encoder = new TextEncoder();

/** A repo tree from inline text: `files({ 'hosts/web-1/app.yaml': 'image: app\ntag: "1"\n' })`. */
export function files(tree: Record<string, string | Uint8Array>): Map<string, Uint8Array> {
  return new Map(
    Object.entries(tree).map(([path, content]) => [
      path,
      typeof content === 'string' ? encoder.encode(content) : content,
    ]),
  );
}

/** Joins lines with `\n` and a trailing newline, so line numbers in tests are easy to read. */
export function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

/** `loadFleet` on an inline tree; fails the test with the errors when it does not load. */
export function loadOk(tree: Record<string, string | Uint8Array>): Fleet {
  const result = loadFleet(files(tree));
  if (!result.ok) expect.fail(`expected the fleet to load, got:\n${formatErrors(result.errors)}`);
  return result.value;
}

/** `loadFleet` on an inline tree; fails the test when it loads. */
export function loadErrors(tree: Record<string, string | Uint8Array>): ManifestError[] {
  const result = loadFleet(files(tree));
  if (result.ok) expect.fail('expected validation errors, the fleet loaded');
  return result.errors;
}

/** `file:line:column path: message`, as the CLI prints them. */
export function formatErrors(errors: readonly ManifestError[]): string {
  return errors
    .map((e) => `${e.file}${e.line ? `:${e.line}:${e.column}` : ''} ${e.path}: ${e.message}`)
    .join('\n');
}

/** A defaults-filled spec, with overrides. */
export function containerSpec(overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    image: 'registry.example.com/app',
    tag: '1.0',
    environment: {},
    ports: [],
    volumes: [],
    restart: DEFAULTS.restart,
    labels: {},
    stopGracePeriodMs: DEFAULTS.stopGracePeriodMs,
    ...overrides,
  };
}

export interface DesiredServiceOptions {
  host?: string;
  spec?: Partial<ContainerSpec>;
  dependsOn?: string[];
}

/** A desired service as `resolveHost` would produce it. */
export function desiredService(name: string, options: DesiredServiceOptions = {}): DesiredService {
  const host = options.host ?? 'web-1';
  const spec = containerSpec({ image: `registry.example.com/${name}`, ...options.spec });
  return {
    name,
    containerName: name,
    host,
    file: `hosts/${host}/${name}.yaml`,
    origin: 'host',
    spec,
    rollout: {
      order: DEFAULTS.order,
      settleMs: DEFAULTS.settleMs,
      healthTimeoutMs: DEFAULTS.healthTimeoutMs,
      pull: DEFAULTS.pull,
    },
    dependsOn: options.dependsOn ?? [],
    imageRef: imageReference(spec),
    specHash: hashSpec(spec),
  };
}

/** A host's desired state; services are kept in the order given (start order). */
export function hostState(
  services: DesiredService[],
  options: { host?: string; commit?: string; allowEmpty?: boolean } = {},
): HostState {
  return {
    host: options.host ?? 'web-1',
    commit: options.commit ?? 'c0ffee0000000000000000000000000000000000',
    services,
    allowEmpty: options.allowEmpty ?? false,
  };
}

export interface ManagedContainerOptions {
  /** Container name; defaults to the service name. */
  name?: string;
  host?: string;
  state?: string;
  imageId?: string;
  id?: string;
  /** The spec the container was created from; its hash and label are recorded. */
  spec?: ContainerSpec;
  /** Record the `io.gitdock.spec` label (default true). */
  specLabel?: boolean;
  dependsOn?: string[];
  /** Extra or overriding labels. */
  labels?: Record<string, string>;
}

/**
 * A container as gitdock would have created it for `desired` (or, given a
 * bare service name, for a default spec): every `io.gitdock.*` label set.
 */
export function managedContainer(
  desired: DesiredService | string,
  options: ManagedContainerOptions = {},
): ActualContainer {
  const service = typeof desired === 'string' ? desired : desired.name;
  const spec =
    options.spec ?? (typeof desired === 'string' ? desiredService(service).spec : desired.spec);
  const dependsOn = options.dependsOn ?? (typeof desired === 'string' ? [] : desired.dependsOn);
  const labels: Record<string, string> = {
    ...spec.labels,
    [LABELS.host]: options.host ?? (typeof desired === 'string' ? 'web-1' : desired.host),
    [LABELS.service]: service,
    [LABELS.specHash]: hashSpec(spec),
    [LABELS.image]: imageReference(spec),
    [LABELS.commit]: 'c0ffee0000000000000000000000000000000000',
    ...(options.specLabel === false ? {} : { [LABELS.spec]: encodeSpecLabel(spec) }),
    ...(dependsOn.length > 0 ? { [LABELS.dependsOn]: dependsOn.join(',') } : {}),
    ...options.labels,
  };
  const name = options.name ?? service;
  return {
    id: options.id ?? fakeId(name),
    name,
    labels,
    state: options.state ?? 'running',
    imageId: options.imageId ?? `sha256:${'1'.repeat(64)}`,
  };
}

/** A container gitdock did not create: no `io.gitdock.*` labels. */
export function unmanagedContainer(
  name: string,
  options: { state?: string; labels?: Record<string, string> } = {},
): ActualContainer {
  return {
    id: fakeId(name),
    name,
    labels: options.labels ?? {},
    state: options.state ?? 'running',
    imageId: `sha256:${'2'.repeat(64)}`,
  };
}

/** A stable 64-hex id derived from the name, so ids in messages are predictable. */
function fakeId(name: string): string {
  let hex = '';
  for (const ch of name) hex += ch.charCodeAt(0).toString(16).padStart(2, '0');
  return hex.padEnd(64, '0').slice(0, 64);
}

/** A deterministic shuffle (seeded LCG), for order-independence tests. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
