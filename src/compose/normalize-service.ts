/**
 * One Compose service -> gitdock's `ContainerSpec`, `RolloutPolicy` and
 * dependencies, with the Compose specification as the authority for what
 * each field means (docker compose v2 where the spec is silent). Every
 * optional spec field is set only when the service sets it, so a spec that
 * leaves a field out hashes as it did before the field existed.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { DEFAULTS } from '../core/normalize.js';
import { splitShellWords } from '../core/shell-words.js';
import type {
  ContainerSpec,
  DesiredNetwork,
  DesiredVolume,
  DeviceMapping,
  HealthcheckSpec,
  Mount,
  PortBinding,
  RepoFile,
  RolloutPolicy,
  ServiceNetwork,
} from '../core/types.js';
import { healthGateMs } from '../reconcile/wait-until-up.js';
import {
  checkFields,
  DEPENDS_ON_FIELDS,
  DEPLOY_FIELDS,
  DEPLOY_RESOURCES_FIELDS,
  HEALTHCHECK_FIELDS,
  MOUNT_BIND_FIELDS,
  MOUNT_FIELDS,
  MOUNT_TMPFS_FIELDS,
  MOUNT_VOLUME_FIELDS,
  PORT_FIELDS,
  RESOURCE_LIMITS_FIELDS,
  RESOURCE_RESERVATIONS_FIELDS,
  RESTART_POLICY_FIELDS,
  SERVICE_FIELDS,
  SERVICE_FILE_FIELDS,
  SERVICE_GITDOCK_FIELDS,
  SERVICE_NETWORK_FIELDS,
  UPDATE_FIELDS,
} from './field-support.js';
import type { FileSource, Report } from './normalize-resources.js';
import {
  asBool,
  isRecord,
  mapOrListEntries,
  parseByteSize,
  parseComposeDuration,
  parseCpus,
  parseInteger,
  parseMemorySize,
  scalarText,
  sortedRecord,
  stringOrList,
} from './units.js';

export type DependencyCondition =
  | 'service_started'
  | 'service_healthy'
  | 'service_completed_successfully';

/** What a service needs to know about the rest of its project. */
export interface ServiceContext {
  project: string;
  /** Repo directory of the project: relative binds that are not repo files are host data under it. */
  projectDir: string;
  files: ReadonlyMap<string, Uint8Array>;
  /** gitdock.yaml `hosts.<host>.projects.<project>.dir`: host data then gets absolute paths under it. */
  hostProjectDir?: string;
  /** Every network of the project (`default` included), by key. */
  networks: ReadonlyMap<string, DesiredNetwork>;
  volumes: ReadonlyMap<string, DesiredVolume>;
  configs: ReadonlyMap<string, FileSource>;
  secrets: ReadonlyMap<string, FileSource>;
  /** The top-level `configs`/`secrets` keys declared, usable or not (to tell undefined from reported). */
  declaredFiles: { configs: ReadonlySet<string>; secrets: ReadonlySet<string> };
  /** Container name of replica 1 of every service that runs (profiles on), by key. */
  containerNames: ReadonlyMap<string, string>;
  /** Every service key of the project, running or not. */
  declaredServices: ReadonlySet<string>;
  report: Report;
}

export interface NormalizedComposeService {
  spec: ContainerSpec;
  rollout: RolloutPolicy;
  /** Service keys of the project this one needs started first (sorted). */
  dependsOn: string[];
  /** Non-default `depends_on` conditions, by service key. */
  conditions: Record<string, DependencyCondition>;
  repoFiles: RepoFile[];
  /** Keys of the project's networks and volumes the service uses. */
  networkKeys: string[];
  volumeKeys: string[];
}

type Path = (string | number)[];

/** `deploy.replicas` / `scale` (Compose: distinct values are an error); 1 when neither is set. */
export function replicaCount(
  key: string,
  service: Record<string, unknown>,
  report: Report,
): number {
  const deploy = isRecord(service.deploy) ? service.deploy : {};
  const scale = service.scale === undefined ? undefined : parseInteger(service.scale);
  const replicas = deploy.replicas === undefined ? undefined : parseInteger(deploy.replicas);
  const base: Path = ['services', key];
  if (service.scale !== undefined && (scale === undefined || scale < 0)) {
    report(
      'error',
      [...base, 'scale'],
      `services.${key}.scale: expected a whole number of containers, 0 or more`,
    );
  }
  if (deploy.replicas !== undefined && (replicas === undefined || replicas < 0)) {
    report(
      'error',
      [...base, 'deploy', 'replicas'],
      `services.${key}.deploy.replicas: expected a whole number of containers, 0 or more`,
    );
  }
  if (scale !== undefined && replicas !== undefined && scale !== replicas) {
    report(
      'error',
      [...base, 'scale'],
      `services.${key}: can't set distinct values on 'scale' and 'deploy.replicas' (as Compose)`,
    );
  }
  const n = replicas ?? scale ?? 1;
  return n >= 0 ? n : 1;
}

/** The container name of replica `n` (1-based): `container_name`, else Compose v2's `<project>-<service>-<n>`. */
export function containerNameOf(
  project: string,
  key: string,
  service: Record<string, unknown>,
  n: number,
): string {
  return typeof service.container_name === 'string'
    ? service.container_name
    : `${project}-${key}-${n}`;
}

/** Normalizes one running service of a project. Problems go to `ctx.report`. */
export function normalizeComposeService(
  key: string,
  service: Record<string, unknown>,
  ctx: ServiceContext,
): NormalizedComposeService {
  const base: Path = ['services', key];
  const name = `services.${key}`;
  const report = ctx.report;
  const fail = (path: Path, message: string) =>
    report('error', [...base, ...path], `${name}.${message}`);
  const warn = (path: Path, message: string) =>
    report('warning', [...base, ...path], `${name}.${message}`);
  checkFields(service, SERVICE_FIELDS, base, report);

  const deps = new Set<string>();
  const refs = serviceReferences(key, ctx, deps, fail);

  const image = normalizeImage(key, service, report);
  const mounts = normalizeMounts(service.volumes, base, ctx, report);
  const tmpfs = normalizeTmpfs(service.tmpfs, base, report);
  const configs = normalizeServiceFiles('configs', service.configs, base, ctx, report);
  const secrets = normalizeServiceFiles('secrets', service.secrets, base, ctx, report);
  const volumes = [...mounts.mounts, ...tmpfs, ...configs.mounts, ...secrets.mounts];
  checkDuplicateTargets(volumes, fail);

  const ports = normalizePorts(service.ports, base, report);
  const exposed = normalizeExpose(service.expose, base, report).filter(
    (e) => !ports.some((p) => p.containerPort === e.containerPort && p.protocol === e.protocol),
  );
  const network = normalizeNetworking(key, service, ctx, refs, fail, warn);
  const allPorts = dedupePorts([...ports, ...exposed]);
  checkNetworkModeConflicts(service, network.networkMode, allPorts, fail, warn);

  const depends = normalizeDependsOn(key, service.depends_on, ctx, fail, warn);
  for (const d of depends.keys) deps.add(d);
  const resources = normalizeResources(service, fail, warn);

  const spec: ContainerSpec = {
    image: image.image,
    ...opt('tag', image.tag),
    ...opt('digest', image.digest),
    ...opt('command', argv(service.command, 'command', fail)),
    ...opt('entrypoint', argv(service.entrypoint, 'entrypoint', fail)),
    environment: normalizeEnvironment(service.environment, fail),
    ports: allPorts,
    volumes,
    ...opt('networkMode', network.networkMode),
    ...flag('privileged', service.privileged, fail),
    restart: normalizeRestart(service, fail, warn) ?? DEFAULTS.restart,
    ...opt('healthcheck', normalizeHealthcheck(service.healthcheck, base, report)),
    labels: normalizeLabels(service.labels, fail),
    ...opt('user', normalizeUser(service.user, fail)),
    ...opt('workingDir', normalizeWorkingDir(service.working_dir, fail)),
    stopGracePeriodMs:
      service.stop_grace_period === undefined
        ? DEFAULTS.stopGracePeriodMs
        : (durationOf(service.stop_grace_period, ['stop_grace_period'], fail) ??
          DEFAULTS.stopGracePeriodMs),
    ...opt('hostname', text(service.hostname, 'hostname', fail)),
    ...opt('domainname', text(service.domainname, 'domainname', fail)),
    ...opt('containerName', normalizeContainerName(service.container_name, fail)),
    ...opt('capAdd', list(service.cap_add, 'cap_add', fail)),
    ...opt('capDrop', list(service.cap_drop, 'cap_drop', fail)),
    ...opt('securityOpt', list(service.security_opt, 'security_opt', fail)),
    ...opt('devices', normalizeDevices(service.devices, fail)),
    ...opt('sysctls', stringRecord(service.sysctls, 'sysctls', fail)),
    ...opt('ulimits', normalizeUlimits(service.ulimits, fail)),
    ...opt('pidsLimit', resources.pidsLimit),
    ...opt('shmSizeBytes', bytes(service.shm_size, ['shm_size'], fail)),
    ...flag('init', service.init, fail),
    ...flag('tty', service.tty, fail),
    ...flag('stdinOpen', service.stdin_open, fail, 'stdin_open'),
    ...opt('stopSignal', text(service.stop_signal, 'stop_signal', fail)),
    ...opt('logging', normalizeLogging(service.logging, fail)),
    ...opt('dns', list(service.dns, 'dns', fail)),
    ...opt('dnsSearch', list(service.dns_search, 'dns_search', fail)),
    ...opt('dnsOpt', list(service.dns_opt, 'dns_opt', fail)),
    ...opt('extraHosts', normalizeExtraHosts(service.extra_hosts, fail)),
    ...opt('memLimitBytes', resources.memLimitBytes),
    ...opt('memReservationBytes', resources.memReservationBytes),
    ...opt('memSwapLimitBytes', resources.memSwapLimitBytes),
    ...opt('nanoCpus', resources.nanoCpus),
    ...opt('cpuShares', integer(service.cpu_shares, ['cpu_shares'], fail)),
    ...opt('cpusetCpus', text(service.cpuset, 'cpuset', fail)),
    ...flag('readOnly', service.read_only, fail, 'read_only'),
    ...opt('pid', refs.namespace(service.pid, 'pid')),
    ...opt('ipc', refs.namespace(service.ipc, 'ipc')),
    ...opt('platform', text(service.platform, 'platform', fail)),
    ...opt('groupAdd', list(service.group_add, 'group_add', fail)),
    ...opt('oomScoreAdj', normalizeOomScoreAdj(service.oom_score_adj, fail)),
    ...opt(
      'links',
      nonEmpty([...refs.links(service.links), ...externalLinks(service.external_links, fail)]),
    ),
    ...opt('volumesFrom', nonEmpty(refs.volumesFrom(service.volumes_from))),
    ...opt('networks', network.networks),
    ...opt('macAddress', text(service.mac_address, 'mac_address', fail)),
  };
  const rollout = normalizeRollout(service, allPorts, spec.healthcheck, fail);
  deps.delete(key);
  return {
    spec,
    rollout,
    dependsOn: [...deps].sort(),
    conditions: depends.conditions,
    repoFiles: [...mounts.repoFiles, ...configs.repoFiles, ...secrets.repoFiles],
    networkKeys: network.keys,
    volumeKeys: mounts.volumeKeys,
  };
}

