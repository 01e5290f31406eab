import { posix } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from './duration.js';
import type { ServiceManifest } from './schema.js';
import { splitShellWords } from './shell-words.js';
import type {
  ContainerSpec,
  HealthcheckSpec,
  ManifestError,
  Mount,
  PortBinding,
  Result,
  RolloutPolicy,
} from './types.js';
import type { YamlSource } from './yaml-source.js';

/** Defaults filled into every spec, so "unset" and "set to the default" hash the same. */
export const DEFAULTS = {
  restart: 'no',
  stopGracePeriodMs: 10_000,
  order: 'stop-first',
  settleMs: 2_000,
  healthTimeoutMs: 60_000,
  pull: 'missing',
} as const;

/** Roots under which `env_file` may point: they are read from git with the manifests. */
export const ENV_FILE_ROOTS = ['hosts/', 'services/'] as const;

/**
 * Env files larger than this are refused before they are decoded: a 30 MB
 * one cost the agent 290 MB of memory, on every reconcile.
 */
export const MAX_ENV_FILE_BYTES = 1024 * 1024;

export interface NormalizedService {
  spec: ContainerSpec;
  rollout: RolloutPolicy;
  dependsOn: string[];
}

/**
 * Expands a validated manifest into the canonical `ContainerSpec`: Compose
 * shorthands become one form, defaults are filled, `env_file`s are read
 * (through `readFile`, from the same revision) and merged under
 * `environment`.
 *
 * `text` is the manifest's source text: given, numbers and booleans written
 * as environment and label values keep the exact text of the file
 * (`123456789012345678` is not turned into `123456789012345680`, `1.0`
 * stays `1.0`), as the Compose front end keeps them.
 */
