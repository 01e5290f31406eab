/**
 * A loaded Compose project -> the services, networks and volumes one host
 * runs for it, in gitdock's model: identities `<project>/<service>`
 * (`#<n>` for replica n >= 2), Compose v2 container names, profiles
 * applied, only the networks and volumes some running service uses.
 */
import { posix } from 'node:path';
import { imageReference } from '../core/normalize.js';
import type { RepoConfig } from '../core/schema.js';
import { hashSpec } from '../core/spec-hash.js';
import type {
  DesiredNetwork,
  DesiredService,
  DesiredVolume,
  ManifestError,
} from '../core/types.js';
import { COMPOSE_FILE_NAMES, type LoadedProject, STACKS_ROOT } from './contract.js';
import {
  checkFields,
  PROJECT_FIELDS,
  PROJECT_GITDOCK_FIELDS,
  type Severity,
} from './field-support.js';
import {
  type Report,
  resolveFileSources,
  resolveNetworks,
  resolveVolumes,
} from './normalize-resources.js';
import {
  containerNameOf,
  type DependencyCondition,
  type NormalizedComposeService,
  normalizeComposeService,
  replicaCount,
} from './normalize-service.js';
import { isRecord, stringOrList } from './units.js';

export interface NormalizeProjectContext {
  /** Every file of the revision, by repo path: mounted repo files are read from here. */
  files: ReadonlyMap<string, Uint8Array>;
  host: string;
  config: RepoConfig;
  commit?: never;
}

export interface NormalizedProject {
  /** In start order: dependencies first, ties by name. */
  services: DesiredService[];
  networks: DesiredNetwork[];
  volumes: DesiredVolume[];
  errors: ManifestError[];
  warnings: ManifestError[];
  /** Worth saying, not wrong (a `build` CI runs). */
  notes: ManifestError[];
}

