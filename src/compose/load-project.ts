/**
 * Loads one Compose project from its files: each file parsed, interpolated,
 * schema-checked and put in canonical form, `extends` and `include`
 * resolved, then the files merged in order with Compose's rules, and
 * finally `env_file`/`label_file` read into `environment`/`labels`.
 */
import { posix } from 'node:path';
import type { ManifestError, SourcePosition } from '../core/types.js';
import { type DotenvEntry, parseDotenv } from './dotenv.js';
import { type ComposeFileModel, resolveExtends } from './extends.js';
import { applyIncludes, type IncludeRequest } from './include.js';
import { interpolateTree, type Lookup, substitute } from './interpolate.js';
import { canonicalizeFile } from './load-canonical.js';
import { isMapping, type JsonPath, Positions, toPointer } from './load-positions.js';
import { type ComposeYaml, parseComposeYaml } from './load-yaml.js';
import { define, mergeCompose } from './merge.js';
import { validateComposeFile } from './validate-file.js';

type Json = Record<string, unknown>;

/** The variables a project interpolates with. */
export interface Vars {
  lookup: Lookup;
  /** True when the variable's value comes from the host-local env (a secret). */
  secret(name: string): boolean;
}

/**
 * Variables a shell sets by itself, which Compose files often use as if they
 * were always there: gitdock runs no shell, so say where the value must come from.
 */
export function shellHint(name: string): string {
  if (name === 'PWD')
    return '; Compose takes PWD from the shell it is started in, and gitdock has none: write ./ for the project directory';
  if (['HOME', 'USER', 'UID', 'GID', 'HOSTNAME', 'SHELL', 'LOGNAME'].includes(name))
    return `; Compose takes ${name} from the shell it is started in, and gitdock has none: set it in the host's env file for the project or in .env`;
  return '';
}

/** Nesting of `include` beyond this is refused (a cycle caught late, or abuse). */
const MAX_INCLUDE_DEPTH = 10;

/** Everything one project's loading reports and reads. */
export class ProjectLoader {
  readonly positions = new Positions();
  readonly errors: ManifestError[] = [];
  readonly warnings: ManifestError[] = [];
  readonly notes: ManifestError[] = [];
  /** CI mode: every place a value took an unset variable the host must supply (see ComposeHostLoad). */
  readonly hostDependent: SourcePosition[] = [];
  readonly filesRead: string[] = [];
  readonly secretValues = new Set<string>();
  /** Unset variables without default when no host env was given: first use of each. */
  private readonly hostMustSupply = new Map<string, SourcePosition>();
  /** Of those, the ones used only by environment entries without a value: optional. */
  private readonly onlyBare = new Set<string>();
  private readonly warned = new Set<string>();
  /** Values that used a variable only a host can supply (CI): their final form is unknown here. */
  private readonly unresolved = new WeakMap<object, Set<string | number>>();
  private readonly fileCache = new WeakMap<Vars, Map<string, ComposeFileModel | undefined>>();

  constructor(
    private readonly files: ReadonlyMap<string, Uint8Array>,
    /** False in CI: unset variables are notes, not errors or warnings. */
    private readonly hostEnvGiven: boolean,
  ) {}

  markRead(path: string) {
    if (!this.filesRead.includes(path)) this.filesRead.push(path);
  }

  /** Parses a Compose file of the repo (no interpolation yet). */
  parse(path: string, from?: { pos: SourcePosition; path: JsonPath }): ComposeYaml | undefined {
    const bytes = this.files.get(path);
    if (!bytes) {
      const at = from ?? { pos: { file: path }, path: [] };
      this.errors.push({
        ...at.pos,
        path: toPointer(at.path),
        message: `${path} does not exist in the repository`,
      });
      return undefined;
    }
    this.markRead(path);
    const parsed = parseComposeYaml(path, bytes, this.positions);
    if (!parsed.ok) {
      this.errors.push(...parsed.errors);
      return undefined;
    }
    return parsed.value;
  }

