/**
 * The Compose half of one host's desired state: load every project the
 * host runs (through the injected loader), normalize each, then check what
 * only the whole host can see: identities, container names, fixed host
 * ports, resource names, and `container:NAME` references.
 */
import type { RepoConfig } from '../core/schema.js';
import type {
  DesiredNetwork,
  DesiredService,
  DesiredVolume,
  ManifestError,
  PortBinding,
  SourcePosition,
} from '../core/types.js';
import type { ComposeHostInput, LoadComposeHost, LoadedProject } from './contract.js';
import { jsonPointer, normalizeProject } from './normalize-project.js';

export interface ComposeHostResult {
  /** Every project's services, projects by name, each in start order. */
  services: DesiredService[];
  networks: DesiredNetwork[];
  volumes: DesiredVolume[];
  errors: ManifestError[];
  notes: ManifestError[];
  warnings: ManifestError[];
  /** CI mode: where values took variables the host must supply (see ComposeHostLoad). */
  hostDependent: SourcePosition[];
  /** Repo paths read for the host's Compose services (compose files, env files, mounted repo files), sorted. */
  files: string[];
}

/** Loads and normalizes every Compose project of `input.host`, with the checks across projects. */
export function resolveComposeHost(
  input: ComposeHostInput,
  config: RepoConfig,
  load: LoadComposeHost,
): ComposeHostResult {
  const loaded = load(input, config);
  const errors = [...loaded.errors];
  const notes = [...loaded.notes];
  const warnings = [...loaded.warnings];
  const services: DesiredService[] = [];
  const networks: DesiredNetwork[] = [];
  const volumes: DesiredVolume[] = [];
  const files = new Set<string>();
  const projects = [...loaded.projects].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  const byName = new Map<string, LoadedProject>();
  for (const project of projects) {
    const other = byName.get(project.name);
    if (other) {
      errors.push(
        at(
          project,
          [],
          `project "${project.name}" (${project.dir}) has the same name as ${other.dir} on host ${input.host}; give one a different top-level name:`,
        ),
      );
      continue;
    }
    byName.set(project.name, project);
    const result = normalizeProject(project, { files: input.files, host: input.host, config });
    errors.push(...result.errors);
    warnings.push(...result.warnings);
    notes.push(...result.notes);
    services.push(...result.services);
    networks.push(...result.networks);
    volumes.push(...result.volumes);
    for (const f of project.files) files.add(f);
    for (const s of result.services)
      for (const r of s.spec.volumes)
        if (r.repoFile && !r.repoFile.path.startsWith('inline:')) files.add(r.repoFile.path);
    for (const s of result.services)
      for (const r of s.repoFiles ?? [])
        if (r.relativePath !== '') files.add(fileOf(s, r.mountSha256, r.relativePath));
  }
  const locateService = (s: DesiredService, path: (string | number)[]) =>
    at(byName.get(s.project ?? '')!, ['services', serviceKey(s), ...path], '');
  errors.push(
    ...checkUnique(services, (s) => s.name, 'service', locateService),
    ...checkUnique(services, (s) => s.containerName, 'container name', locateService),
    ...checkHostPorts(services, locateService),
    ...checkContainerReferences(services, locateService),
    ...checkResourceNames(networks, 'network', byName),
    ...checkResourceNames(volumes, 'volume', byName),
  );
  return {
    services,
    networks: dedupeExternal(networks),
    volumes: dedupeExternal(volumes),
    errors,
    notes,
    warnings,
    hostDependent: loaded.hostDependent ?? [],
    files: [...files].sort(),
  };
}

function at(project: LoadedProject, path: (string | number)[], message: string): ManifestError {
  const { file, line, column } = project.locate(path);
  return {
    file,
    ...(line !== undefined ? { line } : {}),
    ...(column !== undefined ? { column } : {}),
    path: jsonPointer(path),
    message,
  };
}

