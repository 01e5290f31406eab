// Pieces shared by the engine tests (the contract, the adapter against the
// private dockerd, its event stream), and the contract's network and volume
// cases.
import { afterEach, expect, it } from 'vitest';
import type { Engine } from '../../src/core/engine.js';
import type {
  ContainerSpec,
  DesiredNetwork,
  DesiredVolume,
  ServiceNetwork,
} from '../../src/core/types.js';
import { GitdockError } from '../../src/errors.js';
import { REPO_OF } from './services.js';

/** The GitdockError that `promise` rejects with; fails the test if it resolves or throws something else. */
export async function rejection(promise: Promise<unknown>): Promise<GitdockError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(GitdockError);
    return err as GitdockError;
  }
  throw new Error('expected a rejection');
}

/** A container spec of the stack's app:1.0, no network, no restart; `overrides` win. */
export function spec(overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    image: REPO_OF('app'),
    tag: '1.0',
    environment: {},
    ports: [],
    volumes: [],
    networkMode: 'none',
    restart: 'no',
    labels: {},
    stopGracePeriodMs: 2000,
    ...overrides,
  };
}

/** What the network and volume cases need from the contract file that runs them. */
export interface ResourceCaseContext {
  /** The engine under test (set in the contract's `beforeAll`). */
  engine(): Engine;
  /** A container, network or volume name under the run's prefix, unique in the run. */
  uniqueName(what: string): string;
  /** Removes every container the run made (done before its networks and volumes go). */
  removeContainers(): Promise<void>;
}

/** A network of the host's desired state, named `name`, with `overrides`. */
export function desiredNetwork(
  name: string,
  overrides: Partial<DesiredNetwork> = {},
): DesiredNetwork {
  return {
    name,
    project: 'ct',
    key: name,
    external: false,
    labels: {},
    specHash: 'ct-hash',
    ...overrides,
  };
}

export function desiredVolume(name: string, overrides: Partial<DesiredVolume> = {}): DesiredVolume {
  return { name, project: 'ct', key: name, external: false, labels: {}, ...overrides };
}

/** A spec of the stack's app:1.0 on the given networks (no `network_mode`). */
export function networkedSpec(
  networks: ServiceNetwork[],
  overrides: Partial<ContainerSpec> = {},
): ContainerSpec {
  const { networkMode: _, ...rest } = spec(overrides);
  return { ...rest, networks };
}

/**
 * The network and volume cases of the engine contract: the same on dockerd
 * (20.10, API 1.41) and on the FakeEngine. Each removes what it made.
 */
