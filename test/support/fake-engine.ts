/**
 * An in-memory Docker engine for sequence tests of the agent: the `Engine`
 * interface as the adapter presents dockerd 20.10, with everything that
 * happens over time (a process exiting, a health check landing, a restart
 * policy's back-off, a pull, a slow removal) scheduled on a `FakeClock`.
 * test/engine-contract.test.ts runs the same cases against this and the real
 * engine, so where the two can be compared they agree.
 *
 * Besides the interface it offers what tests need to play the world around
 * the agent: "user" operations (`docker stop/rm -f/run/commit/rename` by
 * hand), an engine that goes away or restarts, a registry with images whose
 * containers behave as told, fault injection, and a journal of every
 * mutation (who did what to which container, in which state it was).
 *
 * Modelled: names (unique, validated), labels (image labels inherited,
 * options' labels over the spec's, as `toCreateBody` builds them), states
 * created/running/restarting/exited/removing/dead, exit codes, restart
 * policies with dockerd's back-off (100 ms doubling to 1 min, reset after a
 * run of 10 s) and RestartCount, HEALTHCHECK verdicts, stop with SIGTERM and
 * a grace period, `rm -f`, rename, logs, events filtered by host label, the
 * lock objects, pulls with progress, networks and volumes (create, list,
 * remove; containers attached to their networks at create, a network with
 * running containers and a volume any container uses refused removal, the
 * engine's own `host` and `none` networks; a network that is gone found at
 * start, as dockerd 20.10 does). Not modelled: ports, IP addresses, DNS,
 * pause, exec, resource limits, image removal rules beyond untagging.
 *
 * Error texts and `data` follow the adapter (src/adapters/docker-engine.ts):
 * `Docker engine refused to <operation> <id>: <dockerd's message>` with
 * `statusCode`; `Cannot reach the Docker engine at ...` with `errno`.
 */
import { createHash } from 'node:crypto';
import { toCreateBody, toNetworkConnects } from '../../src/adapters/container-config.js';
import type {
  ContainerStatus,
  CreateContainerOptions,
  Engine,
  EngineEvent,
  EngineLock,
  PullProgress,
} from '../../src/core/engine.js';
import type {
  ActualContainer,
  ActualNetwork,
  ActualVolume,
  DesiredNetwork,
  DesiredVolume,
} from '../../src/core/types.js';
import { GitdockError } from '../../src/errors.js';
import type { FakeClock, TimerHandle } from './fake-clock.js';

// -- public types ---------------------------------------------------------------

/** How the containers of an image behave. Everything optional: the default runs until stopped. */
export interface ImageBehaviour {
  /** The process exits on its own this long after each start (0: at once). Undefined: never. */
  exitAfterMs?: number;
  /** Its exit code then. Default 0. */
  exitCode?: number;
  /**
   * The image has a HEALTHCHECK whose verdict lands this long after each
   * start: healthy, or unhealthy with `unhealthy` (default 3000 ms then).
   */
  healthyAfterMs?: number;
  unhealthy?: boolean;
  /**
   * The image's labels (`LABEL`, or a `docker commit` of a labelled
   * container). Containers inherit them, as dockerd merges image labels
   * under the container's; their `io.gitdock.*` ones are reported as
   * `imageGitdockLabels`.
   */
  gitdockLabels?: Record<string, string>;
  /** Lines the process writes at each start (`docker logs`). */
  logLines?: string[];
  /** PID 1 ignores SIGTERM: a stop takes the whole grace period, then SIGKILL (exit 137). */
  ignoresSigterm?: boolean;
  /** Exit code when it obeys SIGTERM. Default 0: the test images trap it and exit 0. */
  stopExitCode?: number;
}

/** Knobs of a FakeEngine; all can be changed while it runs (`engine.settings.x = ...`). */
export interface FakeEngineSettings {
  /** The address in messages and `data.dockerHost`. */
  dockerHost: string;
  /** Fake time every call takes before it acts (0: answers within the same flush). */
  latencyMs: number;
  /** Deadline of a hung call, as the adapter's `requestTimeoutMs` (a stop gets its grace on top). */
  requestTimeoutMs: number;
  /** A pull that makes no progress this long is cut, as the adapter's `pullStallMs`. */
  pullStallMs: number;
  /** Default time a pull takes (per image: `pushImage(..., { pullMs })`). */
  pullMs: number;
  /** Time `removeContainer` leaves a container in state `removing` before it is gone (0: at once). */
  removeMs: number;
  /** Seed of the container, image and lock IDs: the same seed, the same IDs. */
  seed: string;
}

export const DEFAULT_FAKE_ENGINE_SETTINGS: FakeEngineSettings = {
  dockerHost: 'unix:///fake/docker.sock',
  latencyMs: 0,
  requestTimeoutMs: 30_000, // the adapter's REQUEST_TIMEOUT_MS
  pullStallMs: 120_000, // the adapter's PULL_STALL_MS
  pullMs: 500,
  removeMs: 0,
  seed: 'fake-engine',
};

export const ENGINE_METHODS = [
  'listContainers',
  'inspectContainer',
  'imageId',
  'pullImage',
  'createContainer',
  'startContainer',
  'stopContainer',
  'removeContainer',
  'renameContainer',
  'logTail',
  'ping',
  'createLock',
  'findLock',
  'removeLock',
  'watchEvents',
  'listNetworks',
  'createNetwork',
  'removeNetwork',
  'listVolumes',
  'createVolume',
  'removeVolume',
] as const satisfies readonly (keyof Engine)[];

export type EngineMethod = (typeof ENGINE_METHODS)[number];

/** Who caused a mutation: the code under test, the test playing a user, or the engine on its own. */
export type Actor = 'gitdock' | 'user' | 'engine';

export type MutationOp =
  | 'create'
  | 'start'
  | 'stop'
  | 'remove'
  | 'rename'
  /** The restart policy started it again. */
  | 'restart'
  /** The process ended on its own (crash or `exitAfterMs`). */
  | 'exit'
  | 'pull'
  | 'commit'
  | 'create-lock'
  | 'remove-lock'
  | 'create-network'
  | 'remove-network'
  | 'create-volume'
  | 'remove-volume';

export interface JournalEntry {
  seq: number;
  /** Fake time, unix ms. */
  at: number;
  op: MutationOp;
  by: Actor;
  /** The container (or lock, or image) acted on. */
  id?: string;
  name?: string;
  /** The container as it was just before. */
  before?: { state: ContainerState; health?: string };
  /** Op-specific: `{ to }` for rename, `{ ref, imageId }` for pull, `{ exitCode }` for exit. */
  detail?: Record<string, unknown>;
}

export type ContainerState = 'created' | 'running' | 'restarting' | 'exited' | 'removing' | 'dead';

/** A container as tests see it (a copy). */
export interface ContainerSnapshot {
  id: string;
  name: string;
  labels: Record<string, string>;
  image: string;
  imageId: string;
  state: ContainerState;
  running: boolean;
  exitCode: number;
  restartCount: number;
  health?: string;
  startedAt?: number;
  finishedAt?: number;
  restartPolicy: string;
  logs: string[];
  /** The networks it is configured on (names or IDs, as given), the create's first. */
  networks: string[];
  /** The named volumes it mounts. */
  volumes: string[];
}

/** One engine call, as fault predicates see it. */
export interface FakeCall {
  method: EngineMethod;
  /** The adapter's name for it, as in messages: `create container`, `pull image`. */
  operation: string;
  args: readonly unknown[];
  /** The container the call names, when it names one that exists. */
  container?: ContainerSnapshot;
}

/** An error to throw, or a function making one from the call. */
export type Fault = Error | ((call: FakeCall) => Error);

// -- errors, worded like the adapter ---------------------------------------------

const HINTS: Record<string, string> = {
  ECONNREFUSED: 'nothing accepts connections there; start dockerd or fix DOCKER_HOST',
  ECONNRESET: 'the engine closed the connection; check that dockerd is healthy',
};

/** What dockerd answered with a 4xx/5xx, as the adapter wraps it. */
export function engineRequestError(
  dockerHost: string,
  operation: string,
  data: Record<string, unknown>,
  statusCode: number,
  message: string,
): GitdockError {
  const target = typeof data.id === 'string' ? ` ${data.id}` : '';
  return new GitdockError(
    'GITDOCK_E_ENGINE_REQUEST',
    `Docker engine refused to ${operation}${target}: ${message}`,
    { operation, ...data, statusCode, dockerHost },
  );
}

