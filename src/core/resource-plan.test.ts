import { describe, expect, it } from 'vitest';
import { networkSettings, planResources, type ResourcePlanInput } from './resource-plan.js';
import { canonicalJson } from './spec-hash.js';
import {
  desiredService,
  hostState,
  managedContainer,
  unmanagedContainer,
} from './test-fixtures.js';
import {
  type ActualContainer,
  type ActualNetwork,
  type ActualVolume,
  COMPOSE_LABELS,
  type ContainerSpec,
  type DesiredNetwork,
  type DesiredService,
  type DesiredVolume,
  type HostState,
  LABELS,
} from './types.js';

/** `type name: reasons` lines, as a person reads them. */
function summary(input: ResourcePlanInput): string[] {
  return planResources(input).actions.map(
    (a) => `${a.type} ${a.name}${a.reasons.length ? `: ${a.reasons.join('; ')}` : ''}`,
  );
}

function service(name: string, spec: Partial<ContainerSpec>): DesiredService {
  const base = desiredService(name, { spec });
  return {
    ...base,
    name: `shop/${name}`,
    containerName: `shop-${name}-1`,
    project: 'shop',
    file: 'hosts/web-1/shop/compose.yaml',
  };
}

function network(name: string, overrides: Partial<DesiredNetwork> = {}): DesiredNetwork {
  return {
    name,
    project: 'shop',
    key: name.replace(/^shop_/, ''),
    external: false,
    labels: {},
    specHash: 'hash-1',
    ...overrides,
  };
}

function volume(name: string, overrides: Partial<DesiredVolume> = {}): DesiredVolume {
  return {
    name,
    project: 'shop',
    key: name.replace(/^shop_/, ''),
    external: false,
    labels: {},
    ...overrides,
  };
}

/** A network gitdock made for web-1 with the given settings hash. */
function ourNetwork(
  name: string,
  hash: string,
  containers: string[] = [],
  extra: Record<string, string> = {},
): ActualNetwork {
  return {
    id: `id-${name}`,
    name,
    labels: {
      [LABELS.host]: 'web-1',
      [LABELS.project]: 'shop',
      [LABELS.resourceHash]: hash,
      ...extra,
    },
    containers,
  };
}

function actualVolume(name: string, labels: Record<string, string> = {}): ActualVolume {
  return { name, labels, driver: 'local' };
}

const api = service('api', { networks: [{ name: 'shop_default' }] });
const db = service('db', {
  networks: [{ name: 'shop_default' }],
  volumes: [{ type: 'volume', source: 'shop_data', target: '/data', readOnly: false }],
});

function state(overrides: Partial<HostState> = {}, services = [api, db]): HostState {
  return {
    ...hostState(services),
    networks: [network('shop_default')],
    volumes: [volume('shop_data')],
    ...overrides,
  };
}

function input(overrides: Partial<ResourcePlanInput> = {}): ResourcePlanInput {
  return { desired: state(), networks: [], volumes: [], containers: [], ...overrides };
}

