/**
 * What gitdock does with every field of the Compose specification, so that
 * nothing is dropped silently: each field a Compose file may set is either
 * mapped into the model, ignored with a warning (it has no effect on one
 * Docker engine, as in Compose), or an error (honouring it needs something
 * gitdock does not have: Swarm, an engine API newer than 1.41, or a model
 * field). A field that is in no table is unknown: an error.
 */

export type FieldSupport =
  | { status: 'supported' }
  | { status: 'warning'; message: string }
  | { status: 'error'; message: string };

const ok: FieldSupport = { status: 'supported' };
const warn = (message: string): FieldSupport => ({ status: 'warning', message });
const fail = (message: string): FieldSupport => ({ status: 'error', message });

const NO_MODEL_FIELD =
  'changes the container and gitdock cannot set it yet; remove it, or run this service outside gitdock';
const SWARM_ONLY = 'is a Swarm setting; gitdock runs containers on one engine, where it is ignored';
const LOADER_FIELD =
  'should have been resolved while loading the project; this is a gitdock bug if you see it';

/** Top-level keys of a Compose file. `x-*` keys are ignored, as Compose ignores them. */
export const PROJECT_FIELDS: Readonly<Record<string, FieldSupport>> = {
  name: ok,
  services: ok,
  networks: ok,
  volumes: ok,
  configs: ok,
  secrets: ok,
  'x-gitdock': ok,
  version: warn('is obsolete and ignored, as Compose ignores it'),
  include: fail(LOADER_FIELD),
  models: fail(`(AI models) ${NO_MODEL_FIELD}`),
};

/** Every field of a Compose service. */
export const SERVICE_FIELDS: Readonly<Record<string, FieldSupport>> = {
  image: ok,
  build: ok, // with `image`: a note; without: an error (normalize-service)
  command: ok,
  entrypoint: ok,
  environment: ok,
  labels: ok,
  ports: ok,
  expose: ok,
  volumes: ok,
  volumes_from: ok,
  tmpfs: ok,
  networks: ok,
  network_mode: ok,
  links: ok,
  external_links: ok,
  restart: ok,
  healthcheck: ok,
  depends_on: ok,
  user: ok,
  group_add: ok,
  working_dir: ok,
  hostname: ok,
  domainname: ok,
  container_name: ok,
  cap_add: ok,
  cap_drop: ok,
  privileged: ok,
  security_opt: ok,
  devices: ok,
  sysctls: ok,
  ulimits: ok,
  pids_limit: ok,
  shm_size: ok,
  init: ok,
  tty: ok,
  stdin_open: ok,
  stop_signal: ok,
  stop_grace_period: ok,
  logging: ok,
  dns: ok,
  dns_search: ok,
  dns_opt: ok,
  extra_hosts: ok,
  mem_limit: ok,
  mem_reservation: ok,
  memswap_limit: ok,
  cpus: ok,
  cpu_shares: ok,
  cpuset: ok,
  deploy: ok,
  scale: ok,
  read_only: ok,
  pid: ok,
  ipc: ok,
  platform: ok,
  oom_score_adj: ok,
  mac_address: ok,
  profiles: ok,
  configs: ok,
  secrets: ok,
  pull_policy: ok,
  'x-gitdock': ok,
  // Compose reads these only for its own console output.
  attach: ok,
  develop: warn('(docker compose watch) is a development feature and is ignored'),
  env_file: fail(LOADER_FIELD),
  extends: fail(LOADER_FIELD),
  label_file: fail('is not supported yet: move its labels under `labels`'),
  blkio_config: fail(NO_MODEL_FIELD),
  cgroup: fail(NO_MODEL_FIELD),
  cgroup_parent: fail(NO_MODEL_FIELD),
  cpu_count: fail(`is Windows-only and ${NO_MODEL_FIELD}`),
  cpu_percent: fail(`is Windows-only and ${NO_MODEL_FIELD}`),
  cpu_period: fail(NO_MODEL_FIELD),
  cpu_quota: fail(NO_MODEL_FIELD),
  cpu_rt_period: fail(NO_MODEL_FIELD),
  cpu_rt_runtime: fail(NO_MODEL_FIELD),
  credential_spec: fail('is Windows-only (gMSA); gitdock runs Linux containers'),
  device_cgroup_rules: fail(NO_MODEL_FIELD),
  gpus: fail(`needs device requests; ${NO_MODEL_FIELD}`),
  isolation: fail(`is Windows-only and ${NO_MODEL_FIELD}`),
  mem_swappiness: fail(NO_MODEL_FIELD),
  oom_kill_disable: fail(NO_MODEL_FIELD),
  runtime: fail(NO_MODEL_FIELD),
  storage_opt: fail(NO_MODEL_FIELD),
  userns_mode: fail(NO_MODEL_FIELD),
  uts: fail(NO_MODEL_FIELD),
  annotations: fail('needs engine API 1.43; the engines gitdock supports speak 1.41'),
  post_start: fail('(lifecycle hooks) needs engine API 1.44; gitdock supports 1.41'),
  pre_stop: fail('(lifecycle hooks) needs engine API 1.44; gitdock supports 1.41'),
  use_api_socket: fail('is not supported: mount the engine socket with `volumes` if you must'),
  provider: fail('(provider services) is not supported: gitdock runs containers only'),
  models: fail('(AI models) is not supported'),
  pull_refresh_after: fail('is not supported: use `pull_policy: always` or `x-gitdock.pull`'),
};

