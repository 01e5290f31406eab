/**
 * The engine contract: the same cases against the real engine (the adapter
 * over the private dockerd of scripts/stack.sh) and against the FakeEngine
 * of the sequence tests, so the fake behaves like the thing it stands in
 * for wherever both can be driven the same way. Time is the subject's own:
 * real time for dockerd, the FakeClock for the fake; every wait is bounded.
 *
 * Then the fake alone, for what dockerd cannot be made to do on demand
 * (a slow removal, a hung call, an engine that goes away mid-pull) — the
 * real counterparts of those live in docker-engine.test.ts and
 * engine-events.test.ts.
 *
 * Containers run with network_mode none (but those of the network cases)
 * and are named `ct-<pid>-<subject>-*`, as are networks and volumes; each
 * case removes what it made.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDockerEngine } from '../src/adapters/docker-engine.js';
import type {
  CreateContainerOptions,
  Engine,
  EngineEvent,
  PullProgress,
} from '../src/core/engine.js';
import type { ContainerSpec } from '../src/core/types.js';
import { GitdockError } from '../src/errors.js';
import { defineResourceCases, rejection, spec } from './support/engine-cases.js';
import { FAKE_CLOCK_START, FakeClock } from './support/fake-clock.js';
import { FakeEngine, pushStackImages } from './support/fake-engine.js';
import { docker, dockerResult, imageRef, stackEnv } from './support/stack.js';

// Throws unless DOCKER_HOST is the stack's private engine: these tests create and remove containers.
const STACK = stackEnv();
const PREFIX = `${STACK.registry}/gitdock-test`;
const APP = imageRef('app', '1.0');
const CRASH = imageRef('crash', '1.0');
const HEALTHY = imageRef('healthy', '1.0');
const UNHEALTHY = imageRef('unhealthy', '1.0');
/** Pulled by one case only, and dropped first so that pull really pulls. */
const APP_PULLED = imageRef('app', '2.0');
const IMAGES = [APP, CRASH, HEALTHY, UNHEALTHY];

/** One engine under test, with its own notion of time and a user at its console. */
interface Subject {
  engine: Engine;
  /** The subject's time, unix ms. */
  now(): number;
  /** Lets `ms` of the subject's time pass (real time, or the fake clock advanced). */
  pass(ms: number): Promise<void>;
  /**
   * Awaits a call that takes the engine time (a pull), letting the
   * subject's time pass meanwhile; fails after `timeoutMs` of it.
   */
  settle<T>(promise: Promise<T>, timeoutMs?: number): Promise<T>;
  /** `docker commit <container> <ref>` */
  commit(container: string, ref: string): Promise<void>;
  /** `docker run -d --network none --name <name> <image>`; the container's ID. */
  run(name: string, image: string): Promise<string>;
  /** `docker rmi <ref>`, ignoring an image in use or missing: the next pull of it pulls. */
  dropImage(ref: string): Promise<void>;
  /** Removes every container named with `namePrefix`. */
  removeContainers(namePrefix: string): Promise<void>;
  close(): Promise<void>;
}