describe('planResources: networks', () => {
  const apiContainer = managedContainer(api, { name: 'shop-api-1' });
  it.each<[string, ResourcePlanInput, string[]]>([
    [
      'missing: created, with the services that join it',
      input({ volumes: [actualVolume('shop_data', { [LABELS.host]: 'web-1' })] }),
      ['network-create shop_default: not on the engine', 'volume-in-sync shop_data'],
    ],
    [
      'ours with the same settings: in sync',
      input({
        networks: [ourNetwork('shop_default', 'hash-1')],
        volumes: [actualVolume('shop_data', { [LABELS.host]: 'web-1' })],
      }),
      ['network-in-sync shop_default', 'volume-in-sync shop_data'],
    ],
    [
      'ours with other settings, no recorded settings: recreated, the hashes in the reason',
      input({
        desired: state({ volumes: [] }, [api]),
        networks: [ourNetwork('shop_default', 'hash-0', [apiContainer.id])],
        containers: [apiContainer],
      }),
      [
        'network-recreate shop_default: network settings changed: settings hash hash-0 -> hash-1; recreates shop/api',
      ],
    ],
    [
      'ours with other recorded settings: the fields that changed',
      input({
        desired: state(
          { networks: [network('shop_default', { internal: true, specHash: 'h2' })], volumes: [] },
          [api],
        ),
        networks: [
          ourNetwork('shop_default', 'h1', [], {
            [LABELS.spec]: canonicalJson(
              networkSettings(network('shop_default', { driver: 'bridge' })),
            ),
          }),
        ],
      }),
      [
        'network-recreate shop_default: network settings changed: driver bridge removed, internal set to true',
      ],
    ],
    [
      "a container not gitdock's attached to a network that must be recreated: error, nothing touched",
      input({
        desired: state({ volumes: [] }, [api]),
        networks: [ourNetwork('shop_default', 'hash-0', [unmanagedContainer('debug').id])],
        containers: [unmanagedContainer('debug')],
      }),
      [
        'resource-error shop_default: network settings changed: settings hash hash-0 -> hash-1; it cannot be recreated while "debug" (not gitdock\'s) is attached: disconnect it',
      ],
    ],
    [
      'external and present: in sync',
      input({
        desired: state({ networks: [network('proxy', { external: true })], volumes: [] }, [api]),
        networks: [{ id: 'p', name: 'proxy', labels: {}, containers: [] }],
      }),
      ['network-in-sync proxy: external'],
    ],
    [
      'external and missing: an error',
      input({
        desired: state({ networks: [network('proxy', { external: true })], volumes: [] }, [api]),
      }),
      ['resource-error proxy: external network proxy does not exist; create it or drop external'],
    ],
    [
      'made by docker compose for the project: used as is',
      input({
        desired: state({ volumes: [] }, [api]),
        networks: [
          {
            id: 'c',
            name: 'shop_default',
            labels: { [COMPOSE_LABELS.project]: 'shop', [COMPOSE_LABELS.network]: 'default' },
            containers: [],
          },
        ],
      }),
      ['network-in-sync shop_default: made by docker compose for project shop; used as is'],
    ],
    [
      'made by docker compose for the project with other settings: conflict',
      input({
        desired: state(
          { networks: [network('shop_default', { labels: { tier: 'front' } })], volumes: [] },
          [api],
        ),
        networks: [
          {
            id: 'c',
            name: 'shop_default',
            labels: { [COMPOSE_LABELS.project]: 'shop', [COMPOSE_LABELS.network]: 'default' },
            containers: [],
          },
        ],
      }),
      [
        'resource-error shop_default: network shop_default was made by docker compose for project shop with other settings (labels.tier); remove it (after its containers) to let gitdock make it',
      ],
    ],
    [
      'made by docker compose for another project: conflict',
      input({
        desired: state({ volumes: [] }, [api]),
        networks: [
          {
            id: 'c',
            name: 'shop_default',
            labels: { [COMPOSE_LABELS.project]: 'legacy' },
            containers: [],
          },
        ],
      }),
      [
        'resource-error shop_default: network shop_default was made by docker compose for project legacy, not shop; remove it, or declare the network external',
      ],
    ],
    [
      'made by hand: conflict',
      input({
        desired: state({ volumes: [] }, [api]),
        networks: [{ id: 'c', name: 'shop_default', labels: {}, containers: [] }],
      }),
      [
        'resource-error shop_default: network shop_default exists and was not made by gitdock; remove it, or declare the network external',
      ],
    ],
    [
      "another host's: conflict",
      input({
        desired: state({ volumes: [] }, [api]),
        networks: [
          { id: 'c', name: 'shop_default', labels: { [LABELS.host]: 'web-2' }, containers: [] },
        ],
      }),
      [
        'resource-error shop_default: network shop_default belongs to gitdock host web-2, not web-1',
      ],
    ],
    [
      'ours no longer wanted: removed (after the services)',
      input({
        desired: state({ volumes: [] }, [api]),
        networks: [ourNetwork('shop_default', 'hash-1'), ourNetwork('shop_back', 'x')],
      }),
      [
        'network-in-sync shop_default',
        'network-remove shop_back: network no longer in git for project shop',
      ],
    ],
    [
      'a project removed: its networks removed',
      input({
        desired: { ...hostState([desiredService('app')]) },
        networks: [
          {
            ...ourNetwork('blog_default', 'x'),
            labels: { [LABELS.host]: 'web-1', [LABELS.project]: 'blog' },
          },
        ],
      }),
      ['network-remove blog_default: project blog no longer in git for host web-1'],
    ],
    [
      "another host's or unlabelled networks are never removed",
      input({
        desired: { ...hostState([desiredService('app')]) },
        networks: [
          { id: 'a', name: 'bridge', labels: {}, containers: [] },
          { id: 'b', name: 'other', labels: { [LABELS.host]: 'web-2' }, containers: [] },
          {
            id: 'c',
            name: 'legacy_default',
            labels: { [COMPOSE_LABELS.project]: 'legacy' },
            containers: [],
          },
        ],
      }),
      [],
    ],
  ])('%s', (_name, given, expected) => {
    expect(summary(given)).toEqual(expected);
  });

  it('lists the services a network carries and the ones to recreate with it', () => {
    const dbContainer = managedContainer(db, { name: 'shop-db-1' });
    const orphan = managedContainer('gone', { name: 'gone' });
    const plan = planResources(
      input({
        desired: state({ volumes: [] }),
        networks: [ourNetwork('shop_default', 'old', [apiContainer.id, dbContainer.id, orphan.id])],
        containers: [apiContainer, dbContainer, orphan],
      }),
    );
    expect(plan.actions).toMatchObject([
      {
        type: 'network-recreate',
        services: ['shop/api', 'shop/db'],
        recreate: ['shop/api', 'shop/db'],
      },
    ]);
    // The orphan is removed by the plan of services anyway: not recreated.
    expect([...plan.recreatedBy]).toEqual([
      ['shop/api', 'shop_default'],
      ['shop/db', 'shop_default'],
    ]);
  });
});

