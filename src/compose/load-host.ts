/**
 * Loads every Compose project one host runs at a revision: its own
 * `hosts/<host>/<project>/` directories, and the `stacks/<project>/` whose
 * `x-gitdock.hosts` select it, with the host's override files and `.env`
 * from `hosts/<host>/<project>/` merged on top.
 */
import { matchesHost } from '../core/host-selector.js';
import type { ManifestError } from '../core/types.js';
import type { ComposeHostLoad, LoadComposeHost, LoadedProject } from './contract.js';
import { discoverProjects, type ProjectDir } from './discover.js';
import { parseDotenv } from './dotenv.js';
import { castTypedStrings } from './load-cast.js';
import { isMapping, Positions, toPointer } from './load-positions.js';
import { buildVars, ProjectLoader, readProjectName, type Vars } from './load-project.js';
import { type ComposeYaml, parseComposeYaml } from './load-yaml.js';

/** Compose's rule for project names. */
export const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const PROFILE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** One project to load: its directory and files in merge order. */
interface ProjectPlan {
  kind: 'host' | 'stack';
  dir: string;
  dirName: string;
  /** Compose files in merge order. */
  files: string[];
  /** `.env` files, lowest precedence first. */
  dotenvs: string[];
  /** The file allowed to hold `x-gitdock.hosts` (a stack's main file). */
  hostsFile?: string;
}

export const loadComposeHost: LoadComposeHost = (input, _config) => {
  const result: ComposeHostLoad = { projects: [], errors: [], notes: [], warnings: [] };
  const found = discoverProjects(input.files.keys(), input.host);
  result.errors.push(...found.errors);
  const selected = new Map<string, ProjectDir>();
  for (const stack of found.stacks) {
    if (!stack.main) {
      result.errors.push({
        file: stack.override ?? stack.dir,
        path: '',
        message: `${stack.dir} has an override file but no compose.yaml to override`,
      });
      continue;
    }
    if (selectsHost(input.files, stack.main, input.host, result.errors)) {
      selected.set(stack.dirName, stack);
    }
  }
  const plans: ProjectPlan[] = [];
  for (const dir of found.hostDirs) {
    const stack = selected.get(dir.dirName);
    if (dir.main && stack) {
      result.errors.push({
        file: dir.main,
        path: '',
        message: `project ${dir.dirName} is defined twice for host ${input.host}: by ${dir.main} and by ${stack.main}, whose x-gitdock.hosts selects this host; keep one, or turn this file into compose.override.yaml`,
      });
      continue;
    }
    if (dir.main) {
      plans.push({
        kind: 'host',
        dir: dir.dir,
        dirName: dir.dirName,
        files: [dir.main, ...(dir.override ? [dir.override] : [])],
        dotenvs: dir.dotenv ? [dir.dotenv] : [],
      });
    } else if (!stack && dir.override) {
      result.errors.push({
        file: dir.override,
        path: '',
        message: `${dir.override} overrides nothing: ${dir.dir} has no compose.yaml and no stack in stacks/${dir.dirName}/ selects host ${input.host}`,
      });
    } else if (!stack && dir.dotenv) {
      result.warnings.push({
        file: dir.dotenv,
        path: '',
        message: `${dir.dotenv} is not used: ${dir.dir} has no compose.yaml and no stack in stacks/${dir.dirName}/ selects host ${input.host}`,
      });
    }
  }
  for (const stack of selected.values()) {
    const local = found.hostDirs.find((d) => d.dirName === stack.dirName);
    plans.push({
      kind: 'stack',
      dir: stack.dir,
      dirName: stack.dirName,
      files: [stack.main!, stack.override, local?.override].filter((f): f is string => !!f),
      dotenvs: [stack.dotenv, local?.dotenv].filter((f): f is string => !!f),
      hostsFile: stack.main,
    });
  }
  const names = new Map<string, string>();
  for (const plan of plans) {
    const project = loadPlannedProject(input, plan, result);
    if (!project) continue;
    const other = names.get(project.name);
    if (other) {
      result.errors.push({
        file: plan.files[0]!,
        path: '',
        message: `project name "${project.name}" is used by both ${other} and ${plan.dir} on host ${input.host}; set a different \`name:\` in one`,
      });
      continue;
    }
    names.set(project.name, plan.dir);
    result.projects.push(project);
  }
  return result;
};

