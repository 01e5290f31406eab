/**
 * Translation of a gitdock `ContainerSpec` into the body of the Engine API's
 * `POST /containers/create` (API 1.41). Pure: no IO, so the mapping is
 * unit-tested field by field and the engine adapter only sends it.
 */
import type { CreateContainerOptions } from '../core/engine.js';
import type {
  ContainerSpec,
  HealthcheckSpec,
  Mount,
  PortBinding,
  ServiceNetwork,
} from '../core/types.js';
import { GitdockError } from '../errors.js';

/** `HostConfig.Mounts[]` of the Engine API. */
export interface EngineMount {
  Type: 'bind' | 'volume' | 'tmpfs';
  Target: string;
  Source?: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string; CreateMountpoint?: boolean };
  /** `Subpath` needs API 1.45 (the adapter refuses it on an older engine). */
  VolumeOptions?: { NoCopy?: boolean; Subpath?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

/** `Healthcheck` of the Engine API; durations in nanoseconds. */
export interface EngineHealthcheck {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

export interface EngineRestartPolicy {
  Name: string;
  MaximumRetryCount?: number;
}

export interface EnginePortBinding {
  HostIp: string;
  HostPort: string;
}

export interface EngineDevice {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

export interface EngineUlimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface EngineHostConfig {
  NetworkMode?: string;
  Privileged?: boolean;
  RestartPolicy: EngineRestartPolicy;
  PortBindings?: Record<string, EnginePortBinding[]>;
  Binds?: string[];
  Mounts?: EngineMount[];
  CapAdd?: string[];
  CapDrop?: string[];
  SecurityOpt?: string[];
  Devices?: EngineDevice[];
  Sysctls?: Record<string, string>;
  Ulimits?: EngineUlimit[];
  PidsLimit?: number;
  ShmSize?: number;
  Init?: boolean;
  LogConfig?: { Type: string; Config: Record<string, string> };
  Dns?: string[];
  DnsSearch?: string[];
  DnsOptions?: string[];
  ExtraHosts?: string[];
  Memory?: number;
  MemoryReservation?: number;
  MemorySwap?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpusetCpus?: string;
  ReadonlyRootfs?: boolean;
  PidMode?: string;
  IpcMode?: string;
  GroupAdd?: string[];
  OomScoreAdj?: number;
  Links?: string[];
  VolumesFrom?: string[];
}

/** One network endpoint (`EndpointSettings`) of the create body and of `POST /networks/{id}/connect`. */
export interface EngineEndpointConfig {
  Aliases?: string[];
  /** Legacy links on a user-defined network: the engine drops `HostConfig.Links` there. */
  Links?: string[];
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] };
  /** Honoured per endpoint from API 1.44; on 1.41 only the create's `MacAddress` counts. */
  MacAddress?: string;
}

/** The subset of the `ContainerCreate` body gitdock sets. */
export interface ContainerCreateBody {
  Image: string;
  Cmd?: string[];
  Entrypoint?: string[];
  Env: string[];
  Labels: Record<string, string>;
  User?: string;
  WorkingDir?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  StopTimeout: number;
  Healthcheck?: EngineHealthcheck;
  Hostname?: string;
  Domainname?: string;
  Tty?: boolean;
  OpenStdin?: boolean;
  StopSignal?: string;
  MacAddress?: string;
  HostConfig: EngineHostConfig;
  NetworkingConfig?: { EndpointsConfig: Record<string, EngineEndpointConfig> };
}

/** A network joined after the create (`POST /networks/{name}/connect`): API 1.41 takes one endpoint at create. */
export interface NetworkConnect {
  network: string;
  endpoint: EngineEndpointConfig;
}

const NS_PER_MS = 1_000_000;

/** The query of `POST /containers/create`. */
export function toCreateQuery(options: CreateContainerOptions): {
  name: string;
  platform?: string;
} {
  const query: { name: string; platform?: string } = { name: options.name };
  if (options.spec.platform !== undefined) query.platform = options.spec.platform;
  return query;
}

/**
 * Builds the `POST /containers/create` body for one container. The name and
 * platform travel in the query (`toCreateQuery`); networks beyond the first
 * are joined after the create (`toNetworkConnects`).
 *
 * Throws GITDOCK_E_ENGINE_REQUEST (nothing is sent) for a `repoFile` or
 * `hostData` bind without its host path in `options.bindSources`, and for a
 * bind that asks for both `noCreateHostPath` and an SELinux relabel (only
 * the `Binds` form relabels, only the `Mounts` form refuses a missing source).
 */
export function toCreateBody(options: CreateContainerOptions): ContainerCreateBody {
  const { spec } = options;
  const body: ContainerCreateBody = {
    Image: options.image,
    Env: toEnv(spec.environment),
    // The io.gitdock.* labels win over a manifest that tries to set them.
    Labels: { ...spec.labels, ...options.labels },
    // The engine takes whole seconds; rounding down could cut a grace period short.
    StopTimeout: Math.ceil(Math.max(0, spec.stopGracePeriodMs) / 1000),
    HostConfig: { RestartPolicy: toRestartPolicy(spec.restart) },
  };
  if (spec.command !== undefined) body.Cmd = [...spec.command];
  if (spec.entrypoint !== undefined) body.Entrypoint = [...spec.entrypoint];
  if (spec.user !== undefined) body.User = spec.user;
  if (spec.workingDir !== undefined) body.WorkingDir = spec.workingDir;
  if (spec.healthcheck !== undefined) body.Healthcheck = toHealthcheck(spec.healthcheck);

  if (spec.ports.length > 0) {
    const { exposed, bindings } = toPorts(spec.ports);
    body.ExposedPorts = exposed;
    if (Object.keys(bindings).length > 0) body.HostConfig.PortBindings = bindings;
  }
  // The network the create names: the first by priority, unless network_mode names another.
  const first = primaryNetwork(spec);
  const primary =
    first !== undefined && (spec.networkMode === undefined || spec.networkMode === first.name)
      ? first
      : undefined;
  const networkMode = spec.networkMode ?? primary?.name;
  if (networkMode !== undefined) body.HostConfig.NetworkMode = networkMode;
  if (spec.privileged === true) body.HostConfig.Privileged = true;

  const { binds, mounts } = toMounts(spec.volumes, options);
  if (binds.length > 0) body.HostConfig.Binds = binds;
  if (mounts.length > 0) body.HostConfig.Mounts = mounts;

  // Everything below came with Compose projects; a spec without these fields gets the body above,
  // byte for byte as before.
  setContainerConfig(body, spec, primary);
  setHostConfig(body.HostConfig, spec);
  if (primary !== undefined) {
    body.NetworkingConfig = { EndpointsConfig: { [primary.name]: toEndpoint(primary, spec) } };
  }
  return body;
}

/**
 * The networks to join after the create, in the order the engine should
 * connect them (priority, then name): every network of the spec but the one
 * the create names.
 */
export function toNetworkConnects(spec: ContainerSpec): NetworkConnect[] {
  const primary = primaryNetwork(spec);
  const inCreate = spec.networkMode ?? primary?.name;
  return sortNetworks(spec.networks ?? [])
    .filter((n) => n.name !== inCreate)
    .map((n) => ({ network: n.name, endpoint: toEndpoint(n, spec) }));
}

/** The network the create names: the highest priority, ties by name (as Compose connects them). */
export function primaryNetwork(spec: ContainerSpec): ServiceNetwork | undefined {
  return sortNetworks(spec.networks ?? [])[0];
}

function sortNetworks(networks: readonly ServiceNetwork[]): ServiceNetwork[] {
  return [...networks].sort(
    (a, b) =>
      (b.priority ?? 0) - (a.priority ?? 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

function toEndpoint(network: ServiceNetwork, spec: ContainerSpec): EngineEndpointConfig {
  const endpoint: EngineEndpointConfig = {};
  if (network.aliases !== undefined && network.aliases.length > 0) {
    endpoint.Aliases = [...network.aliases];
  }
  // dockerd keeps `HostConfig.Links` only on the default bridge; on a user-defined network a
  // link is an alias of that endpoint (what `docker network connect --link` sets).
  if (spec.links !== undefined && spec.links.length > 0) endpoint.Links = [...spec.links];
  const ipam: NonNullable<EngineEndpointConfig['IPAMConfig']> = {};
  if (network.ipv4Address !== undefined) ipam.IPv4Address = network.ipv4Address;
  if (network.ipv6Address !== undefined) ipam.IPv6Address = network.ipv6Address;
  if (network.linkLocalIps !== undefined && network.linkLocalIps.length > 0) {
    ipam.LinkLocalIPs = [...network.linkLocalIps];
  }
  if (Object.keys(ipam).length > 0) endpoint.IPAMConfig = ipam;
  if (network.macAddress !== undefined) endpoint.MacAddress = network.macAddress;
  return endpoint;
}

/** `Config` fields (beside `HostConfig`) of the Compose era. */
function setContainerConfig(
  body: ContainerCreateBody,
  spec: ContainerSpec,
  primary: ServiceNetwork | undefined,
): void {
  if (spec.hostname !== undefined) body.Hostname = spec.hostname;
  if (spec.domainname !== undefined) body.Domainname = spec.domainname;
  if (spec.tty === true) body.Tty = true;
  if (spec.stdinOpen === true) body.OpenStdin = true;
  if (spec.stopSignal !== undefined) body.StopSignal = spec.stopSignal;
  // API 1.41 reads the MAC address of the create's endpoint from here only.
  const mac = spec.macAddress ?? primary?.macAddress;
  if (mac !== undefined) body.MacAddress = mac;
}

function setHostConfig(host: EngineHostConfig, spec: ContainerSpec): void {
  if (spec.capAdd !== undefined) host.CapAdd = [...spec.capAdd];
  if (spec.capDrop !== undefined) host.CapDrop = [...spec.capDrop];
  if (spec.securityOpt !== undefined) host.SecurityOpt = [...spec.securityOpt];
  if (spec.devices !== undefined) {
    host.Devices = spec.devices.map((d) => ({
      PathOnHost: d.pathOnHost,
      PathInContainer: d.pathInContainer,
      // The engine takes an empty value as no access at all; `rwm` is what the CLI sends.
      CgroupPermissions: d.cgroupPermissions ?? 'rwm',
    }));
  }
  if (spec.sysctls !== undefined) host.Sysctls = { ...spec.sysctls };
  if (spec.ulimits !== undefined) {
    host.Ulimits = Object.keys(spec.ulimits)
      .sort()
      .map((name) => ({
        Name: name,
        Soft: spec.ulimits![name]!.soft,
        Hard: spec.ulimits![name]!.hard,
      }));
  }
  if (spec.pidsLimit !== undefined) host.PidsLimit = spec.pidsLimit;
  if (spec.shmSizeBytes !== undefined) host.ShmSize = spec.shmSizeBytes;
  if (spec.init === true) host.Init = true;
  if (spec.logging !== undefined) {
    // An empty Type is the daemon's default driver, as Compose leaves it with only options set.
    host.LogConfig = { Type: spec.logging.driver ?? '', Config: { ...spec.logging.options } };
  }
  if (spec.dns !== undefined) host.Dns = [...spec.dns];
  if (spec.dnsSearch !== undefined) host.DnsSearch = [...spec.dnsSearch];
  if (spec.dnsOpt !== undefined) host.DnsOptions = [...spec.dnsOpt];
  if (spec.extraHosts !== undefined) host.ExtraHosts = [...spec.extraHosts];
  if (spec.memLimitBytes !== undefined) host.Memory = spec.memLimitBytes;
  if (spec.memReservationBytes !== undefined) host.MemoryReservation = spec.memReservationBytes;
  if (spec.memSwapLimitBytes !== undefined) host.MemorySwap = spec.memSwapLimitBytes;
  if (spec.nanoCpus !== undefined) host.NanoCpus = spec.nanoCpus;
  if (spec.cpuShares !== undefined) host.CpuShares = spec.cpuShares;
  if (spec.cpusetCpus !== undefined) host.CpusetCpus = spec.cpusetCpus;
  if (spec.readOnly === true) host.ReadonlyRootfs = true;
  if (spec.pid !== undefined) host.PidMode = spec.pid;
  if (spec.ipc !== undefined) host.IpcMode = spec.ipc;
  if (spec.groupAdd !== undefined) host.GroupAdd = [...spec.groupAdd];
  if (spec.oomScoreAdj !== undefined) host.OomScoreAdj = spec.oomScoreAdj;
  // Kept for the default bridge; the endpoints of user-defined networks carry them too.
  if (spec.links !== undefined) host.Links = [...spec.links];
  if (spec.volumesFrom !== undefined) host.VolumesFrom = [...spec.volumesFrom];
}

function toEnv(environment: Record<string, string>): string[] {
  return Object.keys(environment)
    .sort()
    .map((key) => `${key}=${environment[key]}`);
}

/**
 * Compose restart values to the engine's policy. Anything unrecognised is
 * passed through as the name so the engine rejects it with its own message
 * (the manifest schema should have caught it first).
 */
export function toRestartPolicy(restart: string): EngineRestartPolicy {
  const onFailure = /^on-failure(?::(\d+))?$/.exec(restart);
  if (onFailure) {
    return { Name: 'on-failure', MaximumRetryCount: Number(onFailure[1] ?? 0) };
  }
  return { Name: restart };
}

function toHealthcheck(health: HealthcheckSpec): EngineHealthcheck {
  const out: EngineHealthcheck = {};
  if (health.test !== undefined) out.Test = [...health.test];
  if (health.intervalMs !== undefined) out.Interval = health.intervalMs * NS_PER_MS;
  if (health.timeoutMs !== undefined) out.Timeout = health.timeoutMs * NS_PER_MS;
  if (health.retries !== undefined) out.Retries = health.retries;
  if (health.startPeriodMs !== undefined) out.StartPeriod = health.startPeriodMs * NS_PER_MS;
  return out;
}

function toPorts(ports: PortBinding[]): {
  exposed: Record<string, Record<string, never>>;
  bindings: Record<string, EnginePortBinding[]>;
} {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, EnginePortBinding[]> = {};
  for (const port of ports) {
    const key = `${port.containerPort}/${port.protocol}`;
    exposed[key] = {};
    // A port without a host port is only exposed (see PortBinding), not published.
    if (port.hostPort === undefined) continue;
    const list = bindings[key] ?? [];
    // Port 0: the engine picks one. The engine reads an empty HostPort as that, as the CLI sends it.
    // A range (`hostPortEnd`) goes as `"8000-8002"`: the engine binds a free port of it.
    const hostPort =
      port.hostPort === 0
        ? ''
        : port.hostPortEnd !== undefined
          ? `${port.hostPort}-${port.hostPortEnd}`
          : String(port.hostPort);
    list.push({ HostIp: port.hostIp ?? '', HostPort: hostPort });
    bindings[key] = list;
  }
  return { exposed, bindings };
}

/**
 * Bind mounts go to `Binds` (`source:target[:ro,z,rshared]`, as the docker
 * CLI writes them) because, like `docker run -v` and Compose, that form
 * creates a missing host directory and is the only one that relabels for
 * SELinux; `Mounts` with type `bind` refuses a missing source instead, which
 * is what `noCreateHostPath` asks for. Named and anonymous volumes and tmpfs
 * go to `Mounts`, which has a field for each of their options.
 */
function toMounts(
  volumes: Mount[],
  options: CreateContainerOptions,
): { binds: string[]; mounts: EngineMount[] } {
  const binds: string[] = [];
  const mounts: EngineMount[] = [];
  volumes.forEach((volume, index) => {
    if (volume.type === 'bind') {
      const source = bindSource(volume, index, options);
      // A repo file's copy is shared by every service and commit with the
      // same content: a container must never change it, whatever the file
      // says (Compose would mount its checkout read-write).
      const readOnly = volume.readOnly || volume.repoFile !== undefined;
      if (source !== undefined && volume.noCreateHostPath !== true) {
        const modes = [
          ...(readOnly ? ['ro'] : []),
          ...(volume.selinux === undefined ? [] : [volume.selinux]),
          ...(volume.propagation === undefined ? [] : [volume.propagation]),
        ];
        binds.push(`${source}:${volume.target}${modes.length > 0 ? `:${modes.join(',')}` : ''}`);
        return;
      }
      if (volume.selinux !== undefined) {
        throw new GitdockError(
          'GITDOCK_E_ENGINE_REQUEST',
          `Cannot create container ${options.name}: the bind mount on ${volume.target} asks for SELinux relabelling (:${volume.selinux}) and create_host_path: false, which the engine cannot do together; drop one of them.`,
          { operation: 'create container', name: options.name, target: volume.target },
        );
      }
      // A bind without a source lands here too and the engine names the problem.
      const mount: EngineMount = { Type: 'bind', Target: volume.target };
      if (source !== undefined) mount.Source = source;
      if (readOnly) mount.ReadOnly = true;
      if (volume.propagation !== undefined) mount.BindOptions = { Propagation: volume.propagation };
      mounts.push(mount);
      return;
    }
    const mount: EngineMount = { Type: volume.type, Target: volume.target };
    if (volume.source !== undefined && volume.type !== 'tmpfs') mount.Source = volume.source;
    if (volume.readOnly) mount.ReadOnly = true;
    if (volume.type === 'volume' && (volume.noCopy === true || volume.subpath !== undefined)) {
      mount.VolumeOptions = {};
      if (volume.noCopy === true) mount.VolumeOptions.NoCopy = true;
      if (volume.subpath !== undefined) mount.VolumeOptions.Subpath = volume.subpath;
    }
    if (
      volume.type === 'tmpfs' &&
      (volume.tmpfsSize !== undefined || volume.tmpfsMode !== undefined)
    ) {
      mount.TmpfsOptions = {};
      if (volume.tmpfsSize !== undefined) mount.TmpfsOptions.SizeBytes = volume.tmpfsSize;
      if (volume.tmpfsMode !== undefined) mount.TmpfsOptions.Mode = volume.tmpfsMode;
    }
    mounts.push(mount);
  });
  return { binds, mounts };
}

/**
 * A bind's host path: for a repo file or host data the one the caller
 * resolved under the state dir (`bindSources`, by index in `spec.volumes`),
 * else the spec's own `source`.
 */
function bindSource(
  volume: Mount,
  index: number,
  options: CreateContainerOptions,
): string | undefined {
  const given = options.bindSources?.get(index);
  if (given !== undefined) return given;
  if (volume.repoFile === undefined && volume.hostData === undefined) return volume.source;
  // Host data may carry an absolute source (the host set the project's directory).
  if (volume.repoFile === undefined && volume.source !== undefined) return volume.source;
  const what =
    volume.repoFile !== undefined
      ? `the repo file ${volume.repoFile.path}`
      : `the host data ${volume.hostData!.path} of project ${volume.hostData!.project}`;
  throw new GitdockError(
    'GITDOCK_E_ENGINE_REQUEST',
    `Cannot create container ${options.name}: no host path was given for ${what} mounted on ${volume.target} (spec.volumes[${index}]); it must be written under the state dir and passed in bindSources first.`,
    {
      operation: 'create container',
      name: options.name,
      volumeIndex: index,
      target: volume.target,
    },
  );
}
