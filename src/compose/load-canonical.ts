/**
 * Puts one interpolated, schema-valid Compose file into the loader's
 * canonical form (see `LoadedProject.model` in contract.ts): paths rebased
 * to repo paths, volumes in long form, list-or-mapping fields as mappings.
 * Done per file, before merging, because paths resolve against the file's
 * own base directory and merging is simpler on one form.
 */
import type { ManifestError, SourcePosition } from '../core/types.js';
import { isPathLike, isRemote, rebasePath } from './load-paths.js';
import { isMapping, type JsonPath, type Positions, toPointer } from './load-positions.js';
import { define } from './merge.js';

export interface CanonicalContext {
  file: string;
  /** Repo directory relative paths of this file resolve against. */
  baseDir: string;
  positions: Positions;
  errors: ManifestError[];
  /**
   * True for a value that used a variable only the host supplies (CI
   * validation): a short volume like `${DATA}:/data` cannot be judged
   * until then, and the host's own run checks it.
   */
  unresolved?: (container: object, key: string | number) => boolean;
}

type Json = Record<string, unknown>;

/** Mutates `root` into canonical form; problems go to `ctx.errors`. */
export function canonicalizeFile(root: Json, ctx: CanonicalContext): void {
  const fail = (path: JsonPath, message: string) => {
    const pos: SourcePosition = ctx.positions.locate(root, path, {
      file: ctx.file,
      line: 1,
      column: 1,
    });
    ctx.errors.push({ ...pos, path: toPointer(path), message });
  };
  const rebase = (path: JsonPath, written: string, what: string): string | undefined => {
    const r = rebasePath(ctx.baseDir, written);
    if (!r.ok) {
      fail(path, `${what}: ${r.message}`);
      return undefined;
    }
    return r.path;
  };
  stripExtensions(root, true);
  const services = isMapping(root.services) ? root.services : {};
  for (const [name, svc] of Object.entries(services)) {
    if (!isMapping(svc)) {
      // `web:` with nothing: Compose reads it as an empty service.
      if (svc === null) define(services, name, {});
      continue;
    }
    canonicalizeService(svc, ['services', name], ctx, fail, rebase);
  }
  for (const kind of ['networks', 'volumes', 'configs', 'secrets'] as const) {
    const group = root[kind];
    if (!isMapping(group)) continue;
    for (const [name, entry] of Object.entries(group)) {
      if (!isMapping(entry)) continue;
      stripExtensions(entry, false);
      toMapping(entry, 'labels', ctx.positions, '');
      if ((kind === 'configs' || kind === 'secrets') && typeof entry.file === 'string') {
        const p = rebase([kind, name, 'file'], entry.file, `${kind}.${name}.file`);
        if (p !== undefined) entry.file = p;
      }
    }
  }
}

type Fail = (path: JsonPath, message: string) => void;
type Rebase = (path: JsonPath, written: string, what: string) => string | undefined;