type Fail = (path: Path, message: string) => void;

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function nonEmpty<T>(items: T[]): T[] | undefined {
  return items.length > 0 ? items : undefined;
}

/** A boolean field set only when true (`false` is the engine's default). */
function flag<K extends string>(
  key: K,
  value: unknown,
  fail: Fail,
  field: string = key,
): { [P in K]?: true } {
  if (value === undefined || value === null) return {};
  const b = asBool(value);
  if (b === undefined) {
    fail([field], `${field}: expected true or false, got ${JSON.stringify(value)}`);
    return {};
  }
  return (b ? { [key]: true } : {}) as { [P in K]?: true };
}

function text(value: unknown, field: string, fail: Fail): string | undefined {
  if (value === undefined || value === null) return undefined;
  const t = scalarText(value);
  if (t === undefined) fail([field], `${field}: expected a string`);
  return t;
}

function list(value: unknown, field: string, fail: Fail): string[] | undefined {
  const items = stringOrList(value);
  if (items === undefined && value !== undefined && value !== null) {
    fail([field], `${field}: expected a string or a list of strings`);
  }
  return items && items.length > 0 ? items : undefined;
}

function integer(value: unknown, path: Path, fail: Fail): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = parseInteger(value);
  if (n === undefined)
    fail(path, `${path.join('.')}: expected a whole number, got ${JSON.stringify(value)}`);
  return n;
}

function bytes(value: unknown, path: Path, fail: Fail): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = parseByteSize(value);
  if (n === undefined) {
    fail(
      path,
      `${path.join('.')}: expected a byte size such as 512m, 1g or 1.5gb, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function durationOf(value: unknown, path: Path, fail: Fail): number | undefined {
  const ms = parseComposeDuration(value);
  if (ms === undefined) {
    fail(
      path,
      `${path.join('.')}: expected a duration such as 10s, 1m30s or 500ms, got ${JSON.stringify(value)}`,
    );
  }
  return ms;
}

function stringRecord(
  value: unknown,
  field: string,
  fail: Fail,
): Record<string, string> | undefined {
  const entries = mapOrListEntries(value);
  if (!entries) {
    fail([field], `${field}: expected a map or a list of KEY=value`);
    return undefined;
  }
  return entries.length > 0 ? sortedRecord(entries) : undefined;
}

// --- image ---------------------------------------------------------------

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPO_PATTERN = new RegExp(
  `^(?:(?:localhost|[a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)+|[a-zA-Z0-9-]+:[0-9]+|[a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)+:[0-9]+|\\[[0-9a-fA-F:]+\\](?::[0-9]+)?)/)?${COMPONENT}(?:/${COMPONENT})*$`,
);
const TAG_PATTERN = /^[\w][\w.-]{0,127}$/;
const DIGEST_PATTERN =
  /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}|[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,})$/;

/** `repo[:tag][@digest]` split as docker splits it; no tag and no digest means `latest`. */
export function splitImage(
  ref: string,
): { image: string; tag?: string; digest?: string } | undefined {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/') && !rest.endsWith(']')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (!REPO_PATTERN.test(rest)) return undefined;
  if (tag !== undefined && !TAG_PATTERN.test(tag)) return undefined;
  if (digest !== undefined && !DIGEST_PATTERN.test(digest)) return undefined;
  return {
    image: rest,
    ...(tag !== undefined || digest === undefined ? { tag: tag ?? 'latest' } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

function normalizeImage(key: string, service: Record<string, unknown>, report: Report) {
  const base: Path = ['services', key];
  const hasBuild = service.build !== undefined && service.build !== null;
  if (typeof service.image !== 'string') {
    if (service.image !== undefined) {
      report(
        'error',
        [...base, 'image'],
        `services.${key}.image: expected an image reference such as registry.example/app:1.2`,
      );
    } else if (hasBuild) {
      report(
        'error',
        [...base, 'build'],
        `services.${key}.build without image: gitdock deploys images and does not build them; build and push the image in CI and set image: to its reference`,
      );
    } else {
      report('error', base, `services.${key}: has neither an image nor a build; set image:`);
    }
    return { image: '' };
  }
  const split = splitImage(service.image);
  if (!split) {
    report(
      'error',
      [...base, 'image'],
      `services.${key}.image: "${service.image}" is not a valid image reference; expected [registry/]name[:tag][@sha256:<64 hex>], name in lowercase`,
    );
    return { image: service.image };
  }
  if (hasBuild) {
    report(
      'note',
      [...base, 'build'],
      `services.${key}.build is not run by gitdock: it deploys the image "${service.image}" as CI built and pushed it`,
    );
  }
  return split;
}

// --- command, environment, labels, user ----------------------------------

/** Compose's `command`/`entrypoint`: a string is split into shell words; `""` and `[]` clear the image's. */
function argv(value: unknown, field: string, fail: Fail): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    const words = splitShellWords(value);
    if (!words) fail([field], `${field}: unterminated quote in ${JSON.stringify(value)}`);
    return words ?? [];
  }
  if (Array.isArray(value)) {
    const items = value.map(scalarText);
    if (items.every((i) => i !== undefined)) return items as string[];
  }
  fail([field], `${field}: expected a string or a list of strings`);
  return undefined;
}

function normalizeEnvironment(value: unknown, fail: Fail): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) {
    fail(['environment'], 'environment: expected a map of strings');
    return {};
  }
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(value)) {
    const t = scalarText(v);
    if (t === undefined) {
      // Compose would take it from the shell that runs it; an agent has none.
      fail(
        ['environment', k],
        `environment.${k} has no value; give it one (or define ${k} in the project's .env or the host's env file)`,
      );
    } else if (t.includes('\0')) {
      fail(
        ['environment', k],
        `environment.${k}: the value contains a NUL character, which the engine refuses`,
      );
    } else out.push([k, t]);
  }
  return sortedRecord(out);
}

const RESERVED_LABEL_PREFIXES = ['io.gitdock.', 'com.docker.compose.'];

function normalizeLabels(value: unknown, fail: Fail): Record<string, string> {
  const entries = mapOrListEntries(value);
  if (!entries) {
    fail(['labels'], 'labels: expected a map of strings or a list of KEY=value');
    return {};
  }
  const out: [string, string][] = [];
  for (const [k, v] of entries) {
    const reserved = RESERVED_LABEL_PREFIXES.find((p) => k.startsWith(p));
    if (reserved)
      fail(
        ['labels', k],
        `labels: "${k}": the ${reserved} prefix is reserved (gitdock tells its containers from Compose's by these labels)`,
      );
    else out.push([k, v]);
  }
  return sortedRecord(out);
}

