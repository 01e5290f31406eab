import { describe, expect, it } from 'vitest';
import { imageReference } from '../core/normalize.js';
import type { RepoConfig } from '../core/schema.js';
import { hashSpec } from '../core/spec-hash.js';
import type { LoadedProject } from './contract.js';
import { activeProfiles, normalizeProject } from './normalize-project.js';

function loaded(model: Record<string, unknown>, over: Partial<LoadedProject> = {}): LoadedProject {
  const dir = over.dir ?? 'hosts/web-1/shop';
  return {
    name: 'shop',
    host: 'web-1',
    dir,
    files: [`${dir}/.env`, `${dir}/compose.yaml`, `${dir}/compose.override.yaml`],
    model,
    locate: (path) => ({ file: `${dir}/compose.yaml`, line: path.length, column: 1 }),
    secretValues: [],
    ...over,
  };
}

function run(
  model: Record<string, unknown>,
  config: RepoConfig = {},
  over: Partial<LoadedProject> = {},
) {
  return normalizeProject(loaded(model, over), { files: new Map(), host: 'web-1', config });
}

const messages = (r: { errors: { message: string }[] }) => r.errors.map((e) => e.message);

describe('identity', () => {
  it('names services <project>/<service>, containers <project>-<service>-1, in start order', () => {
    const r = run({
      services: { web: { image: 'app:1', depends_on: ['db'] }, db: { image: 'postgres:16' } },
    });
    expect(messages(r)).toEqual([]);
    expect(r.services.map((s) => [s.name, s.containerName, s.dependsOn])).toEqual([
      ['shop/db', 'shop-db-1', []],
      ['shop/web', 'shop-web-1', ['shop/db']],
    ]);
    const web = r.services[1]!;
    expect(web).toEqual({
      name: 'shop/web',
      containerName: 'shop-web-1',
      project: 'shop',
      host: 'web-1',
      file: 'hosts/web-1/shop/compose.yaml',
      origin: 'host',
      spec: web.spec,
      rollout: { order: 'stop-first', settleMs: 2000, healthTimeoutMs: 60_000, pull: 'missing' },
      dependsOn: ['shop/db'],
      imageRef: 'app:1',
      specHash: hashSpec(web.spec),
    });
    expect(web.imageRef).toBe(imageReference(web.spec));
  });

  it('a project under stacks/ is fleet-wide', () => {
    const r = run({ services: { web: { image: 'app' } } }, {}, { dir: 'stacks/shop' });
    expect(r.services[0]).toMatchObject({ origin: 'fleet', file: 'stacks/shop/compose.yaml' });
  });

  it('uses container_name as the container name', () => {
    const r = run({ services: { web: { image: 'app', container_name: 'web' } } });
    expect(r.services[0]).toMatchObject({ name: 'shop/web', containerName: 'web' });
    expect(r.services[0]!.spec.containerName).toBe('web');
  });

  it('rejects two services with one container name', () => {
    const r = run({
      services: {
        a: { image: 'app', container_name: 'x1' },
        b: { image: 'app', container_name: 'x1' },
      },
    });
    expect(messages(r)).toEqual([
      'services.b: container name "x1" is also the name of service a\'s container',
    ]);
  });

  it('carries the secret values of the project', () => {
    const r = run(
      { services: { web: { image: 'app', environment: { PW: 's3cret' } } } },
      {},
      { secretValues: ['s3cret'] },
    );
    expect(r.services[0]!.secretValues).toEqual(['s3cret']);
  });
});

