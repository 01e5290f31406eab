/**
 * Where Compose projects join the fleet: which repo paths belong to a
 * project (so the manifest loader leaves them alone), the projects of each
 * known host loaded at validation (CI mode: no host variables), and a host's
 * projects resolved with its own variables (on the host). The Compose front
 * end itself lives in `src/compose/`; this file only wires it in.
 */
import { type ComposeHostResult, resolveComposeHost, serviceKey } from '../compose/compose-host.js';
import { COMPOSE_FILE_NAMES, COMPOSE_OVERRIDE_NAMES } from '../compose/contract.js';
import { loadComposeHost } from '../compose/load-host.js';
import { checkPolicy } from './policy.js';
import type { RepoConfig } from './schema.js';
import type { DesiredService, HostEnvByProject, ManifestError } from './types.js';
import { parseYamlSource, type YamlSource } from './yaml-source.js';

const PROJECT_FILES = new Set<string>([...COMPOSE_FILE_NAMES, ...COMPOSE_OVERRIDE_NAMES]);

/**
 * The `hosts/<host>/<dir>` directories that are Compose projects (they hold
 * a Compose file or an override of a stack): every file in them belongs to
 * the project (a `prometheus.yml` it mounts is not a misplaced manifest).
 */
export function composeProjectDirs(paths: Iterable<string>): Set<string> {
  const dirs = new Set<string>();
  for (const path of paths) {
    const parts = path.split('/');
    if (parts[0] === 'hosts' && parts.length === 4 && PROJECT_FILES.has(parts[3]!)) {
      dirs.add(parts.slice(0, 3).join('/'));
    }
  }
  return dirs;
}

/** True when `path` lies inside one of `dirs` (at any depth). */
export function isInProjectDir(path: string, dirs: ReadonlySet<string>): boolean {
  const parts = path.split('/');
  return parts[0] === 'hosts' && parts.length >= 4 && dirs.has(parts.slice(0, 3).join('/'));
}

/** The Compose side of a host, as validated or resolved. */
export interface ComposeOfHost extends ComposeHostResult {}

/**
 * Loads and normalizes the Compose projects of `host`, and checks their
 * services against the repo's policy. `hostEnv` undefined: CI mode
 * (unset variables are notes); given: as on the host.
 */
export function composeOfHost(
  files: ReadonlyMap<string, Uint8Array>,
  config: RepoConfig,
  host: string,
  hostEnv?: HostEnvByProject,
): ComposeOfHost {
  const result = resolveComposeHost(
    { files, host, ...(hostEnv ? { hostEnv } : {}) },
    config,
    loadComposeHost,
  );
  const policyErrors = checkComposePolicy(files, config, result.services);
  const errors = [...result.errors, ...policyErrors];
  if (hostEnv) return { ...result, errors };
  // In CI, a value made with a variable only the host supplies is empty
  // here: a check that fails on that line cannot be judged without the
  // host's value. It becomes a note; the host checks it for real.
  const dependent = new Set(result.hostDependent.map((p) => `${p.file}:${p.line}`));
  const [deferred, kept] = partition(errors, (e) => dependent.has(`${e.file}:${e.line}`));
  return {
    ...result,
    errors: kept,
    notes: [
      ...result.notes,
      ...deferred.map((e) => ({
        ...e,
        message: `checked on the host only (it uses a variable the host supplies): ${e.message}`,
      })),
    ],
  };
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}

/**
 * The policy is repo-wide, as for manifests. Positions point at the
 * service in its project's main file (the value may come from an override).
 */
function checkComposePolicy(
  files: ReadonlyMap<string, Uint8Array>,
  config: RepoConfig,
  services: readonly DesiredService[],
): ManifestError[] {
  if (config.policy === undefined) return [];
  const sources = new Map<string, YamlSource | undefined>();
  const errors: ManifestError[] = [];
  for (const service of services) {
    if (!sources.has(service.file)) {
      const bytes = files.get(service.file);
      const parsed = bytes ? parseYamlSource(service.file, bytes) : undefined;
      sources.set(service.file, parsed?.ok ? parsed.value : undefined);
    }
    const main = sources.get(service.file);
    const key = serviceKey(service);
    const source: YamlSource = {
      file: service.file,
      value: undefined,
      locate: (path, atKey) =>
        main ? main.locate(['services', key, ...path], atKey) : { line: 1, column: 1 },
    };
    // Host data and repo files are not host paths the operator chose: only
    // binds with an absolute source are the policy's business.
    errors.push(...checkPolicy(config.policy, service.spec, source));
  }
  return errors;
}

/**
 * Container names used twice on one host, by a manifest and a Compose
 * service: the engine has one namespace.
 */
export function containerNameClashes(
  host: string,
  manifests: readonly DesiredService[],
  compose: readonly DesiredService[],
): ManifestError[] {
  const byName = new Map(manifests.map((s) => [s.containerName, s]));
  return compose
    .filter((s) => byName.has(s.containerName))
    .map((s) => ({
      file: s.file,
      path: '',
      message: `container name "${s.containerName}" of ${s.name} is also the name of service ${byName.get(s.containerName)!.name} (${byName.get(s.containerName)!.file}) on host ${host}; set another container_name`,
    }));
}

/** A shared project's `x-gitdock.hosts`, as written (names and globs), by stack file. */
export function stackSelectors(files: ReadonlyMap<string, Uint8Array>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [path, bytes] of files) {
    const parts = path.split('/');
    if (parts[0] !== 'stacks' || parts.length !== 3) continue;
    if (!(COMPOSE_FILE_NAMES as readonly string[]).includes(parts[2]!)) continue;
    const parsed = parseYamlSource(path, bytes);
    // A file that does not parse is reported by the loader, with its position.
    if (!parsed.ok) continue;
    const top = parsed.value.value as { 'x-gitdock'?: { hosts?: unknown } } | null;
    const hosts = top?.['x-gitdock']?.hosts;
    out.set(path, Array.isArray(hosts) ? hosts.filter((h) => typeof h === 'string') : []);
  }
  return out;
}