function normalizeUser(value: unknown, fail: Fail): string | undefined {
  const user = text(value, 'user', fail);
  if (
    user !== undefined &&
    !/^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/.test(user)
  ) {
    fail(['user'], `user: "${user}" is not a user; expected name, uid, name:group or uid:gid`);
    return undefined;
  }
  return user;
}

function normalizeWorkingDir(value: unknown, fail: Fail): string | undefined {
  const dir = text(value, 'working_dir', fail);
  if (dir !== undefined && !dir.startsWith('/')) {
    fail(
      ['working_dir'],
      `working_dir: "${dir}" must be an absolute path in the container (the engine refuses others)`,
    );
  }
  return dir;
}

const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function normalizeContainerName(value: unknown, fail: Fail): string | undefined {
  const n = text(value, 'container_name', fail);
  if (n !== undefined && !CONTAINER_NAME.test(n)) {
    fail(
      ['container_name'],
      `container_name: "${n}" is not a valid container name; expected [a-zA-Z0-9][a-zA-Z0-9_.-]+`,
    );
  }
  return n;
}

function normalizeOomScoreAdj(value: unknown, fail: Fail): number | undefined {
  const n = integer(value, ['oom_score_adj'], fail);
  if (n !== undefined && (n < -1000 || n > 1000)) {
    fail(['oom_score_adj'], `oom_score_adj: ${n} is out of range; expected -1000 to 1000`);
  }
  return n;
}

// --- restart, healthcheck, rollout ---------------------------------------

const RESTART = /^(no|always|unless-stopped|on-failure(:[0-9]+)?)$/;

function normalizeRestart(
  service: Record<string, unknown>,
  fail: Fail,
  warn: Fail,
): string | undefined {
  const deploy = isRecord(service.deploy) ? service.deploy : undefined;
  const policy = deploy && isRecord(deploy.restart_policy) ? deploy.restart_policy : undefined;
  if (policy) {
    checkFields(policy, RESTART_POLICY_FIELDS, [], (severity, path, message) =>
      (severity === 'error' ? fail : warn)(
        ['deploy', 'restart_policy', ...path],
        `deploy.restart_policy.${message}`,
      ),
    );
  }
  if (service.restart !== undefined && service.restart !== null) {
    // YAML 1.1 reads a bare `no` as false; Compose accepts it as "no".
    const r = asBool(service.restart) === false ? 'no' : scalarText(service.restart);
    if (r === undefined || !RESTART.test(r)) {
      fail(
        ['restart'],
        `restart: expected no, always, unless-stopped, on-failure or on-failure:N, got ${JSON.stringify(service.restart)}`,
      );
      return undefined;
    }
    return r;
  }
  // Compose v2 uses deploy.restart_policy when `restart` is not set.
  if (!policy) return undefined;
  const attempts = integer(policy.max_attempts, ['deploy', 'restart_policy', 'max_attempts'], fail);
  switch (policy.condition ?? 'any') {
    case 'none':
      return 'no';
    case 'any':
      return 'always';
    case 'on-failure':
      return attempts ? `on-failure:${attempts}` : 'on-failure';
    default:
      fail(
        ['deploy', 'restart_policy', 'condition'],
        'deploy.restart_policy.condition: expected none, on-failure or any',
      );
      return undefined;
  }
}

function normalizeHealthcheck(
  value: unknown,
  base: Path,
  report: Report,
): HealthcheckSpec | undefined {
  if (value === undefined || value === null) return undefined;
  const path = [...base, 'healthcheck'];
  const where = `${base.join('.')}.healthcheck`;
  if (!isRecord(value)) {
    report('error', path, `${where}: expected a map`);
    return undefined;
  }
  checkFields(value, HEALTHCHECK_FIELDS, path, report);
  const fail: Fail = (p, message) => report('error', [...path, ...p], `${where}.${message}`);
  if (asBool(value.disable) === true) return { test: ['NONE'] };
  let test: string[] | undefined;
  if (typeof value.test === 'string') test = ['CMD-SHELL', value.test];
  else if (Array.isArray(value.test)) {
    const items = value.test.map(scalarText);
    if (
      items.length === 0 ||
      !['CMD', 'CMD-SHELL', 'NONE'].includes(items[0] ?? '') ||
      items.some((i) => i === undefined)
    ) {
      fail(
        ['test'],
        'test: a list must start with "CMD", "CMD-SHELL" or "NONE" (as Compose requires)',
      );
    } else if (items.length === 1 && items[0] !== 'NONE') {
      // dockerd 20.10 panics (and takes every container's health checks down with it) on this.
      fail(
        ['test'],
        `test: a command must follow "${items[0]}"; to turn the image's check off, use disable: true`,
      );
    } else test = items as string[];
  } else if (value.test !== undefined) fail(['test'], 'test: expected a string or a list');
  const ms = (field: string) =>
    value[field] === undefined ? undefined : durationOf(value[field], [field], fail);
  const retries = integer(value.retries, ['retries'], fail);
  const spec: HealthcheckSpec = {
    ...opt('test', test),
    ...opt('intervalMs', ms('interval')),
    ...opt('timeoutMs', ms('timeout')),
    ...opt('retries', retries),
    ...opt('startPeriodMs', ms('start_period')),
  };
  return Object.keys(spec).length > 0 ? spec : undefined;
}

function normalizeRollout(
  service: Record<string, unknown>,
  ports: PortBinding[],
  healthcheck: HealthcheckSpec | undefined,
  fail: Fail,
): RolloutPolicy {
  const x = isRecord(service['x-gitdock']) ? service['x-gitdock'] : {};
  checkFields(x, SERVICE_GITDOCK_FIELDS, [], (_s, path, message) =>
    fail(['x-gitdock', ...path], `x-gitdock.${message}`),
  );
  const update = isRecord(x.update) ? x.update : {};
  checkFields(update, UPDATE_FIELDS, [], (_s, path, message) =>
    fail(['x-gitdock', 'update', ...path], `x-gitdock.update.${message}`),
  );
  const order = update.order ?? DEFAULTS.order;
  if (order !== 'stop-first' && order !== 'start-first') {
    fail(
      ['x-gitdock', 'update', 'order'],
      'x-gitdock.update.order: expected stop-first or start-first',
    );
  }
  if (
    order === 'start-first' &&
    ports.some((p) => p.hostPort !== undefined && p.hostPort > 0 && p.hostPortEnd === undefined)
  ) {
    fail(
      ['x-gitdock', 'update', 'order'],
      'x-gitdock.update.order: start-first cannot work with a fixed host port (old and new container would both need it); use stop-first',
    );
  }
  const ms = (field: string, fallback: number) =>
    update[field] === undefined
      ? fallback
      : (durationOf(update[field], ['x-gitdock', 'update', field], fail) ?? fallback);
  let pull: 'missing' | 'always' | undefined;
  if (x.pull !== undefined) {
    if (x.pull === 'missing' || x.pull === 'always') pull = x.pull;
    else fail(['x-gitdock', 'pull'], 'x-gitdock.pull: expected missing or always');
  }
  const fromPolicy = pullPolicy(service.pull_policy, fail);
  if (pull !== undefined && fromPolicy !== undefined && pull !== fromPolicy) {
    fail(
      ['pull_policy'],
      `pull_policy: says ${fromPolicy} but x-gitdock.pull says ${pull}; keep one`,
    );
  }
  return {
    order: order === 'start-first' ? 'start-first' : 'stop-first',
    settleMs: ms('settle', DEFAULTS.settleMs),
    // Without a health_timeout of its own, the gate lasts as long as the healthcheck can take.
    healthTimeoutMs: ms('health_timeout', healthGateMs(DEFAULTS.healthTimeoutMs, healthcheck)),
    pull: pull ?? fromPolicy ?? DEFAULTS.pull,
  };
}

