/**
 * Finds the Compose projects in a revision's files, by path only: which
 * directories hold a Compose file (`hosts/<host>/<project>/`, `stacks/<project>/`),
 * their override files and `.env`. Which stacks a host runs depends on the
 * stack file's `x-gitdock.hosts`, read by the loader.
 */
import type { ManifestError } from '../core/types.js';
import { COMPOSE_FILE_NAMES, COMPOSE_OVERRIDE_NAMES, STACKS_ROOT } from './contract.js';

/** The Compose files of one project directory. */
export interface ProjectDir {
  /** Repo directory: `hosts/web-1/gitea`, `stacks/shop`. */
  dir: string;
  /** The directory's name, the project name unless the file sets `name:`. */
  dirName: string;
  /** `compose.yaml` (or another of Compose's names), if present. */
  main?: string;
  /** `compose.override.yaml` (or another of Compose's names), if present. */
  override?: string;
  /** `.env`, if present. */
  dotenv?: string;
}

export interface Discovery {
  /** Directories under `hosts/<host>/`, with or without a main file. */
  hostDirs: ProjectDir[];
  /** Directories under `stacks/` with a main file. */
  stacks: ProjectDir[];
  errors: ManifestError[];
}

/** Finds the project directories of `host` and every stack, by path. */
export function discoverProjects(paths: Iterable<string>, host: string): Discovery {
  const hostPrefix = `hosts/${host}/`;
  const hostDirs = new Map<string, string[]>();
  const stackDirs = new Map<string, string[]>();
  for (const path of paths) {
    const root = path.startsWith(hostPrefix)
      ? { prefix: hostPrefix, into: hostDirs }
      : path.startsWith(STACKS_ROOT)
        ? { prefix: STACKS_ROOT, into: stackDirs }
        : undefined;
    if (!root) continue;
    const rest = path.slice(root.prefix.length).split('/');
    if (rest.length !== 2) continue;
    const [dirName, file] = rest as [string, string];
    if (!isProjectFile(file)) continue;
    const list = root.into.get(dirName) ?? [];
    list.push(file);
    root.into.set(dirName, list);
  }
  const errors: ManifestError[] = [];
  const build = (prefix: string, dirName: string, names: string[]): ProjectDir => {
    const dir = `${prefix}${dirName}`;
    const pick = (candidates: readonly string[], what: string) => {
      const present = candidates.filter((n) => names.includes(n));
      if (present.length > 1) {
        errors.push({
          file: `${dir}/${present[1]}`,
          path: '',
          message: `${dir} holds both ${present[0]} and ${present[1]}; keep one ${what} (Compose would use ${present[0]} and ignore the other)`,
        });
      }
      return present[0] ? `${dir}/${present[0]}` : undefined;
    };
    return {
      dir,
      dirName,
      main: pick(COMPOSE_FILE_NAMES, 'Compose file'),
      override: pick(COMPOSE_OVERRIDE_NAMES, 'override file'),
      dotenv: names.includes('.env') ? `${dir}/.env` : undefined,
    };
  };
  const byName = (a: ProjectDir, b: ProjectDir) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0);
  return {
    hostDirs: [...hostDirs].map(([d, n]) => build(hostPrefix, d, n)).sort(byName),
    stacks: [...stackDirs]
      .map(([d, n]) => build(STACKS_ROOT, d, n))
      .filter((p) => p.main !== undefined || p.override !== undefined)
      .sort(byName),
    errors,
  };
}

function isProjectFile(name: string): boolean {
  return (
    (COMPOSE_FILE_NAMES as readonly string[]).includes(name) ||
    (COMPOSE_OVERRIDE_NAMES as readonly string[]).includes(name) ||
    name === '.env'
  );
}