export function normalizeService(
  manifest: ServiceManifest,
  source: YamlSource,
  readFile: (repoPath: string) => Uint8Array | undefined,
  text?: string,
): Result<NormalizedService> {
  const errors: ManifestError[] = [];
  const scalarText = text === undefined ? undefined : scalarTextReader(text, source);
  /** `atKey`: point at the mapping key (a bad name) rather than its value. */
  const fail = (path: (string | number)[], message: string, atKey = false) => {
    const { line, column } = source.locate(path, atKey);
    errors.push({ file: source.file, line, column, path: pointer(path), message });
  };

  const argv = (field: 'command' | 'entrypoint'): string[] | undefined => {
    const value = manifest[field];
    if (value === undefined) return undefined;
    if (Array.isArray(value)) return [...value];
    const words = splitShellWords(value);
    if (!words) fail([field], `${field}: unterminated quote in ${JSON.stringify(value)}`);
    return words ?? [];
  };
  // Split now: a quoting error must be reported with the others, before the
  // error check below, not swallowed while the spec is built.
  const command = argv('command');
  const entrypoint = argv('entrypoint');

  const environment: Record<string, string> = {};
  for (const [index, envFile] of toList(manifest.env_file).entries()) {
    const path = [...(Array.isArray(manifest.env_file) ? ['env_file', index] : ['env_file'])];
    const repoPath = envFilePath(source.file, envFile);
    if (envFile.startsWith('/')) {
      // posix.join would quietly make it relative; env files come from the repo only.
      fail(
        path,
        `env_file "${envFile}" is absolute; expected a path relative to this manifest, inside hosts/ or services/`,
      );
      continue;
    }
    if (!ENV_FILE_ROOTS.some((root) => repoPath.startsWith(root))) {
      fail(path, `env_file "${envFile}" resolves to "${repoPath}", outside hosts/ and services/`);
      continue;
    }
    const bytes = readFile(repoPath);
    if (!bytes) {
      fail(path, `env_file "${envFile}" not found: no file "${repoPath}" at this revision`);
      continue;
    }
    if (bytes.byteLength > MAX_ENV_FILE_BYTES) {
      fail(
        path,
        `env_file "${repoPath}" is ${bytes.byteLength} bytes; env files are limited to ${MAX_ENV_FILE_BYTES} bytes (1 MiB)`,
      );
      continue;
    }
    const parsed = parseEnvFile(new TextDecoder().decode(bytes));
    for (const bad of parsed.badLines) {
      // The line number only: the line may hold a secret.
      fail(path, `env_file "${repoPath}" line ${bad}: expected KEY=value`);
    }
    for (const [key, value] of Object.entries(parsed.values)) {
      if (value.includes('\u0000') || key.includes('\u0000')) {
        fail(
          path,
          `env_file "${repoPath}": ${key.split('\u0000')[0]} holds a NUL character, which no process environment can carry`,
        );
      }
    }
    Object.assign(environment, parsed.values);
  }
  for (const [key, value, path] of entries(manifest.environment, 'environment', scalarText)) {
    if (value === undefined) {
      // Compose would pass the variable through from the shell; an agent has
      // no such shell, so the value must be in git.
      const hint = typeof path[1] === 'number' ? `${key}=` : `${key}: ""`;
      fail(
        path,
        `environment.${key} has no value; expected a value (write ${hint} for an empty string)`,
        true,
      );
    } else environment[key] = value;
  }

  const labels: Record<string, string> = {};
  for (const [key, value, path] of entries(manifest.labels, 'labels', scalarText)) {
    if (key.startsWith('io.gitdock.'))
      fail(
        path,
        `label "${key}": the io.gitdock. prefix is reserved for gitdock's own labels`,
        true,
      );
    else labels[key] = value ?? '';
  }

  const ports = (manifest.ports ?? []).map((p, i) =>
    toPort(p, (why) => fail(['ports', i], `ports[${i}]: ${why}`)),
  );
  checkDuplicatePorts(ports, (i, message) => fail(['ports', i], message));
  const volumes: Mount[] = [];
  const targets = new Map<string, number>();
  for (const [i, v] of (manifest.volumes ?? []).entries()) {
    const mount = toMount(v);
    if (mount.type === 'bind' && !mount.source?.startsWith('/')) {
      fail(
        ['volumes', i],
        `bind mount source "${mount.source}" must be an absolute path on the host`,
      );
    } else if (mount.type !== 'tmpfs' && !mount.source) {
      fail(['volumes', i], `${mount.type} mount needs a "source"`);
    }
    // The engine refuses two mounts on one target ("Duplicate mount point").
    const target = posix.normalize(mount.target).replace(/(.)\/+$/, '$1');
    const first = targets.get(target);
    if (first !== undefined) {
      fail(
        ['volumes', i],
        `volumes[${i}]: target ${target} is already mounted by volumes[${first}]; mount each container path once`,
      );
    } else targets.set(target, i);
    volumes.push(mount);
  }

  const dependsOn = Array.isArray(manifest.depends_on)
    ? [...manifest.depends_on]
    : Object.keys(manifest.depends_on ?? {});
  // `container:NAME` needs NAME's container running first, as Compose orders
  // `network_mode: service:NAME`.
  const peer = containerPeer(manifest.network_mode);
  if (peer !== undefined && !dependsOn.includes(peer)) dependsOn.push(peer);

  if (errors.length > 0) return { ok: false, errors };

  const spec: ContainerSpec = {
    image: manifest.image,
    ...(manifest.tag !== undefined ? { tag: manifest.tag } : {}),
    ...(manifest.digest !== undefined ? { digest: manifest.digest } : {}),
    ...optional('command', command),
    ...optional('entrypoint', entrypoint),
    environment: sortKeys(environment),
    ports,
    volumes,
    ...optional('networkMode', manifest.network_mode),
    ...(manifest.privileged === true ? { privileged: true as const } : {}),
    restart: manifest.restart ?? DEFAULTS.restart,
    ...optional('healthcheck', toHealthcheck(manifest.healthcheck)),
    labels: sortKeys(labels),
    ...optional('user', manifest.user),
    ...optional('workingDir', manifest.working_dir),
    stopGracePeriodMs:
      manifest.stop_grace_period === undefined
        ? DEFAULTS.stopGracePeriodMs
        : parseDuration(manifest.stop_grace_period),
  };
  const update = manifest.update ?? {};
  const rollout: RolloutPolicy = {
    order: update.order ?? DEFAULTS.order,
    settleMs: update.settle === undefined ? DEFAULTS.settleMs : parseDuration(update.settle),
    healthTimeoutMs:
      update.health_timeout === undefined
        ? DEFAULTS.healthTimeoutMs
        : parseDuration(update.health_timeout),
    pull: manifest.pull ?? DEFAULTS.pull,
  };
  return { ok: true, value: { spec, rollout, dependsOn } };
}