function pullPolicy(value: unknown, fail: Fail): 'missing' | 'always' | undefined {
  switch (value) {
    case undefined:
    case null:
      return undefined;
    case 'always':
      return 'always';
    case 'missing':
    case 'if_not_present':
      return 'missing';
    case 'never':
    case 'build':
      fail(
        ['pull_policy'],
        `pull_policy: ${value} is not supported: gitdock deploys images from a registry; use always or missing`,
      );
      return undefined;
    default:
      fail(
        ['pull_policy'],
        `pull_policy: ${JSON.stringify(value)} is not supported; use always, missing or if_not_present`,
      );
      return undefined;
  }
}

// --- resources -----------------------------------------------------------

interface Resources {
  memLimitBytes?: number;
  memReservationBytes?: number;
  memSwapLimitBytes?: number;
  nanoCpus?: number;
  pidsLimit?: number;
}

/**
 * `mem_limit`/`cpus`/`pids_limit`/`mem_reservation` and their
 * `deploy.resources` twins. Compose v2 applies both outside Swarm and
 * refuses distinct values for one setting (compose-go checkConsistency),
 * so "which wins" never arises: equal values, or only one set.
 */
function normalizeResources(service: Record<string, unknown>, fail: Fail, warn: Fail): Resources {
  const deploy = isRecord(service.deploy) ? service.deploy : undefined;
  if (service.deploy !== undefined && service.deploy !== null && !deploy)
    fail(['deploy'], 'deploy: expected a map');
  if (deploy) {
    checkFields(deploy, DEPLOY_FIELDS, ['deploy'], (s, p, m) =>
      (s === 'error' ? fail : warn)(p, m),
    );
    if (deploy.mode !== undefined && deploy.mode !== 'replicated') {
      // Global is one container per node; one engine is one node, so the
      // service runs once (as real files meant for Swarm and Compose expect).
      if (deploy.mode === 'global') {
        const n = parseInteger(deploy.replicas ?? service.scale ?? 1);
        if (n !== 1)
          fail(
            ['deploy', 'mode'],
            'deploy.mode: global runs one container per node, so it cannot have replicas or scale other than 1; remove them or use mode: replicated',
          );
        else
          warn(
            ['deploy', 'mode'],
            'deploy.mode: global is a Swarm mode (one container per node); on one engine the service runs once',
          );
      } else
        fail(
          ['deploy', 'mode'],
          `deploy.mode: ${JSON.stringify(deploy.mode)} is a Swarm mode; gitdock runs replicated services only`,
        );
    }
  }
  const res = deploy && isRecord(deploy.resources) ? deploy.resources : {};
  checkFields(res, DEPLOY_RESOURCES_FIELDS, ['deploy', 'resources'], (_s, p, m) => fail(p, m));
  const limits = isRecord(res.limits) ? res.limits : {};
  const reservations = isRecord(res.reservations) ? res.reservations : {};
  checkFields(limits, RESOURCE_LIMITS_FIELDS, ['deploy', 'resources', 'limits'], (_s, p, m) =>
    fail(p, m),
  );
  checkFields(
    reservations,
    RESOURCE_RESERVATIONS_FIELDS,
    ['deploy', 'resources', 'reservations'],
    (s, p, m) => (s === 'error' ? fail : warn)(p, m),
  );

  const pair = (
    field: string,
    value: unknown,
    deployField: string,
    deployValue: unknown,
    parse: (v: unknown) => number | undefined,
    expected: string,
  ): number | undefined => {
    const parsed = (v: unknown, path: Path) => {
      if (v === undefined || v === null) return undefined;
      const n = parse(v);
      if (n === undefined)
        fail(path, `${path.join('.')}: expected ${expected}, got ${JSON.stringify(v)}`);
      return n;
    };
    const a = parsed(value, [field]);
    const b = parsed(deployValue, deployField.split('.'));
    if (a !== undefined && b !== undefined && a !== b) {
      fail(
        [field],
        `${field}: can't set distinct values on '${field}' and '${deployField}' (as Compose); keep one`,
      );
    }
    return b ?? a;
  };
  const size = 'a byte size such as 512m or 1g';
  const out: Resources = {
    ...opt(
      'memLimitBytes',
      pair(
        'mem_limit',
        service.mem_limit,
        'deploy.resources.limits.memory',
        limits.memory,
        parseByteSize,
        size,
      ),
    ),
    ...opt(
      'memReservationBytes',
      pair(
        'mem_reservation',
        service.mem_reservation,
        'deploy.resources.reservations.memory',
        reservations.memory,
        parseByteSize,
        size,
      ),
    ),
    ...opt(
      'memSwapLimitBytes',
      pair(
        'memswap_limit',
        service.memswap_limit,
        'memswap_limit',
        undefined,
        parseMemorySize,
        `${size}, or -1`,
      ),
    ),
    ...opt(
      'nanoCpus',
      pair(
        'cpus',
        service.cpus,
        'deploy.resources.limits.cpus',
        limits.cpus,
        parseCpus,
        'a number of CPUs such as 0.5',
      ),
    ),
    ...opt(
      'pidsLimit',
      pair(
        'pids_limit',
        service.pids_limit,
        'deploy.resources.limits.pids',
        limits.pids,
        parseInteger,
        'a whole number',
      ),
    ),
  };
  checkMemory(out, fail);
  return out;
}

/** What the engine refuses about memory settings, said before apply. */
function checkMemory(r: Resources, fail: Fail) {
  const MIN = 6 * 1024 * 1024;
  if (r.memLimitBytes !== undefined && r.memLimitBytes > 0 && r.memLimitBytes < MIN) {
    fail(['mem_limit'], 'mem_limit: the engine refuses a memory limit under 6m');
  }
  if (r.memSwapLimitBytes !== undefined && r.memSwapLimitBytes !== -1) {
    if (r.memLimitBytes === undefined) {
      fail(
        ['memswap_limit'],
        'memswap_limit: needs mem_limit too (the engine refuses a swap limit alone)',
      );
    } else if (r.memSwapLimitBytes < r.memLimitBytes) {
      fail(
        ['memswap_limit'],
        'memswap_limit: must be at least mem_limit (it counts memory plus swap)',
      );
    }
  }
  if (
    r.memReservationBytes !== undefined &&
    r.memLimitBytes !== undefined &&
    r.memReservationBytes > r.memLimitBytes
  ) {
    fail(['mem_reservation'], 'mem_reservation: must not be above the memory limit');
  }
}

// --- small fields --------------------------------------------------------

function normalizeDevices(value: unknown, fail: Fail): DeviceMapping[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    fail(['devices'], 'devices: expected a list');
    return undefined;
  }
  const out: DeviceMapping[] = [];
  value.forEach((entry, i) => {
    let host: string | undefined;
    let container: string | undefined;
    let perms: string | undefined;
    if (typeof entry === 'string') {
      const parts = entry.split(':');
      if (parts.length === 2 && /^[rwm]+$/.test(parts[1]!)) [host, perms] = parts;
      else [host, container, perms] = parts;
      if (parts.length > 3) host = undefined;
    } else if (isRecord(entry)) {
      host = scalarText(entry.source);
      container = scalarText(entry.target);
      perms = scalarText(entry.permissions);
    }
    if (host !== undefined && !host.startsWith('/') && host.includes('=')) {
      fail(
        ['devices', i],
        `devices[${i}]: CDI device "${host}" needs engine API 1.44; gitdock supports 1.41`,
      );
      return;
    }
    if (!host?.startsWith('/') || (container !== undefined && !container.startsWith('/'))) {
      fail(
        ['devices', i],
        `devices[${i}]: expected /dev/host[:/dev/container[:rwm]] with absolute paths, got ${JSON.stringify(entry)}`,
      );
      return;
    }
    if (perms !== undefined && !/^[rwm]{1,3}$/.test(perms)) {
      fail(['devices', i], `devices[${i}]: permissions "${perms}" must be made of r, w and m`);
      return;
    }
    out.push({
      pathOnHost: host,
      pathInContainer: container ?? host,
      ...(perms !== undefined && perms !== 'rwm' ? { cgroupPermissions: perms } : {}),
    });
  });
  return nonEmpty(out);
}

