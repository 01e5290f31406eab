import type { CreateContainerOptions, Engine, EngineEvent } from '../core/engine.js';
import type { Clock } from '../reconcile/clock.js';

/** How long an expected event is waited for; the engine sends it within milliseconds. */
const EXPECTATION_TTL_MS = 60_000;
/** Health reports of a container the agent just started count as its own until shortly after the pass. */
const HEALTH_GRACE_MS = 1_000;

interface Expected {
  /** Event actions expected once each (an action may be expected more than once). */
  counts: Map<string, number>;
  /** Actions expected any number of times until `until` (kill, health_status). */
  open: Map<string, number>;
  expires: number;
}

/**
 * Tells the events of the agent's own engine calls from drift. Every
 * mutating call made through `engine` records the events the engine will
 * send for it (docker stop: kill, die, stop; a forced remove: kill, die,
 * destroy; ...); an incoming event that matches one is the agent's own and
 * wakes nothing. Anything else (a `docker stop` by hand, a crash: `die`
 * without a stop) is drift and runs a pass.
 */
export class OwnEvents {
  private readonly byId = new Map<string, Expected>();
  /** Creates under way or just made, by name: the engine's create event names the container, not yet known by ID. */
  private readonly creates = new Map<string, { count: number; expires: number }>();
  readonly engine: Engine;

  constructor(
    inner: Engine,
    private readonly clock: Clock,
  ) {
    this.engine = this.wrap(inner);
  }

  /** True when `event` was caused by the agent's own call (and is consumed). */
  isOwn(event: EngineEvent): boolean {
    const now = this.clock.now();
    this.expire(now);
    const action = event.action.startsWith('health_status') ? 'health_status' : event.action;
    if (action === 'create' && event.name !== undefined) {
      const expected = this.creates.get(event.name);
      if (expected) {
        if (--expected.count <= 0) this.creates.delete(event.name);
        return true;
      }
    }
    const expected = this.byId.get(event.containerId);
    if (!expected) return false;
    const openUntil = expected.open.get(action);
    if (openUntil !== undefined && openUntil >= now) return true;
    if ((expected.counts.get(action) ?? 0) > 0) {
      this.take(expected.counts, action);
      return true;
    }
    return false;
  }

  /**
   * A pass ended: the health reports, crashes and restarts of the
   * containers it started are drift again shortly after.
   */
  passEnded(): void {
    const until = this.clock.now() + HEALTH_GRACE_MS;
    for (const e of this.byId.values())
      for (const action of ['health_status', 'die', 'restart', 'start'])
        if (e.open.has(action)) e.open.set(action, Math.min(e.open.get(action)!, until));
  }

  private expect(id: string, once: string[], open: string[] = [], openUntil?: number): void {
    const now = this.clock.now();
    let e = this.byId.get(id);
    if (!e) {
      e = { counts: new Map(), open: new Map(), expires: 0 };
      this.byId.set(id, e);
    }
    e.expires = now + EXPECTATION_TTL_MS;
    for (const a of once) e.counts.set(a, (e.counts.get(a) ?? 0) + 1);
    for (const a of open) e.open.set(a, openUntil ?? e.expires);
  }

  /** For a call that failed: takes back the events it was expected to cause, and rethrows. */
  private unexpectOnError(id: string, once: string[]): (err: unknown) => never {
    return (err) => {
      const expected = this.byId.get(id);
      if (expected) for (const a of once) this.take(expected.counts, a);
      throw err;
    };
  }

  private take(map: Map<string, number>, key: string): void {
    const n = (map.get(key) ?? 0) - 1;
    if (n > 0) map.set(key, n);
    else map.delete(key);
  }

  private expire(now: number): void {
    for (const [id, e] of this.byId) if (e.expires < now) this.byId.delete(id);
    for (const [name, e] of this.creates) if (e.expires < now) this.creates.delete(name);
  }

  private wrap(inner: Engine): Engine {
    // Explicit methods rather than a Proxy: which calls cause which events is the point.
    const self = this;
    return {
      listContainers: () => inner.listContainers(),
      inspectContainer: (id) => inner.inspectContainer(id),
      imageId: (ref) => inner.imageId(ref),
      pullImage: (ref, onProgress, signal) => inner.pullImage(ref, onProgress, signal),
      logTail: (id, lines) => inner.logTail(id, lines),
      ping: () => inner.ping(),
      watchEvents: (options) => inner.watchEvents(options),
      createLock: (name, labels) => inner.createLock(name, labels),
      findLock: (name) => inner.findLock(name),
      removeLock: (id) => inner.removeLock(id),
      // Network and volume calls send no container events (the watch takes only those).
      listNetworks: () => inner.listNetworks(),
      createNetwork: (network, labels) => inner.createNetwork(network, labels),
      removeNetwork: (idOrName) => inner.removeNetwork(idOrName),
      listVolumes: () => inner.listVolumes(),
      createVolume: (volume, labels) => inner.createVolume(volume, labels),
      removeVolume: (name) => inner.removeVolume(name),
      async createContainer(options: CreateContainerOptions) {
        const expected = self.creates.get(options.name) ?? { count: 0, expires: 0 };
        expected.count++;
        expected.expires = self.clock.now() + EXPECTATION_TTL_MS;
        self.creates.set(options.name, expected);
        try {
          return await inner.createContainer(options);
        } catch (err) {
          // Refused: the engine sends no create event for it.
          if (--expected.count <= 0) self.creates.delete(options.name);
          throw err;
        }
      },
      async startContainer(id) {
        // Its start, and while the pass watches it come up its crash or restart,
        // are the pass's own; shortly after the pass they are drift again.
        self.expect(id, [], ['health_status', 'die', 'restart', 'start']);
        return inner.startContainer(id);
      },
      async stopContainer(id, timeoutMs) {
        self.expect(id, ['die', 'stop'], ['kill']);
        // A stop that failed sends no events: a `docker stop` by hand after it is drift.
        return inner.stopContainer(id, timeoutMs).catch(self.unexpectOnError(id, ['die', 'stop']));
      },
      async removeContainer(id, options) {
        self.expect(id, ['destroy'], ['kill', 'die']);
        return inner.removeContainer(id, options).catch(self.unexpectOnError(id, ['destroy']));
      },
      async renameContainer(id, name) {
        self.expect(id, ['rename']);
        return inner.renameContainer(id, name);
      },
    };
  }
}
