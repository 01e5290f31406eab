/**
 * Compose's merge of one file over another (override files, `extends`), per
 * the spec's merge rules and compose-go's implementation of them:
 * mappings merge key by key; most sequences append; sequences of unique
 * resources (`ports`, `volumes` by target, `devices` by target, `secrets`
 * and `configs` by target, `dns`, `cap_add`, ...) append and replace an
 * entry with the same key in place; `command`, `entrypoint` and
 * `healthcheck.test` are replaced whole; `logging` merges only for the same
 * driver; a `!reset` path is removed and an `!override` path replaced.
 *
 * Inputs are in the loader's canonical form (`environment`, `labels`,
 * `extra_hosts`, `networks`, `depends_on` as mappings; `volumes` long form),
 * so those merge as mappings: an entry of the override wins by key.
 */
import { isMapping, type JsonPath, type Positions } from './load-positions.js';

export interface MergeTags {
  /** Paths the override file tagged `!reset`, relative to the merged trees. */
  resets: readonly JsonPath[];
  /** Paths the override file tagged `!override`, relative to the merged trees. */
  overrides: readonly JsonPath[];
}

type Key = (item: unknown) => string;

const byValue: Key = (item) => (typeof item === 'string' ? item : JSON.stringify(item));

const byPort: Key = (item) => {
  if (isMapping(item)) {
    return `${item.host_ip ?? ''}:${item.published ?? ''}:${item.target ?? ''}/${item.protocol ?? 'tcp'}`;
  }
  return String(item);
};

const byTarget: Key = (item) =>
  isMapping(item) ? String(item.target ?? item.source ?? '') : String(item);

const byDevice: Key = (item) => {
  if (isMapping(item)) return String(item.target ?? item.source ?? '');
  const parts = String(item).split(':');
  return parts[1] ?? parts[0] ?? '';
};

const byMountTarget: Key = (item) =>
  isMapping(item) ? String(item.target ?? item.source ?? '') : String(item);

const byPath: Key = (item) => (isMapping(item) ? String(item.path ?? '') : String(item));

const bySubnet: Key = (item) => (isMapping(item) ? String(item.subnet ?? '') : byValue(item));

/** Sequences merged by key, by path pattern (`*` matches one segment). */
const UNIQUE: readonly [string, Key][] = [
  ['services.*.ports', byPort],
  ['services.*.volumes', byTarget],
  ['services.*.devices', byDevice],
  ['services.*.secrets', byMountTarget],
  ['services.*.configs', byMountTarget],
  ['services.*.env_file', byPath],
  ['services.*.label_file', byValue],
  ['services.*.expose', (item) => String(item)],
  ['services.*.dns', byValue],
  ['services.*.dns_opt', byValue],
  ['services.*.dns_search', byValue],
  ['services.*.tmpfs', byValue],
  ['services.*.cap_add', byValue],
  ['services.*.cap_drop', byValue],
  ['services.*.links', byValue],
  ['services.*.external_links', byValue],
  ['services.*.profiles', byValue],
  ['services.*.security_opt', byValue],
  ['services.*.group_add', (item) => String(item)],
  ['services.*.device_cgroup_rules', byValue],
  ['services.*.build.tags', byValue],
  ['services.*.build.platforms', byValue],
  ['services.*.build.cache_from', byValue],
  ['services.*.networks.*.aliases', byValue],
  ['services.*.networks.*.link_local_ips', byValue],
  ['networks.*.ipam.config', bySubnet],
];

/** Sequences replaced whole by the override. */
const REPLACED = [
  'services.*.command',
  'services.*.entrypoint',
  'services.*.healthcheck.test',
  // The addresses of one host name: the override's list is the answer, not an addition.
  'services.*.extra_hosts.*',
  'services.*.build.extra_hosts.*',
];

function matches(pattern: string, path: JsonPath): boolean {
  const parts = pattern.split('.');
  return parts.length === path.length && parts.every((p, i) => p === '*' || p === String(path[i]));
}

function samePath(a: JsonPath, b: JsonPath): boolean {
  return a.length === b.length && a.every((s, i) => String(s) === String(b[i]));
}

/** Merges `over` on top of `base` with Compose's rules; neither input is changed. */
export function mergeCompose(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
  positions: Positions,
  tags: MergeTags = { resets: [], overrides: [] },
  at: JsonPath = [],
): Record<string, unknown> {
  return new Merger(positions, tags).mapping(base, over, at);
}

class Merger {
  constructor(
    private readonly positions: Positions,
    private readonly tags: MergeTags,
  ) {}

  value(base: unknown, over: unknown, path: JsonPath): unknown {
    if (this.tags.overrides.some((p) => samePath(p, path))) return over;
    if (REPLACED.some((p) => matches(p, path))) return over;
    if (matches('services.*.logging', path) && isMapping(base) && isMapping(over)) {
      // Options of another driver mean nothing to this one.
      if (base.driver !== undefined && over.driver !== undefined && base.driver !== over.driver) {
        return over;
      }
    }
    if (matches('services.*.ulimits.*', path) && !(isMapping(base) && isMapping(over))) return over;
    if (isMapping(base) && isMapping(over)) return this.mapping(base, over, path);
    if (Array.isArray(base) && Array.isArray(over)) {
      const unique = UNIQUE.find(([p]) => matches(p, path));
      return unique ? this.unique(base, over, unique[1], path) : this.append(base, over);
    }
    return over;
  }

  mapping(
    base: Record<string, unknown>,
    over: Record<string, unknown>,
    path: JsonPath,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(base)) {
      if (this.tags.resets.some((p) => samePath(p, [...path, k]))) continue;
      define(out, k, base[k]);
      this.positions.copy(base, k, out, k);
    }
    for (const k of Object.keys(over)) {
      const merged =
        Object.hasOwn(out, k) && !k.startsWith('x-')
          ? this.value(out[k], over[k], [...path, k])
          : over[k];
      define(out, k, merged);
      this.positions.copy(over, k, out, k);
    }
    return out;
  }

  private append(base: unknown[], over: unknown[]): unknown[] {
    const out = [...base, ...over];
    for (let i = 0; i < base.length; i++) this.positions.copy(base, i, out, i);
    for (let i = 0; i < over.length; i++) this.positions.copy(over, i, out, base.length + i);
    return out;
  }

  /** Appends, an entry whose key is already there replacing it in place (merged if both are mappings). */
  private unique(base: unknown[], over: unknown[], key: Key, path: JsonPath): unknown[] {
    const out: unknown[] = [];
    const index = new Map<string, number>();
    base.forEach((item, i) => {
      const k = key(item);
      const existing = index.get(k);
      if (existing !== undefined) {
        out[existing] = item;
        this.positions.copy(base, i, out, existing);
        return;
      }
      index.set(k, out.length);
      this.positions.copy(base, i, out, out.length);
      out.push(item);
    });
    over.forEach((item, i) => {
      const k = key(item);
      const existing = index.get(k);
      if (existing === undefined) {
        index.set(k, out.length);
        this.positions.copy(over, i, out, out.length);
        out.push(item);
        return;
      }
      const prior = out[existing];
      out[existing] =
        matches('networks.*.ipam.config', path) && isMapping(prior) && isMapping(item)
          ? this.mapping(prior, item, [...path, existing])
          : item;
      this.positions.copy(over, i, out, existing);
    });
    return out;
  }
}

/** Sets a key even when it is `__proto__`. */
export function define(target: Record<string, unknown>, key: string, value: unknown) {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}
