import type { ErrorObject } from 'ajv';
import { parseDuration } from './duration.js';
import {
  type ComposeOfHost,
  composeOfHost,
  composeProjectDirs,
  containerNameClashes,
  isInProjectDir,
  stackSelectors,
} from './fleet-compose.js';
import { checkGlob, matchesHost } from './host-selector.js';
import { isValidName, isValidServiceName, NAME_RULE, SERVICE_NAME_RULE } from './names.js';
import {
  containerPeer,
  ENV_FILE_ROOTS,
  imageReference,
  type NormalizedService,
  normalizeService,
} from './normalize.js';
import { checkPolicy } from './policy.js';
import { assignWaves, DEFAULT_DOWN_AFTER_MS, type RolloutConfig } from './rollout.js';
import type { RepoConfig, ServiceManifest } from './schema.js';
import { repoConfigSchema, serviceSchema } from './schema.js';
import { explainSchemaErrors } from './schema-errors.js';
import { hashSpec } from './spec-hash.js';
import type {
  ContainerSpec,
  DesiredService,
  HostEnvByProject,
  HostState,
  ManifestError,
  Result,
} from './types.js';
import { validateRepoConfig, validateService } from './validators.js';
import { parseYamlSource, type YamlSource } from './yaml-source.js';

export const REPO_CONFIG_FILE = 'gitdock.yaml';

/**
 * A symlink of the fleet tree, passed by the git readers in their file map
 * in place of file bytes (its bytes are the link target, as git stores it),
 * so the loader can refuse it by name. Dropping it instead made the plan
 * remove the service it stood for, and a symlinked gitdock.yaml turned the
 * policy off. Anything that reads a file map must treat it as "not a file".
 */
export class SymlinkBlob extends Uint8Array {}

export function isSymlinkBlob(bytes: Uint8Array | undefined): bytes is SymlinkBlob {
  return bytes instanceof SymlinkBlob;
}

/** Fleet roots besides hosts/ and services/: Compose projects shared by several hosts. */
const STACKS_ROOT = 'stacks/';

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
  /**
   * gitdock.yaml `rollout`, durations in ms and defaults filled in; undefined
   * without one (every host applies a commit as soon as it sees it). Its
   * hosts are those of `rolloutHosts(config)`.
   */
  rollout: RolloutConfig | undefined;
  /** Host-file services by host, then by service name. */
  hostServices: Map<string, Map<string, ServiceDefinition>>;
  fleetServices: Map<string, ServiceDefinition>;
  /** Hosts named by a `hosts/<host>/` directory or in gitdock.yaml, sorted. */
  knownHosts: string[];
  /** The revision's files, for resolving a host's Compose projects with its own variables. */
  files: ReadonlyMap<string, Uint8Array>;
  /** Each known host's Compose projects, loaded in CI mode (no host variables). */
  compose: ReadonlyMap<string, ComposeOfHost>;
  /** Not errors: the variables hosts must supply, `build` deployed as an image, ... */
  notes: ManifestError[];
  /** Fields ignored as Compose ignores them, values that will be empty, ... */
  warnings: ManifestError[];
}

/**
 * Which repo paths the loader needs from git: gitdock.yaml and everything
 * under hosts/ and services/ (manifests and the env files they name).
 */
