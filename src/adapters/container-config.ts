/**
 * Translation of a gitdock `ContainerSpec` into the body of the Engine API's
 * `POST /containers/create` (API 1.41). Pure: no IO, so the mapping is
 * unit-tested field by field and the engine adapter only sends it.
 */
import type { CreateContainerOptions } from '../core/engine.js';
import type { HealthcheckSpec, Mount, PortBinding } from '../core/types.js';

/** `HostConfig.Mounts[]` of the Engine API. */
export interface EngineMount {
  Type: 'bind' | 'volume' | 'tmpfs';
  Target: string;
  Source?: string;
  ReadOnly?: boolean;
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

export interface EngineHostConfig {
  NetworkMode?: string;
  Privileged?: boolean;
  RestartPolicy: EngineRestartPolicy;
  PortBindings?: Record<string, EnginePortBinding[]>;
  Binds?: string[];
  Mounts?: EngineMount[];
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
  HostConfig: EngineHostConfig;
}

const NS_PER_MS = 1_000_000;

/** Builds the `POST /containers/create` body for one container. The name travels in the query. */
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
  if (spec.networkMode !== undefined) body.HostConfig.NetworkMode = spec.networkMode;
  if (spec.privileged === true) body.HostConfig.Privileged = true;

  const { binds, mounts } = toMounts(spec.volumes);
  if (binds.length > 0) body.HostConfig.Binds = binds;
  if (mounts.length > 0) body.HostConfig.Mounts = mounts;
  return body;
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
    list.push({ HostIp: port.hostIp ?? '', HostPort: String(port.hostPort) });
    bindings[key] = list;
  }
  return { exposed, bindings };
}

/**
 * Bind mounts go to `Binds` (`source:target[:ro]`) because, like
 * `docker run -v` and Compose, that form creates a missing host directory;
 * `Mounts` with type `bind` refuses to start instead. Named and anonymous
 * volumes and tmpfs go to `Mounts`, which has a field for each.
 */
function toMounts(volumes: Mount[]): { binds: string[]; mounts: EngineMount[] } {
  const binds: string[] = [];
  const mounts: EngineMount[] = [];
  for (const volume of volumes) {
    if (volume.type === 'bind' && volume.source !== undefined) {
      binds.push(`${volume.source}:${volume.target}${volume.readOnly ? ':ro' : ''}`);
      continue;
    }
    // A bind without a source lands here and the engine names the problem.
    const mount: EngineMount = { Type: volume.type, Target: volume.target };
    if (volume.source !== undefined && volume.type !== 'tmpfs') mount.Source = volume.source;
    if (volume.readOnly) mount.ReadOnly = true;
    mounts.push(mount);
  }
  return { binds, mounts };
}