describe('planResources: volumes', () => {
  const ours = (name: string) =>
    actualVolume(name, { [LABELS.host]: 'web-1', [LABELS.project]: 'shop' });
  const inSyncNetwork = [ourNetwork('shop_default', 'hash-1')];
  it.each<[string, ResourcePlanInput, string[]]>([
    [
      'missing and used: created',
      input({ networks: inSyncNetwork }),
      ['network-in-sync shop_default', 'volume-create shop_data: not on the engine'],
    ],
    [
      'ours: in sync',
      input({ networks: inSyncNetwork, volumes: [ours('shop_data')] }),
      ['network-in-sync shop_default', 'volume-in-sync shop_data'],
    ],
    [
      'made by docker compose for the project: used as is, its data kept',
      input({
        networks: inSyncNetwork,
        volumes: [
          actualVolume('shop_data', {
            [COMPOSE_LABELS.project]: 'shop',
            [COMPOSE_LABELS.volume]: 'data',
          }),
        ],
      }),
      [
        'network-in-sync shop_default',
        'volume-in-sync shop_data: made by docker compose for project shop; used as is (its data is kept)',
      ],
    ],
    [
      'made by hand: used as is',
      input({ networks: inSyncNetwork, volumes: [actualVolume('shop_data')] }),
      [
        'network-in-sync shop_default',
        'volume-in-sync shop_data: exists and was not made by gitdock; used as is',
      ],
    ],
    [
      "another host's: an error",
      input({
        networks: inSyncNetwork,
        volumes: [actualVolume('shop_data', { [LABELS.host]: 'web-2' })],
      }),
      [
        'network-in-sync shop_default',
        'resource-error shop_data: volume shop_data belongs to gitdock host web-2, not web-1',
      ],
    ],
    [
      'external and missing: an error',
      input({
        networks: inSyncNetwork,
        desired: state({ volumes: [volume('shop_data', { external: true })] }),
      }),
      [
        'network-in-sync shop_default',
        'resource-error shop_data: external volume shop_data does not exist; create it or drop external',
      ],
    ],
    [
      'ours, no longer used: reported, never removed',
      input({ networks: inSyncNetwork, volumes: [ours('shop_data'), ours('shop_old')] }),
      [
        'network-in-sync shop_default',
        'volume-in-sync shop_data',
        'volume-unused shop_old: volume shop_old is no longer used; gitdock never removes volumes; list it in hosts.web-1.remove_volumes to remove it',
      ],
    ],
    [
      'declared, present, and no service uses it: reported',
      input({
        networks: inSyncNetwork,
        desired: state({ volumes: [volume('shop_data'), volume('shop_cache')] }),
        volumes: [ours('shop_data'), actualVolume('shop_cache')],
      }),
      [
        'network-in-sync shop_default',
        'volume-unused shop_cache: volume shop_cache is no longer used; gitdock never removes volumes; list it in hosts.web-1.remove_volumes to remove it',
        'volume-in-sync shop_data',
      ],
    ],
    [
      'declared, missing, unused: nothing',
      input({
        networks: inSyncNetwork,
        desired: state({ volumes: [volume('shop_data'), volume('shop_cache')] }),
        volumes: [ours('shop_data')],
      }),
      ['network-in-sync shop_default', 'volume-in-sync shop_data'],
    ],
    [
      'listed in remove_volumes and unused: removed',
      input({
        networks: inSyncNetwork,
        desired: state({ removeVolumes: ['shop_old', 'legacy_data', 'not_there'] }),
        volumes: [
          ours('shop_data'),
          ours('shop_old'),
          actualVolume('legacy_data', { [COMPOSE_LABELS.project]: 'legacy' }),
        ],
      }),
      [
        'network-in-sync shop_default',
        'volume-remove legacy_data: listed in remove_volumes and no service uses it',
        'volume-in-sync shop_data',
        'volume-remove shop_old: listed in remove_volumes and no service uses it',
      ],
    ],
    [
      'listed in remove_volumes but used: kept, with the reason',
      input({
        networks: inSyncNetwork,
        desired: state({ removeVolumes: ['shop_data'] }),
        volumes: [ours('shop_data')],
      }),
      [
        'network-in-sync shop_default',
        'volume-in-sync shop_data: listed in remove_volumes but used by shop/db: kept',
      ],
    ],
    [
      "volumes of other hosts or nobody's are never reported or removed",
      input({
        networks: inSyncNetwork,
        volumes: [
          ours('shop_data'),
          actualVolume('random'),
          actualVolume('x', { [LABELS.host]: 'web-2' }),
        ],
      }),
      ['network-in-sync shop_default', 'volume-in-sync shop_data'],
    ],
  ])('%s', (_name, given, expected) => {
    expect(summary(given)).toEqual(expected);
  });
});

