import { type Fleet, resolveHost, type ServiceDefinition } from './fleet.js';
import { isValidName } from './names.js';
import { envFilePath } from './normalize.js';
import type { ServiceManifest } from './schema.js';
import { canonicalJson } from './spec-hash.js';
import type { HostState, ManifestError, Result } from './types.js';

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
  /** The raw files of the revision, to tell which ones changed. */
  files: ReadonlyMap<string, Uint8Array>;
}

/**
 * The hosts a revision names: a `hosts/<host>/` directory, a `gitdock.yaml`
 * entry, or a literal name (not a glob) in a fleet file's `hosts:`. A host
 * only a glob selects cannot be listed: nothing in the repo spells its name.
 */
export function namedHosts(fleet: Fleet): string[] {
  const names = new Set(fleet.knownHosts);
  for (const definition of fleet.fleetServices.values()) {
    for (const pattern of definition.selector ?? []) {
      if (isValidName(pattern)) names.add(pattern);
    }
  }
  return [...names].sort();
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
  return { ok: true, value: { commit, hosts, fleetFiles, inputs, files } };
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
