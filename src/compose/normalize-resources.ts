/**
 * A Compose project's top-level `networks`, `volumes`, `configs` and
 * `secrets`, as gitdock's resources: engine names as Compose gives them
 * (`<project>_<key>`, an explicit `name:`, an external name as is) and
 * settings in the model's canonical form.
 */
import { canonicalJson, sha256 } from '../core/spec-hash.js';
import type { DesiredNetwork, DesiredVolume } from '../core/types.js';
import {
  CONFIG_FIELDS,
  checkFields,
  IPAM_CONFIG_FIELDS,
  IPAM_FIELDS,
  NETWORK_FIELDS,
  SECRET_FIELDS,
  type Severity,
  VOLUME_FIELDS,
} from './field-support.js';
import { asBool, isRecord, mapOrListEntries, scalarText, sortedRecord } from './units.js';

/** Reports a problem at a JSON path of the project's model. */
export type Report = (severity: Severity, path: (string | number)[], message: string) => void;

/** The network every service joins when it names none: Compose's `<project>_default`. */
export const DEFAULT_NETWORK = 'default';

/** Resolves `external: true` and the legacy `external: { name }`. */
function externalOf(def: Record<string, unknown>): { external: boolean; legacyName?: string } {
  const ext = def.external;
  if (isRecord(ext)) {
    const legacyName = typeof ext.name === 'string' ? ext.name : undefined;
    return { external: true, ...(legacyName !== undefined ? { legacyName } : {}) };
  }
  return { external: asBool(ext) === true };
}

/** Compose's engine name of a top-level network or volume. */
function engineName(project: string, key: string, def: Record<string, unknown>): string {
  const { external, legacyName } = externalOf(def);
  if (typeof def.name === 'string') return def.name;
  if (external) return legacyName ?? key;
  return `${project}_${key}`;
}

function userLabels(value: unknown, path: (string | number)[], report: Report) {
  const entries = mapOrListEntries(value);
  if (!entries) {
    report('error', path, `${path.join('.')}: expected a map of strings or a list of KEY=value`);
    return {};
  }
  for (const [k] of entries) {
    if (k.startsWith('io.gitdock.')) {
      report('error', [...path, k], `label "${k}": the io.gitdock. prefix is reserved for gitdock`);
    }
  }
  return sortedRecord(entries.filter(([k]) => !k.startsWith('io.gitdock.')));
}

function stringMap(value: unknown, path: (string | number)[], report: Report) {
  if (value === undefined || value === null) return undefined;
  const entries = mapOrListEntries(value);
  if (!entries) {
    report('error', path, `${path.join('.')}: expected a map of strings`);
    return undefined;
  }
  return entries.length > 0 ? sortedRecord(entries) : undefined;
}

/**
 * Every network of the project by key, `default` included (implicit unless
 * declared). Only the ones services join are kept by the caller.
 */
export function resolveNetworks(
  project: string,
  model: Record<string, unknown>,
  report: Report,
): Map<string, DesiredNetwork> {
  const out = new Map<string, DesiredNetwork>();
  const declared = isRecord(model.networks) ? model.networks : {};
  if (model.networks !== undefined && model.networks !== null && !isRecord(model.networks)) {
    report('error', ['networks'], 'networks: expected a map of network definitions');
  }
  const keys = new Set([DEFAULT_NETWORK, ...Object.keys(declared)]);
  for (const key of keys) {
    const raw = declared[key];
    const def = isRecord(raw) ? raw : {};
    const path = ['networks', key];
    if (raw !== undefined && raw !== null && !isRecord(raw)) {
      report('error', path, `networks.${key}: expected a map of settings or nothing`);
    }
    checkFields(def, NETWORK_FIELDS, path, report);
    const { external } = externalOf(def);
    if (asBool(def.enable_ipv4) === false) {
      report(
        'error',
        [...path, 'enable_ipv4'],
        `networks.${key}.enable_ipv4: false needs engine API 1.47; gitdock supports 1.41`,
      );
    }
    if (external) {
      for (const k of [
        'driver',
        'driver_opts',
        'internal',
        'attachable',
        'enable_ipv6',
        'ipam',
        'labels',
      ]) {
        if (def[k] !== undefined) {
          report(
            'warning',
            [...path, k],
            `networks.${key}.${k} is ignored: the network is external, gitdock never creates or changes it`,
          );
        }
      }
    }
    const settings = external
      ? {}
      : {
          ...(typeof def.driver === 'string' ? { driver: def.driver } : {}),
          ...optionalMap(
            'driverOpts',
            stringMap(def.driver_opts, [...path, 'driver_opts'], report),
          ),
          ...(asBool(def.internal) === true ? { internal: true as const } : {}),
          ...(asBool(def.attachable) === true ? { attachable: true as const } : {}),
          ...(asBool(def.enable_ipv6) === true ? { enableIpv6: true as const } : {}),
          ...optionalIpam(def.ipam, [...path, 'ipam'], report),
        };
    const labels = external ? {} : userLabels(def.labels, [...path, 'labels'], report);
    const network: DesiredNetwork = {
      name: engineName(project, key, def),
      project,
      key,
      external,
      ...settings,
      labels,
      specHash: sha256(canonicalJson({ external, ...settings, labels })),
    };
    out.set(key, network);
  }
  return out;
}