/** No engine there (ECONNREFUSED) or the connection was cut (ECONNRESET). */
export function engineUnreachableError(
  dockerHost: string,
  operation: string,
  data: Record<string, unknown> = {},
  errno: 'ECONNREFUSED' | 'ECONNRESET' = 'ECONNREFUSED',
): GitdockError {
  return new GitdockError(
    'GITDOCK_E_ENGINE_UNREACHABLE',
    `Cannot reach the Docker engine at ${dockerHost} (${errno}) to ${operation}: ${HINTS[errno]}.`,
    { operation, ...data, dockerHost, errno },
  );
}

/** A call the engine accepted and never answered, cut at the adapter's deadline. */
function timeoutError(
  dockerHost: string,
  operation: string,
  data: Record<string, unknown>,
  timeoutMs: number,
): GitdockError {
  const target = typeof data.id === 'string' ? ` ${data.id}` : '';
  return new GitdockError(
    'GITDOCK_E_ENGINE_UNREACHABLE',
    `Cannot reach the Docker engine at ${dockerHost} (ETIMEDOUT) to ${operation}${target}: it did not answer within ${timeoutMs} ms; check that dockerd is running and healthy (docker version, its log).`,
    { operation, ...data, dockerHost, errno: 'ETIMEDOUT', timeoutMs },
  );
}

function pullError(
  dockerHost: string,
  ref: string,
  message: string,
  extra: Record<string, unknown> = {},
): GitdockError {
  return new GitdockError('GITDOCK_E_PULL_FAILED', `Cannot pull ${ref}: ${message}`, {
    ref,
    registry: registryOf(ref),
    dockerHost,
    ...extra,
  });
}

/** The registry part of a reference, as the docker CLI reads it. */
function registryOf(ref: string): string {
  const first = ref.split('/')[0] ?? '';
  return ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
    ? first
    : 'docker.io';
}

function abortText(signal: AbortSignal | undefined): string {
  const reason = signal?.reason;
  if (typeof reason === 'string' && reason !== '') return reason;
  if (reason instanceof Error && reason.name !== 'AbortError' && reason.message !== '') {
    return reason.message;
  }
  return 'its caller aborted it';
}

