/**
 * The shared vocabulary of gitdock's core: what a host should run
 * (`DesiredService`), what its engine reports (`ActualContainer`), and the
 * edge interfaces (`Engine`, `GitSource`) through which the outside world is
 * reached. Nothing here does IO.
 */

/** A published port after normalisation of the Compose short and long forms. */
export interface PortBinding {
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /**
   * Undefined: exposed only, not published. 0: published on a port the
   * engine picks (Compose's `ports: ["80"]`).
   */
  hostPort?: number;
  /**
   * Set only for a host port range published to one container port
   * (`"8000-8002:80"`): the range is `hostPort`..`hostPortEnd` and the
   * engine binds one free port of it. Absent otherwise, so specs without a
   * range hash as before.
   */
  hostPortEnd?: number;
  hostIp?: string;
}

/** A mount after normalisation of the Compose short and long forms. */
export interface Mount {
  type: 'bind' | 'volume' | 'tmpfs';
  /**
   * Bind: an absolute host path. Volume: the engine's volume name (for a
   * Compose named volume, already `<project>_<key>` or its `name:`).
   * Absent for tmpfs, anonymous volumes, and binds given by `repoFile` or
   * `hostData` below.
   */
  source?: string;
  target: string;
  readOnly: boolean;
  // Every field below is set only when it differs from the default, so specs
  // written before it existed keep their hash.
  /**
   * A bind whose source is a file or directory of the repo at the commit:
   * written on the host into a content-addressed directory under the state
   * dir and mounted from there. `sha256` is of the content (a directory: of
   * its sorted paths and contents), so a change recreates exactly the
   * services that mount it.
   */
  repoFile?: { path: string; sha256: string; kind: 'file' | 'dir' };
  /**
   * A relative bind whose source is not in the repo: host data, under the
   * project's directory on the host (`<state dir>/projects/<project>/` by
   * default; an absolute `source` instead when the host sets the project's
   * directory). `path` is relative to that directory, without `./`.
   */
  hostData?: { project: string; path: string };
  /** Bind propagation (`rprivate` is the default and left out). */
  propagation?: 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave';
  /** SELinux relabel: `z` shared, `Z` private. */
  selinux?: 'z' | 'Z';
  /** Bind long form `create_host_path: false`. */
  noCreateHostPath?: true;
  /** Volume long form `nocopy: true`. */
  noCopy?: true;
  /** Volume long form `subpath`. */
  subpath?: string;
  /** tmpfs size in bytes and mode (octal number, e.g. 0o1777). */
  tmpfsSize?: number;
  tmpfsMode?: number;
}

/** A device mapping (`devices:`), as the engine takes it. */
export interface DeviceMapping {
  pathOnHost: string;
  pathInContainer: string;
  /** `rwm` is the default and left out. */
  cgroupPermissions?: string;
}

/** One network a container joins (Compose `networks:` of a service). */
export interface ServiceNetwork {
  /** Engine name of the network (`<project>_<key>`, its `name:`, or external). */
  name: string;
  aliases?: string[];
  ipv4Address?: string;
  ipv6Address?: string;
  /** Higher first: the engine connects the highest-priority network first. */
  priority?: number;
  macAddress?: string;
  linkLocalIps?: string[];
}

export interface HealthcheckSpec {
  /** Docker form: `['NONE']`, `['CMD', ...]` or `['CMD-SHELL', '...']`. */
  test?: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
}

/**
 * A service's container spec, defaults filled and every Compose shorthand
 * expanded, so two manifests that mean the same container compare equal.
 * This is what is hashed into `io.gitdock.spec-hash`.
 */