function canonicalizeService(
  svc: Json,
  at: JsonPath,
  ctx: CanonicalContext,
  fail: Fail,
  rebase: Rebase,
): void {
  const { positions } = ctx;
  const name = String(at[1]);
  stripExtensions(svc, false);
  toMapping(svc, 'environment', positions, null);
  toMapping(svc, 'labels', positions, '');
  toMapping(svc, 'annotations', positions, '');
  toMapping(svc, 'sysctls', positions, '');
  toExtraHosts(svc, positions);
  for (const key of ['dns', 'dns_search', 'tmpfs'] as const) {
    if (typeof svc[key] === 'string') svc[key] = [svc[key]];
  }
  if (Array.isArray(svc.networks)) {
    svc.networks = listToMapping(svc.networks, positions, (item) => [String(item), null]);
  }
  if (Array.isArray(svc.depends_on)) {
    svc.depends_on = listToMapping(svc.depends_on, positions, (item) => [
      String(item),
      { condition: 'service_started', required: true },
    ]);
  } else if (isMapping(svc.depends_on)) {
    for (const dep of Object.values(svc.depends_on)) {
      if (isMapping(dep) && dep.required === undefined) dep.required = true;
    }
  }
  if (isMapping(svc.deploy)) toMapping(svc.deploy, 'labels', positions, '');
  if (svc.build !== undefined) {
    if (typeof svc.build === 'string') {
      const context = svc.build;
      svc.build = { context };
      positions.copy(svc, 'build', svc.build as Json, 'context');
    }
    const build = svc.build as Json;
    toMapping(build, 'args', positions, null);
    toMapping(build, 'labels', positions, '');
    const context = typeof build.context === 'string' ? build.context : '.';
    if (!isRemote(context)) {
      const p = rebase([...at, 'build', 'context'], context, `services.${name}.build.context`);
      if (p !== undefined) build.context = p === '' ? '.' : p;
    }
  }
  if (isMapping(svc.extends) && typeof svc.extends.file === 'string') {
    const p = rebase([...at, 'extends', 'file'], svc.extends.file, `services.${name}.extends.file`);
    if (p !== undefined) svc.extends.file = p;
  }
  if (svc.env_file !== undefined) canonicalEnvFiles(svc, at, fail, rebase, positions);
  if (svc.label_file !== undefined) {
    const list =
      typeof svc.label_file === 'string' ? [svc.label_file] : (svc.label_file as unknown[]);
    svc.label_file = list.flatMap((item, i) => {
      const r = rebasePath(ctx.baseDir, String(item));
      if (!r.ok || r.absolute) {
        fail(
          [...at, 'label_file', i],
          r.ok ? 'label_file must be a path in the repository' : r.message,
        );
        return [];
      }
      return [r.path];
    });
  }
  if (Array.isArray(svc.volumes)) {
    const list = svc.volumes as unknown[];
    const out: unknown[] = [];
    list.forEach((item, i) => {
      const pending = ctx.unresolved?.(list, i) ?? false;
      // A volume that needs a host's variable: checked on the host, dropped from CI's model.
      const long = toLongVolume(item, [...at, 'volumes', i], pending ? () => {} : fail);
      if (!long) return;
      if (long.type === 'bind' && typeof long.source === 'string') {
        const r = rebasePath(ctx.baseDir, long.source);
        if (!r.ok) {
          fail([...at, 'volumes', i], `services.${name}.volumes[${i}]: ${r.message}`);
          return;
        }
        long.source = r.path === '' ? '.' : r.path;
        if (!r.absolute) long['x-gitdock-repo-path'] = true;
      }
      if (isMapping(long.volume)) toMapping(long.volume, 'labels', positions, '');
      positions.copy(list, i, out, out.length);
      out.push(long);
    });
    svc.volumes = out;
  }
}

function canonicalEnvFiles(
  svc: Json,
  at: JsonPath,
  fail: Fail,
  rebase: Rebase,
  positions: Positions,
) {
  const raw = typeof svc.env_file === 'string' ? [svc.env_file] : (svc.env_file as unknown[]);
  const out: Json[] = [];
  raw.forEach((item, i) => {
    const entry = typeof item === 'string' ? { path: item } : (item as Json);
    const where = typeof svc.env_file === 'string' ? [...at, 'env_file'] : [...at, 'env_file', i];
    const written = String(entry.path);
    if (written.startsWith('/')) {
      fail(
        where,
        `env_file "${written}" is an absolute path: env files come from the repository (relative to the project directory), secrets from the host's env file for the project`,
      );
      return;
    }
    const path = rebase(where, written, 'env_file');
    if (path === undefined) return;
    if (entry.format !== undefined && entry.format !== '') {
      fail(where, `env_file format "${String(entry.format)}" is not supported; omit \`format\``);
      return;
    }
    const required = entry.required === undefined ? true : parseBool(entry.required);
    if (required === undefined) {
      fail(where, 'env_file.required: expected true or false');
      return;
    }
    const canonical = { path, required };
    if (Array.isArray(svc.env_file)) positions.copy(svc.env_file, i, out, out.length);
    else positions.copy(svc, 'env_file', out, out.length);
    out.push(canonical);
  });
  svc.env_file = out;
}

/** Compose's boolean strings (an interpolated `${FLAG}` gives one). */
export function parseBool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return undefined;
  const v = value.toLowerCase();
  if (['true', 'yes', 'y', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'n', 'off', '0'].includes(v)) return false;
  return undefined;
}

const PROPAGATION = ['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate'];

