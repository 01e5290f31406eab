import { posix } from 'node:path';
import { COMPOSE_FILE_NAMES, STACKS_ROOT } from '../compose/contract.js';
import { type Fleet, resolveHost, type ServiceDefinition } from './fleet.js';
import { composeOfHost } from './fleet-compose.js';
import { isValidName } from './names.js';
import { envFilePath } from './normalize.js';
import type { ServiceManifest } from './schema.js';
import { canonicalJson } from './spec-hash.js';
import type { DesiredService, HostState, ManifestError, Result } from './types.js';
import { parseYamlSource } from './yaml-source.js';

/** A fleet file (`services/<name>.yaml`) as far as a diff needs it. */
export interface FleetFile {
  service: string;
  file: string;
  selector: string[];
  /**
   * What the file gives each host it selects: spec, rollout and
   * dependencies, as canonical JSON. Equal content and selector mean an
   * edit changed nothing that matters (a comment, key order).
   */
  content: string;
}

/** The resolved desired state of a whole revision: every host it names. */
export interface FleetState {
  commit: string;
  /** Desired state of every host the revision names, by host name. */
  hosts: ReadonlyMap<string, HostState>;
  /** Fleet files by service name. */
  fleetFiles: ReadonlyMap<string, FleetFile>;
  /** Every manifest's path -> the repo files it is made of (itself, then its env files). */
  inputs: ReadonlyMap<string, readonly string[]>;
  /**
   * Compose services, by host then identity -> the repo files they are made
   * of: their project's files (compose files, overrides, `.env`, env files,
   * extended and included files) and the repo files the service itself
   * mounts, sorted. By host, since a stack's host override belongs to one
   * host only. Absent for a state without Compose projects.
   */
  composeInputs?: ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;
  /** The raw files of the revision, to tell which ones changed. */
  files: ReadonlyMap<string, Uint8Array>;
}

/**
 * The hosts a revision names: a `hosts/<host>/` directory, a `gitdock.yaml`
 * entry, or a literal name (not a glob) in a fleet file's `hosts:` or a
 * stack's `x-gitdock.hosts`. A host
 * only a glob selects cannot be listed: nothing in the repo spells its name.
 */
export function namedHosts(fleet: Fleet): string[] {
  const names = new Set(fleet.knownHosts);
  const selectors = [
    ...[...fleet.fleetServices.values()].map((d) => d.selector ?? []),
    ...stackSelectors(fleet.files),
  ];
  for (const selector of selectors) {
    for (const pattern of selector) {
      if (isValidName(pattern)) names.add(pattern);
    }
  }
  return [...names].sort();
}

/**
 * The `x-gitdock.hosts` lists of the stacks (`stacks/<dir>/compose.yaml`,
 * or its alternative names): a stack names hosts as a fleet file does. A
 * file that does not parse gives none (loadFleet reports it).
 */
