/**
 * The seam between the two halves of the Compose front end:
 *
 * - `load` (discover, parse, interpolate, merge overrides, `extends`,
 *   `include`, schema-check): repo files -> one `LoadedProject` per project
 *   a host runs, in Compose's own vocabulary, paths rebased to the repo.
 * - `normalize`: a `LoadedProject` -> gitdock's model (`DesiredService`,
 *   `DesiredNetwork`, `DesiredVolume`), the same model gitdock manifests
 *   produce, so plan, apply, diff and status never see Compose syntax.
 *
 * Both halves are pure: no disk, no network, no clock.
 */
import type { RepoConfig } from '../core/schema.js';
import type { ManifestError, SourcePosition } from '../core/types.js';

/** Where the Compose front end finds its inputs for one host. */
export interface ComposeHostInput {
  /** Every fleet file of the revision, by repo path (`hosts/...`, `stacks/...`, `gitdock.yaml`). */
  files: ReadonlyMap<string, Uint8Array>;
  host: string;
  /**
   * The host-local variables, by project name (the `<project>.env` files of
   * `--env-dir`): they never enter git. Undefined in CI (`validate` without
   * a host): unset variables then become notes, not errors.
   */
  hostEnv?: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

/**
 * One Compose project as one host runs it: every file merged with Compose's
 * rules, interpolated, `extends` and `include` resolved, `x-*` extension
 * fields kept only where gitdock reads them (`x-gitdock`).
 */
export interface LoadedProject {
  /** Compose project name: the top-level `name:`, else the directory name. */
  name: string;
  host: string;
  /** Repo directory of the project (`hosts/web-1/gitea`, `stacks/shop`): relative host paths resolve here. */
  dir: string;
  /** Repo paths of every file read for it (compose files, overrides, `.env`, env files, extended/included files). */
  files: string[];
  /**
   * The merged Compose model as plain JSON (`services`, `networks`,
   * `volumes`, `configs`, `secrets`, top-level `x-gitdock`), interpolated.
   *
   * Canonical forms the loader guarantees, so `normalize` needs no file context:
   * - every relative path (bind `source`, `env_file`, `configs/secrets.*.file`,
   *   `extends.file`, `build.context`) is rebased to a repo path (posix,
   *   normalised, never escaping the repo) and marked: a service volume in
   *   long form gets `"x-gitdock-repo-path": true`;
   * - `env_file` is resolved: its files are read (Compose's dotenv rules) and
   *   merged under `environment` as Compose does, and the key removed; the
   *   files read are listed in `files`;
   * - service `volumes` are all long form (`{ type, source, target, read_only,
   *   bind: {...}, volume: {...}, tmpfs: {...} }`), short-form modes
   *   (`ro`, `rw`, `z`, `Z`, propagation, `nocopy`) moved into the long form;
   * - `environment` and `labels` of services, networks and volumes are
   *   mappings of strings (list form converted; `label_file` read into
   *   `labels`). An environment entry without a value ("take it from the
   *   environment") takes the interpolation variable of that name (a secret
   *   when it came from the host env); when unset it is left out, with a
   *   warning on the host or a "host must supply" note in CI. YAML numbers
   *   and booleans given as values become the exact text written in the file
   *   (`123456789012345678` stays that text, never a float);
   * - other list-or-mapping fields in one form: service `networks` a mapping
   *   (name -> null or settings); `depends_on` a mapping with `required`
   *   filled in; `extra_hosts` a mapping of host -> list of addresses; `dns`,
   *   `dns_search`, `tmpfs` lists; `sysctls`, `annotations`, `deploy.labels`,
   *   `build.args`, `build.labels` mappings; `build: <context>` becomes
   *   `{ context }`; short-form binds get `bind.create_host_path: true`, as
   *   Compose does; `configs`/`secrets` with `environment: NAME` become
   *   `content`; interpolated booleans and numbers in typed fields are real
   *   booleans and numbers again; `name`, `version` and every `x-*` key
   *   except `x-gitdock` are dropped;
   * - relative paths resolve from the project directory (the first file's
   *   directory), in override files too, as Compose resolves them: a host
   *   override of a stack names a host-specific file as
   *   `../../hosts/<host>/<project>/x.conf`;
   * - `$$` has become `$` and nothing else with `$` remains unescaped.
   */
  model: Record<string, unknown>;
  /** Position of a JSON path of `model` in the file it came from (the last file that set it). */
  locate(path: readonly (string | number)[]): SourcePosition;
  /**
   * Values of variables taken from the host-local env file: hashed into
   * specs, never printed (`DesiredService.secretValues`).
   */
  secretValues: string[];
}

/** What loading the Compose projects of one host gives. */
export interface ComposeHostLoad {
  projects: LoadedProject[];
  errors: ManifestError[];
  /**
   * Not errors: variables a host must supply (unset, no default, no host
   * env given), fields ignored as Compose ignores them.
   */
  notes: ManifestError[];
  warnings: ManifestError[];
  /**
   * CI mode only: where a value took a variable the host must supply (left
   * empty here). A check that fails at such a place cannot be judged
   * without the host's value: the caller makes it a note, and the host
   * checks it for real.
   */
  hostDependent?: SourcePosition[];
}

/**
 * Loads every Compose project `host` runs at this revision (its own
 * `hosts/<host>/<project>/` directories and the `stacks/` projects whose
 * `x-gitdock.hosts` select it, with its overrides). Implemented in
 * `load-host.ts`.
 */
export type LoadComposeHost = (input: ComposeHostInput, config: RepoConfig) => ComposeHostLoad;

/** Compose file names, in Compose's order of preference. */
export const COMPOSE_FILE_NAMES = [
  'compose.yaml',
  'compose.yml',
  'docker-compose.yaml',
  'docker-compose.yml',
] as const;

/** Override file names merged over the main file, in Compose's order of preference. */
export const COMPOSE_OVERRIDE_NAMES = [
  'compose.override.yaml',
  'compose.override.yml',
  'docker-compose.override.yaml',
  'docker-compose.override.yml',
] as const;

/** Where shared projects live: `stacks/<project>/compose.yaml`, hosts chosen by `x-gitdock.hosts`. */
export const STACKS_ROOT = 'stacks/';
