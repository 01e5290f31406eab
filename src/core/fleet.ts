import { matchesHost } from './host-selector.js';
import { isValidName, NAME_RULE } from './names.js';
import {
  ENV_FILE_ROOTS,
  imageReference,
  type NormalizedService,
  normalizeService,
} from './normalize.js';
import { checkPolicy } from './policy.js';
import type { RepoConfig, ServiceManifest } from './schema.js';
import { repoConfigSchema, serviceSchema } from './schema.js';
import { explainSchemaErrors } from './schema-errors.js';
import { hashSpec } from './spec-hash.js';
import type { DesiredService, HostState, ManifestError, Result } from './types.js';
import { validateRepoConfig, validateService } from './validators.js';
import { parseYamlSource, type YamlSource } from './yaml-source.js';

export const REPO_CONFIG_FILE = 'gitdock.yaml';

/** One manifest, validated and normalised, not yet bound to a host. */
export interface ServiceDefinition {
  name: string;
  file: string;
  origin: 'host' | 'fleet';
  /** Fleet files only: the `hosts:` selector. */
  selector?: string[];
  normalized: NormalizedService;
  source: YamlSource;
}

/** Every manifest of one revision, validated as a whole. */
export interface Fleet {
  config: RepoConfig;
  /** Host-file services by host, then by service name. */
  hostServices: Map<string, Map<string, ServiceDefinition>>;
  fleetServices: Map<string, ServiceDefinition>;
  /** Hosts named by a `hosts/<host>/` directory or in gitdock.yaml, sorted. */
  knownHosts: string[];
}

/**
 * Which repo paths the loader needs from git: gitdock.yaml and everything
 * under hosts/ and services/ (manifests and the env files they name).
 */
export function isFleetPath(path: string, isDir: boolean): boolean {
  if (isDir) {
    return ENV_FILE_ROOTS.some((root) => path === root.slice(0, -1) || path.startsWith(root));
  }
  return path === REPO_CONFIG_FILE || ENV_FILE_ROOTS.some((root) => path.startsWith(root));
}

const MANIFEST_EXT = /\.ya?ml$/;

/**
 * Validates every manifest of a revision, checks it against the
 * gitdock.yaml `policy`, and checks each known host's dependency graph. One
 * error anywhere fails the whole revision: a half-valid commit is never
 * applied.
 */
export function loadFleet(files: ReadonlyMap<string, Uint8Array>): Result<Fleet> {
  const errors: ManifestError[] = [];
  const readFile = (path: string) => files.get(path);

  let config: RepoConfig = {};
  const configBytes = files.get(REPO_CONFIG_FILE);
  if (configBytes) {
    const parsed = parseYamlSource(REPO_CONFIG_FILE, configBytes);
    if (!parsed.ok) errors.push(...parsed.errors);
    else {
      const value = parsed.value.value ?? {};
      const check = validateRepoConfig(value);
      if (check.ok) config = value as RepoConfig;
      else errors.push(...explainSchemaErrors(parsed.value, repoConfigSchema, check.errors));
    }
  }

  const hostServices = new Map<string, Map<string, ServiceDefinition>>();
  const fleetServices = new Map<string, ServiceDefinition>();
  const hostDirs = new Set<string>();

  for (const path of [...files.keys()].sort()) {
    const parts = path.split('/');
    const isHostFile = parts[0] === 'hosts' && parts.length === 3;
    const isFleetFile = parts[0] === 'services' && parts.length === 2;
    if (parts[0] === 'hosts' && parts.length >= 3) {
      const host = parts[1]!;
      if (isValidName(host)) hostDirs.add(host);
      else if (MANIFEST_EXT.test(path)) {
        errors.push(fileError(path, `"${host}" is not a valid host name: use ${NAME_RULE}`));
        continue;
      }
    }
    if (!MANIFEST_EXT.test(path)) continue;
    if (!isHostFile && !isFleetFile) {
      // Any other depth is a misplaced manifest, reported rather than skipped:
      // moving a file into a subdirectory must not quietly remove a service.
      if (parts[0] === 'hosts' || parts[0] === 'services') {
        errors.push(
          fileError(path, 'manifests go in hosts/<host>/<service>.yaml or services/<service>.yaml'),
        );
      }
      continue;
    }
    const name = parts.at(-1)!.replace(MANIFEST_EXT, '');
    if (!isValidName(name)) {
      errors.push(fileError(path, `"${name}" is not a valid service name: use ${NAME_RULE}`));
      continue;
    }
    const origin = isHostFile ? 'host' : 'fleet';
    const definition = loadServiceFile(path, name, origin, files.get(path)!, readFile, errors);
    if (!definition) continue;
    // The policy is repo-wide: every manifest is checked, whichever hosts it
    // selects, and a violation fails the revision like any other error.
    errors.push(...checkPolicy(config.policy, definition.normalized.spec, definition.source));
    const group = isHostFile
      ? (hostServices.get(parts[1]!) ?? hostServices.set(parts[1]!, new Map()).get(parts[1]!)!)
      : fleetServices;
    const previous = group.get(name);
    if (previous) {
      errors.push(
        fileError(path, `service "${name}" is defined twice: ${previous.file} and ${path}`),
      );
      continue;
    }
    group.set(name, definition);
  }

  const knownHosts = [...new Set([...hostDirs, ...Object.keys(config.hosts ?? {})])].sort();
  const fleet: Fleet = { config, hostServices, fleetServices, knownHosts };
  if (errors.length === 0) {
    // Dependencies are per host: a fleet file may depend on a service that
    // one host defines in a host file.
    for (const host of knownHosts) {
      const resolved = selectServices(fleet, host);
      errors.push(...checkDependencies(host, resolved).errors);
    }
  }
  return errors.length > 0 ? { ok: false, errors: dedupe(errors) } : { ok: true, value: fleet };
}