/** `repo:tag` or `repo@digest`: the reference that is pulled and recorded. */
export function imageReference(spec: Pick<ContainerSpec, 'image' | 'tag' | 'digest'>): string {
  return spec.digest ? `${spec.image}@${spec.digest}` : `${spec.image}:${spec.tag}`;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function toList(value: string | readonly string[] | undefined): string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : [...value];
}

/** The service whose container `network_mode: container:NAME` joins, if any. */
export function containerPeer(networkMode: string | undefined): string | undefined {
  return networkMode?.startsWith('container:') ? networkMode.slice('container:'.length) : undefined;
}

type MapOrList =
  | Readonly<Record<string, string | number | boolean | null>>
  | readonly string[]
  | undefined;

type ScalarText = (path: (string | number)[], value: number | boolean) => string | undefined;

/**
 * Reads the source text of an integer too large for a JavaScript number
 * (`123456789012345678` would become `...680`): the token at its position,
 * kept only when YAML reads that token as the same value (so an alias, tag
 * or anything unexpected falls back to the parsed value). Every other
 * number or boolean keeps the text it always had (`1.0` -> `1`,
 * `True` -> `true`), as does its spec hash: upgrading recreates nothing.
 */
function scalarTextReader(text: string, source: YamlSource): ScalarText {
  const lines = text.split('\n');
  return (path, value) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || Number.isSafeInteger(value))
      return undefined;
    const { line, column } = source.locate(path);
    const token = /^[^\s,\]}#]+/.exec(lines[line - 1]?.slice(column - 1) ?? '')?.[0];
    if (token === undefined) return undefined;
    try {
      const parsed: unknown = parseYaml(token, { version: '1.2' });
      return Object.is(parsed, value) ? token : undefined;
    } catch {
      return undefined;
    }
  };
}

/** Compose map-or-list fields as [key, value (undefined when absent), path]. */
function entries(
  value: MapOrList,
  field: string,
  scalarText?: ScalarText,
): [string, string | undefined, (string | number)[]][] {
  if (value === undefined) return [];
  if (Array.isArray(value)) {
    return value.map((item: string, i: number) => {
      const eq = item.indexOf('=');
      return eq === -1
        ? [item, undefined, [field, i]]
        : [item.slice(0, eq), item.slice(eq + 1), [field, i]];
    });
  }
  return Object.entries(value).map(([k, v]) => [
    k,
    v === null || v === undefined
      ? undefined
      : typeof v === 'string'
        ? v
        : (scalarText?.([field, k], v) ?? String(v)),
    [field, k],
  ]);
}

/** Two bindings of one host address, port and protocol: the engine refuses the second at start. */
function checkDuplicatePorts(
  ports: readonly PortBinding[],
  onError: (index: number, message: string) => void,
): void {
  const wildcard = (ip: string | undefined) => ip === undefined || ip === '0.0.0.0' || ip === '::';
  ports.forEach((p, i) => {
    if (p.hostPort === undefined) return;
    const first = ports.findIndex(
      (q, j) =>
        j < i &&
        q.hostPort === p.hostPort &&
        q.protocol === p.protocol &&
        (wildcard(q.hostIp) || wildcard(p.hostIp) || q.hostIp === p.hostIp),
    );
    if (first !== -1) {
      onError(
        i,
        `ports[${i}]: host port ${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}/${p.protocol} is already published by ports[${first}]; publish each host port once`,
      );
    }
  });
}

/**
 * The repo path an `env_file` entry names: relative to its manifest's
 * directory. Shared with `fleet-state.ts`, which must know every file a
 * service reads to say which changed files changed it.
 */
export function envFilePath(manifestFile: string, envFile: string): string {
  return posix.normalize(posix.join(posix.dirname(manifestFile), envFile));
}