/** Reads a stack's `x-gitdock.hosts` (as written: it is not interpolated) and matches the host. */
function selectsHost(
  files: ReadonlyMap<string, Uint8Array>,
  main: string,
  host: string,
  errors: ManifestError[],
): boolean {
  const positions = new Positions();
  const parsed = parseComposeYaml(main, files.get(main)!, positions);
  if (!parsed.ok) {
    // The stack may be meant for this host: its errors must not pass silently.
    errors.push(...parsed.errors);
    return false;
  }
  const root = parsed.value.value;
  const xg = root['x-gitdock'];
  const hosts = isMapping(xg) ? xg.hosts : undefined;
  const pos = positions.locate(root, ['x-gitdock', 'hosts'], { file: main, line: 1, column: 1 });
  if (
    !Array.isArray(hosts) ||
    hosts.length === 0 ||
    hosts.some((h) => typeof h !== 'string' || h === '')
  ) {
    errors.push({
      ...pos,
      path: '/x-gitdock/hosts',
      message:
        'a stack chooses its hosts with a top-level `x-gitdock: { hosts: [...] }`: a list of host names or globs such as "web-*"',
    });
    return false;
  }
  const bad = (hosts as string[]).find((h) => !isValidGlob(h));
  if (bad !== undefined) {
    errors.push({
      ...pos,
      path: '/x-gitdock/hosts',
      message: `x-gitdock.hosts: "${bad}" is not a valid host glob (an unclosed "[" matches nothing)`,
    });
    return false;
  }
  return matchesHost(hosts as string[], host);
}

function isValidGlob(glob: string): boolean {
  const open = glob.indexOf('[');
  return open < 0 || glob.indexOf(']', open + 2) > open;
}

function loadPlannedProject(
  input: Parameters<LoadComposeHost>[0],
  plan: ProjectPlan,
  result: ComposeHostLoad,
): LoadedProject | undefined {
  const loader = new ProjectLoader(input.files, input.hostEnv !== undefined);
  const parsed = plan.files.map((f) => loader.parse(f));
  if (parsed.some((p) => !p)) {
    report(loader, result);
    return undefined;
  }
  const files = parsed as ComposeYaml[];
  checkHostsPlacement(files, plan, loader);
  // The name picks the host env, so it is read with the repo's `.env` only.
  const scratch = new ProjectLoader(input.files, false);
  const repoVars = buildVars(scratch, input.files, plan.dotenvs, undefined);
  // Compose's order: COMPOSE_PROJECT_NAME (a migrated `.env` often sets it,
  // and the volume names follow it), then `name:`, then the directory.
  const envName = findDotenvSetting(input.files, plan.dotenvs, 'COMPOSE_PROJECT_NAME', repoVars);
  const name = envName?.value ?? readProjectName(files, repoVars);
  const projectName = name ?? plan.dirName;
  if (envName && !PROJECT_NAME.test(projectName)) {
    loader.errors.push({
      ...(envName.pos ?? { file: plan.files[0]! }),
      path: '',
      message: `COMPOSE_PROJECT_NAME "${projectName}" is not a valid Compose project name: use lowercase letters, digits, "_" and "-", starting with a letter or digit`,
    });
    report(loader, result);
    return undefined;
  }
  if (!PROJECT_NAME.test(projectName)) {
    const file = [...files].reverse().find((f) => typeof f.value.name === 'string') ?? files[0]!;
    const pos = loader.positions.locate(file.value, ['name'], {
      file: file.file,
      line: 1,
      column: 1,
    });
    loader.errors.push({
      ...pos,
      path: name === undefined ? '' : '/name',
      message:
        name === undefined
          ? `project name "${projectName}" (the directory name) is not valid for Compose: use lowercase letters, digits, "_" and "-", starting with a letter or digit; rename the directory or set \`name:\``
          : `name "${projectName}" is not a valid Compose project name: use lowercase letters, digits, "_" and "-", starting with a letter or digit`,
    });
    report(loader, result);
    return undefined;
  }
  const vars = buildVars(loader, input.files, plan.dotenvs, input.hostEnv?.get(projectName));
  const model = loader.loadModel(files, plan.dir, vars);
  if (model) {
    loader.resolveServiceFiles(model, vars);
    loader.resolveResourceEnvironment(model, vars);
    castTypedStrings(model);
    checkGitdockExtension(model, loader, plan.files[0]!);
    addEnvProfiles(model, vars, input.files, plan, loader);
    delete model.name;
  }
  loader.flushNotes(projectName);
  const failed = loader.errors.length > 0;
  report(loader, result);
  if (!model || failed) return undefined;
  const positions = loader.positions;
  const fallback = { file: plan.files[0]!, line: 1, column: 1 };
  return {
    name: projectName,
    host: input.host,
    dir: plan.dir,
    files: loader.filesRead,
    model,
    locate: (path) => positions.locate(model, path, fallback),
    secretValues: [...loader.secretValues],
  };
}