export function isFleetPath(path: string, isDir: boolean): boolean {
  const roots = [...ENV_FILE_ROOTS, STACKS_ROOT];
  if (isDir) {
    return roots.some((root) => path === root.slice(0, -1) || path.startsWith(root));
  }
  return path === REPO_CONFIG_FILE || roots.some((root) => path.startsWith(root));
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
  // A symlink is never read as the file it points at (see SymlinkBlob).
  const readFile = (path: string) => {
    const bytes = files.get(path);
    return isSymlinkBlob(bytes) ? undefined : bytes;
  };
  for (const [path, bytes] of files) {
    if (isSymlinkBlob(bytes)) {
      errors.push(
        fileError(
          path,
          `"${path}" is a symlink; gitdock reads regular files only (commit the file itself)`,
        ),
      );
    }
  }

  let config: RepoConfig = {};
  let configSource: YamlSource | undefined;
  const configBytes = readFile(REPO_CONFIG_FILE);
  if (configBytes) {
    const parsed = parseYamlSource(REPO_CONFIG_FILE, configBytes);
    if (!parsed.ok) errors.push(...parsed.errors);
    else {
      const value = parsed.value.value ?? {};
      const check = validateRepoConfig(value);
      if (check.ok) {
        config = value as RepoConfig;
        configSource = parsed.value;
      } else errors.push(...explainSchemaErrors(parsed.value, repoConfigSchema, check.errors));
    }
  }

  const hostServices = new Map<string, Map<string, ServiceDefinition>>();
  const fleetServices = new Map<string, ServiceDefinition>();
  const hostDirs = new Set<string>();
  // Services whose file has errors, so the dependency check of the rest
  // neither blames them again nor lets a fleet file stand in for them.
  const brokenHost = new Map<string, Set<string>>();
  const brokenFleet = new Set<string>();

  // Files of Compose projects (hosts/<host>/<project>/...) are the Compose
  // loader's, whatever their extension.
  const projectDirs = composeProjectDirs(files.keys());
  for (const path of [...files.keys()].sort()) {
    if (isSymlinkBlob(files.get(path))) continue;
    if (isInProjectDir(path, projectDirs)) {
      const host = path.split('/')[1]!;
      if (isValidName(host)) hostDirs.add(host);
      continue;
    }
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
    if (!isValidServiceName(name)) {
      errors.push(
        fileError(path, `"${name}" is not a valid service name: use ${SERVICE_NAME_RULE}`),
      );
      continue;
    }
    const origin = isHostFile ? 'host' : 'fleet';
    const loaded = loadServiceFile(path, name, origin, files.get(path)!, readFile, errors);
    const definition = loaded.definition;
    // The policy is repo-wide: every manifest is checked, whichever hosts it
    // selects, and a violation fails the revision like any other error.
    if (loaded.partial) {
      // A file with errors elsewhere is still checked against the policy,
      // on the fields that are valid, so one run shows every problem.
      const { spec, source, invalid } = loaded.partial;
      errors.push(
        ...checkPolicy(config.policy, spec, source).filter(
          (e) => !invalid.has(e.path.split('/')[1] ?? ''),
        ),
      );
    }
    if (!definition) {
      if (isHostFile) {
        const set =
          brokenHost.get(parts[1]!) ?? brokenHost.set(parts[1]!, new Set()).get(parts[1]!)!;
        set.add(name);
      } else brokenFleet.add(name);
      continue;
    }
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
  // Compose projects, per known host, in CI mode (no host variables): their
  // errors fail the revision like a manifest's; the variables a host must
  // supply are notes.
  const compose = new Map<string, ComposeOfHost>();
  // A symlink is reported above, once; the Compose loader never sees it.
  const regularFiles = new Map([...files].filter(([, bytes]) => !isSymlinkBlob(bytes)));
  const notes: ManifestError[] = [];
  const warnings: ManifestError[] = [];
  // A stack is validated for every host the repo names that it selects,
  // including a host only its own `x-gitdock.hosts` names.
  const stacks = stackSelectors(regularFiles);
  const composeHosts = new Set(knownHosts);
  for (const selector of stacks.values()) {
    for (const name of selector) if (isValidName(name)) composeHosts.add(name);
  }
  for (const host of [...composeHosts].sort()) {
    const c = composeOfHost(regularFiles, config, host);
    compose.set(host, c);
    errors.push(...c.errors);
    notes.push(...c.notes);
    warnings.push(...c.warnings);
  }
  for (const [file, selector] of stacks) {
    if (selector.length > 0 && ![...composeHosts].some((h) => matchesHost(selector, h))) {
      warnings.push(
        fileError(
          file,
          `x-gitdock.hosts (${selector.join(', ')}) selects no host the repo names, so this stack was not checked for any host; name one in gitdock.yaml hosts: to check it in CI`,
        ),
      );
    }
  }
  if (config.rollout && configSource) {
    warnings.push(...checkRollout(config.rollout, configSource, rolloutHosts(config), hostDirs));
  }
  const fleet: Fleet = {
    config,
    rollout: config.rollout ? readRollout(config.rollout) : undefined,
    hostServices,
    fleetServices,
    knownHosts,
    files: regularFiles,
    compose,
    notes: dedupe(notes),
    warnings: dedupe(warnings),
  };
  // Dependencies are per host: a fleet file may depend on a service that
  // one host defines in a host file. Checked even when other files have
  // errors (all errors in one run), leaving out what the broken files would
  // have defined.
  for (const host of knownHosts) {
    const broken = brokenHost.get(host) ?? new Set<string>();
    const resolved = selectServices(fleet, host);
    for (const name of broken) resolved.delete(name);
    const isBroken = (dep: string) => broken.has(dep) || brokenFleet.has(dep);
    const checked = checkDependencies(host, resolved, isBroken);
    errors.push(...checked.errors);
    if (checked.errors.length === 0) {
      const manifests = checked.order.map((name) => desiredOf(resolved.get(name)!, name, host));
      errors.push(...containerNameClashes(host, manifests, compose.get(host)?.services ?? []));
    }
  }
  return errors.length > 0 ? { ok: false, errors: dedupe(errors) } : { ok: true, value: fleet };
}

type RolloutManifest = NonNullable<RepoConfig['rollout']>;

/**
 * The hosts waves are over: those gitdock.yaml names under `hosts:`, sorted.
 * A host known only by its `hosts/<host>/` directory is in no wave.
 */
export function rolloutHosts(config: RepoConfig): string[] {
  return Object.keys(config.hosts ?? {}).sort();
}

/** gitdock.yaml `rollout` as the gate takes it: durations in ms, defaults filled in. */
function readRollout(rollout: RolloutManifest): RolloutConfig {
  return {
    waves: rollout.waves.map((wave) => [...wave]),
    soakMs: rollout.soak === undefined ? 0 : parseDuration(rollout.soak),
    downHosts: rollout.down_hosts ?? 'wait',
    downAfterMs:
      rollout.down_after === undefined ? DEFAULT_DOWN_AFTER_MS : parseDuration(rollout.down_after),
  };
}

/**
 * What in a valid `rollout` is likely a mistake, as warnings: a wave
 * pattern that puts no host in its wave, `down_after` that nothing reads,
 * and hosts with a directory but no `hosts:` entry (in no wave, so they
 * wait for none).
 */
function checkRollout(
  rollout: RolloutManifest,
  source: YamlSource,
  named: readonly string[],
  hostDirs: ReadonlySet<string>,
): ManifestError[] {
  const warnings: ManifestError[] = [];
  const waveOf = assignWaves(named, readRollout(rollout));
  rollout.waves.forEach((wave, i) => {
    wave.forEach((pattern, j) => {
      const matched = named.filter((host) => matchesHost([pattern], host));
      const where = `rollout.waves[${i}][${j}] "${pattern}"`;
      const path = ['rollout', 'waves', i, j];
      if (matched.length === 0) {
        warnings.push(
          positioned(
            source,
            path,
            named.length === 0
              ? `${where} matches no host: gitdock.yaml names no hosts under hosts:, and waves are over those hosts; name them there (web-1: {})`
              : `${where} matches none of the hosts named under hosts: (${named.join(', ')}); fix the name or glob, or name the host under hosts:`,
          ),
        );
        return;
      }
      // A host belongs to the first wave that matches it: a later pattern
      // that only matches hosts already placed changes nothing.
      const earlier = matched.filter((host) => waveOf.get(host)! < i);
      if (earlier.length === matched.length) {
        warnings.push(
          positioned(
            source,
            path,
            `${where} adds no host to waves[${i}]: ${earlier.map((h) => `${h} is in waves[${waveOf.get(h)}]`).join(', ')} (a host belongs to the first wave that matches it); remove it or move it up`,
          ),
        );
      }
    });
  });
  if (rollout.down_after !== undefined && rollout.down_hosts !== 'skip') {
    warnings.push(
      positioned(
        source,
        ['rollout', 'down_after'],
        'rollout.down_after is only read with down_hosts: skip; without it a silent host holds the later waves however long it takes; set down_hosts: skip or remove down_after',
      ),
    );
  }
  const unnamed = [...hostDirs].filter((host) => !named.includes(host)).sort();
  for (const host of unnamed) {
    warnings.push(
      positioned(
        source,
        ['rollout'],
        `host ${host} has a hosts/${host}/ directory but is not named under hosts:, so it is in no wave: it applies every commit at once and will not wait for any wave; name it under hosts: (${host}: {}) to put it in the rollout`,
      ),
    );
  }
  return warnings;
}

interface LoadedServiceFile {
  /** Set when the file is valid. */
  definition?: ServiceDefinition;
  /**
   * The spec normalised from the valid fields of a file that also has
   * errors, for the policy check; `invalid` names the top-level fields left
   * out.
   */
  partial?: { spec: ContainerSpec; source: YamlSource; invalid: Set<string> };
}

function loadServiceFile(
  file: string,
  name: string,
  origin: 'host' | 'fleet',
  bytes: Uint8Array,
  readFile: (path: string) => Uint8Array | undefined,
  errors: ManifestError[],
): LoadedServiceFile {
  const parsed = parseYamlSource(file, bytes);
  if (!parsed.ok) {
    errors.push(...parsed.errors);
    return {};
  }
  const source = parsed.value;
  if (source.value === null || source.value === undefined) {
    errors.push(
      fileError(file, 'file is empty; expected a mapping with at least "image" and "tag"'),
    );
    return {};
  }
  const before = errors.length;
  const check = validateService(source.value);
  // Schema errors do not stop the file here: the fields that passed are
  // still normalised, so their errors come in the same run (one pass, not
  // two), each with its own position.
  let manifest = source.value as ServiceManifest;
  let invalid = new Set<string>();
  if (!check.ok) {
    errors.push(...explainSchemaErrors(source, serviceSchema, check.errors));
    const pruned = withoutInvalidFields(source.value, check.errors);
    if (!pruned) return {};
    ({ manifest, invalid } = pruned);
  }
  if (origin === 'host' && manifest.hosts !== undefined) {
    errors.push(
      positioned(
        source,
        ['hosts'],
        '"hosts" belongs in services/ files; a host file applies to its own directory\'s host',
      ),
    );
  }
  if (origin === 'fleet' && manifest.hosts === undefined && !invalid.has('hosts')) {
    errors.push(
      positioned(
        source,
        [],
        'missing required field "hosts": a services/ file must say which hosts run it (names or globs)',
      ),
    );
  }
  // The schema's pattern already refuses bad globs; this keeps a bad one
  // from ever matching silently should the two drift.
  (manifest.hosts ?? []).forEach((glob, index) => {
    const problem = checkGlob(glob);
    if (problem) errors.push(positioned(source, ['hosts', index], `hosts[${index}]: ${problem}`));
  });
  const text = new TextDecoder().decode(bytes);
  const normalized = normalizeService(manifest, source, readFile, text);
  if (!normalized.ok) {
    errors.push(...normalized.errors);
    return {};
  }
  if (errors.length > before) {
    return { partial: { spec: normalized.value.spec, source, invalid } };
  }
  return {
    definition: {
      name,
      file,
      origin,
      ...(manifest.hosts ? { selector: [...manifest.hosts] } : {}),
      normalized: normalized.value,
      source,
    },
    partial: { spec: normalized.value.spec, source, invalid },
  };
}

/**
 * The manifest without the top-level fields the schema found errors in, or
 * undefined when the document itself is wrong (not a mapping). Image, tag
 * and digest count as invalid when missing, so nothing reads them.
 */
function withoutInvalidFields(
  value: unknown,
  schemaErrors: readonly ErrorObject[],
): { manifest: ServiceManifest; invalid: Set<string> } | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const invalid = new Set<string>();
  for (const e of schemaErrors) {
    const top = e.instancePath.split('/')[1];
    if (top !== undefined) invalid.add(top.replace(/~1/g, '/').replace(/~0/g, '~'));
    else if (e.keyword === 'additionalProperties') {
      invalid.add(String((e.params as { additionalProperty: string }).additionalProperty));
    } else if (e.keyword === 'oneOf') {
      invalid.add('tag');
      invalid.add('digest');
    } else if (e.keyword === 'required') {
      invalid.add(String((e.params as { missingProperty: string }).missingProperty));
    } else if (e.keyword === 'type') return undefined;
  }
  const record = value as Record<string, unknown>;
  if (typeof record.image !== 'string') invalid.add('image');
  const manifest = Object.fromEntries(
    Object.entries(record).filter(([key]) => !invalid.has(key)),
  ) as Record<string, unknown>;
  // Stand-ins so building the (discarded) spec never reads a missing field.
  if (invalid.has('image')) manifest.image = '';
  return { manifest: manifest as ServiceManifest, invalid };
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
export function resolveHost(
  fleet: Fleet,
  host: string,
  commit: string,
  options: {
    /**
     * The host's own Compose variables: given on the host (apply, agent),
     * where an unset required variable is an error. Absent: CI mode, unset
     * variables are left empty and listed in `fleet.notes`.
     */
    hostEnv?: HostEnvByProject;
  } = {},
): Result<HostState> {
  const selected = selectServices(fleet, host);
  const checked = checkDependencies(host, selected);
  if (checked.errors.length > 0) return { ok: false, errors: checked.errors };
  const manifests = checked.order.map((name) => desiredOf(selected.get(name)!, name, host));
  const compose =
    options.hostEnv !== undefined
      ? composeOfHost(fleet.files, fleet.config, host, options.hostEnv)
      : (fleet.compose.get(host) ?? composeOfHost(fleet.files, fleet.config, host));
  const errors = [...compose.errors, ...containerNameClashes(host, manifests, compose.services)];
  if (errors.length > 0) return { ok: false, errors: dedupe(errors) };
  const hostConfig = fleet.config.hosts?.[host];
  const maxParallel = hostConfig?.max_parallel ?? fleet.config.max_parallel;
  const adoptCompose = Object.entries(hostConfig?.projects ?? {})
    .filter(([, p]) => p.adopt_compose === true)
    .map(([name]) => name);
  return {
    ok: true,
    value: {
      host,
      commit,
      services: [...manifests, ...compose.services],
      allowEmpty: hostConfig?.allow_empty === true,
      ...(maxParallel !== undefined ? { maxParallel } : {}),
      ...(compose.networks.length > 0 ? { networks: compose.networks } : {}),
      ...(compose.volumes.length > 0 ? { volumes: compose.volumes } : {}),
      ...(hostConfig?.remove_volumes?.length
        ? { removeVolumes: [...hostConfig.remove_volumes] }
        : {}),
      ...(adoptCompose.length > 0 ? { adoptCompose } : {}),
      ...(compose.warnings.length > 0 ? { warnings: compose.warnings } : {}),
    },
  };
}

/** A manifest's service bound to a host. */
function desiredOf(d: ServiceDefinition, name: string, host: string): DesiredService {
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
}

/** Unknown dependencies and cycles on one host; otherwise a topological order. */
function checkDependencies(
  host: string,
  services: ReadonlyMap<string, ServiceDefinition>,
  isBroken: (name: string) => boolean = () => false,
): { order: string[]; errors: ManifestError[] } {
  const errors: ManifestError[] = [];
  for (const [name, d] of services) {
    const manifest = d.source.value as ServiceManifest;
    const peer = containerPeer(d.normalized.spec.networkMode);
    const declared = Array.isArray(manifest.depends_on)
      ? manifest.depends_on
      : Object.keys(manifest.depends_on ?? {});
    if (peer !== undefined && !isBroken(peer)) {
      // The engine resolves container:NAME on the host: a name that is not
      // one of this host's services fails there, on every host.
      if (peer === name) {
        errors.push(
          positioned(
            d.source,
            ['network_mode'],
            `network_mode container:${peer} names "${name}" itself; name another service on host ${host}`,
          ),
        );
      } else if (!services.has(peer)) {
        errors.push(
          positioned(
            d.source,
            ['network_mode'],
            `network_mode container:${peer}: "${peer}" is not a service on host ${host}; container: must name another service on the same host`,
          ),
        );
      }
    }
    d.normalized.dependsOn.forEach((dep, index) => {
      // The implicit dependency on a container: peer is reported above.
      if (dep === peer && !declared.includes(dep)) return;
      if (!services.has(dep) && !isBroken(dep)) {
        const path = Array.isArray(manifest.depends_on)
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

  // Dependencies on broken services are left out (their own errors stand).
  // Kahn's algorithm; the ready set is kept sorted so the order is deterministic.
  const remaining = new Map(
    [...services].map(([n, d]) => [
      n,
      new Set(d.normalized.dependsOn.filter((dep) => services.has(dep))),
    ]),
  );
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