/** Service `deploy`: only what one engine honours (replicas, resources, restart_policy). */
export const DEPLOY_FIELDS: Readonly<Record<string, FieldSupport>> = {
  replicas: ok,
  resources: ok,
  restart_policy: ok,
  mode: ok, // `replicated` only (normalize-service)
  endpoint_mode: warn(SWARM_ONLY),
  labels: warn(`${SWARM_ONLY} (put container labels under the service's \`labels\`)`),
  placement: warn(`${SWARM_ONLY}; choose hosts with the project's directory or x-gitdock.hosts`),
  update_config: warn(`${SWARM_ONLY}; use x-gitdock.update on the service`),
  rollback_config: warn(SWARM_ONLY),
};

export const DEPLOY_RESOURCES_FIELDS: Readonly<Record<string, FieldSupport>> = {
  limits: ok,
  reservations: ok,
};

export const RESOURCE_LIMITS_FIELDS: Readonly<Record<string, FieldSupport>> = {
  cpus: ok,
  memory: ok,
  pids: ok,
};

export const RESOURCE_RESERVATIONS_FIELDS: Readonly<Record<string, FieldSupport>> = {
  memory: ok,
  cpus: warn('has no engine setting outside Swarm and is ignored, as Compose ignores it'),
  devices: fail(`(device requests, GPUs) ${NO_MODEL_FIELD}`),
  generic_resources: fail(SWARM_ONLY.replace('where it is ignored', 'and it cannot be honoured')),
};

export const RESTART_POLICY_FIELDS: Readonly<Record<string, FieldSupport>> = {
  condition: ok,
  max_attempts: ok,
  delay: warn('has no engine setting outside Swarm and is ignored, as Compose ignores it'),
  window: warn('has no engine setting outside Swarm and is ignored, as Compose ignores it'),
};

export const HEALTHCHECK_FIELDS: Readonly<Record<string, FieldSupport>> = {
  test: ok,
  interval: ok,
  timeout: ok,
  retries: ok,
  start_period: ok,
  disable: ok,
  start_interval: warn(
    'needs engine API 1.44 and is ignored: the engines gitdock supports speak 1.41',
  ),
};

/** A service's `ports` entry in long form. */
export const PORT_FIELDS: Readonly<Record<string, FieldSupport>> = {
  target: ok,
  published: ok,
  host_ip: ok,
  protocol: ok,
  // Compose passes neither to the engine: they only document the port.
  name: ok,
  app_protocol: ok,
  mode: ok, // `host` and `ingress` publish the same way on one engine
};

/** A service's `volumes` entry (the loader gives the long form). */
export const MOUNT_FIELDS: Readonly<Record<string, FieldSupport>> = {
  type: ok,
  source: ok,
  target: ok,
  read_only: ok,
  bind: ok,
  volume: ok,
  tmpfs: ok,
  'x-gitdock-repo-path': ok,
  consistency: warn('only matters on Docker Desktop for Mac and is ignored'),
  image: fail('(image mounts) needs engine API 1.48; gitdock supports 1.41'),
};

export const MOUNT_BIND_FIELDS: Readonly<Record<string, FieldSupport>> = {
  propagation: ok,
  create_host_path: ok,
  selinux: ok,
  recursive: fail('needs engine API 1.44; gitdock supports 1.41'),
};

export const MOUNT_VOLUME_FIELDS: Readonly<Record<string, FieldSupport>> = {
  nocopy: ok,
  subpath: ok,
  labels: fail('is not supported: declare the volume under the top-level volumes: with its labels'),
};

export const MOUNT_TMPFS_FIELDS: Readonly<Record<string, FieldSupport>> = {
  size: ok,
  mode: ok,
};

/** One entry of a service's `networks` map. */
export const SERVICE_NETWORK_FIELDS: Readonly<Record<string, FieldSupport>> = {
  aliases: ok,
  ipv4_address: ok,
  ipv6_address: ok,
  priority: ok,
  mac_address: ok,
  link_local_ips: ok,
  driver_opts: fail(NO_MODEL_FIELD),
  gw_priority: fail('needs engine API 1.48; gitdock supports 1.41'),
  interface_name: fail('needs engine API 1.49; gitdock supports 1.41'),
};