  /** Parsed file -> interpolated, schema-checked, canonical. Undefined when it has errors. */
  prepare(parsed: ComposeYaml, baseDir: string, vars: Vars): ComposeFileModel | undefined {
    const before = this.errors.length;
    const root = parsed.value;
    interpolateTree(root, vars.lookup, {
      used: (name) => this.use(name, vars),
      missing: (miss, path, container, key) => {
        this.missing(miss, this.at(parsed.file, container, key), path);
        if (!this.hostEnvGiven) markUnresolved(this.unresolved, container, key);
      },
      invalid: (message, path, container, key) => {
        const pos = this.at(parsed.file, container, key);
        this.errors.push({
          ...pos,
          path: toPointer(path),
          message: `${path.join('.')}: ${message}; write $$ for a literal $`,
        });
      },
    });
    if (this.errors.length > before) return undefined;
    const schemaErrors = validateComposeFile(parsed.file, root, this.positions);
    if (schemaErrors.length > 0) {
      this.errors.push(...schemaErrors);
      return undefined;
    }
    canonicalizeFile(root, {
      file: parsed.file,
      baseDir,
      positions: this.positions,
      errors: this.errors,
      unresolved: (container, key) => this.unresolved.get(container)?.has(key) ?? false,
    });
    if (this.errors.length > before) return undefined;
    return { file: parsed.file, value: root, resets: parsed.resets, overrides: parsed.overrides };
  }

  /** A file with `extends` and `include` resolved. */
  process(
    parsed: ComposeYaml,
    baseDir: string,
    vars: Vars,
    depth: number,
  ): ComposeFileModel | undefined {
    const model = this.prepare(parsed, baseDir, vars);
    if (!model) return undefined;
    resolveExtends(model, {
      positions: this.positions,
      errors: this.errors,
      loadFile: (path) => this.loadExtended(path, vars),
    });
    applyIncludes(model, baseDir, {
      positions: this.positions,
      errors: this.errors,
      loadIncluded: (request, at) => this.loadIncluded(request, at, vars, depth),
    });
    return model;
  }

  /** Files merged in order; undefined when any failed. */
  loadModel(parsed: ComposeYaml[], baseDir: string, vars: Vars, depth = 0): Json | undefined {
    let merged: Json | undefined;
    let ok = true;
    for (const file of parsed) {
      const model = this.process(file, baseDir, vars, depth);
      if (!model) {
        ok = false;
        continue;
      }
      merged = merged
        ? mergeCompose(merged, model.value, this.positions, {
            resets: model.resets,
            overrides: model.overrides,
          })
        : model.value;
    }
    return ok ? merged : undefined;
  }

  private loadExtended(path: string, vars: Vars): ComposeFileModel | undefined {
    const cache = this.fileCache.get(vars) ?? new Map<string, ComposeFileModel | undefined>();
    this.fileCache.set(vars, cache);
    if (cache.has(path)) return cache.get(path);
    cache.set(path, undefined);
    const parsed = this.parse(path);
    const model = parsed ? this.prepare(parsed, posix.dirname(path), vars) : undefined;
    cache.set(path, model);
    if (model) {
      resolveExtends(model, {
        positions: this.positions,
        errors: this.errors,
        loadFile: (p) => this.loadExtended(p, vars),
      });
    }
    return model;
  }

  private loadIncluded(
    request: IncludeRequest,
    at: { file: string; path: JsonPath },
    parentVars: Vars,
    depth: number,
  ): Json | undefined {
    const pos: SourcePosition = { file: at.file };
    if (depth >= MAX_INCLUDE_DEPTH) {
      this.errors.push({
        ...pos,
        path: toPointer(at.path),
        message: `include nests more than ${MAX_INCLUDE_DEPTH} levels deep (does it include itself?)`,
      });
      return undefined;
    }
    // The including project's variables win over the included one's env files.
    const defaults: Record<string, string> = {};
    for (const env of request.envFiles) {
      const bytes = this.files.get(env.path);
      if (!bytes) {
        if (env.required) {
          this.errors.push({
            ...pos,
            path: toPointer(at.path),
            message: `include.env_file ${env.path} does not exist in the repository`,
          });
        }
        continue;
      }
      this.markRead(env.path);
      const lookup: Lookup = (n) => parentVars.lookup(n) ?? defaults[n];
      const parsed = parseDotenv(env.path, bytes, lookup);
      this.errors.push(...parsed.errors);
      for (const e of parsed.entries) {
        const value = e.value ?? parentVars.lookup(e.key);
        if (value !== undefined) defaults[e.key] = value;
      }
    }
    const vars: Vars = {
      lookup: (n) => parentVars.lookup(n) ?? defaults[n],
      secret: (n) => parentVars.lookup(n) !== undefined && parentVars.secret(n),
    };
    const parsed = request.paths.map((p) => this.parse(p, { pos, path: at.path }));
    if (parsed.some((p) => !p)) return undefined;
    return this.loadModel(parsed as ComposeYaml[], request.projectDir, vars, depth + 1);
  }

  /** Position of `container[key]`, else the file. */
  at(file: string, container: object, key: string | number): SourcePosition {
    return this.positions.get(container, key) ?? { file, line: 1, column: 1 };
  }