function normalizeUlimits(value: unknown, fail: Fail) {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) {
    fail(['ulimits'], 'ulimits: expected a map of name: number or name: {soft, hard}');
    return undefined;
  }
  const out: [string, { soft: number; hard: number }][] = [];
  for (const [k, v] of Object.entries(value)) {
    const single = parseInteger(v);
    const soft = isRecord(v) ? parseInteger(v.soft) : single;
    const hard = isRecord(v) ? parseInteger(v.hard) : single;
    if (soft === undefined || hard === undefined) {
      fail(['ulimits', k], `ulimits.${k}: expected a number or {soft, hard} with whole numbers`);
    } else if (soft > hard && hard !== -1) {
      fail(['ulimits', k], `ulimits.${k}: soft limit ${soft} is above hard limit ${hard}`);
    } else out.push([k, { soft, hard }]);
  }
  return out.length > 0 ? sortedRecord(out) : undefined;
}

function normalizeLogging(value: unknown, fail: Fail) {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) {
    fail(['logging'], 'logging: expected a map with driver and options');
    return undefined;
  }
  for (const k of Object.keys(value)) {
    if (k !== 'driver' && k !== 'options' && !k.startsWith('x-'))
      fail(['logging', k], `logging.${k}: unknown field; expected driver or options`);
  }
  const driver = text(value.driver, 'logging.driver', fail);
  const options =
    value.options === undefined || value.options === null
      ? undefined
      : stringRecord(value.options, 'logging.options', fail);
  const out = { ...opt('driver', driver), ...opt('options', options) };
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `host:ip`, `host=ip` and the map form, IPv6 in brackets or not, as the engine's `host:ip`. */
function normalizeExtraHosts(value: unknown, fail: Fail): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const pairs: [string, string, Path][] = [];
  if (Array.isArray(value)) {
    value.forEach((entry, i) => {
      const t = scalarText(entry) ?? '';
      const eq = t.indexOf('=');
      const colon = t.indexOf(':');
      const at = eq !== -1 ? eq : colon;
      if (at <= 0)
        fail(
          ['extra_hosts', i],
          `extra_hosts[${i}]: expected host=ip or host:ip, got ${JSON.stringify(entry)}`,
        );
      else pairs.push([t.slice(0, at), t.slice(at + 1), ['extra_hosts', i]]);
    });
  } else if (isRecord(value)) {
    for (const [host, ips] of Object.entries(value)) {
      for (const ip of stringOrList(ips) ?? []) pairs.push([host, ip, ['extra_hosts', host]]);
    }
  } else fail(['extra_hosts'], 'extra_hosts: expected a list or a map');
  const out: string[] = [];
  for (const [host, rawIp, path] of pairs) {
    const ip = /^\[.*\]$/.test(rawIp) ? rawIp.slice(1, -1) : rawIp;
    if (ip === '' || /\s/.test(ip) || /\s/.test(host))
      fail(path, `extra_hosts: "${host}" needs an IP address`);
    else out.push(`${host}:${ip}`);
  }
  return nonEmpty(out);
}

function externalLinks(value: unknown, fail: Fail): string[] {
  const items = value === undefined || value === null ? [] : stringOrList(value);
  if (!items) {
    fail(['external_links'], 'external_links: expected a list of container[:alias]');
    return [];
  }
  return items.map((l) => {
    const [container, alias] = l.split(':');
    return `${container}:${alias ?? container}`;
  });
}

function dedupePorts(ports: PortBinding[]): PortBinding[] {
  const seen = new Set<string>();
  return ports.filter((p) => {
    const k = JSON.stringify([p.containerPort, p.protocol, p.hostPort, p.hostPortEnd, p.hostIp]);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function checkDuplicateTargets(mounts: Mount[], fail: Fail) {
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.target))
      fail(
        ['volumes'],
        `volumes: two mounts target "${m.target}" (the engine refuses duplicate mount points)`,
      );
    seen.add(m.target);
  }
}

// --- references to other services ---------------------------------------

/**
 * Resolves `service:X` in `network_mode`, `pid`, `ipc`, `links` and
 * `volumes_from` to the container name of X, adding X to `deps` (Compose
 * starts X first).
 */
function serviceReferences(key: string, ctx: ServiceContext, deps: Set<string>, fail: Fail) {
  const containerOf = (target: string, path: Path, what: string): string | undefined => {
    const name = ctx.containerNames.get(target);
    if (name === undefined || target === key) {
      const why =
        target === key
          ? 'itself'
          : ctx.declaredServices.has(target)
            ? `"${target}", which does not run here (its profiles are off)`
            : `"${target}", which is not a service of project ${ctx.project}`;
      fail(path, `${what} refers to ${why}`);
      return undefined;
    }
    deps.add(target);
    return name;
  };
  return {
    containerOf,
    namespace(value: unknown, field: 'pid' | 'ipc'): string | undefined {
      const t = text(value, field, fail);
      if (t?.startsWith('service:')) {
        const name = containerOf(t.slice('service:'.length), [field], `${field}: ${t}`);
        return name === undefined ? undefined : `container:${name}`;
      }
      return t;
    },
    links(value: unknown): string[] {
      if (value === undefined || value === null) return [];
      const items = stringOrList(value);
      if (!items) {
        fail(['links'], 'links: expected a list of service[:alias]');
        return [];
      }
      return items.flatMap((l, i) => {
        const [svc = '', alias] = l.split(':');
        const name = containerOf(svc, ['links', i], `links[${i}]`);
        return name === undefined ? [] : [`${name}:${alias ?? svc}`];
      });
    },
    volumesFrom(value: unknown): string[] {
      if (value === undefined || value === null) return [];
      const items = stringOrList(value);
      if (!items) {
        fail(
          ['volumes_from'],
          'volumes_from: expected a list of service[:ro] or container:name[:ro]',
        );
        return [];
      }
      return items.flatMap((entry, i) => {
        const isContainer = entry.startsWith('container:');
        const parts = (isContainer ? entry.slice('container:'.length) : entry).split(':');
        const [target = '', mode] = parts;
        if (parts.length > 2 || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
          fail(
            ['volumes_from', i],
            `volumes_from[${i}]: expected service[:ro|:rw] or container:name[:ro|:rw], got "${entry}"`,
          );
          return [];
        }
        const name = isContainer
          ? target
          : containerOf(target, ['volumes_from', i], `volumes_from[${i}]`);
        if (name === undefined) return [];
        return [mode === 'ro' ? `${name}:ro` : name];
      });
    },
  };
}

type References = ReturnType<typeof serviceReferences>;

function normalizeNetworking(
  key: string,
  service: Record<string, unknown>,
  ctx: ServiceContext,
  refs: References,
  fail: Fail,
  warn: Fail,
): { networkMode?: string; networks?: ServiceNetwork[]; keys: string[] } {
  const mode = service.network_mode;
  if (mode !== undefined && mode !== null) {
    if (service.networks !== undefined && service.networks !== null) {
      fail(['networks'], 'networks: cannot be used with network_mode (as in Compose); keep one');
    }
    if (typeof mode !== 'string') {
      fail(['network_mode'], 'network_mode: expected a string');
      return { keys: [] };
    }
    if (mode === 'host' || mode === 'none' || mode === 'bridge')
      return { networkMode: mode, keys: [] };
    if (mode.startsWith('service:')) {
      const name = refs.containerOf(
        mode.slice('service:'.length),
        ['network_mode'],
        `network_mode: ${mode}`,
      );
      return name === undefined ? { keys: [] } : { networkMode: `container:${name}`, keys: [] };
    }
    if (mode.startsWith('container:') && mode.length > 'container:'.length)
      return { networkMode: mode, keys: [] };
    fail(
      ['network_mode'],
      `network_mode: "${mode}" is not supported; expected host, none, bridge, service:NAME or container:NAME (to join a network, use networks:)`,
    );
    return { keys: [] };
  }
  const entries: [string, unknown, Path][] = [];
  const value = service.networks;
  if (value === undefined || value === null) entries.push(['default', null, ['networks']]);
  else if (Array.isArray(value))
    value.forEach((n, i) => {
      entries.push([String(n), null, ['networks', i]]);
    });
  else if (isRecord(value))
    for (const [k, v] of Object.entries(value)) entries.push([k, v, ['networks', k]]);
  else fail(['networks'], 'networks: expected a list of network names or a map');
  const out: ServiceNetwork[] = [];
  const keys: string[] = [];
  for (const [netKey, settings, path] of entries) {
    const network = ctx.networks.get(netKey);
    if (!network) {
      fail(path, `networks: "${netKey}" is not declared under the top-level networks:`);
      continue;
    }
    keys.push(netKey);
    const s = isRecord(settings) ? settings : {};
    if (settings !== null && settings !== undefined && !isRecord(settings)) {
      fail(path, `networks.${netKey}: expected a map of settings or nothing`);
    }
    checkFields(s, SERVICE_NETWORK_FIELDS, [], (sev, p, m) =>
      (sev === 'error' ? fail : warn)([...path, ...p], `networks.${netKey}.${m}`),
    );
    const aliases = stringOrList(s.aliases) ?? [];
    // Compose v2 adds the service name as an alias on every network it joins,
    // which is how `DB_HOST=db` finds the container.
    const allAliases = [...new Set([key, ...aliases])];
    const priority = integer(s.priority, [...path, 'priority'], fail);
    const linkLocal = stringOrList(s.link_local_ips);
    out.push({
      name: network.name,
      aliases: allAliases,
      ...opt('ipv4Address', scalarText(s.ipv4_address)),
      ...opt('ipv6Address', scalarText(s.ipv6_address)),
      ...opt('priority', priority),
      ...opt('macAddress', scalarText(s.mac_address)),
      ...opt('linkLocalIps', linkLocal && linkLocal.length > 0 ? linkLocal : undefined),
    });
  }
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { networks: out, keys };
}