async function dockerSubject(): Promise<Subject> {
  // An empty docker config dir, so the machine's ~/.docker/config.json plays no part.
  const configDir = await mkdtemp(join(tmpdir(), 'ct-docker-config-'));
  return {
    engine: createDockerEngine({ dockerConfigDir: configDir }),
    now: () => Date.now(),
    pass: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    settle: async (promise, timeoutMs = 60_000) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`not settled within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([promise, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    commit: async (container, ref) => {
      docker(['commit', container, ref]);
    },
    run: async (name, image) => docker(['run', '-d', '--network', 'none', '--name', name, image]),
    dropImage: async (ref) => {
      dockerResult(['rmi', ref]);
    },
    removeContainers: async (namePrefix) => {
      const ids = docker(['ps', '-aq', '--filter', `name=^${namePrefix}`])
        .split('\n')
        .filter(Boolean);
      if (ids.length > 0) docker(['rm', '-f', '-v', ...ids]);
    },
    close: async () => {
      await rm(configDir, { recursive: true, force: true });
    },
  };
}

async function fakeSubject(): Promise<Subject> {
  const clock = new FakeClock();
  const engine = new FakeEngine(clock);
  pushStackImages(engine, PREFIX);
  return {
    engine,
    now: () => clock.now(),
    pass: (ms) => clock.advance(ms),
    settle: async (promise, timeoutMs = 60_000) => {
      let settled = false;
      const mark = () => {
        settled = true;
      };
      promise.then(mark, mark);
      const deadline = clock.now() + timeoutMs;
      await clock.flush();
      while (!settled) {
        if (clock.now() >= deadline) throw new Error(`not settled within ${timeoutMs} ms`);
        await clock.advance(50);
      }
      return promise;
    },
    commit: async (container, ref) => {
      engine.userCommit(container, ref);
    },
    run: async (name, image) => engine.userRun(name, image),
    dropImage: async (ref) => {
      engine.removeImage(ref);
    },
    removeContainers: async (namePrefix) => {
      for (const c of engine.containers()) {
        if (c.name.startsWith(namePrefix)) await engine.userRemove(c.name);
      }
    },
    close: async () => {},
  };
}

describe.each<[string, () => Promise<Subject>]>([
  ['docker', dockerSubject],
  ['fake', fakeSubject],
])('engine contract (%s)', (kind, makeSubject) => {
  const namePrefix = `ct-${process.pid}-${kind}-`;
  const lockPrefix = `ct-lock-${process.pid}-${kind}-`;
  let s: Subject;
  let engine: Engine;
  let counter = 0;
  let locks: string[] = [];

  function uniqueName(what: string): string {
    counter += 1;
    return `${namePrefix}${what}-${counter}`;
  }

  /** Polls `probe` in the subject's time until it gives a value; fails after `timeoutMs`. */
  async function waitFor<T>(
    what: string,
    probe: () => Promise<T | undefined>,
    timeoutMs = 20_000,
  ): Promise<T> {
    const deadline = s.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (s.now() > deadline)
        throw new Error(`${kind}: timed out after ${timeoutMs} ms waiting for ${what}`);
      await s.pass(50);
    }
  }

  async function create(
    name: string,
    options: Partial<Omit<CreateContainerOptions, 'name'>> = {},
  ): Promise<string> {
    return engine.createContainer({
      name,
      image: options.image ?? APP,
      spec: options.spec ?? spec(),
      labels: options.labels ?? {},
    });
  }

  beforeAll(async () => {
    s = await makeSubject();
    engine = s.engine;
    await s.removeContainers(namePrefix);
    for (const ref of IMAGES) {
      if ((await engine.imageId(ref)) === undefined) await s.settle(engine.pullImage(ref));
    }
  });

  afterEach(async () => {
    await s.removeContainers(namePrefix);
    for (const name of locks) {
      const lock = await engine.findLock(name).catch(() => undefined);
      if (lock !== undefined) await engine.removeLock(lock.id);
    }
    locks = [];
  });

  afterAll(async () => {
    if (s === undefined) return;
    await s.removeContainers(namePrefix);
    // Leave the engine as the stack does: test images pushed but not pulled.
    for (const ref of [...IMAGES, APP_PULLED]) await s.dropImage(ref);
    await s.close();
  });

  it('answers a ping', async () => {
    await engine.ping();
  });

  describe('networks and volumes', () => {
    defineResourceCases({
      engine: () => engine,
      uniqueName,
      removeContainers: () => s.removeContainers(namePrefix),
    });
  });

  it('refuses to create a container under a taken name (409 Conflict)', async () => {
    const name = uniqueName('taken');
    const first = await create(name);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    const err = await rejection(create(name));
    expect(err.code).toBe('GITDOCK_E_ENGINE_REQUEST');
    expect(err.data.statusCode).toBe(409);
    expect(err.message).toContain(
      `Conflict. The container name "/${name}" is already in use by container "${first}"`,
    );
    const named = (await engine.listContainers()).filter((c) => c.name === name);
    expect(named.map((c) => c.id)).toEqual([first]);
  });

  it('starts a running container again without restarting it', async () => {
    const id = await create(uniqueName('start-twice'));
    await engine.startContainer(id);
    const first = await engine.inspectContainer(id);
    expect(first).toMatchObject({ id, state: 'running', running: true, restartCount: 0 });
    expect(first.startedAt).toBeDefined();
    await engine.startContainer(id);
    const second = await engine.inspectContainer(id);
    expect(second).toMatchObject({ state: 'running', running: true, restartCount: 0 });
    expect(second.startedAt).toBe(first.startedAt);
    const log = await waitFor('the ready line', async () => {
      const text = await engine.logTail(id, 10);
      return text.includes('ready: app 1.0') ? text : undefined;
    });
    expect(log).toBe('ready: app 1.0\n');
  });

  it('stops a never-started container, a running one, and a stopped one again', async () => {
    const id = await create(uniqueName('stop-twice'));
    await engine.stopContainer(id, 2000);
    expect(await engine.inspectContainer(id)).toMatchObject({ state: 'created', running: false });
    await engine.startContainer(id);
    await engine.stopContainer(id, 2000);
    const stopped = await engine.inspectContainer(id);
    // The test image traps SIGTERM and exits 0.
    expect(stopped).toMatchObject({ state: 'exited', running: false, exitCode: 0 });
    await engine.stopContainer(id, 2000);
    expect(await engine.inspectContainer(id)).toMatchObject({ state: 'exited', exitCode: 0 });
  });

  it('removes a running container, removes it again, and then does not know it (404)', async () => {
    const name = uniqueName('remove-twice');
    const id = await create(name);
    await engine.startContainer(id);
    await engine.removeContainer(id);
    await engine.removeContainer(id);
    expect((await engine.listContainers()).some((c) => c.id === id || c.name === name)).toBe(false);
    const err = await rejection(engine.inspectContainer(id));
    expect(err.code).toBe('GITDOCK_E_ENGINE_REQUEST');
    expect(err.data.statusCode).toBe(404);
    expect(err.message).toContain(`No such container: ${id}`);
    const startErr = await rejection(engine.startContainer(id));
    expect(startErr.data.statusCode).toBe(404);
  });

  it('renames: same ID under the new name, the old name free, a taken name refused', async () => {
    const [oldName, other, newName] = [uniqueName('old'), uniqueName('other'), uniqueName('new')];
    const id = await create(oldName);
    const otherId = await create(other);
    await engine.renameContainer(id, newName);
    expect((await engine.inspectContainer(id)).name).toBe(newName);
    const listed = await engine.listContainers();
    expect(listed.find((c) => c.id === id)?.name).toBe(newName);
    expect(listed.some((c) => c.name === oldName)).toBe(false);
    await create(oldName); // the old name is free again
    const err = await rejection(engine.renameContainer(otherId, newName));
    expect(err.code).toBe('GITDOCK_E_ENGINE_REQUEST');
    expect(err.data.statusCode).toBe(409);
    expect(err.message).toContain(`Conflict. The container name "/${newName}" is already in use`);
    expect((await engine.inspectContainer(otherId)).name).toBe(other);
  });

  it('lets a crashing container end exited with its exit code and its last log line', async () => {
    const id = await create(uniqueName('crash'), { image: CRASH });
    await engine.startContainer(id);
    const status = await waitFor('the crash', async () => {
      const st = await engine.inspectContainer(id);
      return st.state === 'exited' ? st : undefined;
    });
    expect(status).toMatchObject({ running: false, exitCode: 3, restartCount: 0 });
    expect(await engine.logTail(id, 5)).toBe('boom: crash image\n');
  });

  it('restarts a crashing container under on-failure:2 twice, then leaves it exited', async () => {
    const id = await create(uniqueName('on-failure'), {
      image: CRASH,
      spec: spec({ restart: 'on-failure:2' }),
    });
    await engine.startContainer(id);
    const status = await waitFor('the last crash', async () => {
      const st = await engine.inspectContainer(id);
      return st.state === 'exited' && st.restartCount === 2 ? st : undefined;
    });
    expect(status).toMatchObject({ running: false, exitCode: 3 });
    expect(await engine.logTail(id, 10)).toBe('boom: crash image\n'.repeat(3));
  });

  it('keeps restarting a crashing container under restart always (a crash loop)', async () => {
    const id = await create(uniqueName('always'), {
      image: CRASH,
      spec: spec({ restart: 'always' }),
    });
    await engine.startContainer(id);
    const status = await waitFor('two restarts', async () => {
      const st = await engine.inspectContainer(id);
      return st.restartCount >= 2 ? st : undefined;
    });
    // Between runs dockerd reports `restarting` with Running still true.
    expect(['restarting', 'running']).toContain(status.state);
    expect(status.running).toBe(true);
    expect(status.exitCode === 3 || status.state === 'running').toBe(true);
    await engine.removeContainer(id);
  });

  it('reports a HEALTHCHECK starting, then healthy', async () => {
    const id = await create(uniqueName('healthy'), { image: HEALTHY });
    await engine.startContainer(id);
    expect((await engine.inspectContainer(id)).health).toBe('starting');
    await waitFor('healthy', async () =>
      (await engine.inspectContainer(id)).health === 'healthy' ? true : undefined,
    );
    // No HEALTHCHECK, no health.
    const plain = await create(uniqueName('no-health'));
    await engine.startContainer(plain);
    expect((await engine.inspectContainer(plain)).health).toBeUndefined();
  });

  it('reports a failing HEALTHCHECK as unhealthy while the container keeps running', async () => {
    const id = await create(uniqueName('unhealthy'), { image: UNHEALTHY });
    await engine.startContainer(id);
    const status = await waitFor('unhealthy', async () => {
      const st = await engine.inspectContainer(id);
      return st.health === 'unhealthy' ? st : undefined;
    });
    expect(status).toMatchObject({ state: 'running', running: true });
  });

  it("lists every container with its labels (options' over the spec's), state and image ID", async () => {
    const host = `ct-host-${process.pid}`;
    const name = uniqueName('listed');
    const id = await create(name, {
      spec: spec({ labels: { team: 'web', 'io.gitdock.host': 'from-the-manifest' } }),
      labels: { 'io.gitdock.host': host, 'io.gitdock.service': 'listed' },
    });
    const unlabelled = await create(uniqueName('unlabelled'));
    let listed = await engine.listContainers();
    const entry = listed.find((c) => c.id === id);
    expect(entry).toEqual({
      id,
      name,
      labels: { team: 'web', 'io.gitdock.host': host, 'io.gitdock.service': 'listed' },
      state: 'created',
      imageId: await engine.imageId(APP),
    });
    expect(listed.find((c) => c.id === unlabelled)?.labels).toEqual({});
    await engine.startContainer(id);
    listed = await engine.listContainers();
    expect(listed.find((c) => c.id === id)?.state).toBe('running');
    expect(listed.find((c) => c.id === unlabelled)?.state).toBe('created');
  });

  it("reports the gitdock labels a container only inherited from a committed image's", async () => {
    const host = `ct-host-${process.pid}`;
    const managed = uniqueName('managed');
    const labels = { 'io.gitdock.host': host, 'io.gitdock.service': 'managed' };
    const id = await create(managed, { labels });
    await engine.startContainer(id);
    const committed = `ct-commit-${process.pid}-${kind}:1`;
    try {
      await s.commit(managed, committed);
      const copyName = uniqueName('copy');
      const copyId = await s.run(copyName, committed);
      const listed = await engine.listContainers();
      const copy = listed.find((c) => c.id === copyId);
      // dockerd gives a container its image's labels, so the copy looks managed...
      expect(copy?.labels).toMatchObject(labels);
      // ...but the labels are the image's, which the listing says.
      expect(copy?.imageGitdockLabels).toEqual(labels);
      expect(copy?.imageId).toBe(await engine.imageId(committed));
      expect(listed.find((c) => c.id === id)?.imageGitdockLabels).toBeUndefined();
    } finally {
      await s.removeContainers(namePrefix);
      await s.dropImage(committed);
    }
  });

  it('knows the ID of an image on the host and none for one that is not', async () => {
    expect(await engine.imageId(APP)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await engine.imageId(`${PREFIX}/app:not-pulled`)).toBeUndefined();
  });

  it('pulls a tag, reporting progress, until the image is on the host', async () => {
    await s.dropImage(APP_PULLED);
    const progress: PullProgress[] = [];
    await s.settle(engine.pullImage(APP_PULLED, (p) => progress.push(p)));
    expect(await engine.imageId(APP_PULLED)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(progress.length).toBeGreaterThan(0);
    for (const p of progress) {
      expect(p.ref).toBe(APP_PULLED);
      expect(p.layersDone).toBeLessThanOrEqual(p.layersTotal);
    }
    const last = progress.at(-1)!;
    expect(last.layersDone).toBe(last.layersTotal);
  });

  it('fails the pull of an unknown tag with GITDOCK_E_PULL_FAILED (manifest unknown)', async () => {
    const ref = `${PREFIX}/app:no-such-tag`;
    const err = await rejection(engine.pullImage(ref));
    expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
    expect(err.message).toMatch(/manifest unknown/);
    expect(err.data).toMatchObject({ ref, registry: STACK.registry, statusCode: 404 });
    expect(await engine.imageId(ref)).toBeUndefined();
  });

  it('refuses a pull whose signal has already aborted (GITDOCK_E_PULL_FAILED, aborted)', async () => {
    const ref = `${PREFIX}/memcached:1.6`;
    const err = await rejection(engine.pullImage(ref, undefined, AbortSignal.abort('preempted')));
    expect(err.code).toBe('GITDOCK_E_PULL_FAILED');
    expect(err.data.aborted).toBe(true);
    expect(err.message).toContain('preempted');
  });

  it("streams a labelled container's events in order, none of other hosts' or unlabelled ones", async () => {
    const host = `ct-events-${process.pid}-${kind}`;
    const events: EngineEvent[] = [];
    const controller = new AbortController();
    let ended = false;
    const done = engine
      .watchEvents({ host, signal: controller.signal, onEvent: (e) => events.push(e) })
      .finally(() => {
        ended = true;
      });
    try {
      // Events from before the stream opened are not replayed: wait until a marker's arrive.
      await waitFor('the stream to open', async () => {
        if (ended) throw new Error('the watch ended before it delivered an event');
        const marker = await create(uniqueName('marker'), { labels: { 'io.gitdock.host': host } });
        await engine.removeContainer(marker);
        await s.pass(200);
        return events.some((e) => e.containerId === marker) ? true : undefined;
      });
      const before = s.now();
      const unlabelled = await create(uniqueName('unlabelled'));
      await engine.startContainer(unlabelled);
      await engine.removeContainer(unlabelled);
      const elsewhere = await create(uniqueName('elsewhere'), {
        labels: { 'io.gitdock.host': `${host}-other` },
      });
      await engine.removeContainer(elsewhere);

      const name = uniqueName('watched');
      const id = await create(name, {
        labels: { 'io.gitdock.host': host, 'io.gitdock.service': 'watched' },
      });
      await engine.startContainer(id);
      await engine.startContainer(id); // already running: no event
      await engine.stopContainer(id, 2000);
      await engine.removeContainer(id);
      await waitFor('the destroy event', async () =>
        events.some((e) => e.containerId === id && e.action === 'destroy') ? true : undefined,
      );
      const mine = events.filter((e) => e.containerId === id);
      expect(mine.map((e) => e.action)).toEqual([
        'create',
        'start',
        'kill',
        'die',
        'stop',
        'destroy',
      ]);
      for (const e of mine) {
        expect(e).toMatchObject({ name, service: 'watched' });
        expect(e.time).toBeGreaterThanOrEqual(before - 5000);
        expect(e.time).toBeLessThanOrEqual(s.now() + 5000);
      }
      expect(
        events.filter((e) => e.containerId === unlabelled || e.containerId === elsewhere),
      ).toEqual([]);
    } finally {
      controller.abort();
    }
    await done; // resolves on abort
    expect(ended).toBe(true);
  });

  it('holds a lock by name: a second create finds the holder; after removal it can be taken again', async () => {
    const name = `${lockPrefix}host`;
    locks.push(name, `${name}-longer`);
    const first = await engine.createLock(name, { 'io.gitdock.lock.pid': '1' });
    expect(first.created).toBe(true);
    expect(first.lock).toMatchObject({ name, labels: { 'io.gitdock.lock.pid': '1' } });
    expect(first.lock.id).not.toBe('');
    expect(Number.isNaN(Date.parse(first.lock.createdAt))).toBe(false);

    const second = await engine.createLock(name, { 'io.gitdock.lock.pid': '2' });
    expect(second.created).toBe(false);
    expect(second.lock).toMatchObject({
      id: first.lock.id,
      name,
      labels: { 'io.gitdock.lock.pid': '1' },
    });
    expect((await engine.findLock(name))?.id).toBe(first.lock.id);

    // A name that merely starts with it is another lock.
    const longer = await engine.createLock(`${name}-longer`, {});
    expect(longer.created).toBe(true);
    await engine.removeLock(first.lock.id);
    await engine.removeLock(first.lock.id); // missing is not an error
    expect(await engine.findLock(name)).toBeUndefined();
    expect((await engine.findLock(`${name}-longer`))?.id).toBe(longer.lock.id);

    const third = await engine.createLock(name, { 'io.gitdock.lock.pid': '3' });
    expect(third.created).toBe(true);
    expect(third.lock.id).not.toBe(first.lock.id);
    expect(third.lock.labels).toMatchObject({ 'io.gitdock.lock.pid': '3' });
  });
});

// -- the fake alone ---------------------------------------------------------------

describe('FakeEngine beyond the contract', () => {
  const HOST = 'web-1';

  /** A fake engine with APP pulled (which takes 500 ms of fake time), at +1 s. */
  async function setup(settings: ConstructorParameters<typeof FakeEngine>[1] = {}) {
    const clock = new FakeClock();
    const engine = new FakeEngine(clock, settings);
    pushStackImages(engine, PREFIX);
    await pulled(clock, engine, APP);
    return { clock, engine };
  }

  /** Pulls `ref` while a second of fake time passes. */
  async function pulled(clock: FakeClock, engine: FakeEngine, ref: string): Promise<void> {
    const pull = engine.pullImage(ref);
    await clock.advance(1000);
    await pull;
  }

  function managed(name: string, options: Partial<ContainerSpec> = {}): CreateContainerOptions {
    return {
      name,
      image: APP,
      spec: spec(options),
      labels: { 'io.gitdock.host': HOST, 'io.gitdock.service': name },
    };
  }

  it('pulls in fake time, reporting layers as they land', async () => {
    const clock = new FakeClock();
    const engine = new FakeEngine(clock, { pullMs: 1000 });
    pushStackImages(engine, PREFIX);
    const progress: string[] = [];
    let done = false;
    void engine
      .pullImage(APP, (p) =>
        progress.push(`${clock.now() - FAKE_CLOCK_START}: ${p.layersDone}/${p.layersTotal}`),
      )
      .then(() => {
        done = true;
      });
    await clock.advance(999);
    expect(done).toBe(false);
    expect(engine.hasImage(APP)).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
    expect(progress).toEqual(['0: 0/2', '500: 1/2', '1000: 2/2']);
    expect(engine.mutations({ op: 'pull' })).toMatchObject([{ by: 'gitdock', name: APP }]);
  });

  it('fails pulls while the registry is away, and cuts stalled ones on abort or at the stall time', async () => {
    const { clock, engine } = await setup({ pullStallMs: 60_000 });
    engine.setRegistryReachable(false);
    const away = await rejection(engine.pullImage(CRASH));
    expect(away).toMatchObject({ code: 'GITDOCK_E_PULL_FAILED', data: { statusCode: 500 } });
    expect(away.message).toContain('connection refused');
    engine.setRegistryReachable(true);

    engine.stallPulls(CRASH);
    const controller = new AbortController();
    const aborted = rejection(engine.pullImage(CRASH, undefined, controller.signal));
    await clock.advance(10_000);
    controller.abort('preempted by a newer commit');
    const abortErr = await aborted;
    expect(abortErr.data).toMatchObject({ aborted: true });
    expect(abortErr.message).toContain('preempted by a newer commit');

    const stalled = rejection(engine.pullImage(CRASH));
    await clock.advance(60_000);
    expect((await stalled).data).toMatchObject({ aborted: true, stalled: true });
    expect(engine.hasImage(CRASH)).toBe(false);
  });

  it("leaves a user's slow `docker rm -f` in state removing, holding the name, until it is gone", async () => {
    const { clock, engine } = await setup();
    const id = await engine.createContainer(managed('web'));
    await engine.startContainer(id);
    void engine.userRemove('web', { slowMs: 3000 });
    expect(engine.container('web')).toMatchObject({
      state: 'removing',
      running: false,
      exitCode: 137,
    });
    expect((await engine.listContainers()).map((c) => c.state)).toEqual(['removing']);
    const startErr = await rejection(engine.startContainer(id));
    expect(startErr).toMatchObject({ code: 'GITDOCK_E_ENGINE_REQUEST', data: { statusCode: 409 } });
    expect(startErr.message).toContain('container is marked for removal and cannot be started');
    expect((await rejection(engine.createContainer(managed('web')))).data.statusCode).toBe(409);
    expect((await rejection(engine.removeContainer(id))).message).toContain('already in progress');
    await clock.advance(3000);
    expect(engine.container('web')).toBeUndefined();
    await engine.createContainer(managed('web'));
  });

  it('refuses to start a dead container', async () => {
    const { engine } = await setup();
    const id = await engine.createContainer(managed('web'));
    engine.markDead('web');
    expect((await rejection(engine.startContainer(id))).data.statusCode).toBe(409);
    await engine.removeContainer(id);
    expect(engine.containers()).toEqual([]);
  });

  it("backs a crash loop off as dockerd's restart manager does", async () => {
    const { clock, engine } = await setup();
    await pulled(clock, engine, CRASH);
    const id = await engine.createContainer({
      ...managed('loop', { restart: 'always' }),
      image: CRASH,
    });
    const t0 = clock.now();
    await engine.startContainer(id);
    await clock.advance(3000);
    // Each run ends at once; restarts 100, 200, 400, 800 ms (the next due 1600 ms) after each.
    const restarts = engine.mutations({ op: 'restart' });
    expect(restarts.map((e) => e.at - t0)).toEqual([100, 300, 700, 1500]);
    expect(restarts.every((e) => e.by === 'engine')).toBe(true);
    // dockerd counts a restart when it schedules it: four done, the fifth pending.
    expect(engine.container(id)).toMatchObject({
      state: 'restarting',
      running: true,
      exitCode: 3,
      restartCount: 5,
    });
  });

  it('restarts a container that crashes after a long run after 100 ms again', async () => {
    const { clock, engine } = await setup();
    const id = await engine.createContainer(managed('web', { restart: 'on-failure' }));
    await engine.startContainer(id);
    await clock.advance(60_000);
    engine.crashContainer('web', 1);
    expect(engine.container(id)).toMatchObject({
      state: 'restarting',
      restartCount: 1,
      exitCode: 1,
    });
    await clock.advance(100);
    expect(engine.container(id)).toMatchObject({ state: 'running', restartCount: 1 });
    expect(engine.mutations({ name: 'web' }).map((e) => `${e.op} by ${e.by}`)).toEqual([
      'create by gitdock',
      'start by gitdock',
      'exit by engine',
      'restart by engine',
    ]);
  });

  it('takes the grace period to stop a process that ignores SIGTERM, then kills it', async () => {
    const { clock, engine } = await setup();
    engine.loadImage('stubborn:1', { ignoresSigterm: true });
    const id = await engine.createContainer({ ...managed('stubborn'), image: 'stubborn:1' });
    await engine.startContainer(id);
    let stopped = false;
    void engine.stopContainer(id, 1500).then(() => {
      stopped = true;
    });
    await clock.advance(1999); // the engine takes whole seconds: 2 s
    expect(stopped).toBe(false);
    expect(engine.container(id)?.state).toBe('running');
    await clock.advance(1);
    expect(stopped).toBe(true);
    expect(engine.container(id)).toMatchObject({ state: 'exited', exitCode: 137 });
  });

  it('while away, refuses every call (ECONNREFUSED) and ends event streams; containers carry on', async () => {
    const { clock, engine } = await setup();
    const id = await engine.createContainer(managed('web'));
    await engine.startContainer(id);
    let ended = false;
    const watch = engine
      .watchEvents({ host: HOST, signal: new AbortController().signal, onEvent: () => {} })
      .then(() => {
        ended = true;
      });
    await clock.flush();
    expect(engine.openEventStreams()).toBe(1);
    engine.setReachable(false);
    await watch;
    expect(ended).toBe(true);
    const err = await rejection(engine.listContainers());
    expect(err).toMatchObject({
      code: 'GITDOCK_E_ENGINE_UNREACHABLE',
      data: { errno: 'ECONNREFUSED', operation: 'list containers' },
    });
    const watchErr = await rejection(
      engine.watchEvents({ host: HOST, signal: new AbortController().signal, onEvent: () => {} }),
    );
    expect(watchErr.code).toBe('GITDOCK_E_ENGINE_UNREACHABLE');
    engine.setReachable(true);
    expect((await engine.inspectContainer(id)).state).toBe('running');
  });

  it('restarts like dockerd without live-restore: policies decide what runs again', async () => {
    const { clock, engine } = await setup();
    for (const [name, restart] of [
      ['no', 'no'],
      ['always', 'always'],
      ['unless', 'unless-stopped'],
      ['unless-stopped-by-hand', 'unless-stopped'],
    ] as const) {
      await engine.startContainer(await engine.createContainer(managed(name, { restart })));
    }
    await engine.userStop('unless-stopped-by-hand');
    engine.restartEngine({ downMs: 5000 });
    expect((await rejection(engine.ping())).code).toBe('GITDOCK_E_ENGINE_UNREACHABLE');
    await clock.advance(5000);
    const states = Object.fromEntries(
      (await engine.listContainers()).map((c) => [c.name, c.state]),
    );
    expect(states).toEqual({
      no: 'exited',
      always: 'running',
      unless: 'running',
      'unless-stopped-by-hand': 'exited',
    });
  });

  it('fails a hung call at the deadline with ETIMEDOUT (a stop gets its grace on top)', async () => {
    const { clock, engine } = await setup({ requestTimeoutMs: 30_000 });
    const id = await engine.createContainer(managed('web'));
    engine.hang('stopContainer');
    const stop = rejection(engine.stopContainer(id, 10_000));
    await clock.advance(39_999);
    expect(clock.pendingTimers({ source: 'engine' }).map((t) => t.label)).toEqual([
      'stop container: deadline of a hung call',
    ]);
    await clock.advance(1);
    const err = await stop;
    expect(err).toMatchObject({
      code: 'GITDOCK_E_ENGINE_UNREACHABLE',
      data: { errno: 'ETIMEDOUT', timeoutMs: 40_000 },
    });
    engine.unhang('stopContainer');
    await engine.stopContainer(id, 10_000);
    expect(engine.callCount('stopContainer')).toBe(2);
  });

  it('injects faults that fail a call without touching anything', async () => {
    const { engine } = await setup();
    const id = await engine.createContainer(managed('web'));
    const before = engine.journal.length;
    engine.failNext('startContainer');
    const err = await rejection(engine.startContainer(id));
    expect(err.data).toMatchObject({ errno: 'ECONNREFUSED', operation: 'start container' });
    const stop = engine.failWhen((call) =>
      call.method === 'removeContainer' && call.container?.name === 'web'
        ? new GitdockError('GITDOCK_E_ENGINE_REQUEST', 'injected', { statusCode: 500 })
        : undefined,
    );
    expect((await rejection(engine.removeContainer(id))).message).toBe('injected');
    expect(engine.journal.length).toBe(before);
    expect(engine.container(id)?.state).toBe('created');
    stop();
    await engine.startContainer(id);
    await engine.removeContainer(id);
    expect(engine.mutations({ by: 'gitdock' }).map((e) => e.op)).toEqual([
      'pull',
      'create',
      'start',
      'remove',
    ]);
  });

  it('journals who stopped what, in which state', async () => {
    const { clock, engine } = await setup();
    await pulled(clock, engine, HEALTHY);
    const id = await engine.createContainer({ ...managed('web'), image: HEALTHY });
    await engine.startContainer(id);
    await clock.advance(1000);
    await engine.userStop('web');
    engine.userStart('web');
    await engine.stopContainer(id, 1000);
    expect(
      engine
        .mutations({ op: 'stop' })
        .map((e) => ({ by: e.by, before: e.before, at: e.at - FAKE_CLOCK_START })),
    ).toEqual([
      { by: 'user', before: { state: 'running', health: 'healthy' }, at: 3000 },
      { by: 'gitdock', before: { state: 'running', health: 'starting' }, at: 3000 },
    ]);
  });

  it("inherits an image's labels, and reports its gitdock ones only for labelled containers", async () => {
    const { engine } = await setup();
    engine.loadImage('labelled:1', { gitdockLabels: { 'io.gitdock.host': HOST, maintainer: 'x' } });
    engine.userRun('copy', 'labelled:1');
    const [copy] = await engine.listContainers();
    expect(copy?.labels).toEqual({ 'io.gitdock.host': HOST, maintainer: 'x' });
    expect(copy?.imageGitdockLabels).toEqual({ 'io.gitdock.host': HOST });
    expect(engine.mutations({ name: 'copy' }).map((e) => `${e.op} by ${e.by}`)).toEqual([
      'create by user',
      'start by user',
    ]);
  });

  it('gives the same IDs for the same seed', async () => {
    const a = await setup({ seed: 's1' });
    const b = await setup({ seed: 's1' });
    const c = await setup({ seed: 's2' });
    const ids = await Promise.all(
      [a, b, c].map(({ engine }) => engine.createContainer(managed('web'))),
    );
    expect(ids[0]).toBe(ids[1]);
    expect(ids[0]).not.toBe(ids[2]);
  });
});