/** `KEY=value` lines as Compose reads an env_file: `#` comments, optional quotes. */
export function parseEnvFile(text: string): { values: Record<string, string>; badLines: number[] } {
  const values: Record<string, string> = {};
  const badLines: number[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([^=\s]+)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      badLines.push(index + 1);
      return;
    }
    let value = m[2]!;
    const quoted = /^(['"])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2]!;
    else value = value.replace(/\s+#.*$/, '');
    values[m[1]!] = value;
  });
  return { values, badLines };
}

type PortInput = NonNullable<ServiceManifest['ports']>[number];

function toPort(input: PortInput, onError: (why: string) => void): PortBinding {
  if (typeof input === 'number') return { containerPort: input, protocol: 'tcp' };
  if (typeof input === 'object') {
    const hostPort = input.published === undefined ? undefined : Number(input.published);
    if (hostPort !== undefined && !isPort(hostPort)) {
      onError(`published port ${input.published} is out of range; expected 1 to 65535`);
    }
    return {
      containerPort: input.target,
      protocol: input.protocol ?? 'tcp',
      ...(hostPort !== undefined ? { hostPort } : {}),
      ...(input.host_ip !== undefined ? { hostIp: input.host_ip } : {}),
    };
  }
  // The schema's pattern admits some strings that are not ports ("80:80:80:80",
  // "8080:70000"), so parse exactly: C, H:C, IP:H:C or IP::C, IPv6 in brackets.
  const bad = () => {
    onError(
      `"${input}" is not a valid port; expected "80", "8080:80", "127.0.0.1:8080:80", ` +
        '"127.0.0.1::80" or "[::1]:8080:80", ports 1 to 65535, optionally with /tcp or /udp',
    );
    return { containerPort: 0, protocol: 'tcp' as const };
  };
  const [address = '', protocol = 'tcp'] = input.split('/');
  let hostIp: string | undefined;
  let ports = address;
  if (address.startsWith('[')) {
    const end = address.indexOf(']:');
    if (end === -1) return bad();
    hostIp = address.slice(1, end);
    ports = address.slice(end + 2);
    if (!/^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*$/.test(hostIp) || !ports.includes(':')) return bad();
  }
  const parts = ports.split(':');
  if (hostIp === undefined && parts.length === 3) {
    hostIp = parts.shift()!;
    if (!isIPv4(hostIp)) return bad();
  }
  if (parts.length > 2) return bad();
  const containerPort = Number(parts.at(-1));
  const hostPortText = parts.length === 2 ? parts[0]! : '';
  const hostPort = hostPortText === '' ? undefined : Number(hostPortText);
  if (parts.length === 2 && hostPortText === '' && hostIp === undefined) return bad();
  if (!isPort(containerPort) || (hostPort !== undefined && !isPort(hostPort))) return bad();
  return {
    containerPort,
    protocol: protocol as 'tcp' | 'udp',
    ...(hostPort !== undefined ? { hostPort } : {}),
    ...(hostIp !== undefined ? { hostIp } : {}),
  };
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^[0-9]{1,3}$/.test(p) && Number(p) <= 255);
}

type VolumeInput = NonNullable<ServiceManifest['volumes']>[number];

function toMount(input: VolumeInput): Mount {
  if (typeof input === 'object') {
    return {
      type: input.type,
      ...(input.source !== undefined ? { source: input.source } : {}),
      target: input.target,
      readOnly: input.read_only ?? false,
    };
  }
  const [source = '', target = '', mode] = input.split(':');
  const isPath = source.startsWith('/') || source.startsWith('.') || source.startsWith('~');
  return { type: isPath ? 'bind' : 'volume', source, target, readOnly: mode === 'ro' };
}

function toHealthcheck(input: ServiceManifest['healthcheck']): HealthcheckSpec | undefined {
  if (!input) return undefined;
  if (input.disable) return { test: ['NONE'] };
  const test =
    input.test === undefined
      ? undefined
      : typeof input.test === 'string'
        ? ['CMD-SHELL', input.test]
        : ['CMD', 'CMD-SHELL', 'NONE'].includes(input.test[0] ?? '')
          ? [...input.test]
          : ['CMD', ...input.test];
  return {
    ...(test ? { test } : {}),
    ...(input.interval ? { intervalMs: parseDuration(input.interval) } : {}),
    ...(input.timeout ? { timeoutMs: parseDuration(input.timeout) } : {}),
    ...(input.retries !== undefined ? { retries: input.retries } : {}),
    ...(input.start_period ? { startPeriodMs: parseDuration(input.start_period) } : {}),
  };
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

function pointer(path: (string | number)[]): string {
  return path.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}