function optionalMap<K extends string>(key: K, value: Record<string, string> | undefined) {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: Record<string, string> };
}

function optionalIpam(
  value: unknown,
  path: (string | number)[],
  report: Report,
): { ipam?: DesiredNetwork['ipam'] } {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) {
    report('error', path, `${path.join('.')}: expected a map`);
    return {};
  }
  checkFields(value, IPAM_FIELDS, path, report);
  const ipam: NonNullable<DesiredNetwork['ipam']> = {};
  if (typeof value.driver === 'string') ipam.driver = value.driver;
  if (Array.isArray(value.config)) {
    ipam.config = value.config.map((entry, i) => {
      const p = [...path, 'config', i];
      if (!isRecord(entry)) {
        report(
          'error',
          p,
          `${p.join('.')}: expected a map with subnet, ip_range, gateway, aux_addresses`,
        );
        return {};
      }
      checkFields(entry, IPAM_CONFIG_FIELDS, p, report);
      const aux = stringMap(entry.aux_addresses, [...p, 'aux_addresses'], report);
      return {
        ...(typeof entry.subnet === 'string' ? { subnet: entry.subnet } : {}),
        ...(typeof entry.ip_range === 'string' ? { ipRange: entry.ip_range } : {}),
        ...(typeof entry.gateway === 'string' ? { gateway: entry.gateway } : {}),
        ...(aux ? { auxAddresses: aux } : {}),
      };
    });
  } else if (value.config !== undefined) {
    report('error', [...path, 'config'], `${path.join('.')}.config: expected a list`);
  }
  const options = stringMap(value.options, [...path, 'options'], report);
  if (options) ipam.options = options;
  return Object.keys(ipam).length > 0 ? { ipam } : {};
}

/** Every declared volume of the project by key; the caller keeps the ones services use. */
export function resolveVolumes(
  project: string,
  model: Record<string, unknown>,
  report: Report,
): Map<string, DesiredVolume> {
  const out = new Map<string, DesiredVolume>();
  if (model.volumes === undefined || model.volumes === null) return out;
  if (!isRecord(model.volumes)) {
    report('error', ['volumes'], 'volumes: expected a map of volume definitions');
    return out;
  }
  for (const [key, raw] of Object.entries(model.volumes)) {
    const path = ['volumes', key];
    const def = isRecord(raw) ? raw : {};
    if (raw !== undefined && raw !== null && !isRecord(raw)) {
      report('error', path, `volumes.${key}: expected a map of settings or nothing`);
    }
    checkFields(def, VOLUME_FIELDS, path, report);
    const { external } = externalOf(def);
    if (external) {
      for (const k of ['driver', 'driver_opts', 'labels']) {
        if (def[k] !== undefined) {
          report(
            'warning',
            [...path, k],
            `volumes.${key}.${k} is ignored: the volume is external, gitdock never creates or changes it`,
          );
        }
      }
    }
    out.set(key, {
      name: engineName(project, key, def),
      project,
      key,
      external,
      ...(!external && typeof def.driver === 'string' ? { driver: def.driver } : {}),
      ...(!external
        ? optionalMap('driverOpts', stringMap(def.driver_opts, [...path, 'driver_opts'], report))
        : {}),
      labels: external ? {} : userLabels(def.labels, [...path, 'labels'], report),
    });
  }
  return out;
}

/** A top-level config or secret that a service may mount. */
export type FileSource =
  /** A repo path (the loader rebased it) or, when absolute, a path on the host. */
  | { kind: 'file'; path: string }
  /** Inline `content:`. */
  | { kind: 'content'; content: string };

/**
 * Every usable config (`section` = `configs`) or secret (`secrets`) by key.
 * External ones (Swarm objects) and `environment:` sources are reported,
 * and left out.
 */
export function resolveFileSources(
  section: 'configs' | 'secrets',
  model: Record<string, unknown>,
  report: Report,
): Map<string, FileSource> {
  const out = new Map<string, FileSource>();
  const top = model[section];
  if (top === undefined || top === null) return out;
  if (!isRecord(top)) {
    report('error', [section], `${section}: expected a map of ${section} definitions`);
    return out;
  }
  for (const [key, raw] of Object.entries(top)) {
    const path = [section, key];
    const where = `${section}.${key}`;
    if (!isRecord(raw)) {
      report('error', path, `${where}: expected a map with file, content or environment`);
      continue;
    }
    checkFields(raw, section === 'configs' ? CONFIG_FIELDS : SECRET_FIELDS, path, report);
    if (externalOf(raw).external) {
      report(
        'error',
        [...path, 'external'],
        `${where}: external ${section} are Swarm objects and do not exist on a single engine; use file: or content:`,
      );
      continue;
    }
    const content = scalarText(raw.content);
    if (typeof raw.file === 'string') out.set(key, { kind: 'file', path: raw.file });
    else if (content !== undefined) out.set(key, { kind: 'content', content });
    else if (raw.environment !== undefined) {
      // The value of the variable is not part of the loaded model.
      report(
        'error',
        [...path, 'environment'],
        `${where}.environment is not supported yet; use file: (or content: "\${VAR}")`,
      );
    } else report('error', path, `${where}: expected one of file, content or environment`);
  }
  return out;
}