function loadServiceFile(
  file: string,
  name: string,
  origin: 'host' | 'fleet',
  bytes: Uint8Array,
  readFile: (path: string) => Uint8Array | undefined,
  errors: ManifestError[],
): ServiceDefinition | undefined {
  const parsed = parseYamlSource(file, bytes);
  if (!parsed.ok) {
    errors.push(...parsed.errors);
    return undefined;
  }
  const source = parsed.value;
  if (source.value === null || source.value === undefined) {
    errors.push(
      fileError(file, 'file is empty; expected a mapping with at least "image" and "tag"'),
    );
    return undefined;
  }
  const check = validateService(source.value);
  if (!check.ok) {
    errors.push(...explainSchemaErrors(source, serviceSchema, check.errors));
    return undefined;
  }
  const manifest = source.value as ServiceManifest;
  if (origin === 'host' && manifest.hosts !== undefined) {
    errors.push(
      positioned(
        source,
        ['hosts'],
        '"hosts" belongs in services/ files; a host file applies to its own directory\'s host',
      ),
    );
    return undefined;
  }
  if (origin === 'fleet' && manifest.hosts === undefined) {
    errors.push(
      positioned(
        source,
        [],
        'missing required field "hosts": a services/ file must say which hosts run it (names or globs)',
      ),
    );
    return undefined;
  }
  const normalized = normalizeService(manifest, source, readFile);
  if (!normalized.ok) {
    errors.push(...normalized.errors);
    return undefined;
  }
  return {
    name,
    file,
    origin,
    ...(manifest.hosts ? { selector: [...manifest.hosts] } : {}),
    normalized: normalized.value,
    source,
  };
}

/** A host's services by name: its own files, then fleet files it matches and does not override. */
function selectServices(fleet: Fleet, host: string): Map<string, ServiceDefinition> {
  const selected = new Map(fleet.hostServices.get(host) ?? []);
  for (const [name, definition] of fleet.fleetServices) {
    if (!selected.has(name) && matchesHost(definition.selector ?? [], host)) {
      selected.set(name, definition);
    }
  }
  return selected;
}

/**
 * The desired state of one host at `commit`, services in start order
 * (dependencies first, ties by name). Works for any host name, known or not:
 * a host with no files simply has no services.
 */
export function resolveHost(fleet: Fleet, host: string, commit: string): Result<HostState> {
  const selected = selectServices(fleet, host);
  const checked = checkDependencies(host, selected);
  if (checked.errors.length > 0) return { ok: false, errors: checked.errors };
  const services: DesiredService[] = checked.order.map((name) => {
    const d = selected.get(name)!;
    return {
      name,
      containerName: name,
      host,
      file: d.file,
      origin: d.origin,
      spec: d.normalized.spec,
      rollout: d.normalized.rollout,
      dependsOn: d.normalized.dependsOn,
      imageRef: imageReference(d.normalized.spec),
      specHash: hashSpec(d.normalized.spec),
    };
  });
  return {
    ok: true,
    value: {
      host,
      commit,
      services,
      allowEmpty: fleet.config.hosts?.[host]?.allow_empty === true,
    },
  };
}

/** Unknown dependencies and cycles on one host; otherwise a topological order. */
function checkDependencies(
  host: string,
  services: ReadonlyMap<string, ServiceDefinition>,
): { order: string[]; errors: ManifestError[] } {
  const errors: ManifestError[] = [];
  for (const [name, d] of services) {
    d.normalized.dependsOn.forEach((dep, index) => {
      if (!services.has(dep)) {
        const path = Array.isArray(d.source.value && (d.source.value as ServiceManifest).depends_on)
          ? ['depends_on', index]
          : ['depends_on', dep];
        errors.push(
          positioned(
            d.source,
            path,
            `"${name}" depends on "${dep}", which is not a service on host ${host}`,
          ),
        );
      }
    });
  }
  if (errors.length > 0) return { order: [], errors };

  // Kahn's algorithm; the ready set is kept sorted so the order is deterministic.
  const remaining = new Map([...services].map(([n, d]) => [n, new Set(d.normalized.dependsOn)]));
  const order: string[] = [];
  while (remaining.size > 0) {
    const ready = [...remaining]
      .filter(([, deps]) => deps.size === 0)
      .map(([n]) => n)
      .sort();
    if (ready.length === 0) {
      const cycle = findCycle(remaining);
      const first = services.get(cycle[0]!)!;
      errors.push(
        positioned(
          first.source,
          ['depends_on'],
          `dependency cycle on host ${host}: ${[...cycle, cycle[0]].join(' -> ')}`,
        ),
      );
      return { order: [], errors };
    }
    for (const name of ready) {
      order.push(name);
      remaining.delete(name);
      for (const deps of remaining.values()) deps.delete(name);
    }
  }
  return { order, errors };
}

function findCycle(graph: Map<string, Set<string>>): string[] {
  const start = [...graph.keys()].sort()[0]!;
  const path: string[] = [];
  let node = start;
  while (!path.includes(node)) {
    path.push(node);
    node = [...graph.get(node)!].sort()[0]!;
  }
  return path.slice(path.indexOf(node));
}

function fileError(file: string, message: string): ManifestError {
  return { file, path: '', message };
}

function positioned(source: YamlSource, path: (string | number)[], message: string): ManifestError {
  const { line, column } = source.locate(path);
  return {
    file: source.file,
    line,
    column,
    path: path.map((s) => `/${s}`).join(''),
    message,
  };
}

function dedupe(errors: ManifestError[]): ManifestError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.file}:${e.line}:${e.column}:${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