export interface ContainerSpec {
  image: string;
  tag?: string;
  digest?: string;
  command?: string[];
  entrypoint?: string[];
  /** Sorted by key. Values are secrets: never log them. */
  environment: Record<string, string>;
  ports: PortBinding[];
  volumes: Mount[];
  networkMode?: string;
  /**
   * Set only when true: `privileged: false` is the default, and leaving the
   * key out keeps the hash of every spec written before the field existed.
   */
  privileged?: true;
  restart: string;
  healthcheck?: HealthcheckSpec;
  labels: Record<string, string>;
  user?: string;
  workingDir?: string;
  stopGracePeriodMs: number;
  // The fields below came with Compose projects. Each is set only when the
  // service sets it (never to its default), so the hash of a spec written
  // before they existed does not change: upgrading recreates nothing.
  hostname?: string;
  domainname?: string;
  /** Fixed container name (Compose `container_name`), when set by the service. */
  containerName?: string;
  capAdd?: string[];
  capDrop?: string[];
  securityOpt?: string[];
  devices?: DeviceMapping[];
  /** Sorted by key. */
  sysctls?: Record<string, string>;
  /** Sorted by name. */
  ulimits?: Record<string, { soft: number; hard: number }>;
  pidsLimit?: number;
  shmSizeBytes?: number;
  init?: true;
  tty?: true;
  stdinOpen?: true;
  stopSignal?: string;
  logging?: { driver?: string; options?: Record<string, string> };
  dns?: string[];
  dnsSearch?: string[];
  dnsOpt?: string[];
  /** `host:ip` entries, in the engine's `ExtraHosts` form. */
  extraHosts?: string[];
  memLimitBytes?: number;
  memReservationBytes?: number;
  memSwapLimitBytes?: number;
  /** CPUs in units of 1e-9 (the engine's NanoCpus). */
  nanoCpus?: number;
  cpuShares?: number;
  cpusetCpus?: string;
  readOnly?: true;
  pid?: string;
  ipc?: string;
  platform?: string;
  groupAdd?: string[];
  oomScoreAdj?: number;
  /** Compose `links` (`service:alias` resolved to container names). */
  links?: string[];
  /** Compose `volumes_from`, resolved to container names, with `:ro` kept. */
  volumesFrom?: string[];
  /**
   * The networks the container joins, sorted by name. Set for Compose
   * services (which always join at least `<project>_default` unless
   * `network_mode` is set); gitdock manifests leave it out.
   */
  networks?: ServiceNetwork[];
  macAddress?: string;
}

/** How a service is replaced and pulled; not part of the spec hash. */
export interface RolloutPolicy {
  order: 'stop-first' | 'start-first';
  settleMs: number;
  healthTimeoutMs: number;
  pull: 'missing' | 'always';
}

/** One service the host should run, fully resolved. */
export interface DesiredService {
  /**
   * The service's identity everywhere it shows (labels, `/status`, metrics,
   * `history --service`): `<project>/<service>` for a Compose service
   * (`<project>/<service>#<n>` for its replica n >= 2), the bare service
   * name for a gitdock manifest.
   */
  name: string;
  /** The engine's container name: the manifest's service name, or Compose's `<project>-<service>-<n>` / `container_name`. */
  containerName: string;
  /** The Compose project; undefined for gitdock manifests. */
  project?: string;
  host: string;
  /** Repo-relative path of the manifest that defines it. */
  file: string;
  /** `host` when `hosts/<host>/<name>.yaml` defines it, `fleet` for `services/`. */
  origin: 'host' | 'fleet';
  spec: ContainerSpec;
  rollout: RolloutPolicy;
  dependsOn: string[];
  /** `repo:tag` or `repo@digest`. */
  imageRef: string;
  /** sha256 hex of the canonical spec. */
  specHash: string;
  /**
   * Repo files this service mounts (`spec.volumes[].repoFile`), with their
   * bytes, to be written into the content-addressed directory before the
   * container is created. A directory lists each of its files.
   */
  repoFiles?: RepoFile[];
  /**
   * Compose `depends_on` conditions by dependency identity (only the
   * non-default ones): `service_healthy` waits for Healthy,
   * `service_completed_successfully` for an exit code 0.
   */
  dependsOnConditions?: Record<
    string,
    'service_started' | 'service_healthy' | 'service_completed_successfully'
  >;
  /** A one-shot service (some other service waits for it to complete): exited 0 is done, not drift. */
  oneShot?: true;
  /**
   * Values that came from the host-local env file: hashed into the spec but
   * replaced by `***` wherever gitdock prints or records text.
   */
  secretValues?: string[];
}

/** One file of the repo a service mounts, written to `<state>/files/<sha256>/`. */
export interface RepoFile {
  /** sha256 of the mount (the file, or the directory as a whole). */
  mountSha256: string;
  /** Path inside the mount directory (`''` for a single-file mount). */
  relativePath: string;
  bytes: Uint8Array;
  /** POSIX mode bits to write (0o644 or 0o755 from git). */
  mode: number;
}