/** What the engine refuses (or drops) next to some network modes, found before apply. */
function checkNetworkModeConflicts(
  service: Record<string, unknown>,
  networkMode: string | undefined,
  ports: PortBinding[],
  fail: Fail,
  warn: Fail,
) {
  if (networkMode === undefined) return;
  const published = ports.some((p) => p.hostPort !== undefined);
  if (networkMode === 'none' && published) {
    fail(
      ['ports'],
      'ports: with network_mode none there is no network to publish on; the engine would ignore them. Remove ports or the network_mode',
    );
  }
  if (networkMode === 'host' && published) {
    warn(
      ['ports'],
      'ports: ignored by the engine with network_mode host (the container uses the host ports directly)',
    );
  }
  if (networkMode.startsWith('container:')) {
    const conflicts = [
      'ports',
      'expose',
      'hostname',
      'dns',
      'dns_search',
      'dns_opt',
      'extra_hosts',
      'mac_address',
      'links',
    ].filter((f) => service[f] !== undefined && service[f] !== null);
    for (const f of conflicts) {
      fail(
        [f],
        `${f}: cannot be set when the container shares another container's network (network_mode ${String(service.network_mode)}); the engine refuses it`,
      );
    }
  }
}

function normalizeDependsOn(
  key: string,
  value: unknown,
  ctx: ServiceContext,
  fail: Fail,
  warn: Fail,
): { keys: string[]; conditions: Record<string, DependencyCondition> } {
  const keys: string[] = [];
  const conditions: Record<string, DependencyCondition> = {};
  if (value === undefined || value === null) return { keys, conditions };
  const entries: [string, Record<string, unknown>, Path][] = [];
  if (Array.isArray(value))
    value.forEach((d, i) => {
      entries.push([String(d), {}, ['depends_on', i]]);
    });
  else if (isRecord(value)) {
    for (const [d, v] of Object.entries(value))
      entries.push([d, isRecord(v) ? v : {}, ['depends_on', d]]);
  } else {
    fail(['depends_on'], 'depends_on: expected a list of services or a map');
    return { keys, conditions };
  }
  for (const [dep, settings, path] of entries) {
    checkFields(settings, DEPENDS_ON_FIELDS, [], (sev, p, m) =>
      (sev === 'error' ? fail : warn)([...path, ...p], `depends_on.${dep}.${m}`),
    );
    const condition = settings.condition ?? 'service_started';
    if (
      condition !== 'service_started' &&
      condition !== 'service_healthy' &&
      condition !== 'service_completed_successfully'
    ) {
      fail(
        [...path, 'condition'],
        `depends_on.${dep}.condition: expected service_started, service_healthy or service_completed_successfully`,
      );
      continue;
    }
    const required = asBool(settings.required) !== false;
    if (dep === key) {
      fail(path, `depends_on: a service cannot depend on itself`);
      continue;
    }
    if (!ctx.containerNames.has(dep)) {
      if (!ctx.declaredServices.has(dep))
        fail(path, `depends_on: "${dep}" is not a service of project ${ctx.project}`);
      else if (required) {
        fail(
          path,
          `depends_on: "${dep}" does not run on this host (its profiles are off); turn one of its profiles on, or set required: false`,
        );
      }
      continue;
    }
    keys.push(dep);
    if (condition !== 'service_started') conditions[dep] = condition;
  }
  return { keys, conditions };
}

// --- ports ---------------------------------------------------------------

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** `80` or `8000-8002` as the list of ports, or undefined. */
function portRange(text: string): number[] | undefined {
  const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(text);
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (!isPort(from) || !isPort(to) || to < from) return undefined;
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^[0-9]{1,3}$/.test(p) && Number(p) <= 255);
}

function isIPv6(text: string): boolean {
  return text.includes(':') && /^[0-9a-fA-F:.]+$/.test(text);
}

function protocolOf(text: string | undefined): 'tcp' | 'udp' | string {
  return (text ?? 'tcp').toLowerCase();
}

/** Pairs container ports with host ports as docker does for `H1-H2:C1-C2`; an error text otherwise. */
function expandPorts(
  container: number[],
  host: number[] | undefined,
  protocol: 'tcp' | 'udp',
  hostIp: string | undefined,
): PortBinding[] | string {
  const ip = hostIp === undefined || hostIp === '' ? {} : { hostIp };
  if (host === undefined)
    return container.map((c) => ({ containerPort: c, protocol, hostPort: 0, ...ip }));
  if (host.length === container.length) {
    return container.map((c, i) => ({ containerPort: c, protocol, hostPort: host[i]!, ...ip }));
  }
  if (container.length === 1) {
    // One container port, a host range: the engine binds a free port of the range.
    return [
      {
        containerPort: container[0]!,
        protocol,
        hostPort: host[0]!,
        hostPortEnd: host.at(-1)!,
        ...ip,
      },
    ];
  }
  return `the host range has ${host.length} ports and the container range ${container.length}; they must match`;
}

const PORT_HELP =
  'expected "80", "8080:80", "8000-8002:80-82", "127.0.0.1:8080:80", "127.0.0.1::80" or "[::1]:8080:80", optionally with /tcp or /udp';

function parseShortPort(spec: string): PortBinding[] | string {
  const [address = '', protocolText, ...extra] = spec.split('/');
  const protocol = protocolOf(protocolText);
  if (extra.length > 0 || (protocol !== 'tcp' && protocol !== 'udp')) {
    return protocol === 'sctp' ? 'sctp ports are not supported; use tcp or udp' : PORT_HELP;
  }
  let hostIp: string | undefined;
  let withAddress = false;
  let parts: string[];
  if (address.startsWith('[')) {
    const end = address.indexOf(']:');
    if (end === -1) return PORT_HELP;
    hostIp = address.slice(1, end);
    parts = address.slice(end + 2).split(':');
    if (parts.length !== 2 || !isIPv6(hostIp)) return PORT_HELP;
  } else {
    parts = address.split(':');
    if (parts.length > 3) return `${PORT_HELP} (put an IPv6 address in brackets)`;
    if (parts.length === 3) {
      const ip = parts.shift()!;
      // An empty address means every interface, as for `docker run -p`: real
      // files write `${HTTPS_BIND:-}:443:443` and leave the variable empty.
      if (ip !== '' && !isIPv4(ip)) return `"${ip}" is not an IPv4 address; ${PORT_HELP}`;
      hostIp = ip === '' ? undefined : ip;
      withAddress = true;
    }
  }
  const container = portRange(parts.at(-1) ?? '');
  const hostText = parts.length === 2 ? parts[0]! : '';
  if (parts.length === 2 && hostText === '' && !withAddress && hostIp === undefined)
    return PORT_HELP;
  const host = hostText === '' ? undefined : portRange(hostText);
  if (!container || (hostText !== '' && !host)) return `${PORT_HELP}; ports 1 to 65535`;
  return expandPorts(container, host, protocol, hostIp);
}