/** A service volume in long form; short syntax `[SOURCE:]TARGET[:MODE,...]` parsed as Compose does. */
function toLongVolume(item: unknown, at: JsonPath, fail: Fail): Json | undefined {
  if (isMapping(item)) return { ...item };
  const spec = String(item);
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) {
    fail(at, `volume "${spec}": expected [SOURCE:]TARGET[:MODE]`);
    return undefined;
  }
  if (parts.length === 1) return { type: 'volume', target: parts[0] };
  const [source, target, modes] = parts as [string, string, string | undefined];
  const type = isPathLike(source) ? 'bind' : 'volume';
  const out: Json = { type, source, target };
  const bind: Json = {};
  const volume: Json = {};
  for (const mode of modes ? modes.split(',') : []) {
    if (mode === 'ro') out.read_only = true;
    else if (mode === 'rw') continue;
    else if (mode === 'z' || mode === 'Z') bind.selinux = mode;
    else if (PROPAGATION.includes(mode)) bind.propagation = mode;
    else if (mode === 'nocopy') volume.nocopy = true;
    else {
      fail(
        at,
        `volume "${spec}": unknown option "${mode}"; expected ro, rw, z, Z, nocopy or a propagation (${PROPAGATION.join(', ')})`,
      );
      return undefined;
    }
  }
  if (type === 'bind') {
    if (volume.nocopy) {
      fail(at, `volume "${spec}": nocopy applies to named volumes, not to bind mounts`);
      return undefined;
    }
    // Compose creates a missing host directory for the short syntax only.
    out.bind = { ...bind, create_host_path: true };
  } else {
    if (Object.keys(bind).length > 0) {
      // Compose ignores SELinux and propagation options on a named volume; keep them visible.
      out.bind = bind;
    }
    if (Object.keys(volume).length > 0) out.volume = volume;
  }
  return out;
}

/**
 * A list-or-mapping field (`KEY=value` entries) as a mapping of strings;
 * an entry without `=` gets `bare` (null: "from the environment").
 */
function toMapping(owner: Json, key: string, positions: Positions, bare: string | null) {
  const value = owner[key];
  if (Array.isArray(value)) {
    owner[key] = listToMapping(value, positions, (item) => {
      const s = String(item);
      const eq = s.indexOf('=');
      return eq < 0 ? [s, bare] : [s.slice(0, eq), s.slice(eq + 1)];
    });
  } else if (isMapping(value) && bare !== null) {
    for (const k of Object.keys(value)) if (value[k] === null) value[k] = bare;
  }
}

function toExtraHosts(svc: Json, positions: Positions) {
  const value = svc.extra_hosts;
  if (Array.isArray(value)) {
    const out: Json = {};
    value.forEach((item, i) => {
      const s = String(item);
      const sep = s.includes('=') ? s.indexOf('=') : s.indexOf(':');
      const host = sep < 0 ? s : s.slice(0, sep);
      const ip = sep < 0 ? '' : s.slice(sep + 1);
      const prior = out[host];
      define(out, host, Array.isArray(prior) ? [...prior, ip] : [ip]);
      positions.copy(value, i, out, host);
    });
    svc.extra_hosts = out;
  } else if (isMapping(value)) {
    for (const k of Object.keys(value)) {
      const v = value[k];
      value[k] = Array.isArray(v) ? v.map(String) : [String(v ?? '')];
    }
  }
}

function listToMapping(
  list: unknown[],
  positions: Positions,
  entry: (item: unknown) => [string, unknown],
): Json {
  const out: Json = {};
  list.forEach((item, i) => {
    const [k, v] = entry(item);
    // A later duplicate wins, as in Compose.
    delete out[k];
    define(out, k, v);
    positions.copy(list, i, out, k);
  });
  return out;
}

/**
 * Drops `x-*` fields, which Compose ignores, keeping `x-gitdock`. At the
 * top of the file, on services and resources only: deeper mappings hold
 * user keys (labels, environment) where `x-` is an ordinary name.
 */
function stripExtensions(obj: Json, top: boolean) {
  for (const k of Object.keys(obj)) {
    if (k.startsWith('x-') && k !== 'x-gitdock') delete obj[k];
    else if (top && k === 'version') delete obj[k];
  }
}