  use(name: string, vars: Vars) {
    if (!vars.secret(name)) return;
    const value = vars.lookup(name);
    if (value !== undefined && value !== '') this.secretValues.add(value);
  }

  missing(
    miss: { name: string; required: boolean; message?: string },
    pos: SourcePosition,
    path: JsonPath,
  ) {
    if (!this.hostEnvGiven) {
      this.hostDependent.push(pos);
      if (!this.hostMustSupply.has(miss.name)) this.hostMustSupply.set(miss.name, pos);
      this.onlyBare.delete(miss.name);
      return;
    }
    const where = path.length > 0 ? `${path.join('.')}: ` : '';
    if (miss.required) {
      this.errors.push({
        ...pos,
        path: toPointer(path),
        message: `${where}required variable ${miss.name} is missing a value${miss.message ? `: ${miss.message}` : ''}; set it in the host's env file for the project or in .env`,
      });
      return;
    }
    const id = `${miss.name}\u0000${pos.file}\u0000${pos.line}`;
    if (this.warned.has(id)) return;
    this.warned.add(id);
    this.warnings.push({
      ...pos,
      path: toPointer(path),
      message: `${where}variable ${miss.name} is not set; using an empty string${shellHint(miss.name)}`,
    });
  }

  /** The "host must supply" notes, once per variable. */
  flushNotes(project: string) {
    for (const [name, pos] of this.hostMustSupply) {
      this.notes.push({
        ...pos,
        path: '',
        message: this.onlyBare.has(name)
          ? `project ${project}: the host may supply ${name} (an environment entry without a value: left out of the container when unset, as Compose does)`
          : `project ${project}: the host must supply ${name} (no value in the repository and no default)${shellHint(name)}`,
      });
    }
    this.hostMustSupply.clear();
    this.onlyBare.clear();
  }

  /**
   * Reads each service's `env_file` and `label_file` into `environment`
   * and `labels` (the files first, the service's own entries over them),
   * and resolves environment entries without a value from the variables.
   */
  resolveServiceFiles(model: Json, vars: Vars) {
    const services = model.services;
    if (!isMapping(services)) return;
    for (const [name, svc] of Object.entries(services)) {
      if (!isMapping(svc)) continue;
      const base: JsonPath = ['services', name];
      const fromFiles: { key: string; value: string; pos: SourcePosition }[] = [];
      if (Array.isArray(svc.env_file)) {
        svc.env_file.forEach((entry, i) => {
          const { path, required } = entry as { path: string; required: boolean };
          const at = this.positions.locate(model, [...base, 'env_file', i], { file: path });
          for (const e of this.readEnvFile(path, required, at, [...base, 'env_file', i], vars)) {
            const value = e.value ?? this.inherit(e.key, vars);
            if (value !== undefined)
              fromFiles.push({ key: e.key, value, pos: { file: path, line: e.line, column: 1 } });
          }
        });
        delete svc.env_file;
      }
      const own = isMapping(svc.environment) ? svc.environment : {};
      const env: Json = {};
      for (const f of fromFiles) {
        delete env[f.key];
        define(env, f.key, f.value);
        this.positions.set(env, f.key, f.pos);
      }
      for (const [key, value] of Object.entries(own)) {
        delete env[key];
        const pos = this.positions.get(own, key) ?? { file: name };
        if (value === null || value === undefined) {
          const inherited = this.inherit(key, vars);
          if (inherited === undefined) {
            this.unsetEnvironment(key, pos, [...base, 'environment', key]);
            continue;
          }
          define(env, key, inherited);
        } else define(env, key, String(value));
        this.positions.set(env, key, pos);
      }
      if (svc.environment !== undefined || fromFiles.length > 0) {
        if (svc.environment === undefined) this.positions.copy(svc, 'env_file', svc, 'environment');
        svc.environment = env;
      }
      if (Array.isArray(svc.label_file)) {
        const labels: Json = {};
        for (const path of svc.label_file as string[]) {
          const at = this.positions.locate(model, [...base, 'label_file'], { file: path });
          for (const e of this.readEnvFile(path, true, at, [...base, 'label_file'], vars)) {
            define(labels, e.key, e.value ?? '');
            this.positions.set(labels, e.key, { file: path, line: e.line, column: 1 });
          }
        }
        const ownLabels = isMapping(svc.labels) ? svc.labels : {};
        for (const [k, v] of Object.entries(ownLabels)) {
          delete labels[k];
          define(labels, k, v);
          this.positions.copy(ownLabels, k, labels, k);
        }
        delete svc.label_file;
        svc.labels = labels;
      }
    }
  }