function stackSelectors(files: ReadonlyMap<string, Uint8Array>): string[][] {
  const out: string[][] = [];
  const names: readonly string[] = COMPOSE_FILE_NAMES;
  for (const [path, bytes] of files) {
    const parts = path.split('/');
    if (parts.length !== 3 || `${parts[0]}/` !== STACKS_ROOT || !names.includes(parts[2]!)) {
      continue;
    }
    const parsed = parseYamlSource(path, bytes);
    const value = parsed.ok ? parsed.value.value : undefined;
    const hosts = isRecord(value) && isRecord(value['x-gitdock']) ? value['x-gitdock'].hosts : [];
    if (Array.isArray(hosts)) out.push(hosts.filter((h): h is string => typeof h === 'string'));
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Resolves every host a revision names, as `apply --host` would at that
 * commit. Fails with the errors of the hosts that do not resolve: loadFleet
 * checks dependencies only for hosts with a directory or a gitdock.yaml
 * entry, so a host named only in a `hosts:` list can still fail here.
 */
export function resolveFleetState(
  fleet: Fleet,
  files: ReadonlyMap<string, Uint8Array>,
  commit: string,
): Result<FleetState> {
  const hosts = new Map<string, HostState>();
  const errors: ManifestError[] = [];
  for (const host of namedHosts(fleet)) {
    const resolved = resolveHost(fleet, host, commit);
    if (resolved.ok) hosts.set(host, resolved.value);
    else errors.push(...resolved.errors);
  }
  if (errors.length > 0) return { ok: false, errors: dedupe(errors) };

  const fleetFiles = new Map<string, FleetFile>();
  for (const [service, d] of fleet.fleetServices) {
    fleetFiles.set(service, {
      service,
      file: d.file,
      selector: d.selector ?? [],
      content: canonicalJson({
        spec: d.normalized.spec,
        rollout: d.normalized.rollout,
        dependsOn: d.normalized.dependsOn,
      }),
    });
  }
  const inputs = new Map<string, readonly string[]>();
  const definitions = [
    ...fleet.fleetServices.values(),
    ...[...fleet.hostServices.values()].flatMap((m) => [...m.values()]),
  ];
  for (const d of definitions) inputs.set(d.file, inputsOf(d));
  const composeInputs = new Map<string, ReadonlyMap<string, readonly string[]>>();
  for (const [host, state] of hosts) {
    const services = state.services.filter((s) => s.project !== undefined);
    if (services.length === 0) continue;
    const read = (fleet.compose.get(host) ?? composeOfHost(fleet.files, fleet.config, host)).files;
    composeInputs.set(host, composeServiceInputs(host, services, read));
  }
  return {
    ok: true,
    value: {
      commit,
      hosts,
      fleetFiles,
      inputs,
      ...(composeInputs.size > 0 ? { composeInputs } : {}),
      files,
    },
  };
}

/**
 * The repo files each Compose service of a host is made of, from the files
 * read for the host's projects (`read`). A mounted repo file counts only for
 * the services that mount it (editing `nginx.conf` is the proxy's change,
 * not the database's); every other file counts for the project whose
 * directories hold it (the project's own directory, and for a stack its
 * host override directory `hosts/<host>/<dir>/`); a file outside every
 * project's directories (an included file shared by projects) for all of
 * the host's projects.
 */
export function composeServiceInputs(
  host: string,
  services: readonly DesiredService[],
  read: readonly string[],
): Map<string, string[]> {
  const mounts = new Map(services.map((s) => [s.name, mountedFiles(s)]));
  // A mounted directory's own path is listed with its files: it is no file.
  const mounted = new Set([
    ...[...mounts.values()].flatMap((m) => [...m]),
    ...services.flatMap((s) => s.spec.volumes.flatMap((m) => m.repoFile?.path ?? [])),
  ]);
  const dirsOf = new Map<string, string[]>();
  for (const s of services) {
    const dir = posix.dirname(s.file);
    const dirs = dirsOf.get(s.project!) ?? dirsOf.set(s.project!, []).get(s.project!)!;
    for (const d of [dir, `hosts/${host}/${posix.basename(dir)}`]) {
      if (!dirs.includes(d)) dirs.push(d);
    }
  }
  const inDir = (path: string, dir: string) => path.startsWith(`${dir}/`);
  const owners = (path: string) =>
    [...dirsOf].filter(([, dirs]) => dirs.some((d) => inDir(path, d))).map(([p]) => p);
  const out = new Map<string, string[]>();
  for (const s of services) {
    const own = read.filter((path) => {
      if (mounted.has(path)) return false;
      const by = owners(path);
      return by.length === 0 || by.includes(s.project!);
    });
    out.set(s.name, [...new Set([s.file, ...own, ...mounts.get(s.name)!])].sort(compare));
  }
  return out;
}

/** The repo paths a service mounts: each mounted file, and each file of a mounted directory. */
function mountedFiles(s: DesiredService): Set<string> {
  const out = new Set<string>();
  for (const m of s.spec.volumes) {
    const f = m.repoFile;
    if (!f || f.path.startsWith('inline:')) continue;
    if (f.kind === 'file') out.add(f.path);
    for (const r of s.repoFiles ?? []) {
      if (r.mountSha256 === f.sha256 && r.relativePath !== '') {
        out.add(`${f.path}/${r.relativePath}`);
      }
    }
  }
  return out;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The manifest and the env files it reads (already checked to exist by normalizeService). */
function inputsOf(d: ServiceDefinition): string[] {
  const envFile = (d.source.value as ServiceManifest).env_file;
  const list = envFile === undefined ? [] : Array.isArray(envFile) ? envFile : [envFile];
  return [d.file, ...list.map((e) => envFilePath(d.file, e))];
}

/** One error per place and message: hosts sharing a fleet file report its problem once. */
function dedupe(errors: ManifestError[]): ManifestError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.file}:${e.line}:${e.column}:${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