/** `depends_on` long form. */
export const DEPENDS_ON_FIELDS: Readonly<Record<string, FieldSupport>> = {
  condition: ok,
  required: ok,
  restart: warn(
    "is ignored: gitdock recreates a service when its own spec changes, not when a dependency's does",
  ),
};

/** A service's `configs`/`secrets` entry in long form. */
export const SERVICE_FILE_FIELDS: Readonly<Record<string, FieldSupport>> = {
  source: ok,
  target: ok,
  // Checked in normalize-service: a bind-mounted file keeps the repo's owner and mode.
  uid: ok,
  gid: ok,
  mode: ok,
};

/** A service's `x-gitdock`. */
export const SERVICE_GITDOCK_FIELDS: Readonly<Record<string, FieldSupport>> = {
  update: ok,
  pull: ok,
};

export const UPDATE_FIELDS: Readonly<Record<string, FieldSupport>> = {
  order: ok,
  settle: ok,
  health_timeout: ok,
};

/** A project's top-level `x-gitdock` (`hosts` is read while loading). */
export const PROJECT_GITDOCK_FIELDS: Readonly<Record<string, FieldSupport>> = {
  hosts: ok,
  profiles: ok,
};

/** Top-level `networks` entries. */
export const NETWORK_FIELDS: Readonly<Record<string, FieldSupport>> = {
  name: ok,
  driver: ok,
  driver_opts: ok,
  attachable: ok,
  enable_ipv6: ok,
  external: ok,
  internal: ok,
  ipam: ok,
  labels: ok,
  enable_ipv4: ok, // `false` needs API 1.47 (normalize-resources)
};

export const IPAM_FIELDS: Readonly<Record<string, FieldSupport>> = {
  driver: ok,
  config: ok,
  options: ok,
};

export const IPAM_CONFIG_FIELDS: Readonly<Record<string, FieldSupport>> = {
  subnet: ok,
  ip_range: ok,
  gateway: ok,
  aux_addresses: ok,
};

/** Top-level `volumes` entries. */
export const VOLUME_FIELDS: Readonly<Record<string, FieldSupport>> = {
  name: ok,
  driver: ok,
  driver_opts: ok,
  external: ok,
  labels: ok,
};

/** Top-level `configs` entries. */
export const CONFIG_FIELDS: Readonly<Record<string, FieldSupport>> = {
  name: ok,
  file: ok,
  content: ok,
  environment: ok,
  external: ok, // an error, with its own message (Swarm)
  labels: warn('are Swarm config labels and are ignored without Swarm, as Compose ignores them'),
  template_driver: fail(SWARM_ONLY.replace('where it is ignored', 'and it cannot be honoured')),
};

/** Top-level `secrets` entries. */
export const SECRET_FIELDS: Readonly<Record<string, FieldSupport>> = {
  name: CONFIG_FIELDS.name!,
  file: CONFIG_FIELDS.file!,
  environment: CONFIG_FIELDS.environment!,
  external: CONFIG_FIELDS.external!,
  labels: CONFIG_FIELDS.labels!,
  template_driver: CONFIG_FIELDS.template_driver!,
  driver: fail(SWARM_ONLY.replace('where it is ignored', 'and it cannot be honoured')),
  driver_opts: fail(SWARM_ONLY.replace('where it is ignored', 'and it cannot be honoured')),
};

/** `note`: neither wrong nor ignored, worth saying (a `build` that CI runs). */
export type Severity = 'error' | 'warning' | 'note';

/**
 * Reports every key of `value` that a table marks as an error or a warning,
 * and every key no table knows. `x-*` keys are skipped (Compose ignores
 * them) unless the table names them.
 */
export function checkFields(
  value: Readonly<Record<string, unknown>>,
  table: Readonly<Record<string, FieldSupport>>,
  path: readonly (string | number)[],
  report: (severity: Severity, path: (string | number)[], message: string) => void,
): void {
  const where = path.join('.');
  for (const key of Object.keys(value)) {
    const support = table[key];
    const name = where ? `${where}.${key}` : key;
    if (!support) {
      if (key.startsWith('x-')) continue;
      const near = nearest(key, Object.keys(table));
      const hint = near
        ? `did you mean ${near}?`
        : `expected one of ${Object.keys(table)
            .filter((k) => !k.startsWith('x-'))
            .sort()
            .join(', ')}`;
      report('error', [...path, key], `${name}: unknown field; ${hint}`);
    } else if (support.status !== 'supported') {
      report(support.status, [...path, key], `${name} ${support.message}`);
    }
  }
}

/** The known key within two edits of `key` (a typo), if there is one. */
function nearest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        row[j]! + 1,
        next[j - 1]! + 1,
        row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length]!;
}