describe('replicas', () => {
  it.each([
    [
      { deploy: { replicas: 3 } },
      ['shop/web', 'shop/web#2', 'shop/web#3'],
      ['shop-web-1', 'shop-web-2', 'shop-web-3'],
    ],
    [{ scale: 2 }, ['shop/web', 'shop/web#2'], ['shop-web-1', 'shop-web-2']],
    [
      { scale: 2, deploy: { replicas: 2 } },
      ['shop/web', 'shop/web#2'],
      ['shop-web-1', 'shop-web-2'],
    ],
    [{ deploy: { replicas: 0 } }, [], []],
  ])('%j', (fields, names, containers) => {
    const r = run({ services: { web: { image: 'app', ...fields } } });
    expect(messages(r)).toEqual([]);
    expect(r.services.map((s) => s.name)).toEqual(names);
    expect(r.services.map((s) => s.containerName)).toEqual(containers);
    expect(new Set(r.services.map((s) => s.specHash)).size).toBeLessThanOrEqual(1);
  });

  it('a dependent waits for every replica', () => {
    const r = run({
      services: {
        web: { image: 'app', depends_on: { api: { condition: 'service_healthy' } } },
        api: { image: 'app', scale: 2 },
      },
    });
    const web = r.services.find((s) => s.name === 'shop/web')!;
    expect(web.dependsOn).toEqual(['shop/api', 'shop/api#2']);
    expect(web.dependsOnConditions).toEqual({
      'shop/api': 'service_healthy',
      'shop/api#2': 'service_healthy',
    });
  });

  it.each([
    [
      { scale: 2, deploy: { replicas: 3 } },
      "services.web: can't set distinct values on 'scale' and 'deploy.replicas' (as Compose)",
    ],
    [
      { scale: 2, container_name: 'web' },
      "services.web: can't set container_name with 2 replicas: container names must be unique",
    ],
    [{ scale: -1 }, 'services.web.scale: expected a whole number of containers, 0 or more'],
  ])('rejects %j', (fields, message) => {
    expect(messages(run({ services: { web: { image: 'app', ...fields } } }))).toEqual([message]);
  });
});

describe('profiles', () => {
  const model = {
    services: {
      web: { image: 'app' },
      debug: { image: 'busybox', profiles: ['debug'] },
      admin: { image: 'adminer', profiles: ['tools', 'admin'] },
    },
  };
  it.each([
    ['none on', {}, {}, ['shop/web']],
    [
      'host profiles',
      { hosts: { 'web-1': { profiles: ['debug'] } } },
      {},
      ['shop/debug', 'shop/web'],
    ],
    [
      'project profiles on the host',
      { hosts: { 'web-1': { projects: { shop: { profiles: ['admin'] } } } } },
      {},
      ['shop/admin', 'shop/web'],
    ],
    ['another host', { hosts: { 'web-2': { profiles: ['debug'] } } }, {}, ['shop/web']],
    [
      'x-gitdock.profiles of the project',
      {},
      { 'x-gitdock': { profiles: ['tools'] } },
      ['shop/admin', 'shop/web'],
    ],
    ['*', {}, { 'x-gitdock': { profiles: ['*'] } }, ['shop/admin', 'shop/debug', 'shop/web']],
  ])('%s', (_t, config, top, names) => {
    const r = run({ ...model, ...top }, config as RepoConfig);
    expect(messages(r)).toEqual([]);
    expect(r.services.map((s) => s.name)).toEqual(names);
  });

  it('activeProfiles merges the three sources', () => {
    const config: RepoConfig = {
      hosts: { 'web-1': { profiles: ['a'], projects: { shop: { profiles: ['b'] } } } },
    };
    expect(
      [...activeProfiles(loaded({ 'x-gitdock': { profiles: ['c'] } }), 'web-1', config)].sort(),
    ).toEqual(['a', 'b', 'c']);
  });

  it('skips a dependency whose profile is off when required: false, rejects it otherwise', () => {
    const skip = run({
      services: {
        web: {
          image: 'app',
          depends_on: { debug: { condition: 'service_started', required: false } },
        },
        debug: { image: 'x', profiles: ['debug'] },
      },
    });
    expect(messages(skip)).toEqual([]);
    expect(skip.services.map((s) => [s.name, s.dependsOn])).toEqual([['shop/web', []]]);
    const fail = run({
      services: {
        web: { image: 'app', depends_on: ['debug'] },
        debug: { image: 'x', profiles: ['debug'] },
      },
    });
    expect(messages(fail)).toEqual([
      'services.web.depends_on: "debug" does not run on this host (its profiles are off); turn one of its profiles on, or set required: false',
    ]);
  });
});