function report(loader: ProjectLoader, result: ComposeHostLoad) {
  result.errors.push(...loader.errors);
  result.warnings.push(...loader.warnings);
  result.notes.push(...loader.notes);
  result.hostDependent ??= [];
  result.hostDependent.push(...loader.hostDependent);
}

/** `x-gitdock.hosts` belongs in a stack's main file only: anywhere else it would do nothing. */
function checkHostsPlacement(files: ComposeYaml[], plan: ProjectPlan, loader: ProjectLoader) {
  for (const f of files) {
    const xg = f.value['x-gitdock'];
    if (!isMapping(xg) || xg.hosts === undefined || f.file === plan.hostsFile) continue;
    const pos = loader.positions.locate(f.value, ['x-gitdock', 'hosts'], { file: f.file });
    loader.errors.push({
      ...pos,
      path: '/x-gitdock/hosts',
      message:
        plan.kind === 'host'
          ? 'x-gitdock.hosts is for stacks/<project>/ files; a project under hosts/<host>/ runs on that host only'
          : `x-gitdock.hosts can only be set in ${plan.hostsFile}, not in an override file`,
    });
  }
}

/** The top-level `x-gitdock` fields gitdock knows; any other is a typo to report. */
function checkGitdockExtension(
  model: Record<string, unknown>,
  loader: ProjectLoader,
  file: string,
) {
  const xg = model['x-gitdock'];
  if (xg === undefined) return;
  const where = (path: (string | number)[]) => loader.positions.locate(model, path, { file }, true);
  if (!isMapping(xg)) {
    loader.errors.push({
      ...where(['x-gitdock']),
      path: '/x-gitdock',
      message: 'x-gitdock: expected a mapping (`hosts`, `profiles`)',
    });
    return;
  }
  for (const key of Object.keys(xg)) {
    if (key === 'hosts') continue;
    if (key === 'profiles') {
      const p = xg.profiles;
      if (!Array.isArray(p) || p.some((v) => typeof v !== 'string' || !PROFILE_NAME.test(v))) {
        loader.errors.push({
          ...where(['x-gitdock', 'profiles']),
          path: toPointer(['x-gitdock', 'profiles']),
          message:
            'x-gitdock.profiles: expected a list of profile names (letters, digits, "_", "." and "-")',
        });
      }
      continue;
    }
    loader.errors.push({
      ...where(['x-gitdock', key]),
      path: toPointer(['x-gitdock', key]),
      message: `unknown field "${key}" in x-gitdock; expected one of: hosts, profiles`,
    });
  }
}

/** Where a `.env` of the project sets a variable (the last one wins), with its value. */
function findDotenvSetting(
  files: ReadonlyMap<string, Uint8Array>,
  dotenvs: readonly string[],
  key: string,
  vars: Vars,
): { value: string; pos?: { file: string; line: number; column: number } } | undefined {
  const value = vars.lookup(key);
  if (value === undefined || value === '') return undefined;
  for (const file of [...dotenvs].reverse()) {
    const bytes = files.get(file);
    if (!bytes) continue;
    const entry = parseDotenv(file, bytes, () => undefined)
      .entries.filter((e) => e.key === key)
      .at(-1);
    if (entry) return { value, pos: { file, line: entry.line, column: 1 } };
  }
  return { value };
}

/**
 * COMPOSE_PROFILES (comma-separated, from the host env or `.env`, as Compose
 * reads it from the shell or `.env`) turns profiles on like `x-gitdock.profiles`.
 */
function addEnvProfiles(
  model: Record<string, unknown>,
  vars: Vars,
  files: ReadonlyMap<string, Uint8Array>,
  plan: ProjectPlan,
  loader: ProjectLoader,
) {
  const text = vars.lookup('COMPOSE_PROFILES');
  if (text === undefined || text.trim() === '') return;
  const names = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const bad = names.find((p) => p !== '*' && !PROFILE_NAME.test(p));
  if (bad !== undefined) {
    const setting = findDotenvSetting(files, plan.dotenvs, 'COMPOSE_PROFILES', vars);
    loader.errors.push({
      ...(setting?.pos ?? { file: plan.files[0]! }),
      path: '',
      message: `COMPOSE_PROFILES: "${bad}" is not a profile name (letters, digits, "_", "." and "-", comma-separated)`,
    });
    return;
  }
  const xg = isMapping(model['x-gitdock']) ? model['x-gitdock'] : {};
  const own = Array.isArray(xg.profiles) ? (xg.profiles as string[]) : [];
  model['x-gitdock'] = { ...xg, profiles: [...new Set([...own, ...names])] };
}