/** JSON pointer of a model path. */
export function jsonPointer(path: readonly (string | number)[]): string {
  return path.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** The profiles turned on for a project on a host: gitdock.yaml (host and project) and the project's `x-gitdock.profiles`. */
export function activeProfiles(
  project: LoadedProject,
  host: string,
  config: RepoConfig,
): Set<string> {
  const hostConfig = config.hosts?.[host];
  const x = isRecord(project.model['x-gitdock']) ? project.model['x-gitdock'] : {};
  return new Set([
    ...(hostConfig?.profiles ?? []),
    ...(hostConfig?.projects?.[project.name]?.profiles ?? []),
    ...(stringOrList(x.profiles) ?? []),
  ]);
}

/** A service runs when it has no profiles or one of them is on (`*` turns every profile on, as COMPOSE_PROFILES=*). */
function isActive(service: Record<string, unknown>, active: ReadonlySet<string>): boolean {
  const profiles = stringOrList(service.profiles) ?? [];
  return profiles.length === 0 || active.has('*') || profiles.some((p) => active.has(p));
}

/** The project's main compose file: the `compose.yaml` (or its alternatives) in its directory. */
export function mainFile(project: LoadedProject): string {
  const names: readonly string[] = COMPOSE_FILE_NAMES;
  return (
    project.files.find(
      (f) => posix.dirname(f) === project.dir && names.includes(posix.basename(f)),
    ) ??
    project.files[0] ??
    posix.join(project.dir, COMPOSE_FILE_NAMES[0])
  );
}

/** Normalizes every running service of one project, and the resources they use. */
export function normalizeProject(
  project: LoadedProject,
  ctx: NormalizeProjectContext,
): NormalizedProject {
  const errors: ManifestError[] = [];
  const warnings: ManifestError[] = [];
  const notes: ManifestError[] = [];
  const lists: Record<Severity, ManifestError[]> = {
    error: errors,
    warning: warnings,
    note: notes,
  };
  const report: Report = (severity, path, message) => {
    const { file, line, column } = project.locate(path);
    lists[severity].push({
      file,
      ...(line !== undefined ? { line } : {}),
      ...(column !== undefined ? { column } : {}),
      path: jsonPointer(path),
      message,
    });
  };
  const model = project.model;
  checkFields(model, PROJECT_FIELDS, [], report);
  if (isRecord(model['x-gitdock']))
    checkFields(model['x-gitdock'], PROJECT_GITDOCK_FIELDS, ['x-gitdock'], report);

  const declared = isRecord(model.services) ? model.services : {};
  if (!isRecord(model.services))
    report('error', ['services'], 'services: expected a map of services');
  const profiles = activeProfiles(project, ctx.host, ctx.config);
  const running = Object.keys(declared)
    .filter((key) => {
      const service = declared[key];
      if (!isRecord(service)) {
        report('error', ['services', key], `services.${key}: expected a map`);
        return false;
      }
      return isActive(service, profiles);
    })
    .sort();

  const replicas = new Map<string, number>();
  const containerNames = new Map<string, string>();
  for (const key of running) {
    const service = declared[key] as Record<string, unknown>;
    const n = replicaCount(key, service, report);
    replicas.set(key, n);
    containerNames.set(key, containerNameOf(project.name, key, service, 1));
    if (n > 1 && service.container_name !== undefined) {
      report(
        'error',
        ['services', key, 'container_name'],
        `services.${key}: can't set container_name with ${n} replicas: container names must be unique`,
      );
    }
  }
  checkUniqueContainerNames(running, declared, containerNames, report);

  const networks = resolveNetworks(project.name, model, report);
  const volumes = resolveVolumes(project.name, model, report);
  const hostDir = ctx.config.hosts?.[ctx.host]?.projects?.[project.name]?.dir;
  const serviceCtx = {
    project: project.name,
    projectDir: project.dir,
    files: ctx.files,
    ...(hostDir !== undefined ? { hostProjectDir: hostDir } : {}),
    networks,
    volumes,
    configs: resolveFileSources('configs', model, report),
    secrets: resolveFileSources('secrets', model, report),
    declaredFiles: {
      configs: new Set(isRecord(model.configs) ? Object.keys(model.configs) : []),
      secrets: new Set(isRecord(model.secrets) ? Object.keys(model.secrets) : []),
    },
    containerNames,
    declaredServices: new Set(Object.keys(declared)),
    report,
  };
  const normalized = new Map<string, NormalizedComposeService>();
  for (const key of running) {
    normalized.set(
      key,
      normalizeComposeService(key, declared[key] as Record<string, unknown>, serviceCtx),
    );
  }

  const order = startOrder(normalized, report);
  const identities = (key: string) =>
    Array.from({ length: replicas.get(key) ?? 1 }, (_, i) => identityOf(project.name, key, i + 1));
  const oneShots = new Set(
    [...normalized.values()].flatMap((n) =>
      Object.entries(n.conditions)
        .filter(([, c]) => c === 'service_completed_successfully')
        .map(([k]) => k),
    ),
  );
  const file = mainFile(project);
  const origin = project.dir.startsWith(STACKS_ROOT) ? 'fleet' : 'host';
  const services: DesiredService[] = [];
  for (const key of order) {
    const n = normalized.get(key)!;
    const service = declared[key] as Record<string, unknown>;
    const dependsOn = n.dependsOn.flatMap(identities);
    const conditions: Record<string, DependencyCondition> = {};
    for (const [dep, condition] of Object.entries(n.conditions)) {
      for (const id of identities(dep)) conditions[id] = condition;
    }
    const specHash = hashSpec(n.spec);
    for (let i = 1; i <= (replicas.get(key) ?? 1); i++) {
      services.push({
        name: identityOf(project.name, key, i),
        containerName: containerNameOf(project.name, key, service, i),
        project: project.name,
        host: ctx.host,
        file,
        origin,
        spec: n.spec,
        rollout: n.rollout,
        dependsOn,
        imageRef: imageReference(n.spec),
        specHash,
        ...(n.repoFiles.length > 0 ? { repoFiles: n.repoFiles } : {}),
        ...(Object.keys(conditions).length > 0 ? { dependsOnConditions: conditions } : {}),
        ...(oneShots.has(key) ? { oneShot: true as const } : {}),
        ...(project.secretValues.length > 0 ? { secretValues: [...project.secretValues] } : {}),
      });
    }
  }

  const used = (pick: (n: NormalizedComposeService) => string[]) =>
    new Set(
      order.filter((k) => (replicas.get(k) ?? 1) > 0).flatMap((k) => pick(normalized.get(k)!)),
    );
  const usedNetworks = used((n) => n.networkKeys);
  const usedVolumes = used((n) => n.volumeKeys);
  return {
    services,
    networks: [...networks.values()].filter((n) => usedNetworks.has(n.key)).sort(byName),
    volumes: [...volumes.values()].filter((v) => usedVolumes.has(v.key)).sort(byName),
    errors,
    warnings,
    notes,
  };
}

/** `<project>/<service>`, `#<n>` added for replica n >= 2. */
export function identityOf(project: string, key: string, n: number): string {
  return n >= 2 ? `${project}/${key}#${n}` : `${project}/${key}`;
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function checkUniqueContainerNames(
  running: string[],
  declared: Record<string, unknown>,
  containerNames: ReadonlyMap<string, string>,
  report: Report,
) {
  const owner = new Map<string, string>();
  for (const key of running) {
    const name = containerNames.get(key)!;
    const other = owner.get(name);
    if (other !== undefined) {
      const path =
        isRecord(declared[key]) && declared[key].container_name !== undefined
          ? ['services', key, 'container_name']
          : ['services', key];
      report(
        'error',
        path,
        `services.${key}: container name "${name}" is also the name of service ${other}'s container`,
      );
    } else owner.set(name, key);
  }
}

/** Services in start order (dependencies first, ties by key); a cycle is an error. */
function startOrder(
  normalized: ReadonlyMap<string, NormalizedComposeService>,
  report: Report,
): string[] {
  const remaining = new Map(
    [...normalized].map(([k, n]) => [k, new Set(n.dependsOn.filter((d) => normalized.has(d)))]),
  );
  const order: string[] = [];
  while (remaining.size > 0) {
    const ready = [...remaining]
      .filter(([, deps]) => deps.size === 0)
      .map(([k]) => k)
      .sort();
    if (ready.length === 0) {
      const cycle = [...remaining.keys()].sort();
      report(
        'error',
        ['services', cycle[0]!],
        `services ${cycle.join(', ')} form or wait on a dependency cycle (depends_on, links, volumes_from, network_mode service:)`,
      );
      return [...order, ...cycle];
    }
    for (const key of ready) {
      order.push(key);
      remaining.delete(key);
      for (const deps of remaining.values()) deps.delete(key);
    }
  }
  return order;
}