describe('dependencies between services', () => {
  it('network_mode service: becomes container:<name> and a dependency', () => {
    const r = run({
      services: { vpn: { image: 'vpn' }, app: { image: 'app', network_mode: 'service:vpn' } },
    });
    expect(messages(r)).toEqual([]);
    const app = r.services.find((s) => s.name === 'shop/app')!;
    expect(app.spec.networkMode).toBe('container:shop-vpn-1');
    expect(app.spec.networks).toBeUndefined();
    expect(app.dependsOn).toEqual(['shop/vpn']);
    expect(r.services.map((s) => s.name)).toEqual(['shop/vpn', 'shop/app']);
  });

  it('links, volumes_from, ipc and pid service: resolve to container names', () => {
    const r = run({
      services: {
        db: { image: 'pg', container_name: 'pgsql' },
        data: { image: 'busybox' },
        web: {
          image: 'app',
          links: ['db', 'db:database'],
          volumes_from: ['data:ro', 'container:legacy', 'data:rw'],
          ipc: 'service:data',
          pid: 'service:db',
        },
      },
    });
    expect(messages(r)).toEqual([]);
    const web = r.services.find((s) => s.name === 'shop/web')!;
    expect(web.spec).toMatchObject({
      links: ['pgsql:db', 'pgsql:database'],
      volumesFrom: ['shop-data-1:ro', 'legacy', 'shop-data-1'],
      ipc: 'container:shop-data-1',
      pid: 'container:pgsql',
    });
    expect(web.dependsOn).toEqual(['shop/data', 'shop/db']);
  });

  it('marks a service waited on with service_completed_successfully as one-shot', () => {
    const r = run({
      services: {
        migrate: { image: 'app', command: 'migrate' },
        web: {
          image: 'app',
          depends_on: {
            migrate: { condition: 'service_completed_successfully' },
            cache: { condition: 'service_started' },
          },
        },
        cache: { image: 'redis' },
      },
    });
    expect(messages(r)).toEqual([]);
    expect(r.services.map((s) => [s.name, s.oneShot ?? false, s.dependsOnConditions])).toEqual([
      ['shop/cache', false, undefined],
      ['shop/migrate', true, undefined],
      ['shop/web', false, { 'shop/migrate': 'service_completed_successfully' }],
    ]);
  });

  it.each([
    [
      { web: { image: 'app', network_mode: 'service:nope' } },
      'services.web.network_mode: service:nope refers to "nope", which is not a service of project shop',
    ],
    [{ web: { image: 'app', links: ['web'] } }, 'services.web.links[0] refers to itself'],
    [
      { web: { image: 'app', depends_on: ['ghost'] } },
      'services.web.depends_on: "ghost" is not a service of project shop',
    ],
    [
      {
        web: { image: 'app', depends_on: { db: { condition: 'service_ready' } } },
        db: { image: 'x' },
      },
      'services.web.depends_on.db.condition: expected service_started, service_healthy or service_completed_successfully',
    ],
    [
      { a: { image: 'x', depends_on: ['b'] }, b: { image: 'x', depends_on: ['a'] } },
      'services a, b form or wait on a dependency cycle (depends_on, links, volumes_from, network_mode service:)',
    ],
  ])('rejects %j', (services, message) => {
    expect(messages(run({ services }))).toEqual([message]);
  });
});

describe('resources', () => {
  it('keeps the networks and volumes running services use, with Compose names', () => {
    const r = run({
      services: {
        web: {
          image: 'app',
          networks: ['front', 'ext'],
          volumes: [{ type: 'volume', source: 'static', target: '/s' }],
        },
        db: { image: 'pg', volumes: [{ type: 'volume', source: 'data', target: '/d' }] },
        debug: {
          image: 'x',
          profiles: ['debug'],
          networks: ['unusedbyothers'],
          volumes: [{ type: 'volume', source: 'spare', target: '/x' }],
        },
      },
      networks: {
        front: { driver: 'bridge', labels: { tier: 'front' } },
        ext: { external: true, name: 'proxy' },
        unusedbyothers: {},
        idle: {},
      },
      volumes: { static: null, data: { name: 'pgdata' }, spare: {} },
    });
    expect(messages(r)).toEqual([]);
    expect(r.networks.map((n) => [n.name, n.key, n.external, n.labels])).toEqual([
      ['proxy', 'ext', true, {}],
      ['shop_default', 'default', false, {}],
      ['shop_front', 'front', false, { tier: 'front' }],
    ]);
    expect(r.volumes).toEqual([
      { name: 'pgdata', project: 'shop', key: 'data', external: false, labels: {} },
      { name: 'shop_static', project: 'shop', key: 'static', external: false, labels: {} },
    ]);
  });

  it('has no default network when every service sets network_mode', () => {
    const r = run({ services: { web: { image: 'app', network_mode: 'host' } } });
    expect(r.networks).toEqual([]);
  });

  it('rejects unknown top-level fields, warns on version', () => {
    const r = run({ services: { web: { image: 'app' } }, version: '3.8', bogus: {} });
    expect(messages(r)).toEqual([expect.stringContaining('bogus: unknown field')]);
    expect(r.warnings.map((w) => w.message)).toEqual([
      'version is obsolete and ignored, as Compose ignores it',
    ]);
  });
});
