import { describe, expect, it } from 'vitest';
import type { Engine, EngineEvent } from '../core/engine.js';
import { containerSpec } from '../core/test-fixtures.js';
import type { Clock } from '../reconcile/clock.js';
import { OwnEvents } from './own-events.js';

/** Engine time: epoch-like, far from 0. */
const T0 = 1_767_225_600_000;

function setup() {
  let now = T0;
  const clock: Clock = { now: () => now, sleep: async () => {} };
  const calls: string[] = [];
  const record =
    <T>(name: string, value: T) =>
    async (...args: unknown[]) => {
      calls.push(`${name} ${args.filter((a) => typeof a === 'string').join(' ')}`.trim());
      return value;
    };
  const inner: Engine = {
    listContainers: record('listContainers', []),
    inspectContainer: async (id) => ({
      id,
      name: 'web',
      state: 'running',
      running: true,
      exitCode: 0,
      restartCount: 0,
    }),
    imageId: record('imageId', undefined),
    pullImage: record('pullImage', undefined),
    createContainer: async (options) => {
      calls.push(`createContainer ${options.name}`);
      return 'new-id';
    },
    startContainer: record('startContainer', undefined),
    stopContainer: record('stopContainer', undefined),
    removeContainer: record('removeContainer', undefined),
    renameContainer: record('renameContainer', undefined),
    logTail: record('logTail', ''),
    ping: record('ping', undefined),
    watchEvents: record('watchEvents', undefined),
    createLock: async () => {
      throw new Error('not used');
    },
    findLock: record('findLock', undefined),
    removeLock: record('removeLock', undefined),
    listNetworks: record('listNetworks', []),
    createNetwork: record('createNetwork', 'network-id'),
    removeNetwork: record('removeNetwork', undefined),
    listVolumes: record('listVolumes', []),
    createVolume: record('createVolume', undefined),
    removeVolume: record('removeVolume', undefined),
  };
  const own = new OwnEvents(inner, clock);
  const event = (action: string, containerId: string, name?: string): EngineEvent => ({
    action,
    containerId,
    ...(name ? { name } : {}),
    time: now,
  });
  return {
    own,
    engine: own.engine,
    calls,
    event,
    isOwn: (action: string, containerId: string, name?: string) =>
      own.isOwn(event(action, containerId, name)),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('OwnEvents: the engine it wraps', () => {
  it('passes every call through to the real engine', async () => {
    const s = setup();
    await s.engine.startContainer('c1');
    await s.engine.stopContainer('c1', 10_000);
    await s.engine.renameContainer('c1', 'web-old');
    await s.engine.removeContainer('c1');
    expect(
      await s.engine.createContainer({
        name: 'web',
        image: 'img',
        spec: containerSpec(),
        labels: {},
      }),
    ).toBe('new-id');
    await s.engine.pullImage('app:1');
    expect(s.calls).toEqual([
      'startContainer c1',
      'stopContainer c1',
      'renameContainer c1 web-old',
      'removeContainer c1',
      'createContainer web',
      'pullImage app:1',
    ]);
  });

  it('passes the network and volume calls through, expecting no container events', async () => {
    const s = setup();
    const network = {
      name: 'shop_default',
      project: 'shop',
      key: 'default',
      external: false,
      labels: {},
      specHash: 'h',
    };
    expect(await s.engine.createNetwork(network, {})).toBe('network-id');
    expect(await s.engine.listNetworks()).toEqual([]);
    await s.engine.removeNetwork('shop_default');
    const volume = { name: 'shop_db', project: 'shop', key: 'db', external: false, labels: {} };
    await s.engine.createVolume(volume, {});
    expect(await s.engine.listVolumes()).toEqual([]);
    await s.engine.removeVolume('shop_db');
    expect(s.calls).toEqual([
      'createNetwork',
      'listNetworks',
      'removeNetwork shop_default',
      'createVolume',
      'listVolumes',
      'removeVolume shop_db',
    ]);
    expect(s.own.isOwn(s.event('destroy', 'network-id'))).toBe(false);
  });
});

describe('OwnEvents: events of the agent own calls', () => {
  it('start: its start, and while the pass watches it come up its die and restarts, are own', async () => {
    const s = setup();
    await s.engine.startContainer('c1');
    expect(s.isOwn('start', 'c1')).toBe(true);
    // A crash and a restart by its restart policy, while the pass waits for it to come up.
    expect(s.isOwn('die', 'c1')).toBe(true);
    expect(s.isOwn('restart', 'c1')).toBe(true);
    expect(s.isOwn('start', 'c1')).toBe(true);
    expect(s.isOwn('health_status: starting', 'c1')).toBe(true);
    // Not what a start causes: a stop or a destroy is someone else's.
    expect(s.isOwn('stop', 'c1')).toBe(false);
    expect(s.isOwn('destroy', 'c1')).toBe(false);
  });

  it('stop: kill (any number), die and stop (once each)', async () => {
    const s = setup();
    await s.engine.stopContainer('c1', 10_000);
    // SIGTERM, then SIGKILL after the grace period: two kills.
    expect(s.isOwn('kill', 'c1')).toBe(true);
    expect(s.isOwn('kill', 'c1')).toBe(true);
    expect(s.isOwn('die', 'c1')).toBe(true);
    expect(s.isOwn('stop', 'c1')).toBe(true);
    expect(s.isOwn('die', 'c1')).toBe(false);
    expect(s.isOwn('stop', 'c1')).toBe(false);
  });

  it('remove: kill and die (a forced remove), destroy once', async () => {
    const s = setup();
    await s.engine.removeContainer('c1');
    expect(s.isOwn('kill', 'c1')).toBe(true);
    expect(s.isOwn('die', 'c1')).toBe(true);
    expect(s.isOwn('destroy', 'c1')).toBe(true);
    expect(s.isOwn('destroy', 'c1')).toBe(false);
  });

  it('rename: the rename event is recognised once', async () => {
    const s = setup();
    await s.engine.renameContainer('c1', 'web');
    expect(s.isOwn('rename', 'c1')).toBe(true);
    expect(s.isOwn('rename', 'c1')).toBe(false);
  });

  it('create: recognised by name, once per create', async () => {
    const s = setup();
    const options = { image: 'img', spec: containerSpec(), labels: {} };
    await s.engine.createContainer({ name: 'web.gitdock-NEXT', ...options });
    await s.engine.createContainer({ name: 'web.gitdock-NEXT', ...options });
    expect(s.isOwn('create', 'new-id', 'db')).toBe(false);
    expect(s.isOwn('create', 'new-id', 'web.gitdock-NEXT')).toBe(true);
    expect(s.isOwn('create', 'other-id', 'web.gitdock-NEXT')).toBe(true);
    expect(s.isOwn('create', 'third-id', 'web.gitdock-NEXT')).toBe(false);
  });

  it('an expected action on one container is not own on another', async () => {
    const s = setup();
    await s.engine.stopContainer('c1', 10_000);
    expect(s.isOwn('stop', 'c2')).toBe(false);
    expect(s.isOwn('die', 'c2')).toBe(false);
    expect(s.isOwn('stop', 'c1')).toBe(true);
  });

  it('the same call twice expects its events twice', async () => {
    const s = setup();
    await s.engine.stopContainer('c1', 10_000);
    await s.engine.stopContainer('c1', 10_000);
    expect(s.isOwn('stop', 'c1')).toBe(true);
    expect(s.isOwn('stop', 'c1')).toBe(true);
    expect(s.isOwn('stop', 'c1')).toBe(false);
    await s.engine.renameContainer('c2', 'a');
    await s.engine.renameContainer('c2', 'b');
    expect(s.isOwn('rename', 'c2')).toBe(true);
    expect(s.isOwn('rename', 'c2')).toBe(true);
    expect(s.isOwn('rename', 'c2')).toBe(false);
  });
});

describe('OwnEvents: drift', () => {
  it('a die without a stop by the agent (a crash) is not own', async () => {
    const s = setup();
    expect(s.isOwn('die', 'c9')).toBe(false);
    // Of a container the agent only renamed.
    await s.engine.renameContainer('c2', 'web-old');
    expect(s.isOwn('die', 'c2')).toBe(false);
  });

  it('a crash of a container the agent started is drift once its pass has ended', async () => {
    const s = setup();
    await s.engine.startContainer('c1');
    expect(s.isOwn('start', 'c1')).toBe(true);
    s.advance(10_000);
    s.own.passEnded();
    s.advance(1_001);
    expect(s.isOwn('die', 'c1')).toBe(false);
    expect(s.isOwn('restart', 'c1')).toBe(false);
  });

  it('a start by hand of a container the agent started is drift once its pass has ended', async () => {
    const s = setup();
    await s.engine.startContainer('c1');
    // The start the agent caused, seen during the pass.
    expect(s.isOwn('start', 'c1')).toBe(true);
    s.advance(10_000);
    s.own.passEnded();
    s.advance(1_001);
    expect(s.isOwn('start', 'c1')).toBe(false);
  });

  it('a user stop of a container the agent did not touch is not own', async () => {
    const s = setup();
    await s.engine.stopContainer('c1', 10_000);
    for (const action of ['kill', 'die', 'stop']) expect(s.isOwn(action, 'c2')).toBe(false);
  });

  it('a user stop after the agent stop was consumed is not own', async () => {
    const s = setup();
    await s.engine.stopContainer('c1', 10_000);
    expect(s.isOwn('die', 'c1')).toBe(true);
    expect(s.isOwn('stop', 'c1')).toBe(true);
    s.advance(5_000);
    expect(s.isOwn('die', 'c1')).toBe(false);
    expect(s.isOwn('stop', 'c1')).toBe(false);
  });

  it('a start by hand of a container the agent only stopped is not own', async () => {
    const s = setup();
    await s.engine.stopContainer('c1', 10_000);
    expect(s.isOwn('start', 'c1')).toBe(false);
    expect(s.isOwn('health_status: healthy', 'c1')).toBe(false);
  });

  it('a create of a name the agent did not create is not own', () => {
    const s = setup();
    expect(s.isOwn('create', 'x', 'web')).toBe(false);
  });
});

describe('OwnEvents: health reports of a container just started', () => {
  it('are own during the pass and until shortly after passEnded(), then drift', async () => {
    const s = setup();
    await s.engine.startContainer('c1');
    expect(s.isOwn('health_status: starting', 'c1')).toBe(true);
    s.advance(30_000);
    expect(s.isOwn('health_status: healthy', 'c1')).toBe(true);
    expect(s.isOwn('health_status: healthy', 'c1')).toBe(true);
    s.own.passEnded();
    s.advance(1_000);
    expect(s.isOwn('health_status: healthy', 'c1')).toBe(true);
    s.advance(1);
    expect(s.isOwn('health_status: unhealthy', 'c1')).toBe(false);
  });

  it('after passEnded(), a health report more than a second later is drift', async () => {
    const s = setup();
    await s.engine.startContainer('c1');
    s.own.passEnded();
    s.advance(5_000);
    expect(s.isOwn('health_status: unhealthy', 'c1')).toBe(false);
  });

  it('of a container the agent did not start are drift', async () => {
    const s = setup();
    await s.engine.startContainer('c1');
    expect(s.isOwn('health_status: unhealthy', 'c2')).toBe(false);
  });
});

describe('OwnEvents: expiry', () => {
  it('an expected event that never came is forgotten after the TTL', async () => {
    const s = setup();
    await s.engine.startContainer('c1');
    await s.engine.stopContainer('c2', 10_000);
    await s.engine.removeContainer('c3');
    await s.engine.renameContainer('c4', 'web');
    s.advance(60_000);
    // At the TTL, still expected.
    expect(s.isOwn('start', 'c1')).toBe(true);
    s.advance(1);
    expect(s.isOwn('die', 'c2')).toBe(false);
    expect(s.isOwn('stop', 'c2')).toBe(false);
    expect(s.isOwn('kill', 'c2')).toBe(false);
    expect(s.isOwn('destroy', 'c3')).toBe(false);
    expect(s.isOwn('kill', 'c3')).toBe(false);
    expect(s.isOwn('rename', 'c4')).toBe(false);
  });

  it('a later call on the same container renews its expectations', async () => {
    const s = setup();
    await s.engine.stopContainer('c1', 10_000);
    s.advance(50_000);
    await s.engine.startContainer('c1');
    s.advance(50_000);
    expect(s.isOwn('start', 'c1')).toBe(true);
  });

  it('an expected create that never came is forgotten after the TTL', async () => {
    const s = setup();
    await s.engine.createContainer({
      name: 'web.gitdock-NEXT',
      image: 'img',
      spec: containerSpec(),
      labels: {},
    });
    s.advance(60_001);
    // A `docker create --name web.gitdock-NEXT` by hand much later is not the agent's.
    expect(s.isOwn('create', 'user-id', 'web.gitdock-NEXT')).toBe(false);
  });

  it('a create the engine refused expects no create event', async () => {
    const s = setup();
    const refusing: Engine = {
      ...s.engine,
      createContainer: async () => {
        throw new Error('Conflict. The container name "/web" is already in use');
      },
    };
    const own = new OwnEvents(refusing, { now: () => T0, sleep: async () => {} });
    await expect(
      own.engine.createContainer({ name: 'web', image: 'img', spec: containerSpec(), labels: {} }),
    ).rejects.toThrow('already in use');
    // The user's container of that name, created later, is drift.
    expect(own.isOwn(s.event('create', 'user-id', 'web'))).toBe(false);
  });
});