describe('planResources: determinism', () => {
  it('gives the same plan whatever the order of the engine lists', () => {
    const desired = state({
      networks: [network('shop_b'), network('shop_a'), network('shop_default')],
      volumes: [volume('shop_data'), volume('shop_z')],
    });
    const networks = [
      ourNetwork('shop_x', 'h'),
      ourNetwork('shop_a', 'hash-1'),
      ourNetwork('shop_c', 'h'),
    ];
    const volumes = [actualVolume('shop_q', { [LABELS.host]: 'web-1' }), actualVolume('shop_data')];
    const a = summary({ desired, networks, volumes, containers: [] });
    const b = summary({
      desired,
      networks: [...networks].reverse(),
      volumes: [...volumes].reverse(),
      containers: [],
    });
    expect(a).toEqual(b);
    expect(a.map((line) => line.split(':')[0])).toEqual([
      'network-in-sync shop_a',
      'network-create shop_b',
      'network-create shop_default',
      'network-remove shop_c',
      'network-remove shop_x',
      'volume-in-sync shop_data',
      'volume-unused shop_q',
    ]);
  });

  it('a host without Compose projects has no resource actions', () => {
    const containers: ActualContainer[] = [managedContainer('app')];
    expect(
      planResources({
        desired: hostState([desiredService('app')]),
        networks: [{ id: 'b', name: 'bridge', labels: {}, containers: [] }],
        volumes: [actualVolume('pgdata')],
        containers,
      }).actions,
    ).toEqual([]);
  });
});
