import type {
  ActualContainer,
  ActualNetwork,
  ActualVolume,
  ContainerSpec,
  DesiredNetwork,
  DesiredVolume,
} from './types.js';

/** Progress of one image pull, as the engine streams it. */
export interface PullProgress {
  ref: string;
  /** Layers seen so far and how many of them are complete (downloaded or already present). */
  layersTotal: number;
  layersDone: number;
  /** Bytes downloaded so far, summed over layers that report sizes. */
  bytesDone: number;
  bytesTotal: number;
}

/** What `createContainer` needs besides the spec. */
export interface CreateContainerOptions {
  name: string;
  /** The image to run: an image ID or a reference already on the host. */
  image: string;
  spec: ContainerSpec;
  /** Labels added to the spec's own labels (the `io.gitdock.*` set). */
  labels: Record<string, string>;
  /**
   * Host paths for the spec's `repoFile` and `hostData` binds, by index in
   * `spec.volumes` (the engine adapter cannot know the state dir).
   */
  bindSources?: ReadonlyMap<number, string>;
}

/** Result of inspecting a container, reduced to what rollout decisions need. */
export interface ContainerStatus {
  id: string;
  name: string;
  state: string;
  running: boolean;
  exitCode: number;
  restartCount: number;
  /** `healthy`, `unhealthy`, `starting`, or undefined without a HEALTHCHECK. */
  health?: string;
  startedAt?: string;
  /** Engine error text when the process could not be started. */
  error?: string;
}

/**
 * The Docker engine, as gitdock needs it. One implementation talks to the
 * Engine API (`adapters/docker-engine.ts`); tests of the pure core use fakes.
 *
 * Every method resolves only when the engine has finished the operation, and
 * rejects with an `GitdockError` (see `errors.ts`) naming what failed. Every
 * call has a deadline: an engine that accepts a request and never answers
 * fails it (GITDOCK_E_ENGINE_UNREACHABLE, `data.errno: 'ETIMEDOUT'`) instead
 * of holding up the caller.
 * Operations that are already done (start a running container, stop a stopped
 * one) succeed.
 */
export interface Engine {
  /** Every container on the host, managed or not, running or not. */
  listContainers(): Promise<ActualContainer[]>;
  inspectContainer(id: string): Promise<ContainerStatus>;
  /** The local image ID a reference resolves to, or undefined when not on the host. */
  imageId(ref: string): Promise<string | undefined>;
  /**
   * Pull until the stream ends; rejects when the registry reports an error in
   * the stream. Aborting `signal` cuts the pull at once (rejects with
   * GITDOCK_E_PULL_FAILED, `data.aborted: true`); a pull that makes no
   * progress for the adapter's stall time is cut the same way.
   */
  pullImage(
    ref: string,
    onProgress?: (p: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void>;
  createContainer(options: CreateContainerOptions): Promise<string>;
  startContainer(id: string): Promise<void>;
  stopContainer(id: string, timeoutMs: number): Promise<void>;
  /**
   * Force-removes the container, and its anonymous volumes unless
   * `keepVolumes` (a Compose service's anonymous volume may hold data, as
   * under Compose). Missing is not an error.
   */
  removeContainer(id: string, options?: { keepVolumes?: boolean }): Promise<void>;
  renameContainer(id: string, name: string): Promise<void>;
  /** The last lines of the container's log, stdout and stderr interleaved. */
  logTail(id: string, lines: number): Promise<string>;
  /** Resolves when the engine answers; rejects with GITDOCK_E_ENGINE_UNREACHABLE otherwise. */
  ping(): Promise<void>;
  /** Every network on the host (the engine's own `bridge`/`host`/`none` included). */
  listNetworks(): Promise<ActualNetwork[]>;
  /** Creates the network with `labels` added to its own; returns its ID. */
  createNetwork(network: DesiredNetwork, labels: Record<string, string>): Promise<string>;
  /** Removes a network by ID or name; missing is not an error. */
  removeNetwork(idOrName: string): Promise<void>;
  /**
   * Every volume on the host, gitdock's lock volumes left out.
   */
  listVolumes(): Promise<ActualVolume[]>;
  createVolume(volume: DesiredVolume, labels: Record<string, string>): Promise<void>;
  /** Removes a volume by name; missing is not an error; in use is GITDOCK_E_ENGINE_REFUSED. */
  removeVolume(name: string): Promise<void>;
  /**
   * The host lock (one writer per host): an engine object named `name`
   * created only if none of that name exists, atomically on the engine, so
   * two writers on any DOCKER_HOST cannot both hold it. It survives an
   * engine restart. `created: false` returns the holder's record.
   */
  createLock(
    name: string,
    labels: Record<string, string>,
  ): Promise<{ created: true; lock: EngineLock } | { created: false; lock: EngineLock }>;
  /** The lock object of that name, or undefined. */
  findLock(name: string): Promise<EngineLock | undefined>;
  /** Removes the lock object by ID; missing is not an error. */
  removeLock(id: string): Promise<void>;
  /**
   * Streams events of containers labelled `io.gitdock.host=<host>` until the
   * stream ends or `signal` aborts, then resolves (an engine restart or a
   * cut connection ends it: callers reconnect). Rejects only when the
   * stream cannot be opened. The stream is split on newlines, partial lines
   * kept until complete, unparseable lines skipped.
   */
  watchEvents(options: {
    host: string;
    signal: AbortSignal;
    onEvent: (event: EngineEvent) => void;
  }): Promise<void>;
}

/** A container event that may mean drift: the agent re-reads the engine, never trusts the event. */
export interface EngineEvent {
  /** Docker's action: die, stop, start, destroy, rename, health_status: healthy, ... */
  action: string;
  containerId: string;
  name?: string;
  /** The `io.gitdock.service` label, when present. */
  service?: string;
  /** Unix milliseconds, from the engine. */
  time: number;
}

/** A lock object on the engine (see `Engine.createLock`). */
export interface EngineLock {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** ISO time the engine created it. */
  createdAt: string;
}