  /**
   * `configs`/`secrets` with `environment: NAME` take their content from a
   * variable when Compose loads the project: resolved here into `content`,
   * so the model needs no variables (a host secret stays a secret value).
   */
  resolveResourceEnvironment(model: Json, vars: Vars) {
    for (const kind of ['configs', 'secrets'] as const) {
      const group = model[kind];
      if (!isMapping(group)) continue;
      for (const [name, entry] of Object.entries(group)) {
        if (!isMapping(entry) || typeof entry.environment !== 'string') continue;
        const variable = entry.environment;
        const value = this.inherit(variable, vars);
        const path = [kind, name, 'environment'];
        if (value === undefined) {
          const pos = this.positions.locate(model, path, { file: kind });
          this.missing(
            { name: variable, required: true, message: `${kind}.${name} reads it` },
            pos,
            path,
          );
          continue;
        }
        this.positions.copy(entry, 'environment', entry, 'content');
        delete entry.environment;
        entry.content = value;
      }
    }
  }

  private inherit(key: string, vars: Vars): string | undefined {
    const value = vars.lookup(key);
    if (value !== undefined) this.use(key, vars);
    return value;
  }

  private unsetEnvironment(key: string, pos: SourcePosition, path: JsonPath) {
    if (!this.hostEnvGiven) {
      if (!this.hostMustSupply.has(key)) {
        this.hostMustSupply.set(key, pos);
        this.onlyBare.add(key);
      }
      return;
    }
    this.warnings.push({
      ...pos,
      path: toPointer(path),
      message: `environment ${key} has no value and variable ${key} is not set; it is left out, as Compose does`,
    });
  }

  private readEnvFile(
    path: string,
    required: boolean,
    at: SourcePosition,
    jsonPath: JsonPath,
    vars: Vars,
  ): DotenvEntry[] {
    const bytes = this.files.get(path);
    if (!bytes) {
      if (required) {
        this.errors.push({
          ...at,
          path: toPointer(jsonPath),
          message: `${path} does not exist in the repository (set \`required: false\` if it is optional)`,
        });
      }
      return [];
    }
    this.markRead(path);
    const parsed = parseDotenv(path, bytes, vars.lookup);
    this.errors.push(...parsed.errors);
    for (const name of parsed.used) this.use(name, vars);
    for (const m of parsed.missing) {
      this.missing(
        { name: m.name, required: m.required },
        { file: path, line: m.line, column: 1 },
        [],
      );
    }
    return parsed.entries;
  }
}

function markUnresolved(
  marks: WeakMap<object, Set<string | number>>,
  container: object,
  key: string | number,
) {
  const set = marks.get(container) ?? new Set<string | number>();
  marks.set(container, set);
  set.add(key);
}

/**
 * The project's variables: the host-local env (secrets) over the `.env`
 * files (later ones over earlier). A `.env` value may use variables of the
 * host env and of earlier lines; one that used a secret is a secret too.
 */
export function buildVars(
  loader: ProjectLoader,
  files: ReadonlyMap<string, Uint8Array>,
  dotenvPaths: readonly string[],
  hostVars: Readonly<Record<string, string>> | undefined,
): Vars {
  const values = new Map<string, string>();
  const derived = new Set<string>();
  const fromHost = (n: string) =>
    hostVars && Object.hasOwn(hostVars, n) ? hostVars[n] : undefined;
  const lookup: Lookup = (n) => fromHost(n) ?? values.get(n);
  const secret = (n: string) => fromHost(n) !== undefined || (values.has(n) && derived.has(n));
  const vars: Vars = { lookup, secret };
  for (const path of dotenvPaths) {
    const bytes = files.get(path);
    if (!bytes) continue;
    loader.markRead(path);
    const parsed = parseDotenv(path, bytes, lookup);
    loader.errors.push(...parsed.errors);
    for (const m of parsed.missing) {
      loader.missing(
        { name: m.name, required: m.required },
        { file: path, line: m.line, column: 1 },
        [],
      );
    }
    for (const e of parsed.entries) {
      const value = e.value ?? fromHost(e.key);
      if (value === undefined) continue;
      values.set(e.key, value);
      if (e.uses.some(secret)) derived.add(e.key);
      else derived.delete(e.key);
    }
  }
  return vars;
}

/** The `name:` a project's files give (the last one wins), interpolated from `.env` alone. */
export function readProjectName(parsed: readonly ComposeYaml[], vars: Vars): string | undefined {
  let name: string | undefined;
  for (const file of parsed) {
    const raw = file.value.name;
    if (typeof raw !== 'string') continue;
    const result = substitute(raw, (n) => (vars.secret(n) ? undefined : vars.lookup(n)));
    name = result.ok ? result.value : raw;
  }
  return name;
}