export function defineResourceCases(ctx: ResourceCaseContext): void {
  const networks: string[] = [];
  const volumes: string[] = [];
  const network = (what: string) => {
    const name = ctx.uniqueName(what);
    networks.push(name);
    return name;
  };
  const volume = (what: string) => {
    const name = ctx.uniqueName(what);
    volumes.push(name);
    return name;
  };
  const create = (name: string, containerSpec: ContainerSpec) =>
    ctx.engine().createContainer({
      name,
      image: `${containerSpec.image}:${containerSpec.tag}`,
      spec: containerSpec,
      labels: {},
    });

  afterEach(async () => {
    await ctx.removeContainers();
    for (const name of networks.splice(0)) await ctx.engine().removeNetwork(name);
    for (const name of volumes.splice(0)) await ctx.engine().removeVolume(name);
  });

  it('creates a network with its labels and the given ones, lists it with the engine own, removes it', async () => {
    const engine = ctx.engine();
    const name = network('net');
    const id = await engine.createNetwork(
      desiredNetwork(name, {
        driver: 'bridge',
        labels: { team: 'web', 'io.gitdock.project': 'from-the-file' },
        ipam: { config: [{ subnet: '10.213.91.0/24', gateway: '10.213.91.1' }] },
      }),
      { 'io.gitdock.project': 'ct', 'io.gitdock.resource-hash': 'h1' },
    );
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const listed = await engine.listNetworks();
    expect(listed.find((n) => n.name === name)).toEqual({
      id,
      name,
      labels: { team: 'web', 'io.gitdock.project': 'ct', 'io.gitdock.resource-hash': 'h1' },
      containers: [],
    });
    // The engine's own networks are listed too (the stack's dockerd has no default bridge).
    expect(listed.map((n) => n.name)).toEqual(expect.arrayContaining(['host', 'none']));

    const again = await rejection(engine.createNetwork(desiredNetwork(name), {}));
    expect(again).toMatchObject({ code: 'GITDOCK_E_ENGINE_REQUEST', data: { statusCode: 409 } });
    expect(again.message).toContain(`network with name ${name} already exists`);

    const own = await rejection(engine.removeNetwork('none'));
    expect(own).toMatchObject({ code: 'GITDOCK_E_ENGINE_REQUEST', data: { statusCode: 403 } });
    expect(own.message).toContain('none is a pre-defined network and cannot be removed');

    await engine.removeNetwork(id);
    await engine.removeNetwork(id); // missing is not an error
    await engine.removeNetwork(name);
    expect((await engine.listNetworks()).some((n) => n.id === id || n.name === name)).toBe(false);
  });

  it('refuses to remove a network a running container is attached to; stopped, it goes and the container cannot start', async () => {
    const engine = ctx.engine();
    const name = network('busy');
    const networkId = await engine.createNetwork(desiredNetwork(name), {});
    const id = await create(ctx.uniqueName('on-net'), networkedSpec([{ name }]));
    await engine.startContainer(id);
    const err = await rejection(engine.removeNetwork(name));
    expect(err).toMatchObject({ code: 'GITDOCK_E_ENGINE_REQUEST', data: { statusCode: 403 } });
    expect(err.message).toContain('has active endpoints');
    expect((await engine.listNetworks()).find((n) => n.name === name)?.containers).toEqual([id]);

    await engine.stopContainer(id, 2000);
    await engine.removeNetwork(name);
    const start = await rejection(engine.startContainer(id));
    expect(start).toMatchObject({ code: 'GITDOCK_E_ENGINE_REQUEST', data: { statusCode: 404 } });
    // A container that has run keeps its networks by ID.
    expect(start.message).toContain(`network ${networkId} not found`);
  });

  it('attaches a container to two networks at create, and it runs on both', async () => {
    const engine = ctx.engine();
    const [front, back] = [network('front'), network('back')];
    const frontId = await engine.createNetwork(desiredNetwork(front), {});
    await engine.createNetwork(desiredNetwork(back), {});
    const id = await create(
      ctx.uniqueName('two-nets'),
      networkedSpec([
        { name: back, aliases: ['db'] },
        { name: front, priority: 5 },
      ]),
    );
    const attached = (list: Awaited<ReturnType<Engine['listNetworks']>>) =>
      Object.fromEntries(
        list.filter((n) => n.name === front || n.name === back).map((n) => [n.name, n.containers]),
      );
    expect(attached(await engine.listNetworks())).toEqual({ [front]: [id], [back]: [id] });
    await engine.startContainer(id);
    expect(await engine.inspectContainer(id)).toMatchObject({ state: 'running', running: true });
    expect(attached(await engine.listNetworks())).toEqual({ [front]: [id], [back]: [id] });
    // Attached while running: neither can go.
    expect((await rejection(engine.removeNetwork(frontId))).data.statusCode).toBe(403);
    await engine.removeContainer(id);
    expect(attached(await engine.listNetworks())).toEqual({ [front]: [], [back]: [] });
  });

  it('creates, lists and removes a volume; a second create keeps the first; lock volumes are not listed', async () => {
    const engine = ctx.engine();
    const name = volume('data');
    await engine.createVolume(desiredVolume(name, { driver: 'local', labels: { team: 'db' } }), {
      'io.gitdock.project': 'ct',
    });
    await engine.createVolume(desiredVolume(name, { labels: { team: 'other' } }), {});
    const lockName = ctx.uniqueName('lock');
    const lock = await engine.createLock(lockName, { 'io.gitdock.lock.pid': '1' });
    try {
      const listed = await engine.listVolumes();
      expect(listed.find((v) => v.name === name)).toEqual({
        name,
        labels: { team: 'db', 'io.gitdock.project': 'ct' },
        driver: 'local',
      });
      expect(listed.some((v) => v.name === lockName)).toBe(false);
    } finally {
      await engine.removeLock(lock.lock.id);
    }
    await engine.removeVolume(name);
    await engine.removeVolume(name); // missing is not an error
    expect((await engine.listVolumes()).some((v) => v.name === name)).toBe(false);
  });

  it('refuses to remove a volume a container uses, even a stopped one; a mounted name is created', async () => {
    const engine = ctx.engine();
    const [name, implicit] = [volume('used'), volume('implicit')];
    await engine.createVolume(desiredVolume(name), {});
    const id = await create(
      ctx.uniqueName('with-volume'),
      spec({
        volumes: [
          { type: 'volume', source: name, target: '/data', readOnly: false },
          { type: 'volume', source: implicit, target: '/more', readOnly: false },
        ],
      }),
    );
    expect((await engine.listVolumes()).find((v) => v.name === implicit)).toMatchObject({
      driver: 'local',
    });
    const err = await rejection(engine.removeVolume(name));
    expect(err).toMatchObject({ code: 'GITDOCK_E_ENGINE_REQUEST', data: { statusCode: 409 } });
    expect(err.message).toContain(`remove ${name}: volume is in use - [${id}]`);
    await engine.removeContainer(id);
    await engine.removeVolume(name);
    expect((await engine.listVolumes()).some((v) => v.name === name)).toBe(false);
  });
}