/** A network a host should have (Compose `networks:`), owned by labels like containers. */
export interface DesiredNetwork {
  /** Engine name: `<project>_<key>`, the `name:` given, or the external name. */
  name: string;
  project: string;
  /** The key under `networks:` in the Compose file. */
  key: string;
  /** `external: true`: must exist; never created, changed or removed. */
  external: boolean;
  driver?: string;
  driverOpts?: Record<string, string>;
  internal?: true;
  attachable?: true;
  enableIpv6?: true;
  ipam?: {
    driver?: string;
    config?: {
      subnet?: string;
      ipRange?: string;
      gateway?: string;
      auxAddresses?: Record<string, string>;
    }[];
    options?: Record<string, string>;
  };
  labels: Record<string, string>;
  /** sha256 of the canonical settings above (name excluded): a change recreates the network. */
  specHash: string;
}

/** A volume a host should have (Compose `volumes:`). Never removed implicitly. */
export interface DesiredVolume {
  name: string;
  project: string;
  key: string;
  external: boolean;
  driver?: string;
  driverOpts?: Record<string, string>;
  labels: Record<string, string>;
}

/** A host's whole desired state at one revision. */
export interface HostState {
  host: string;
  commit: string;
  /** In dependency order (dependencies first), ties by name. */
  services: DesiredService[];
  /** The repo says this host may run nothing (gitdock.yaml `allow_empty`). */
  allowEmpty: boolean;
  /**
   * At most this many services are created, replaced or started at once
   * (gitdock.yaml `hosts.<host>.max_parallel`, else the top-level
   * `max_parallel`); unset: DEFAULT_MAX_PARALLEL (64, src/core/schema.ts).
   */
  maxParallel?: number;
  /** Networks of the host's Compose projects (empty without any). */
  networks?: DesiredNetwork[];
  volumes?: DesiredVolume[];
  /** Volume names the repo says may be removed (gitdock.yaml `hosts.<host>.remove_volumes`). */
  removeVolumes?: string[];
  /** Compose projects whose containers made by `docker compose` gitdock may replace (opt-in migration). */
  adoptCompose?: string[];
  /** What the host's Compose projects say that is not an error (an unset `${VAR}` left empty, ...). */
  warnings?: ManifestError[];
}

/** Labels gitdock puts on every container it creates. */
export const LABELS = {
  host: 'io.gitdock.host',
  service: 'io.gitdock.service',
  specHash: 'io.gitdock.spec-hash',
  image: 'io.gitdock.image',
  commit: 'io.gitdock.commit',
  /** The spec as JSON with environment values replaced by digests, for field-level reasons. */
  spec: 'io.gitdock.spec',
  /** Comma-separated services this one depends on, so removals can run in reverse order. */
  dependsOn: 'io.gitdock.depends-on',
  /** The Compose project of a service, network or volume. */
  project: 'io.gitdock.project',
  /** The container name a service's container should have, when not the service name. */
  containerName: 'io.gitdock.container-name',
  /** On networks: the hash of their settings. */
  resourceHash: 'io.gitdock.resource-hash',
} as const;

/** Labels `docker compose` puts on what it creates: a container with them is Compose's, not gitdock's. */
export const COMPOSE_LABELS = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
} as const;

/** A network as the engine reports it. */
export interface ActualNetwork {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** Container IDs attached to it. */
  containers: string[];
}

/** A volume as the engine reports it. */
export interface ActualVolume {
  name: string;
  labels: Record<string, string>;
  driver: string;
}

/** A container as the engine reports it. */
export interface ActualContainer {
  id: string;
  /** Without the leading slash. */
  name: string;
  labels: Record<string, string>;
  /** Docker state: created, running, paused, restarting, removing, exited, dead. */
  state: string;
  /** The exit code of an exited container, when the engine's list gives it (a one-shot's verdict). */
  exitCode?: number;
  imageId: string;
  /**
   * The `io.gitdock.*` labels of the container's image, when it has any: a
   * container whose gitdock labels are only inherited from its image (run
   * from a `docker commit` of a managed container) is not gitdock's.
   * Undefined when the image has none (or is gone).
   */
  imageGitdockLabels?: Record<string, string>;
}

/**
 * The host-local variables of Compose projects (`--env-dir`: one
 * `<project>.env` per project), by project name. They never enter git.
 */
export type HostEnvByProject = ReadonlyMap<string, Readonly<Record<string, string>>>;

/** A position in a manifest, 1-based. */
export interface SourcePosition {
  file: string;
  line?: number;
  column?: number;
}

/** One validation problem: where, which JSON path, what was expected. */
export interface ManifestError extends SourcePosition {
  /** JSON pointer into the document, `''` for the whole file. */
  path: string;
  message: string;
}

export type Result<T, E = ManifestError[]> = { ok: true; value: T } | { ok: false; errors: E };