function parseLongPort(entry: Record<string, unknown>): PortBinding[] | string {
  const target = parseInteger(entry.target);
  if (target === undefined || !isPort(target))
    return 'target: expected a container port, 1 to 65535';
  const protocol = protocolOf(scalarText(entry.protocol));
  if (protocol !== 'tcp' && protocol !== 'udp')
    return `protocol: ${protocol} is not supported; use tcp or udp`;
  const publishedText = scalarText(entry.published);
  const host =
    publishedText === undefined || publishedText === '' ? undefined : portRange(publishedText);
  if (publishedText !== undefined && publishedText !== '' && !host) {
    return `published: "${publishedText}" is not a port or a port range, 1 to 65535`;
  }
  let hostIp = scalarText(entry.host_ip);
  if (hostIp?.startsWith('[') && hostIp.endsWith(']')) hostIp = hostIp.slice(1, -1);
  if (hostIp !== undefined && !isIPv4(hostIp) && !isIPv6(hostIp))
    return `host_ip: "${hostIp}" is not an IP address`;
  return expandPorts([target], host, protocol, hostIp);
}

/** Compose `ports` (short and long forms, ranges, host IPs, UDP). */
export function normalizePorts(value: unknown, base: Path, report: Report): PortBinding[] {
  if (value === undefined || value === null) return [];
  const where = `${base.join('.')}.ports`;
  if (!Array.isArray(value)) {
    report('error', [...base, 'ports'], `${where}: expected a list`);
    return [];
  }
  return value.flatMap((entry, i) => {
    const path = [...base, 'ports', i];
    let result: PortBinding[] | string;
    if (typeof entry === 'number') {
      result = isPort(entry) ? [{ containerPort: entry, protocol: 'tcp', hostPort: 0 }] : PORT_HELP;
    } else if (typeof entry === 'string') result = parseShortPort(entry);
    else if (isRecord(entry)) {
      checkFields(entry, PORT_FIELDS, path, report);
      result = parseLongPort(entry);
    } else result = PORT_HELP;
    if (typeof result === 'string') {
      report('error', path, `${where}[${i}]: ${JSON.stringify(entry)}: ${result}`);
      return [];
    }
    return result;
  });
}

/** Compose `expose`: ports the container exposes without publishing them. */
export function normalizeExpose(value: unknown, base: Path, report: Report): PortBinding[] {
  if (value === undefined || value === null) return [];
  const where = `${base.join('.')}.expose`;
  const items = Array.isArray(value) ? value : undefined;
  if (!items) {
    report('error', [...base, 'expose'], `${where}: expected a list`);
    return [];
  }
  return items.flatMap((entry, i) => {
    const [portText = '', protocolText, ...extra] = (scalarText(entry) ?? '').split('/');
    const protocol = protocolOf(protocolText);
    const ports = portRange(portText);
    if (!ports || extra.length > 0 || (protocol !== 'tcp' && protocol !== 'udp')) {
      report(
        'error',
        [...base, 'expose', i],
        `${where}[${i}]: ${JSON.stringify(entry)}: expected "80", "80/udp" or "3000-3005"`,
      );
      return [];
    }
    return ports.map((p) => ({ containerPort: p, protocol }));
  });
}

// --- mounts --------------------------------------------------------------

const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'] as const;

/** Files that only keep an empty directory in git: such a directory is host data, not content. */
const PLACEHOLDERS = new Set(['.gitkeep', '.keep', '.gitignore']);

function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The repo file or directory at `repoPath`, as a mount's `repoFile` and the
 * files to write. A directory's hash covers its sorted relative paths and
 * contents (each as `path NUL length NUL bytes`), so renaming a file changes
 * it too. Undefined when nothing but git placeholders is there.
 */
export function repoContent(
  repoPath: string,
  files: ReadonlyMap<string, Uint8Array>,
): { repoFile: NonNullable<Mount['repoFile']>; repoFiles: RepoFile[] } | undefined {
  const file = files.get(repoPath);
  if (file) {
    const sha = sha256Hex(file);
    return {
      repoFile: { path: repoPath, sha256: sha, kind: 'file' },
      repoFiles: [{ mountSha256: sha, relativePath: '', bytes: file, mode: 0o644 }],
    };
  }
  const prefix = `${repoPath}/`;
  const entries = [...files]
    .filter(([p]) => p.startsWith(prefix))
    .map(([p, b]) => [p.slice(prefix.length), b] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.every(([p]) => PLACEHOLDERS.has(posix.basename(p)))) return undefined;
  const hash = createHash('sha256');
  for (const [p, b] of entries) {
    hash.update(p);
    hash.update(`\0${b.length}\0`);
    hash.update(b);
  }
  const sha = hash.digest('hex');
  return {
    repoFile: { path: repoPath, sha256: sha, kind: 'dir' },
    repoFiles: entries.map(([p, b]) => ({
      mountSha256: sha,
      relativePath: p,
      bytes: b,
      mode: 0o644,
    })),
  };
}

/** Compose `volumes` of a service (long form, as the loader gives them). */
export function normalizeMounts(
  value: unknown,
  base: Path,
  ctx: ServiceContext,
  report: Report,
): { mounts: Mount[]; repoFiles: RepoFile[]; volumeKeys: string[] } {
  const mounts: Mount[] = [];
  const repoFiles: RepoFile[] = [];
  const volumeKeys: string[] = [];
  if (value === undefined || value === null) return { mounts, repoFiles, volumeKeys };
  const where = `${base.join('.')}.volumes`;
  if (!Array.isArray(value)) {
    report('error', [...base, 'volumes'], `${where}: expected a list`);
    return { mounts, repoFiles, volumeKeys };
  }
  value.forEach((entry, i) => {
    const path = [...base, 'volumes', i];
    const at = `${where}[${i}]`;
    const fail = (message: string, sub: Path = []) =>
      report('error', [...path, ...sub], `${at}: ${message}`);
    if (!isRecord(entry)) {
      fail(`expected the long form {type, source, target}, got ${JSON.stringify(entry)}`);
      return;
    }
    checkFields(entry, MOUNT_FIELDS, path, report);
    const type = entry.type;
    const target = scalarText(entry.target);
    if (!target?.startsWith('/')) {
      fail(
        `target must be an absolute path in the container, got ${JSON.stringify(entry.target)}`,
        ['target'],
      );
      return;
    }
    for (const sub of ['bind', 'volume', 'tmpfs'] as const) {
      if (entry[sub] !== undefined && entry[sub] !== null && sub !== type) {
        fail(
          `${sub} options are only for type ${sub} (the engine refuses them on a ${String(type)} mount)`,
          [sub],
        );
      }
    }
    if (entry.read_only !== undefined && asBool(entry.read_only) === undefined) {
      fail('read_only: expected true or false', ['read_only']);
    }
    const mount: Mount = { type: 'bind', target, readOnly: asBool(entry.read_only) === true };
    const source = scalarText(entry.source);
    if (type === 'bind') {
      if (!source) {
        fail('a bind mount needs a source', ['source']);
        return;
      }
      if (entry['x-gitdock-repo-path'] === true) {
        const resolved = resolveRepoBind(source, ctx);
        if (typeof resolved === 'string') {
          fail(resolved, ['source']);
          return;
        }
        Object.assign(mount, resolved.mount);
        repoFiles.push(...resolved.repoFiles);
      } else if (source.startsWith('/')) mount.source = source;
      else {
        fail(
          `bind source "${source}" must be an absolute host path or relative to the project (./...)`,
          ['source'],
        );
        return;
      }
      Object.assign(mount, bindOptions(entry.bind, path, at, report));
    } else if (type === 'volume') {
      mount.type = 'volume';
      if (source) {
        const volume = ctx.volumes.get(source);
        if (!volume) {
          fail(
            `named volume "${source}" is not declared under the top-level volumes: (as Compose requires)`,
            ['source'],
          );
          return;
        }
        mount.source = volume.name;
        volumeKeys.push(source);
      }
      Object.assign(mount, volumeOptions(entry.volume, path, at, report));
    } else if (type === 'tmpfs') {
      mount.type = 'tmpfs';
      if (source) fail('a tmpfs mount takes no source', ['source']);
      Object.assign(mount, tmpfsOptions(entry.tmpfs, path, at, report));
    } else {
      const why: Record<string, string> = {
        npipe: 'is a Windows named pipe; gitdock runs Linux containers',
        cluster: 'is a Swarm cluster volume',
        image: 'needs engine API 1.48; gitdock supports 1.41',
      };
      fail(
        `type ${JSON.stringify(type)} ${why[String(type)] ?? 'is not a mount type; expected bind, volume or tmpfs'}`,
        ['type'],
      );
      return;
    }
    mounts.push(mount);
  });
  return { mounts, repoFiles, volumeKeys };
}