/** The Compose service key of a service's identity `<project>/<key>[#n]`. */
/** `shop/app#2` -> `app`: the key under `services:` in the Compose file. */
export function serviceKey(s: Pick<DesiredService, 'name'>): string {
  return s.name.slice(s.name.indexOf('/') + 1).replace(/#[0-9]+$/, '');
}

function fileOf(s: DesiredService, sha: string, relativePath: string): string {
  const mount = s.spec.volumes.find((m) => m.repoFile?.sha256 === sha);
  return `${mount?.repoFile?.path}/${relativePath}`;
}

type Locate = (s: DesiredService, path: (string | number)[]) => ManifestError;

function checkUnique(
  services: DesiredService[],
  key: (s: DesiredService) => string,
  what: string,
  locate: Locate,
): ManifestError[] {
  const seen = new Map<string, DesiredService>();
  const errors: ManifestError[] = [];
  for (const s of services) {
    const k = key(s);
    const other = seen.get(k);
    if (other && other.project !== s.project) {
      errors.push({
        ...locate(s, what === 'container name' ? ['container_name'] : []),
        message: `${what} "${k}" of ${s.name} is also used by ${other.name} (${other.file}) on host ${s.host}`,
      });
    } else if (!other) seen.set(k, s);
  }
  return errors;
}

/** Same host port and protocol on overlapping addresses: the second container could not start. */
function checkHostPorts(services: DesiredService[], locate: Locate): ManifestError[] {
  const errors: ManifestError[] = [];
  const taken: { s: DesiredService; p: PortBinding }[] = [];
  const wildcard = (ip: string | undefined) => ip === undefined || ip === '0.0.0.0' || ip === '::';
  for (const s of services) {
    for (const p of s.spec.ports) {
      if (p.hostPort === undefined || p.hostPort === 0 || s.spec.networkMode === 'host') continue;
      // A range lets the engine pick a free port of it: nothing fixed to clash with.
      if (p.hostPortEnd !== undefined) continue;
      const clash = taken.find(
        (t) =>
          t.p.hostPort === p.hostPort &&
          t.p.protocol === p.protocol &&
          (wildcard(t.p.hostIp) || wildcard(p.hostIp) || t.p.hostIp === p.hostIp),
      );
      if (clash) {
        const port = `${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}/${p.protocol}`;
        const why =
          clash.s.spec === s.spec
            ? ' (a service with replicas cannot publish a fixed host port)'
            : '';
        errors.push({
          ...locate(s, ['ports']),
          message: `host port ${port} of ${s.name} is also published by ${clash.s.name}${why}`,
        });
      } else taken.push({ s, p });
    }
  }
  return errors;
}

/**
 * `container:NAME` in network_mode, pid, ipc and volumes_from must name a
 * container of this host's Compose services: anything else fails at apply.
 */
function checkContainerReferences(services: DesiredService[], locate: Locate): ManifestError[] {
  const names = new Set(services.map((s) => s.containerName));
  const errors: ManifestError[] = [];
  const seen = new Set<string>();
  for (const s of services) {
    const refs: [string, string | undefined][] = [
      ['network_mode', s.spec.networkMode],
      ['pid', s.spec.pid],
      ['ipc', s.spec.ipc],
      ...(s.spec.volumesFrom ?? []).map((v): [string, string] => [
        'volumes_from',
        `container:${v.replace(/:ro$/, '')}`,
      ]),
    ];
    for (const [field, value] of refs) {
      if (!value?.startsWith('container:')) continue;
      const target = value.slice('container:'.length);
      const key = `${s.project}/${serviceKey(s)}/${field}/${target}`;
      if (names.has(target) || seen.has(key)) continue;
      seen.add(key);
      errors.push({
        ...locate(s, [field]),
        message: `${field}: container "${target}" is not a container of a Compose service on host ${s.host}; use service:NAME for a service of the project, or a container_name gitdock runs here`,
      });
    }
  }
  return errors;
}

/** Two projects may share an external network or volume, never create the same one. */
function checkResourceNames<
  T extends { name: string; project: string; key: string; external: boolean },
>(
  resources: T[],
  what: 'network' | 'volume',
  projects: ReadonlyMap<string, LoadedProject>,
): ManifestError[] {
  const owner = new Map<string, T>();
  const errors: ManifestError[] = [];
  for (const r of resources) {
    if (r.external) continue;
    const other = owner.get(r.name);
    if (other) {
      errors.push(
        at(
          projects.get(r.project)!,
          [`${what}s`, r.key],
          `${what} "${r.name}" is also created by project ${other.project}; declare it external: true in all but one project`,
        ),
      );
    } else owner.set(r.name, r);
  }
  return errors;
}

function dedupeExternal<T extends { name: string; external: boolean }>(resources: T[]): T[] {
  const seen = new Set<string>();
  return resources.filter((r) => {
    if (!r.external) return true;
    const k = r.name;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