/** Docker's rule for container names (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`, a leading `/` allowed). */
const CONTAINER_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function gitdockLabelsOf(labels: Record<string, string>): Record<string, string> | undefined {
  const entries = Object.entries(labels).filter(([key]) => key.startsWith('io.gitdock.'));
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

// -- images: the registry and the host's image store -----------------------------

interface RegistryImage {
  id: string;
  behaviour: ImageBehaviour;
  pullMs?: number;
  layers: number;
}

interface LocalImage {
  id: string;
  behaviour: ImageBehaviour;
  labels: Record<string, string>;
}

class ImageStore {
  readonly registry = new Map<string, RegistryImage>();
  registryReachable = true;
  private readonly local = new Map<string, LocalImage>();
  private readonly tags = new Map<string, string>();

  /** A reference (as tagged here) or an image ID, with or without `sha256:`. */
  resolve(refOrId: string): LocalImage | undefined {
    const byTag = this.tags.get(refOrId);
    if (byTag !== undefined) return this.local.get(byTag);
    const id = refOrId.startsWith('sha256:') ? refOrId : `sha256:${refOrId}`;
    return this.local.get(id);
  }

  byId(id: string): LocalImage | undefined {
    return this.local.get(id);
  }

  store(ref: string | undefined, image: LocalImage): void {
    if (!this.local.has(image.id)) this.local.set(image.id, image);
    if (ref !== undefined) this.tags.set(ref, image.id);
  }

  /** `docker rmi <ref>`: drops the tag; the image goes when no tag and no container keep it. */
  untag(ref: string, inUse: (imageId: string) => boolean): boolean {
    const id = this.tags.get(ref);
    if (id === undefined) return false;
    this.tags.delete(ref);
    const tagged = [...this.tags.values()].includes(id);
    if (!tagged && !inUse(id)) this.local.delete(id);
    return true;
  }
}

// -- events ----------------------------------------------------------------------

interface Watcher {
  host: string;
  onEvent: (event: EngineEvent) => void;
  end: (err?: unknown) => void;
}

/** The open `watchEvents` streams. Delivery is asynchronous (a microtask), as from a socket. */
class EventHub {
  private readonly watchers = new Set<Watcher>();

  get openCount(): number {
    return this.watchers.size;
  }

  emit(c: FakeContainer, action: string, time: number): void {
    // The engine filters on the labels the container has when the event happens.
    const host = c.labels['io.gitdock.host'];
    if (host === undefined) return;
    const event: EngineEvent = { action, containerId: c.id, name: c.name, time };
    const service = c.labels['io.gitdock.service'];
    if (service !== undefined) event.service = service;
    for (const watcher of this.watchers) {
      if (watcher.host !== host) continue;
      queueMicrotask(() => {
        if (!this.watchers.has(watcher)) return;
        try {
          watcher.onEvent({ ...event });
        } catch (err) {
          watcher.end(err); // like the adapter: a throwing onEvent rejects the watch
        }
      });
    }
  }

  /** Resolves when `signal` aborts or the stream is ended; rejects when `onEvent` throws. */
  open(host: string, signal: AbortSignal, onEvent: (event: EngineEvent) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const watcher: Watcher = {
        host,
        onEvent,
        end: (err) => {
          if (!this.watchers.delete(watcher)) return;
          signal.removeEventListener('abort', onAbort);
          if (err === undefined) resolve();
          else reject(err);
        },
      };
      const onAbort = () => watcher.end();
      this.watchers.add(watcher);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The engine went away: every stream ends, as a cut connection does. */
  endAll(): void {
    for (const watcher of [...this.watchers]) watcher.end();
  }
}

// -- faults ----------------------------------------------------------------------

class Faults {
  private readonly next = new Map<EngineMethod, Fault[]>();
  private readonly predicates = new Set<(call: FakeCall) => Error | undefined | false | null>();
  readonly hung = new Set<EngineMethod>();

  failNext(method: EngineMethod, fault: Fault, times: number): void {
    const queue = this.next.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.next.set(method, queue);
  }

  failWhen(predicate: (call: FakeCall) => Error | undefined | false | null): () => void {
    this.predicates.add(predicate);
    return () => this.predicates.delete(predicate);
  }

  /** What this call meets: an error, a hang, or nothing. `failNext` first, then predicates, then hangs. */
  take(call: FakeCall): Error | 'hang' | undefined {
    const fault = this.next.get(call.method)?.shift();
    if (fault !== undefined) return typeof fault === 'function' ? fault(call) : fault;
    for (const predicate of this.predicates) {
      const err = predicate(call);
      if (err) return err;
    }
    return this.hung.has(call.method) ? 'hang' : undefined;
  }
}

// -- networks --------------------------------------------------------------------

interface FakeNetwork {
  id: string;
  name: string;
  labels: Record<string, string>;
  driver: string;
  /** The engine's own (`host`, `none`): never removed. */
  predefined: boolean;
}

/** A network mode that names a network of the network table, not a mode of its own. */
function isUserNetworkMode(mode: string): boolean {
  return (
    !['', 'default', 'bridge', 'host', 'none'].includes(mode) && !mode.startsWith('container:')
  );
}

// -- containers and their lifecycle ----------------------------------------------

interface RestartPolicy {
  name: string;
  max: number;
}

interface FakeContainer {
  readonly id: string;
  name: string;
  labels: Record<string, string>;
  readonly image: string;
  readonly imageId: string;
  readonly behaviour: ImageBehaviour;
  readonly restart: RestartPolicy;
  /** When the health verdict lands after a start, and which; undefined without a HEALTHCHECK. */
  readonly healthcheck: { afterMs: number; healthy: boolean } | undefined;
  readonly stopTimeoutMs: number;
  readonly createdAt: number;
  state: ContainerState;
  exitCode: number;
  restartCount: number;
  health?: string;
  startedAt?: number;
  finishedAt?: number;
  /** dockerd's HasBeenManuallyStopped: no restart by policy (and none by `unless-stopped` after an engine restart). */
  manuallyStopped: boolean;
  /** The restart manager's current back-off. */
  restartDelayMs: number;
  logs: string[];
  /** Networks it is configured on, the create's first: as given, by ID once it has started. */
  networks: string[];
  /** Named volumes it mounts. */
  volumes: string[];
  /** Counts starts, so a timer of an earlier run can tell it is stale. */
  run: number;
  /** Timers of the current run (exit, health verdict), a pending restart, or a removal. */
  timers: TimerHandle[];
  /** Resolves when the current run's process exits. */
  exited: Promise<void>;
  onExit?: () => void;
  /** A stop in progress (SIGTERM ignored, waiting out the grace period), shared by a second stop. */
  stopping?: Promise<void>;
  /** A slow removal in progress. */
  removal?: Promise<void>;
}

interface RuntimeHooks {
  emit(c: FakeContainer, action: string): void;
  record(op: MutationOp, by: Actor, c: FakeContainer, detail?: Record<string, unknown>): void;
}

/**
 * The container table and the state machine of one container, as dockerd's
 * daemon/monitor.go and restartmanager drive it. Callers check whether an
 * operation is allowed (and word the refusal); this class only carries it out.
 */
class ContainerRuntime {
  private readonly byId = new Map<string, FakeContainer>();

  constructor(
    private readonly clock: FakeClock,
    private readonly hooks: RuntimeHooks,
  ) {}

  /** Newest first, as `docker ps -a` lists them. */
  all(): FakeContainer[] {
    return [...this.byId.values()].reverse();
  }

  /** dockerd's lookup order: full ID, then name, then a unique ID prefix. */
  find(ref: string): FakeContainer | undefined {
    const exact = this.byId.get(ref);
    if (exact !== undefined) return exact;
    const name = ref.replace(/^\//, '');
    const named = [...this.byId.values()].find((c) => c.name === name);
    if (named !== undefined) return named;
    const prefixed = [...this.byId.values()].filter((c) => ref !== '' && c.id.startsWith(ref));
    return prefixed.length === 1 ? prefixed[0] : undefined;
  }

  byName(name: string): FakeContainer | undefined {
    return [...this.byId.values()].find((c) => c.name === name);
  }

  usesImage(imageId: string): boolean {
    return [...this.byId.values()].some((c) => c.imageId === imageId);
  }

  add(c: FakeContainer, by: Actor): void {
    this.byId.set(c.id, c);
    this.hooks.record('create', by, c);
    this.hooks.emit(c, 'create');
  }

  /** A start asked for (not a policy restart): resets the restart manager, as dockerd does. */
  start(c: FakeContainer, by: Actor): void {
    this.hooks.record('start', by, c);
    c.manuallyStopped = false;
    c.restartCount = 0;
    c.restartDelayMs = 0;
    this.run(c);
  }

  /** The process exits on its own, `code` as its status: the restart policy decides what follows. */
  crash(c: FakeContainer, code: number): void {
    if (c.state !== 'running') return;
    this.hooks.record('exit', 'engine', c, { exitCode: code });
    this.exit(c, code, true);
  }

  /**
   * SIGTERM, then after `graceMs` SIGKILL if the process ignores it: events
   * kill, die, stop. A created or exited container is left alone (dockerd's
   * 304), a restarting one just stays down.
   */
  stop(c: FakeContainer, graceMs: number, by: Actor): Promise<void> {
    if (c.stopping !== undefined) return c.stopping;
    if (c.state === 'restarting') {
      this.hooks.record('stop', by, c);
      c.manuallyStopped = true;
      this.cancelTimers(c);
      c.state = 'exited';
      this.hooks.emit(c, 'stop');
      return Promise.resolve();
    }
    if (c.state !== 'running') return Promise.resolve();
    this.hooks.record('stop', by, c);
    c.manuallyStopped = true;
    this.hooks.emit(c, 'kill');
    if (!c.behaviour.ignoresSigterm) {
      this.exit(c, c.behaviour.stopExitCode ?? 0, false);
      this.hooks.emit(c, 'stop');
      return Promise.resolve();
    }
    c.stopping = this.waitOutGrace(c, graceMs).finally(() => {
      c.stopping = undefined;
    });
    return c.stopping;
  }

  private async waitOutGrace(c: FakeContainer, graceMs: number): Promise<void> {
    const run = c.run;
    const grace = this.wait(graceMs, `${c.name}: stop grace period`);
    await Promise.race([grace.done, c.exited]);
    grace.cancel();
    if (c.run === run && c.state === 'running') {
      this.hooks.emit(c, 'kill');
      this.exit(c, 137, false);
    }
    if (this.byId.has(c.id)) this.hooks.emit(c, 'stop');
  }

  /**
   * `rm -f`: SIGKILL if running (events kill, die), then gone (destroy) at
   * once or, with `slowMs`, after that long in state `removing`, still
   * holding its name.
   */
  remove(c: FakeContainer, by: Actor, slowMs: number): Promise<void> {
    this.hooks.record('remove', by, c);
    c.manuallyStopped = true;
    if (c.state === 'running') {
      this.hooks.emit(c, 'kill');
      this.exit(c, 137, false);
    } else {
      this.cancelTimers(c);
      if (c.state === 'restarting') c.state = 'exited';
    }
    if (slowMs <= 0) {
      this.destroy(c);
      return Promise.resolve();
    }
    c.state = 'removing';
    c.removal = new Promise((resolve) => {
      c.timers.push(
        this.clock.schedule(
          slowMs,
          () => {
            this.destroy(c);
            resolve();
          },
          { source: 'engine', label: `${c.name}: removal` },
        ),
      );
    });
    return c.removal;
  }

  rename(c: FakeContainer, name: string, by: Actor): void {
    this.hooks.record('rename', by, c, { from: c.name, to: name });
    c.name = name;
    this.hooks.emit(c, 'rename');
  }

  /** What a failed removal leaves: a `dead` container that keeps its name. */
  markDead(c: FakeContainer): void {
    this.cancelTimers(c);
    c.onExit?.();
    c.onExit = undefined;
    c.state = 'dead';
  }

  /** dockerd stopping: every container stops (no restart), removals in progress finish. */
  shutdown(): void {
    for (const c of this.all()) {
      if (c.state === 'running') {
        this.hooks.record('stop', 'engine', c);
        this.exit(c, c.behaviour.ignoresSigterm ? 137 : (c.behaviour.stopExitCode ?? 0), false);
      } else if (c.state === 'restarting') {
        this.cancelTimers(c);
        c.state = 'exited';
      } else if (c.state === 'removing') {
        this.destroy(c);
      }
    }
  }

  /** dockerd starting again: its restore starts what the restart policies say (daemon.restore). */
  restore(): void {
    for (const c of [...this.byId.values()]) {
      if (c.state !== 'exited' || c.startedAt === undefined) continue;
      const { name, max } = c.restart;
      const again =
        name === 'always' ||
        (name === 'unless-stopped' && !c.manuallyStopped) ||
        (name === 'on-failure' && c.exitCode !== 0 && (max === 0 || c.restartCount < max));
      if (again) this.start(c, 'engine');
    }
  }

  /** A new run of the process: running, health starting, its own exit and verdict scheduled. */
  private run(c: FakeContainer): void {
    c.run++;
    c.state = 'running';
    c.startedAt = this.clock.now();
    c.exitCode = 0;
    c.health = c.healthcheck === undefined ? undefined : 'starting';
    c.exited = new Promise((resolve) => {
      c.onExit = resolve;
    });
    c.logs.push(...(c.behaviour.logLines ?? []));
    this.hooks.emit(c, 'start');
    const { exitAfterMs, exitCode } = c.behaviour;
    if (exitAfterMs !== undefined) {
      c.timers.push(
        this.clock.schedule(exitAfterMs, () => this.crash(c, exitCode ?? 0), {
          source: 'engine',
          label: `${c.name}: process exits (${exitCode ?? 0})`,
        }),
      );
    }
    const check = c.healthcheck;
    if (check !== undefined) {
      c.timers.push(
        this.clock.schedule(
          check.afterMs,
          () => {
            c.health = check.healthy ? 'healthy' : 'unhealthy';
            this.hooks.emit(c, `health_status: ${c.health}`);
          },
          { source: 'engine', label: `${c.name}: health check` },
        ),
      );
    }
  }

  /**
   * The process is gone. On its own (`byItself`) the restart policy may
   * bring it back after the back-off, counting a restart and showing
   * `restarting` (Running stays true, as in dockerd) meanwhile.
   */
  private exit(c: FakeContainer, code: number, byItself: boolean): void {
    this.cancelTimers(c);
    const now = this.clock.now();
    c.finishedAt = now;
    c.exitCode = code;
    const exited = c.onExit;
    c.onExit = undefined;
    if (byItself && this.shouldRestart(c, code)) {
      c.restartCount++;
      c.state = 'restarting';
      // restartmanager: 100 ms, doubling to 1 min; back to 100 ms after a run of 10 s or more.
      if (now - (c.startedAt ?? now) >= 10_000) c.restartDelayMs = 0;
      c.restartDelayMs = c.restartDelayMs === 0 ? 100 : Math.min(c.restartDelayMs * 2, 60_000);
      c.timers.push(
        this.clock.schedule(
          c.restartDelayMs,
          () => {
            if (c.state !== 'restarting') return;
            this.hooks.record('restart', 'engine', c);
            this.run(c);
          },
          { source: 'engine', label: `${c.name}: restart (${c.restart.name})` },
        ),
      );
    } else {
      c.state = 'exited';
    }
    this.hooks.emit(c, 'die');
    exited?.();
  }

  private shouldRestart(c: FakeContainer, code: number): boolean {
    if (c.manuallyStopped) return false;
    const { name, max } = c.restart;
    if (name === 'always' || name === 'unless-stopped') return true;
    return name === 'on-failure' && code !== 0 && (max === 0 || c.restartCount < max);
  }

  private destroy(c: FakeContainer): void {
    this.cancelTimers(c);
    c.onExit?.();
    this.byId.delete(c.id);
    this.hooks.emit(c, 'destroy');
  }

  private cancelTimers(c: FakeContainer): void {
    for (const timer of c.timers.splice(0)) timer.cancel();
  }

  /** A wait on the fake clock that shows as the engine's own timer, not as a sleep of the code under test. */
  private wait(ms: number, label: string): { done: Promise<void>; cancel: () => void } {
    let handle: TimerHandle | undefined;
    const done = new Promise<void>((resolve) => {
      handle = this.clock.schedule(ms, resolve, { source: 'engine', label });
    });
    return { done, cancel: () => handle?.cancel() };
  }
}

// -- the engine ------------------------------------------------------------------

/** What `enter` needs to know to fail a call like the adapter would. */
interface Gate {
  method: EngineMethod;
  args: readonly unknown[];
  operation: string;
  data: Record<string, unknown>;
  /** The container the call names (for fault predicates). */
  target?: string;
  signal?: AbortSignal;
  /** When a hung call gives up (default `requestTimeoutMs`). */
  deadlineMs?: number;
  /** The error of a hung call at its deadline (default: ETIMEDOUT). */
  onDeadline?: () => Error;
  /** The error of a hung call whose signal aborts; undefined resolves the gate with 'aborted'. */
  onAbort?: () => Error | undefined;
  /** The error of a hung call when the engine goes away (default: ECONNRESET). */
  onCut?: () => Error;
}

export class FakeEngine implements Engine {
  readonly settings: FakeEngineSettings;
  private readonly images = new ImageStore();
  private readonly events = new EventHub();
  private readonly faults = new Faults();
  private readonly runtime: ContainerRuntime;
  private readonly lockTable = new Map<string, EngineLock>();
  private readonly networkTable = new Map<string, FakeNetwork>();
  private readonly volumeTable = new Map<string, ActualVolume>();
  private readonly counts = Object.fromEntries(ENGINE_METHODS.map((m) => [m, 0])) as Record<
    EngineMethod,
    number
  >;
  private readonly entries: JournalEntry[] = [];
  /** Calls waiting on the engine (hung ones, pulls): told when it goes away. */
  private readonly cuts = new Set<() => void>();
  private readonly stalled = new Set<string>();
  private stallAll = false;
  private reachable = true;
  private idCounter = 0;

  constructor(
    readonly clock: FakeClock,
    settings: Partial<FakeEngineSettings> = {},
  ) {
    this.settings = { ...DEFAULT_FAKE_ENGINE_SETTINGS, ...settings };
    // The stack's dockerd runs with --bridge=none: only these two are its own.
    for (const [name, driver] of [
      ['host', 'host'],
      ['none', 'null'],
    ] as const) {
      const id = createHash('sha256').update(`${this.settings.seed}/network/${name}`).digest('hex');
      this.networkTable.set(id, { id, name, labels: {}, driver, predefined: true });
    }
    this.runtime = new ContainerRuntime(clock, {
      emit: (c, action) => this.events.emit(c, action, this.clock.now()),
      record: (op, by, c, detail) =>
        this.record({
          op,
          by,
          id: c.id,
          name: c.name,
          ...(op === 'create'
            ? {}
            : {
                before: { state: c.state, ...(c.health === undefined ? {} : { health: c.health }) },
              }),
          ...(detail === undefined ? {} : { detail }),
        }),
    });
  }

  // -- Engine ---------------------------------------------------------------------

  async listContainers(): Promise<ActualContainer[]> {
    await this.enter({
      method: 'listContainers',
      args: [],
      operation: 'list containers',
      data: {},
    });
    return this.runtime.all().map((c) => {
      const actual: ActualContainer = {
        id: c.id,
        name: c.name,
        labels: { ...c.labels },
        state: c.state,
        imageId: c.imageId,
      };
      // As the adapter: asked only for containers that carry gitdock labels themselves.
      const image = this.images.byId(c.imageId);
      const inherited = image === undefined ? undefined : gitdockLabelsOf(image.labels);
      if (inherited !== undefined && gitdockLabelsOf(c.labels) !== undefined) {
        actual.imageGitdockLabels = inherited;
      }
      return actual;
    });
  }

  async inspectContainer(id: string): Promise<ContainerStatus> {
    const gate = this.gate('inspectContainer', [id], 'inspect container', { id }, id);
    await this.enter(gate);
    const c = this.existing(gate, id);
    const status: ContainerStatus = {
      id: c.id,
      name: c.name,
      state: c.state,
      running: c.state === 'running' || c.state === 'restarting',
      exitCode: c.exitCode,
      restartCount: c.restartCount,
    };
    if (c.health !== undefined) status.health = c.health;
    if (c.startedAt !== undefined) status.startedAt = new Date(c.startedAt).toISOString();
    return status;
  }

  async imageId(ref: string): Promise<string | undefined> {
    await this.enter(this.gate('imageId', [ref], 'inspect image', { ref }));
    return this.images.resolve(ref)?.id;
  }

  async pullImage(
    ref: string,
    onProgress?: (p: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const host = this.settings.dockerHost;
    const aborted = () =>
      pullError(host, ref, `cut before it finished: ${abortText(signal)}`, { aborted: true });
    const stalled = () =>
      pullError(
        host,
        ref,
        `cut after ${this.settings.pullStallMs} ms without progress: the registry stalled (or the engine stopped answering)`,
        { aborted: true, stalled: true, pullStallMs: this.settings.pullStallMs },
      );
    const cut = () => pullError(host, ref, 'the engine closed the stream before it ended');
    // Like the adapter: an aborted signal is refused before the engine is asked.
    if (signal?.aborted) throw aborted();
    await this.enter({
      ...this.gate('pullImage', [ref, onProgress, signal], 'pull image', { ref }),
      signal,
      deadlineMs: this.settings.pullStallMs,
      onDeadline: stalled,
      onAbort: aborted,
      onCut: cut,
    });
    if (!this.images.registryReachable) {
      const registry = registryOf(ref);
      throw pullError(
        host,
        ref,
        `Get "http://${registry}/v2/": dial tcp ${registry}: connect: connection refused`,
        { statusCode: 500 },
      );
    }
    const entry = this.images.registry.get(ref);
    if (entry === undefined) {
      throw pullError(
        host,
        ref,
        `manifest for ${ref} not found: manifest unknown: manifest unknown`,
        {
          statusCode: 404,
        },
      );
    }
    await this.transfer(ref, entry, { onProgress, signal, aborted, stalled, cut });
    this.images.store(ref, {
      id: entry.id,
      behaviour: entry.behaviour,
      labels: { ...(entry.behaviour.gitdockLabels ?? {}) },
    });
    this.record({
      op: 'pull',
      by: 'gitdock',
      id: entry.id,
      name: ref,
      detail: { ref, imageId: entry.id },
    });
  }

  async createContainer(options: CreateContainerOptions): Promise<string> {
    const gate = this.gate('createContainer', [options], 'create container', {
      name: options.name,
    });
    await this.enter(gate);
    const connects = toNetworkConnects(options.spec).map((c) => c.network);
    return this.create(options.name, toCreateBody(options), 'gitdock', gate, connects);
  }

  async startContainer(id: string): Promise<void> {
    const gate = this.gate('startContainer', [id], 'start container', { id }, id);
    await this.enter(gate);
    this.startAs(this.existing(gate, id), 'gitdock', gate);
  }

  async stopContainer(id: string, timeoutMs: number): Promise<void> {
    // The engine takes whole seconds (the adapter rounds up), and answers after the grace period.
    const graceMs = Math.ceil(Math.max(0, timeoutMs) / 1000) * 1000;
    const gate = {
      ...this.gate('stopContainer', [id, timeoutMs], 'stop container', { id }, id),
      deadlineMs: graceMs + this.settings.requestTimeoutMs,
    };
    await this.enter(gate);
    await this.runtime.stop(this.existing(gate, id), graceMs, 'gitdock');
  }

  async removeContainer(id: string, _options?: { keepVolumes?: boolean }): Promise<void> {
    const gate = this.gate('removeContainer', [id], 'remove container', { id }, id);
    await this.enter(gate);
    const c = this.runtime.find(id);
    if (c === undefined) return; // 404: already gone
    if (c.state === 'removing') {
      throw this.refused(gate, 409, `removal of container ${id} is already in progress`);
    }
    await this.runtime.remove(c, 'gitdock', this.settings.removeMs);
  }

  async renameContainer(id: string, name: string): Promise<void> {
    const gate = this.gate('renameContainer', [id, name], 'rename container', { id, name }, id);
    await this.enter(gate);
    this.renameAs(this.existing(gate, id), name, 'gitdock', gate);
  }

  async logTail(id: string, lines: number): Promise<string> {
    const gate = this.gate('logTail', [id, lines], 'read container logs', { id }, id);
    await this.enter(gate);
    const logs = this.existing(gate, id).logs;
    const n = Number.isFinite(lines) ? Math.max(0, Math.floor(lines)) : logs.length;
    const tail = n === 0 ? [] : logs.slice(-n);
    return tail.map((line) => `${line}\n`).join('');
  }

  async ping(): Promise<void> {
    await this.enter({
      ...this.gate('ping', [], 'ping', {}),
      deadlineMs: Math.min(10_000, this.settings.requestTimeoutMs),
    });
  }

  async createLock(
    name: string,
    labels: Record<string, string>,
  ): Promise<{ created: true; lock: EngineLock } | { created: false; lock: EngineLock }> {
    await this.enter(this.gate('createLock', [name, labels], 'create lock', { name }));
    const held = this.lockTable.get(name);
    if (held !== undefined) return { created: false, lock: copyLock(held) };
    const lock: EngineLock = {
      id: this.newId(),
      name,
      labels: { ...labels },
      createdAt: this.clock.isoNow(),
    };
    this.lockTable.set(name, lock);
    this.record({ op: 'create-lock', by: 'gitdock', id: lock.id, name });
    return { created: true, lock: copyLock(lock) };
  }

  async findLock(name: string): Promise<EngineLock | undefined> {
    await this.enter(this.gate('findLock', [name], 'find lock', { name }));
    const lock = this.lockTable.get(name);
    return lock === undefined ? undefined : copyLock(lock);
  }

  async removeLock(id: string): Promise<void> {
    await this.enter(this.gate('removeLock', [id], 'remove lock', { id }));
    for (const [name, lock] of this.lockTable) {
      if (lock.id !== id) continue;
      this.lockTable.delete(name);
      this.record({ op: 'remove-lock', by: 'gitdock', id, name });
    }
  }

  async watchEvents(options: {
    host: string;
    signal: AbortSignal;
    onEvent: (event: EngineEvent) => void;
  }): Promise<void> {
    const { host, signal, onEvent } = options;
    if (signal.aborted) return;
    const entered = await this.enter({
      ...this.gate('watchEvents', [options], 'watch events', { host }),
      signal,
      onAbort: () => undefined,
    });
    if (entered === 'aborted' || signal.aborted) return;
    await this.events.open(host, signal, onEvent);
  }

  async listNetworks(): Promise<ActualNetwork[]> {
    await this.enter(this.gate('listNetworks', [], 'list networks', {}));
    return this.networks();
  }

  async createNetwork(network: DesiredNetwork, labels: Record<string, string>): Promise<string> {
    const gate = this.gate('createNetwork', [network, labels], 'create network', {
      name: network.name,
    });
    await this.enter(gate);
    if ([...this.networkTable.values()].some((n) => n.name === network.name)) {
      throw this.refused(gate, 409, `network with name ${network.name} already exists`);
    }
    const id = this.newId();
    this.networkTable.set(id, {
      id,
      name: network.name,
      labels: { ...network.labels, ...labels },
      driver: network.driver ?? 'bridge',
      predefined: false,
    });
    this.record({ op: 'create-network', by: 'gitdock', id, name: network.name });
    return id;
  }

  async removeNetwork(idOrName: string): Promise<void> {
    const gate = this.gate('removeNetwork', [idOrName], 'remove network', { id: idOrName });
    await this.enter(gate);
    const n = this.findNetwork(idOrName);
    if (n === undefined) return; // 404: already gone
    if (n.predefined) {
      throw this.refused(gate, 403, `${n.name} is a pre-defined network and cannot be removed`);
    }
    // Only running containers have endpoints; a stopped one keeps the name and fails its next start.
    const active = this.runtime
      .all()
      .some(
        (c) =>
          (c.state === 'running' || c.state === 'restarting') &&
          c.networks.some((ref) => this.findNetwork(ref) === n),
      );
    if (active) {
      throw this.refused(
        gate,
        403,
        `error while removing network: network ${n.name} id ${n.id} has active endpoints`,
      );
    }
    this.networkTable.delete(n.id);
    this.record({ op: 'remove-network', by: 'gitdock', id: n.id, name: n.name });
  }

  async listVolumes(): Promise<ActualVolume[]> {
    await this.enter(this.gate('listVolumes', [], 'list volumes', {}));
    return [...this.volumeTable.values()].map((v) => ({ ...v, labels: { ...v.labels } }));
  }

  async createVolume(volume: DesiredVolume, labels: Record<string, string>): Promise<void> {
    await this.enter(
      this.gate('createVolume', [volume, labels], 'create volume', { name: volume.name }),
    );
    // Like dockerd: a create of an existing name answers with the existing volume, unchanged.
    if (this.volumeTable.has(volume.name)) return;
    this.volumeTable.set(volume.name, {
      name: volume.name,
      labels: { ...volume.labels, ...labels },
      driver: volume.driver ?? 'local',
    });
    this.record({ op: 'create-volume', by: 'gitdock', name: volume.name });
  }

  async removeVolume(name: string): Promise<void> {
    const gate = this.gate('removeVolume', [name], 'remove volume', { id: name });
    await this.enter(gate);
    if (!this.volumeTable.has(name)) return; // 404: already gone
    const users = this.runtime
      .all()
      .filter((c) => c.volumes.includes(name))
      .map((c) => c.id);
    if (users.length > 0) {
      throw this.refused(gate, 409, `remove ${name}: volume is in use - [${users.join(', ')}]`);
    }
    this.volumeTable.delete(name);
    this.record({ op: 'remove-volume', by: 'gitdock', name });
  }

  // -- the world around the agent: users, the engine itself, the registry ---------

  /** `docker run -d`: creates and starts; the image comes from the registry if missing (no pull time). */
  userRun(
    name: string,
    image: string,
    labels: Record<string, string> = {},
    options: { restart?: string } = {},
  ): string {
    if (this.images.resolve(image) === undefined) {
      const entry = this.images.registry.get(image);
      if (entry !== undefined) {
        this.images.store(image, {
          id: entry.id,
          behaviour: entry.behaviour,
          labels: { ...(entry.behaviour.gitdockLabels ?? {}) },
        });
        this.record({ op: 'pull', by: 'user', id: entry.id, name: image, detail: { ref: image } });
      }
    }
    const gate = this.gate('createContainer', [], 'create container', { name });
    const restart = options.restart ?? 'no';
    const policy = /^on-failure(?::(\d+))?$/.exec(restart);
    const id = this.create(
      name,
      {
        Image: image,
        Labels: { ...labels },
        StopTimeout: 10,
        HostConfig: {
          RestartPolicy: policy
            ? { Name: 'on-failure', MaximumRetryCount: Number(policy[1] ?? 0) }
            : { Name: restart },
        },
      },
      'user',
      gate,
    );
    this.runtime.start(this.runtime.find(id)!, 'user');
    return id;
  }

  /** `docker start`. */
  userStart(name: string): void {
    const gate = this.gate('startContainer', [], 'start container', { id: name });
    this.startAs(this.existing(gate, name), 'user', gate);
  }

  /** `docker stop` (grace: the container's stop timeout unless given); resolves when stopped. */
  userStop(name: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const c = this.existing(this.gate('stopContainer', [], 'stop container', { id: name }), name);
    return this.runtime.stop(c, options.timeoutMs ?? c.stopTimeoutMs, 'user');
  }

  /**
   * `docker rm -f`. With `slowMs` the container sits in state `removing`
   * that long (still holding its name) before it is gone; the returned
   * promise resolves then, and need not be awaited.
   */
  userRemove(name: string, options: { slowMs?: number } = {}): Promise<void> {
    const gate = this.gate('removeContainer', [], 'remove container', { id: name });
    const c = this.existing(gate, name);
    if (c.state === 'removing') {
      throw this.refused(gate, 409, `removal of container ${name} is already in progress`);
    }
    return this.runtime.remove(c, 'user', options.slowMs ?? 0);
  }

  /** `docker rename`. */
  userRename(name: string, newName: string): void {
    const gate = this.gate('renameContainer', [], 'rename container', { id: name, name: newName });
    this.renameAs(this.existing(gate, name), newName, 'user', gate);
  }

  /** `docker commit <container> <newRef>`: an image with the container's labels and behaviour. */
  userCommit(containerName: string, newRef: string): string {
    const c = this.existing(
      this.gate('createContainer', [], 'commit container', { id: containerName }),
      containerName,
    );
    const id = `sha256:${this.newId()}`;
    const { gitdockLabels: _, ...behaviour } = c.behaviour;
    this.images.store(newRef, {
      id,
      behaviour: { ...behaviour, gitdockLabels: { ...c.labels } },
      labels: { ...c.labels },
    });
    this.record({ op: 'commit', by: 'user', id, name: newRef, detail: { container: c.id } });
    return id;
  }

  /** The container's process exits on its own with `exitCode` (a crash, an OOM kill): the restart policy applies. */
  crashContainer(name: string, exitCode = 1): void {
    this.runtime.crash(
      this.existing(this.gate('inspectContainer', [], 'crash', { id: name }), name),
      exitCode,
    );
  }

  /** Leaves the container `dead`, as a removal that failed does. */
  markDead(name: string): void {
    this.runtime.markDead(
      this.existing(this.gate('inspectContainer', [], 'mark dead', { id: name }), name),
    );
  }

  /**
   * The engine goes away (`false`): every call rejects with
   * GITDOCK_E_ENGINE_UNREACHABLE (`errno: 'ECONNREFUSED'`), open event
   * streams end, calls waiting on it fail (ECONNRESET; a pull with
   * GITDOCK_E_PULL_FAILED). Containers keep running meanwhile.
   */
  setReachable(reachable: boolean): void {
    this.reachable = reachable;
    if (reachable) return;
    for (const cut of [...this.cuts]) cut();
    this.events.endAll();
  }

  isReachable(): boolean {
    return this.reachable;
  }

  /**
   * dockerd restarts (no live-restore): streams end, every container stops,
   * then those whose policy says so (always; unless-stopped if not stopped
   * by hand; on-failure after a failure) start again. Locks and images stay.
   * With `downMs` the engine is unreachable that long in between.
   */
  restartEngine(options: { downMs?: number } = {}): void {
    this.setReachable(false);
    this.runtime.shutdown();
    const back = () => {
      this.runtime.restore();
      this.reachable = true;
    };
    const downMs = options.downMs ?? 0;
    if (downMs <= 0) back();
    else this.clock.schedule(downMs, back, { source: 'engine', label: 'engine comes back' });
  }

  /** An image in the registry (a new push of a tag moves it). Returns its ID. */
  pushImage(
    ref: string,
    behaviour: ImageBehaviour = {},
    options: { id?: string; pullMs?: number; layers?: number } = {},
  ): string {
    const id = options.id ?? `sha256:${this.newId()}`;
    this.images.registry.set(ref, {
      id,
      behaviour: { ...behaviour },
      layers: options.layers ?? 2,
      ...(options.pullMs === undefined ? {} : { pullMs: options.pullMs }),
    });
    return id;
  }

  /** An image already on the host (`docker load`), not necessarily in the registry. Returns its ID. */
  loadImage(ref: string, behaviour: ImageBehaviour = {}, options: { id?: string } = {}): string {
    const pushed = this.images.registry.get(ref);
    const id = options.id ?? pushed?.id ?? `sha256:${this.newId()}`;
    this.images.store(ref, {
      id,
      behaviour: { ...behaviour },
      labels: { ...(behaviour.gitdockLabels ?? {}) },
    });
    return id;
  }

  /** `docker rmi <ref>`: untags; true when the tag existed. */
  removeImage(ref: string): boolean {
    return this.images.untag(ref, (id) => this.runtime.usesImage(id));
  }

  hasImage(ref: string): boolean {
    return this.images.resolve(ref) !== undefined;
  }

  /** The registry answers (`true`) or refuses connections. */
  setRegistryReachable(reachable: boolean): void {
    this.images.registryReachable = reachable;
  }

  /**
   * Pulls of `ref` (every ref without one) stall after their first progress
   * report: they end only when their signal aborts, or at `pullStallMs` as
   * the adapter cuts them. Returns a function that ends the stall for new pulls.
   */
  stallPulls(ref?: string): () => void {
    if (ref === undefined) this.stallAll = true;
    else this.stalled.add(ref);
    return () => {
      if (ref === undefined) this.stallAll = false;
      else this.stalled.delete(ref);
    };
  }

  // -- fault injection ------------------------------------------------------------

  /** The next `times` calls of `method` reject with `fault` (default: the engine is unreachable), doing nothing. */
  failNext(method: EngineMethod, fault?: Fault, times = 1): void {
    this.faults.failNext(
      method,
      fault ?? ((call) => engineUnreachableError(this.settings.dockerHost, call.operation)),
      times,
    );
  }

  /** Every call for which `predicate` returns an error rejects with it, doing nothing. Returns the remover. */
  failWhen(predicate: (call: FakeCall) => Error | undefined | false | null): () => void {
    return this.faults.failWhen(predicate);
  }

  /**
   * Calls of `method` are accepted and never answered: they fail at the
   * adapter's deadline (ETIMEDOUT), when their signal aborts (a pull; a
   * watch then resolves), or when the engine goes away. Returns the undo.
   */
  hang(method: EngineMethod): () => void {
    this.faults.hung.add(method);
    return () => this.unhang(method);
  }

  unhang(method: EngineMethod): void {
    this.faults.hung.delete(method);
  }

  // -- what tests look at ---------------------------------------------------------

  /** Every container, newest first (copies). */
  containers(): ContainerSnapshot[] {
    return this.runtime.all().map(snapshot);
  }

  /** A container by ID, name or ID prefix (a copy), or undefined. */
  container(ref: string): ContainerSnapshot | undefined {
    const c = this.runtime.find(ref);
    return c === undefined ? undefined : snapshot(c);
  }

  /**
   * Networks, the engine's own included (copies), each with every container
   * configured on it, running or not, as the adapter reads them.
   */
  networks(): ActualNetwork[] {
    return [...this.networkTable.values()].map((n) => ({
      id: n.id,
      name: n.name,
      labels: { ...n.labels },
      containers: this.runtime
        .all()
        .filter((c) => c.networks.some((ref) => this.findNetwork(ref) === n))
        .map((c) => c.id),
    }));
  }

  /** Volumes (copies). */
  volumes(): ActualVolume[] {
    return [...this.volumeTable.values()].map((v) => ({ ...v, labels: { ...v.labels } }));
  }

  locks(): EngineLock[] {
    return [...this.lockTable.values()].map(copyLock);
  }

  /** Every mutation so far, in order. */
  get journal(): readonly JournalEntry[] {
    return this.entries;
  }

  /** The journal, filtered: `mutations({ by: 'gitdock' })`, `mutations({ op: 'stop', name: 'web' })`. */
  mutations(
    filter: { by?: Actor; op?: MutationOp; name?: string; id?: string } = {},
  ): JournalEntry[] {
    return this.entries.filter(
      (e) =>
        (filter.by === undefined || e.by === filter.by) &&
        (filter.op === undefined || e.op === filter.op) &&
        (filter.name === undefined || e.name === filter.name) &&
        (filter.id === undefined || e.id === filter.id),
    );
  }

  /** Calls of `method` so far, failed ones included. */
  callCount(method: EngineMethod): number {
    return this.counts[method];
  }

  /** Calls per method so far (a copy). */
  callCounts(): Record<EngineMethod, number> {
    return { ...this.counts };
  }

  openEventStreams(): number {
    return this.events.openCount;
  }

  // -- internals ------------------------------------------------------------------

  private gate(
    method: EngineMethod,
    args: readonly unknown[],
    operation: string,
    data: Record<string, unknown>,
    target?: string,
  ): Gate {
    return { method, args, operation, data, ...(target === undefined ? {} : { target }) };
  }

  /**
   * Every engine call passes here first: it is counted, refused when the
   * engine is away, meets its injected fault or hang, and takes its latency.
   * Resolves 'aborted' only for a hung call whose `onAbort` says so.
   */
  private async enter(gate: Gate): Promise<'go' | 'aborted'> {
    this.counts[gate.method]++;
    const host = this.settings.dockerHost;
    if (!this.reachable) throw engineUnreachableError(host, gate.operation, gate.data);
    const target = gate.target === undefined ? undefined : this.runtime.find(gate.target);
    const fault = this.faults.take({
      method: gate.method,
      operation: gate.operation,
      args: gate.args,
      ...(target === undefined ? {} : { container: snapshot(target) }),
    });
    if (fault === 'hang') return this.hangCall(gate);
    if (fault !== undefined) throw fault;
    if (this.settings.latencyMs > 0) {
      await new Promise<void>((resolve) =>
        this.clock.schedule(this.settings.latencyMs, resolve, {
          source: 'engine',
          label: `${gate.operation}: latency`,
        }),
      );
      if (!this.reachable) {
        throw engineUnreachableError(host, gate.operation, gate.data, 'ECONNRESET');
      }
    }
    return 'go';
  }

  private hangCall(gate: Gate): Promise<'aborted'> {
    const host = this.settings.dockerHost;
    const deadlineMs = gate.deadlineMs ?? this.settings.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      let timer: TimerHandle | undefined;
      const finish = (err: Error | undefined) => {
        timer?.cancel();
        gate.signal?.removeEventListener('abort', onAbort);
        this.cuts.delete(onCut);
        if (err === undefined) resolve('aborted');
        else reject(err);
      };
      const onAbort = () => finish(gate.onAbort?.());
      const onCut = () =>
        finish(
          gate.onCut?.() ?? engineUnreachableError(host, gate.operation, gate.data, 'ECONNRESET'),
        );
      if (Number.isFinite(deadlineMs)) {
        timer = this.clock.schedule(
          deadlineMs,
          () =>
            finish(
              gate.onDeadline?.() ?? timeoutError(host, gate.operation, gate.data, deadlineMs),
            ),
          { source: 'engine', label: `${gate.operation}: deadline of a hung call` },
        );
      }
      this.cuts.add(onCut);
      gate.signal?.addEventListener('abort', onAbort, { once: true });
      if (gate.signal?.aborted) onAbort();
    });
  }

  /**
   * The layers of a pull arrive over `pullMs` (none when the image is
   * already here), reported as the adapter's tracker would; a stalled pull
   * reports once and then waits for its cut.
   */
  private transfer(
    ref: string,
    entry: RegistryImage,
    how: {
      onProgress: ((p: PullProgress) => void) | undefined;
      signal: AbortSignal | undefined;
      aborted: () => Error;
      stalled: () => Error;
      cut: () => Error;
    },
  ): Promise<void> {
    const present = this.images.byId(entry.id) !== undefined;
    const layers = entry.layers;
    const layerBytes = 1_000_000;
    const stall = this.stallAll || this.stalled.has(ref);
    const pullMs = entry.pullMs ?? this.settings.pullMs;
    return new Promise((resolve, reject) => {
      let done = present ? layers : 0;
      let timer: TimerHandle | undefined;
      const finish = (err?: Error) => {
        timer?.cancel();
        how.signal?.removeEventListener('abort', onAbort);
        this.cuts.delete(onCut);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = () => finish(how.aborted());
      const onCut = () => finish(how.cut());
      const report = (): boolean => {
        try {
          how.onProgress?.({
            ref,
            layersTotal: layers,
            layersDone: done,
            bytesDone: done * layerBytes,
            bytesTotal: layers * layerBytes,
          });
          return true;
        } catch (err) {
          finish(pullError(this.settings.dockerHost, ref, (err as Error).message));
          return false;
        }
      };
      const step = () => {
        if (done >= layers) {
          if (report()) finish();
          return;
        }
        if (!report()) return;
        if (stall) {
          if (!Number.isFinite(this.settings.pullStallMs)) return; // until the signal aborts
          timer = this.clock.schedule(this.settings.pullStallMs, () => finish(how.stalled()), {
            source: 'engine',
            label: `pull ${ref}: stalled`,
          });
          return;
        }
        timer = this.clock.schedule(
          pullMs / layers,
          () => {
            done++;
            step();
          },
          { source: 'engine', label: `pull ${ref}: layer ${done + 1}/${layers}` },
        );
      };
      this.cuts.add(onCut);
      how.signal?.addEventListener('abort', onAbort, { once: true });
      step();
    });
  }

  private create(
    name: string,
    body: {
      Image: string;
      Labels: Record<string, string>;
      StopTimeout: number;
      Healthcheck?: { Test?: string[]; Interval?: number };
      HostConfig: {
        RestartPolicy: { Name: string; MaximumRetryCount?: number };
        NetworkMode?: string;
        Mounts?: { Type: string; Source?: string }[];
      };
    },
    by: Actor,
    gate: Gate,
    /** Networks joined right after the create (the adapter's connects). */
    connects: readonly string[] = [],
  ): string {
    const policy = body.HostConfig.RestartPolicy;
    if (!['', 'no', 'always', 'unless-stopped', 'on-failure'].includes(policy.Name)) {
      throw this.refused(gate, 400, `invalid restart policy '${policy.Name}'`);
    }
    const image = this.images.resolve(body.Image);
    if (image === undefined) throw this.refused(gate, 404, `No such image: ${body.Image}`);
    if (!CONTAINER_NAME.test(name)) {
      throw this.refused(
        gate,
        400,
        `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    }
    const bare = name.replace(/^\//, '');
    const holder = this.runtime.byName(bare);
    if (holder !== undefined) throw this.refused(gate, 409, nameConflict(bare, holder.id));
    const mode = body.HostConfig.NetworkMode;
    const networks = [
      ...(mode !== undefined && isUserNetworkMode(mode) ? [mode] : []),
      ...connects,
    ];
    const volumes = (body.HostConfig.Mounts ?? [])
      .filter((m) => m.Type === 'volume' && m.Source !== undefined)
      .map((m) => m.Source!);
    // dockerd creates a named volume that does not exist yet when a container mounts it.
    for (const volume of volumes) {
      if (this.volumeTable.has(volume)) continue;
      this.volumeTable.set(volume, { name: volume, labels: {}, driver: 'local' });
      this.record({ op: 'create-volume', by: 'engine', name: volume });
    }
    const c: FakeContainer = {
      id: this.newId(),
      name: bare,
      // dockerd merges the image's labels under the container's.
      labels: { ...image.labels, ...body.Labels },
      image: body.Image,
      imageId: image.id,
      behaviour: image.behaviour,
      restart: { name: policy.Name || 'no', max: policy.MaximumRetryCount ?? 0 },
      healthcheck: healthcheckOf(image.behaviour, body.Healthcheck),
      stopTimeoutMs: body.StopTimeout * 1000,
      createdAt: this.clock.now(),
      state: 'created',
      exitCode: 0,
      restartCount: 0,
      manuallyStopped: false,
      restartDelayMs: 0,
      logs: [],
      run: 0,
      timers: [],
      exited: Promise.resolve(),
      networks,
      volumes,
    };
    this.runtime.add(c, by);
    return c.id;
  }

  private startAs(c: FakeContainer, by: Actor, gate: Gate): void {
    if (c.state === 'removing' || c.state === 'dead') {
      throw this.refused(gate, 409, 'container is marked for removal and cannot be started');
    }
    if (c.state === 'running' || c.state === 'restarting') return; // 304: already started
    // dockerd 20.10 takes any network name at create and looks networks up at start.
    const gone = c.networks.find((n) => this.findNetwork(n) === undefined);
    if (gone !== undefined) throw this.refused(gate, 404, `network ${gone} not found`);
    // Once started, dockerd keeps its networks by ID (a later error names the ID).
    c.networks = c.networks.map((n) => this.findNetwork(n)?.id ?? n);
    this.runtime.start(c, by);
  }

  private renameAs(c: FakeContainer, name: string, by: Actor, gate: Gate): void {
    if (!CONTAINER_NAME.test(name)) {
      throw this.refused(
        gate,
        400,
        `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    }
    const bare = name.replace(/^\//, '');
    if (bare === c.name) {
      throw this.refused(gate, 400, 'Renaming a container with the same name as its current name');
    }
    const holder = this.runtime.byName(bare);
    if (holder !== undefined) {
      throw this.refused(
        gate,
        409,
        `Error when allocating new name: ${nameConflict(bare, holder.id)}`,
      );
    }
    this.runtime.rename(c, bare, by);
  }

  /** dockerd's network lookup: full ID, then name, then a unique ID prefix. */
  private findNetwork(ref: string): FakeNetwork | undefined {
    const exact = this.networkTable.get(ref);
    if (exact !== undefined) return exact;
    const all = [...this.networkTable.values()];
    const named = all.find((n) => n.name === ref);
    if (named !== undefined) return named;
    const prefixed = all.filter((n) => ref !== '' && n.id.startsWith(ref));
    return prefixed.length === 1 ? prefixed[0] : undefined;
  }

  /** The container a call names, or dockerd's 404. */
  private existing(gate: Gate, ref: string): FakeContainer {
    const c = this.runtime.find(ref);
    if (c === undefined) throw this.refused(gate, 404, `No such container: ${ref}`);
    return c;
  }

  private refused(gate: Gate, statusCode: number, message: string): GitdockError {
    return engineRequestError(
      this.settings.dockerHost,
      gate.operation,
      gate.data,
      statusCode,
      message,
    );
  }

  private record(entry: Omit<JournalEntry, 'seq' | 'at'>): void {
    this.entries.push({ seq: this.entries.length, at: this.clock.now(), ...entry });
  }

  /** 64 hex digits, from the seed and a counter: deterministic, so a replayed sequence has the same IDs. */
  private newId(): string {
    this.idCounter++;
    return createHash('sha256').update(`${this.settings.seed}/${this.idCounter}`).digest('hex');
  }
}

function nameConflict(name: string, holderId: string): string {
  return `Conflict. The container name "/${name}" is already in use by container "${holderId}". You have to remove (or rename) that container to be able to reuse that name.`;
}

/**
 * The HEALTHCHECK a container gets, as dockerd merges the create body's
 * over the image's: `NONE` disables it; a test of its own (which the fake
 * cannot run) passes at its first interval unless the image says unhealthy;
 * otherwise the image's, if it has one.
 */
function healthcheckOf(
  behaviour: ImageBehaviour,
  requested: { Test?: string[]; Interval?: number } | undefined,
): { afterMs: number; healthy: boolean } | undefined {
  const test = requested?.Test;
  if (test?.[0] === 'NONE') return undefined;
  const imageHas = behaviour.healthyAfterMs !== undefined || behaviour.unhealthy === true;
  if (test !== undefined && test.length > 0) {
    const intervalMs = requested?.Interval === undefined ? 30_000 : requested.Interval / 1_000_000;
    return {
      afterMs: imageHas ? (behaviour.healthyAfterMs ?? 3000) : intervalMs,
      healthy: behaviour.unhealthy !== true,
    };
  }
  if (!imageHas) return undefined;
  return { afterMs: behaviour.healthyAfterMs ?? 3000, healthy: behaviour.unhealthy !== true };
}

function snapshot(c: FakeContainer): ContainerSnapshot {
  const s: ContainerSnapshot = {
    id: c.id,
    name: c.name,
    labels: { ...c.labels },
    image: c.image,
    imageId: c.imageId,
    state: c.state,
    running: c.state === 'running' || c.state === 'restarting',
    exitCode: c.exitCode,
    restartCount: c.restartCount,
    restartPolicy:
      c.restart.name === 'on-failure' && c.restart.max > 0
        ? `on-failure:${c.restart.max}`
        : c.restart.name,
    logs: [...c.logs],
    networks: [...c.networks],
    volumes: [...c.volumes],
  };
  if (c.health !== undefined) s.health = c.health;
  if (c.startedAt !== undefined) s.startedAt = c.startedAt;
  if (c.finishedAt !== undefined) s.finishedAt = c.finishedAt;
  return s;
}

function copyLock(lock: EngineLock): EngineLock {
  return { ...lock, labels: { ...lock.labels } };
}

// -- the stack's test images -----------------------------------------------------

/**
 * The test images of scripts/images (images.txt) as behaviours, so a fake
 * registry holds what the real one does: `app`, `memcached` idle until
 * stopped; `crash` writes one line and exits 3 at once; `healthy` and
 * `unhealthy` have a 1 s HEALTHCHECK (unhealthy after 3 retries).
 */
export const STACK_IMAGES: ReadonlyArray<{
  name: string;
  tags: readonly string[];
  behaviour: (tag: string) => ImageBehaviour;
}> = [
  {
    name: 'app',
    tags: ['1.0', '1.1', '2.0'],
    behaviour: (tag) => ({ logLines: [`ready: app ${tag}`] }),
  },
  {
    name: 'crash',
    tags: ['1.0'],
    behaviour: () => ({ exitAfterMs: 0, exitCode: 3, logLines: ['boom: crash image'] }),
  },
  {
    name: 'healthy',
    tags: ['1.0'],
    behaviour: (tag) => ({ healthyAfterMs: 1000, logLines: [`ready: healthy ${tag}`] }),
  },
  {
    name: 'unhealthy',
    tags: ['1.0'],
    behaviour: (tag) => ({
      healthyAfterMs: 3000,
      unhealthy: true,
      logLines: [`ready: unhealthy ${tag}`],
    }),
  },
  {
    name: 'appserver',
    tags: ['1.4.2', '1.5.0'],
    behaviour: (tag) => ({ logLines: [`appserver ${tag} listening on 127.0.0.1:8080`] }),
  },
  {
    name: 'memcached',
    tags: ['1.6'],
    behaviour: (tag) => ({ logLines: [`ready: memcached ${tag}`] }),
  },
];

/** Pushes every stack image to the fake registry as `<prefix>/<name>:<tag>` (prefix like `127.0.0.1:5055/gitdock-test`). */
export function pushStackImages(engine: FakeEngine, prefix: string): void {
  for (const image of STACK_IMAGES) {
    for (const tag of image.tags) {
      engine.pushImage(`${prefix}/${image.name}:${tag}`, image.behaviour(tag));
    }
  }
}