/** A relative bind (rebased to the repo): repo content if the repo has it, host data otherwise. */
function resolveRepoBind(
  source: string,
  ctx: ServiceContext,
): { mount: Partial<Mount>; repoFiles: RepoFile[] } | string {
  const content = repoContent(source, ctx.files);
  if (content) return { mount: { repoFile: content.repoFile }, repoFiles: content.repoFiles };
  const rel = posix.relative(ctx.projectDir, source);
  if (rel === '..' || rel.startsWith('../') || posix.isAbsolute(rel)) {
    return `"${source}" is not in the repo and is outside the project directory ${ctx.projectDir}: host data must stay under the project's directory`;
  }
  if (ctx.hostProjectDir !== undefined)
    return { mount: { source: posix.join(ctx.hostProjectDir, rel) }, repoFiles: [] };
  return { mount: { hostData: { project: ctx.project, path: rel } }, repoFiles: [] };
}

function bindOptions(value: unknown, path: Path, at: string, report: Report): Partial<Mount> {
  if (!isRecord(value)) return {};
  checkFields(value, MOUNT_BIND_FIELDS, [...path, 'bind'], report);
  const out: Partial<Mount> = {};
  const p = value.propagation;
  if (p !== undefined) {
    if (!PROPAGATIONS.includes(p as (typeof PROPAGATIONS)[number])) {
      report(
        'error',
        [...path, 'bind', 'propagation'],
        `${at}: bind.propagation: expected one of ${PROPAGATIONS.join(', ')}`,
      );
    } else if (p !== 'rprivate') out.propagation = p as Mount['propagation'];
  }
  if (value.selinux !== undefined) {
    if (value.selinux === 'z' || value.selinux === 'Z') out.selinux = value.selinux;
    else
      report(
        'error',
        [...path, 'bind', 'selinux'],
        `${at}: bind.selinux: expected z (shared) or Z (private)`,
      );
  }
  if (asBool(value.create_host_path) === false) out.noCreateHostPath = true;
  return out;
}

function volumeOptions(value: unknown, path: Path, at: string, report: Report): Partial<Mount> {
  if (!isRecord(value)) return {};
  checkFields(value, MOUNT_VOLUME_FIELDS, [...path, 'volume'], report);
  const out: Partial<Mount> = {};
  if (asBool(value.nocopy) === true) out.noCopy = true;
  if (value.subpath !== undefined) {
    const sub = scalarText(value.subpath);
    if (!sub || sub.startsWith('/') || sub.split('/').includes('..')) {
      report(
        'error',
        [...path, 'volume', 'subpath'],
        `${at}: volume.subpath: expected a relative path inside the volume`,
      );
    } else out.subpath = sub;
  }
  return out;
}

/** A tmpfs mode: a number is taken as written (`0o1777` in YAML), a string as octal text. */
function parseMode(value: unknown): number | undefined {
  if (typeof value === 'number')
    return Number.isInteger(value) && value >= 0 && value <= 0o7777 ? value : undefined;
  if (typeof value === 'string' && /^0?o?[0-7]{1,4}$/.test(value))
    return Number.parseInt(value.replace(/^0?o/, ''), 8);
  return undefined;
}

function tmpfsOptions(value: unknown, path: Path, at: string, report: Report): Partial<Mount> {
  if (!isRecord(value)) return {};
  checkFields(value, MOUNT_TMPFS_FIELDS, [...path, 'tmpfs'], report);
  const out: Partial<Mount> = {};
  if (value.size !== undefined) {
    const size = parseByteSize(value.size);
    if (size === undefined)
      report(
        'error',
        [...path, 'tmpfs', 'size'],
        `${at}: tmpfs.size: expected a byte size such as 64m`,
      );
    else out.tmpfsSize = size;
  }
  if (value.mode !== undefined) {
    const mode = parseMode(value.mode);
    if (mode === undefined)
      report(
        'error',
        [...path, 'tmpfs', 'mode'],
        `${at}: tmpfs.mode: expected permission bits such as 1777 (octal)`,
      );
    else out.tmpfsMode = mode;
  }
  return out;
}

/**
 * The service's `tmpfs:` field (`/run` or `/run:size=64m,mode=1777`) as
 * tmpfs mounts. Mount options the model cannot carry are errors, since
 * dropping `noexec` would change the container.
 */
export function normalizeTmpfs(value: unknown, base: Path, report: Report): Mount[] {
  if (value === undefined || value === null) return [];
  const items = stringOrList(value);
  const where = `${base.join('.')}.tmpfs`;
  if (!items) {
    report('error', [...base, 'tmpfs'], `${where}: expected a path or a list of paths`);
    return [];
  }
  return items.flatMap((item, i) => {
    const path = [...base, 'tmpfs', ...(Array.isArray(value) ? [i] : [])];
    const colon = item.indexOf(':');
    const target = colon === -1 ? item : item.slice(0, colon);
    const mount: Mount = { type: 'tmpfs', target, readOnly: false };
    if (!target.startsWith('/')) {
      report('error', path, `${where}: "${target}" must be an absolute path in the container`);
      return [];
    }
    const options = colon === -1 ? [] : item.slice(colon + 1).split(',');
    for (const option of options) {
      const [k = '', v] = option.split('=');
      if (k === 'size' && v !== undefined && parseByteSize(v) !== undefined)
        mount.tmpfsSize = parseByteSize(v);
      else if (k === 'mode' && v !== undefined && parseMode(v) !== undefined)
        mount.tmpfsMode = parseMode(v);
      else if (k === 'rw') continue;
      else if (k === 'ro') mount.readOnly = true;
      else {
        report(
          'error',
          path,
          `${where}: option "${option}" of "${item}" is not supported (only size=, mode=, rw and ro are)`,
        );
        return [];
      }
    }
    return [mount];
  });
}

/**
 * A service's `configs` or `secrets`, mounted as Compose mounts them without
 * Swarm: read-only files at `/<name>` (configs) or `/run/secrets/<name>`
 * (secrets), or at `target`.
 */
export function normalizeServiceFiles(
  section: 'configs' | 'secrets',
  value: unknown,
  base: Path,
  ctx: ServiceContext,
  report: Report,
): { mounts: Mount[]; repoFiles: RepoFile[] } {
  const mounts: Mount[] = [];
  const repoFiles: RepoFile[] = [];
  if (value === undefined || value === null) return { mounts, repoFiles };
  const where = `${base.join('.')}.${section}`;
  if (!Array.isArray(value)) {
    report('error', [...base, section], `${where}: expected a list`);
    return { mounts, repoFiles };
  }
  value.forEach((entry, i) => {
    const path = [...base, section, i];
    const at = `${where}[${i}]`;
    const long = isRecord(entry) ? entry : undefined;
    if (long) checkFields(long, SERVICE_FILE_FIELDS, path, report);
    const key = long ? scalarText(long.source) : scalarText(entry);
    if (!key) {
      report('error', path, `${at}: expected a name or {source, target}`);
      return;
    }
    const source = ctx[section].get(key);
    if (!source) {
      if (!ctx.declaredFiles[section].has(key)) {
        report('error', path, `${at}: "${key}" is not declared under the top-level ${section}:`);
      }
      return;
    }
    if (long && ['uid', 'gid', 'mode'].some((f) => long[f] !== undefined)) {
      report(
        'warning',
        path,
        `${at}: uid, gid and mode are ignored without Swarm (as Compose ignores them): the file is mounted read-only as it is in the repo`,
      );
    }
    const given = long ? scalarText(long.target) : undefined;
    const dir = section === 'configs' ? '/' : '/run/secrets/';
    const target =
      given === undefined ? `${dir}${key}` : given.startsWith('/') ? given : `${dir}${given}`;
    const mount: Mount = { type: 'bind', target, readOnly: true };
    if (source.kind === 'content') {
      const content = new TextEncoder().encode(source.content);
      const sha = sha256Hex(content);
      mount.repoFile = { path: `inline:${key}`, sha256: sha, kind: 'file' };
      repoFiles.push({ mountSha256: sha, relativePath: '', bytes: content, mode: 0o644 });
    } else if (source.path.startsWith('/')) mount.source = source.path;
    else {
      const content = repoContent(source.path, ctx.files);
      if (!content) {
        report(
          'error',
          path,
          `${at}: ${section}.${key}.file "${source.path}" is not in the repo at this revision`,
        );
        return;
      }
      mount.repoFile = content.repoFile;
      repoFiles.push(...content.repoFiles);
    }
    mounts.push(mount);
  });
  return { mounts, repoFiles };
}
