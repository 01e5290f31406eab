import { describe, expect, it } from 'vitest';
import {
  type Action,
  hasChanges,
  NEXT_SUFFIX,
  nextName,
  type PlanInput,
  planHost,
} from './plan.js';
import {
  containerSpec,
  desiredService,
  hostState,
  type ManagedContainerOptions,
  managedContainer,
  shuffled,
  unmanagedContainer,
} from './test-fixtures.js';
import {
  type ActualContainer,
  COMPOSE_LABELS,
  type ContainerSpec,
  type DesiredService,
  LABELS,
} from './types.js';

/** `type service: reasons` lines: what an operator reads. */
function summary(input: PlanInput): string[] {
  const plan = planHost(input);
  if (plan.refused) return [`refused: ${plan.refused}`];
  return plan.actions.map(
    (a) => `${a.type} ${a.service}${'reasons' in a ? `: ${a.reasons.join('; ')}` : ''}`,
  );
}

const app = desiredService('app');
const db = desiredService('db');
const IMAGE_OLD = `sha256:${'1'.repeat(64)}`;
const IMAGE_NEW = `sha256:${'9'.repeat(64)}`;

describe('planHost: one service', () => {
  it.each<[string, PlanInput, string[]]>([
    [
      'no container: create',
      { desired: hostState([app]), actual: [] },
      ['create app: not running: no container'],
    ],
    [
      'same hash, running: in sync',
      { desired: hostState([app]), actual: [managedContainer(app)] },
      ['in-sync app'],
    ],
    [
      'same hash, restarting: in sync (Docker restarts it)',
      { desired: hostState([app]), actual: [managedContainer(app, { state: 'restarting' })] },
      ['in-sync app'],
    ],
    [
      'same hash, exited: start',
      { desired: hostState([app]), actual: [managedContainer(app, { state: 'exited' })] },
      ['start app: container is exited'],
    ],
    [
      'same hash, created: start',
      { desired: hostState([app]), actual: [managedContainer(app, { state: 'created' })] },
      ['start app: container is created'],
    ],
    [
      'tag changed: recreate, reason from the io.gitdock.spec label',
      {
        desired: hostState([desiredService('app', { spec: { tag: '1.5' } })]),
        actual: [
          managedContainer(app, { spec: containerSpec({ image: app.spec.image, tag: '1.4' }) }),
        ],
      },
      ['recreate app: tag 1.4 -> 1.5'],
    ],
    [
      'environment changed: the key, never the value',
      {
        desired: hostState([
          desiredService('app', { spec: { environment: { RAILS_ENV: 'production' } } }),
        ]),
        actual: [
          managedContainer(
            desiredService('app', { spec: { environment: { RAILS_ENV: 'staging' } } }),
          ),
        ],
      },
      ['recreate app: environment.RAILS_ENV changed'],
    ],
    [
      'several fields changed',
      {
        desired: hostState([
          desiredService('app', {
            spec: { tag: '2', command: ['serve'], labels: { tier: 'api' } },
          }),
        ]),
        actual: [
          managedContainer(desiredService('app', { spec: { tag: '1', labels: { tier: 'web' } } })),
        ],
      },
      ['recreate app: tag 1 -> 2; labels.tier web -> api; command changed'],
    ],
    [
      'hash differs, no spec label: "spec changed"',
      {
        desired: hostState([desiredService('app', { spec: { tag: '1.5' } })]),
        actual: [managedContainer(app, { specLabel: false })],
      },
      ['recreate app: spec changed'],
    ],
    [
      'hash differs, unreadable spec label: "spec changed"',
      {
        desired: hostState([desiredService('app', { spec: { tag: '1.5' } })]),
        actual: [managedContainer(app, { labels: { [LABELS.spec]: '{not json' } })],
      },
      ['recreate app: spec changed'],
    ],
    [
      'hash differs but the label shows no field difference: "spec changed"',
      {
        desired: hostState([desiredService('app', { spec: { tag: '1.5' } })]),
        actual: [
          managedContainer(app, {
            spec: desiredService('app', { spec: { tag: '1.5' } }).spec,
            labels: { [LABELS.specHash]: 'stale' },
          }),
        ],
      },
      ['recreate app: spec changed'],
    ],
    [
      'spec changed and stopped: recreate (not start)',
      {
        desired: hostState([desiredService('app', { spec: { tag: '1.5' } })]),
        actual: [managedContainer(app, { state: 'exited' })],
      },
      ['recreate app: tag 1.0 -> 1.5'],
    ],
    [
      'image ID changed after a pull: recreate with the reason',
      {
        desired: hostState([app]),
        actual: [managedContainer(app, { imageId: IMAGE_OLD })],
        imageIds: new Map([[app.imageRef, IMAGE_NEW]]),
      },
      [`recreate app: image ${app.imageRef} now resolves to 999999999999 (running 111111111111)`],
    ],
    [
      'image ID unchanged: in sync',
      {
        desired: hostState([app]),
        actual: [managedContainer(app, { imageId: IMAGE_OLD })],
        imageIds: new Map([[app.imageRef, IMAGE_OLD]]),
      },
      ['in-sync app'],
    ],
    [
      'image ID known only for another reference: in sync',
      {
        desired: hostState([app]),
        actual: [managedContainer(app, { imageId: IMAGE_OLD })],
        imageIds: new Map([['registry.example.com/other:1.0', IMAGE_NEW]]),
      },
      ['in-sync app'],
    ],
    [
      'unmanaged container with the service name: conflict',
      { desired: hostState([app]), actual: [unmanagedContainer('app')] },
      [
        `conflict app: container "app" (${unmanagedContainer('app').id.slice(0, 12)}) is not managed by gitdock; rename or remove it to let gitdock run app`,
      ],
    ],
    [
      'container labelled for another host: conflict',
      { desired: hostState([app]), actual: [managedContainer(app, { host: 'web-2' })] },
      [
        `conflict app: container "app" (${managedContainer(app).id.slice(0, 12)}) belongs to gitdock host web-2, not web-1`,
      ],
    ],
    [
      'container with a host label but no service label: conflict',
      {
        desired: hostState([app]),
        actual: [unmanagedContainer('app', { labels: { [LABELS.host]: 'web-1' } })],
      },
      [
        `conflict app: container "app" (${unmanagedContainer('app').id.slice(0, 12)}) is not managed by gitdock; rename or remove it to let gitdock run app`,
      ],
    ],
  ])('%s', (_name, input, expected) => {
    expect(summary(input)).toEqual(expected);
  });

  it('carries the desired service and container on each action', () => {
    const container = managedContainer(app, { state: 'exited' });
    const plan = planHost({ desired: hostState([app]), actual: [container] });
    expect(plan).toEqual({
      host: 'web-1',
      commit: hostState([]).commit,
      actions: [
        {
          type: 'start',
          service: 'app',
          desired: app,
          container,
          reasons: ['container is exited'],
        },
      ],
    });
  });
});

describe('planHost: containers that are not desired', () => {
  it.each<[string, PlanInput, string[]]>([
    [
      'orphan: removed',
      { desired: hostState([app]), actual: [managedContainer(app), managedContainer(db)] },
      ['remove db: service no longer in git for host web-1', 'in-sync app'],
    ],
    [
      'stopped orphan: removed too',
      {
        desired: hostState([app]),
        actual: [managedContainer(app), managedContainer(db, { state: 'exited' })],
      },
      ['remove db: service no longer in git for host web-1', 'in-sync app'],
    ],
    [
      'leftover <svc>.gitdock-NEXT: removed, the service left alone',
      {
        desired: hostState([app]),
        actual: [
          managedContainer(app),
          managedContainer(app, { name: `app${NEXT_SUFFIX}`, state: 'exited' }),
        ],
      },
      ['remove app: left over from an interrupted update', 'in-sync app'],
    ],
    [
      'leftover <svc>.gitdock-NEXT of the wanted spec, no current container: it takes the name',
      { desired: hostState([app]), actual: [managedContainer(app, { name: nextName('app') })] },
      [
        'create app: not running: finishing an interrupted update (app.gitdock-NEXT takes the name)',
      ],
    ],
    [
      'leftover <svc>.gitdock-NEXT of another spec, no current container: removed, then created',
      {
        desired: hostState([desiredService('app', { spec: { tag: '1.5' } })]),
        actual: [managedContainer(app, { name: nextName('app') })],
      },
      ['remove app: left over from an interrupted update', 'create app: not running: no container'],
    ],
    [
      'stray managed copy under another name: removed',
      {
        desired: hostState([app]),
        actual: [managedContainer(app), managedContainer(app, { name: 'app-old' })],
      },
      ['remove app: container "app-old" is a stray copy of app', 'in-sync app'],
    ],
    [
      "a managed container renamed to another service's name: removed, that service created",
      {
        desired: hostState([app, db]),
        actual: [
          managedContainer(app),
          managedContainer(db, { name: 'app-2' }),
          managedContainer(app, { name: 'db' }),
        ],
      },
      [
        'remove db: container "app-2" is a stray copy of db',
        'remove app: container "db" is a stray copy of app',
        'in-sync app',
        'create db: not running: container "db" belongs to service app and is removed first',
      ],
    ],
    [
      'unmanaged container with another name: ignored entirely',
      {
        desired: hostState([app]),
        actual: [
          managedContainer(app),
          unmanagedContainer('postgres'),
          unmanagedContainer('app-old'),
        ],
      },
      ['in-sync app'],
    ],
    [
      'container of another host with another name: ignored entirely',
      {
        desired: hostState([app]),
        actual: [managedContainer(app), managedContainer(db, { host: 'web-2' })],
      },
      ['in-sync app'],
    ],
    [
      'unmanaged container whose name is a service of this host: conflict, never removed',
      { desired: hostState([app]), actual: [unmanagedContainer('app'), unmanagedContainer('db')] },
      [
        `conflict app: container "app" (${unmanagedContainer('app').id.slice(0, 12)}) is not managed by gitdock; rename or remove it to let gitdock run app`,
      ],
    ],
  ])('%s', (_name, input, expected) => {
    expect(summary(input)).toEqual(expected);
  });

  it('never removes a container without gitdock labels', () => {
    const actual = [
      unmanagedContainer('app'),
      unmanagedContainer('db'),
      unmanagedContainer('x.gitdock-NEXT'),
    ];
    for (const desired of [hostState([app]), hostState([]), hostState([], { allowEmpty: true })]) {
      const removed = planHost({ desired, actual }).actions.filter((a) => a.type === 'remove');
      expect(removed).toEqual([]);
    }
  });

  it('removes orphans in reverse dependency order (io.gitdock.depends-on label)', () => {
    const actual = [
      managedContainer('db'),
      managedContainer('cache'),
      managedContainer('api', { dependsOn: ['db', 'cache'] }),
      managedContainer('web', { dependsOn: ['api'] }),
      managedContainer('worker', { dependsOn: ['db'] }),
      managedContainer('keep'),
    ];
    expect(summary({ desired: hostState([desiredService('keep')]), actual })).toEqual([
      'remove web: service no longer in git for host web-1',
      'remove api: service no longer in git for host web-1',
      'remove cache: service no longer in git for host web-1',
      'remove worker: service no longer in git for host web-1',
      'remove db: service no longer in git for host web-1',
      'in-sync keep',
    ]);
  });

  it('removes a dependent before what it depends on even when names sort the other way', () => {
    const actual = [
      managedContainer('a'),
      managedContainer('z', { dependsOn: ['a'] }),
      managedContainer('keep'),
    ];
    expect(summary({ desired: hostState([desiredService('keep')]), actual }).slice(0, 2)).toEqual([
      'remove z: service no longer in git for host web-1',
      'remove a: service no longer in git for host web-1',
    ]);
  });

  it('survives a dependency cycle in recorded labels', () => {
    const actual = [
      managedContainer('a', { dependsOn: ['b'] }),
      managedContainer('b', { dependsOn: ['a'] }),
      managedContainer('keep'),
    ];
    const removed = planHost({ desired: hostState([desiredService('keep')]), actual })
      .actions.filter((a) => a.type === 'remove')
      .map((a) => a.service);
    expect(removed.sort()).toEqual(['a', 'b']);
  });

  it('puts removals first, then services in the desired start order', () => {
    const desired = hostState([desiredService('db'), desiredService('app', { dependsOn: ['db'] })]);
    const actual = [managedContainer('old')];
    expect(planHost({ desired, actual }).actions.map((a) => `${a.type} ${a.service}`)).toEqual([
      'remove old',
      'create db',
      'create app',
    ]);
  });
});

describe('planHost: removing everything', () => {
  const refusal =
    'refused: this revision would remove every service of host web-1 (2 containers); ' +
    'if that is intended, set hosts.web-1.allow_empty: true in gitdock.yaml';

  it('refuses when every service would be removed', () => {
    const plan = planHost({
      desired: hostState([]),
      actual: [managedContainer(app), managedContainer(db)],
    });
    expect(plan.actions).toEqual([]);
    expect(
      summary({ desired: hostState([]), actual: [managedContainer(app), managedContainer(db)] }),
    ).toEqual([refusal]);
    expect(hasChanges(plan)).toBe(false);
  });

  it('counts stopped containers too', () => {
    expect(
      summary({
        desired: hostState([]),
        actual: [managedContainer(app, { state: 'exited' }), managedContainer(db)],
      }),
    ).toEqual([refusal]);
  });

  it('removes everything when the repo allows the host to be empty', () => {
    expect(
      summary({
        desired: hostState([], { allowEmpty: true }),
        actual: [managedContainer(app), managedContainer(db, { dependsOn: ['app'] })],
      }),
    ).toEqual([
      'remove db: service no longer in git for host web-1',
      'remove app: service no longer in git for host web-1',
    ]);
  });

  it('does not refuse when nothing is running', () => {
    expect(planHost({ desired: hostState([]), actual: [] })).toEqual({
      host: 'web-1',
      commit: hostState([]).commit,
      actions: [],
    });
  });

  it("does not refuse when only other hosts' or unmanaged containers exist", () => {
    const plan = planHost({
      desired: hostState([]),
      actual: [managedContainer(app, { host: 'web-2' }), unmanagedContainer('db')],
    });
    expect(plan.refused).toBeUndefined();
    expect(plan.actions).toEqual([]);
  });

  it('does not refuse when services are replaced by others', () => {
    expect(summary({ desired: hostState([db]), actual: [managedContainer(app)] })).toEqual([
      'remove app: service no longer in git for host web-1',
      'create db: not running: no container',
    ]);
  });
});

describe('planHost: determinism', () => {
  const desired = hostState([
    desiredService('db'),
    desiredService('cache'),
    desiredService('api', { dependsOn: ['db', 'cache'], spec: { tag: '2.0' } }),
    desiredService('web', { dependsOn: ['api'] }),
  ]);
  const actual = [
    managedContainer(desiredService('api', { dependsOn: ['db', 'cache'] })),
    managedContainer('db', { state: 'exited' }),
    managedContainer('old-worker', { dependsOn: ['old-queue'] }),
    managedContainer('old-queue'),
    managedContainer('web', { name: nextName('web') }),
    managedContainer('api', { name: 'api-copy' }),
    unmanagedContainer('cache'),
    unmanagedContainer('portainer'),
    managedContainer('web', { host: 'web-2', name: 'web-2-web' }),
  ];

  it('gives the same plan for the same input', () => {
    expect(planHost({ desired, actual })).toEqual(planHost({ desired, actual }));
  });

  it.each([1, 2, 3, 42, 1234, 99_999])(
    'gives the same plan with the containers shuffled (seed %i)',
    (seed) => {
      expect(planHost({ desired, actual: shuffled(actual, seed) })).toEqual(
        planHost({ desired, actual }),
      );
    },
  );

  it('reads as expected', () => {
    expect(summary({ desired, actual })).toEqual([
      'remove api: container "api-copy" is a stray copy of api',
      'remove old-worker: service no longer in git for host web-1',
      'remove old-queue: service no longer in git for host web-1',
      'start db: container is exited',
      `conflict cache: container "cache" (${unmanagedContainer('cache').id.slice(0, 12)}) is not managed by gitdock; rename or remove it to let gitdock run cache`,
      'recreate api: tag 1.0 -> 2.0',
      'create web: not running: finishing an interrupted update (web.gitdock-NEXT takes the name)',
    ]);
  });

  it('does not modify its input', () => {
    const before = JSON.stringify({ desired, actual });
    planHost({ desired, actual });
    expect(JSON.stringify({ desired, actual })).toBe(before);
  });
});

describe('planHost: an update cut short', () => {
  const v15 = desiredService('app', { spec: { tag: '1.5' } });
  const oldStopped = managedContainer(app, {
    spec: containerSpec({ image: app.spec.image, tag: '1.4' }),
    state: 'exited',
  });

  it('a leftover replacement marks the recreate interrupted: the stopped old container counts as running', () => {
    const plan = planHost({
      desired: hostState([v15]),
      actual: [oldStopped, managedContainer(v15, { name: nextName('app'), state: 'created' })],
    });
    expect(plan.actions.map((a) => a.type)).toEqual(['remove', 'recreate']);
    expect(plan.actions[1]).toMatchObject({ type: 'recreate', interrupted: true });
  });

  it('without a leftover replacement a stopped old container was stopped by someone else', () => {
    const plan = planHost({ desired: hostState([v15]), actual: [oldStopped] });
    expect(plan.actions).toHaveLength(1);
    expect(plan.actions[0]).not.toHaveProperty('interrupted');
  });

  it("another service's leftover does not mark this one", () => {
    const plan = planHost({
      desired: hostState([v15, db]),
      actual: [oldStopped, managedContainer(db), managedContainer(db, { name: nextName('db') })],
    });
    const recreate = plan.actions.find((a) => a.type === 'recreate');
    expect(recreate).toBeDefined();
    expect(recreate).not.toHaveProperty('interrupted');
  });
});

describe('planHost: adopting a left-over replacement', () => {
  it('carries the container to adopt, and removes nothing', () => {
    const next = managedContainer(app, { name: nextName('app'), state: 'created' });
    const plan = planHost({ desired: hostState([app]), actual: [next] });
    expect(plan.actions).toHaveLength(1);
    expect(plan.actions[0]).toMatchObject({ type: 'create', adopt: { id: next.id } });
  });

  it("never adopts another host's container, or one when the service's own container exists", () => {
    const otherHost = managedContainer(app, { name: nextName('app') });
    otherHost.labels[LABELS.host] = 'web-9';
    const a = planHost({ desired: hostState([app]), actual: [otherHost] });
    expect(a.actions.find((x) => x.type === 'create')).not.toHaveProperty('adopt');
    const b = planHost({
      desired: hostState([app]),
      actual: [managedContainer(app), managedContainer(app, { name: nextName('app') })],
    });
    expect(b.actions.map((x) => x.type)).toEqual(['remove', 'in-sync']);
  });
});

describe('planHost: containers being removed, and dead ones', () => {
  it('a container in state removing: wait, it is created again once gone', () => {
    const container = managedContainer(app, { state: 'removing' });
    const plan = planHost({ desired: hostState([app]), actual: [container] });
    expect(plan.actions).toEqual([
      {
        type: 'wait',
        service: 'app',
        desired: app,
        container,
        reasons: ['container is being removed; it is created again once it is gone'],
      },
    ]);
  });

  it('a container being removed waits even when its spec changed or its image moved', () => {
    const container = managedContainer(app, { state: 'removing', imageId: IMAGE_OLD });
    expect(
      summary({
        desired: hostState([desiredService('app', { spec: { tag: '1.5' } })]),
        actual: [container],
      }),
    ).toEqual(['wait app: container is being removed; it is created again once it is gone']);
    expect(
      summary({
        desired: hostState([app]),
        actual: [container],
        imageIds: new Map([[app.imageRef, IMAGE_NEW]]),
      }),
    ).toEqual(['wait app: container is being removed; it is created again once it is gone']);
  });

  // The engine refuses a second removal (409 "removal of container ... is already in progress").
  it('a container already being removed is never removed again', () => {
    const actual = [
      managedContainer(app),
      managedContainer(db, { state: 'removing' }),
      managedContainer(app, { name: nextName('app'), state: 'removing' }),
    ];
    const removed = planHost({ desired: hostState([app]), actual }).actions.filter(
      (a) => a.type === 'remove',
    );
    expect(removed.map((a) => 'container' in a && a.container.name)).toEqual([]);
  });

  it('a dead container is recreated: "container is dead"', () => {
    const container = managedContainer(app, { state: 'dead' });
    const plan = planHost({ desired: hostState([app]), actual: [container] });
    expect(plan.actions).toEqual([
      {
        type: 'recreate',
        service: 'app',
        desired: app,
        container,
        reasons: ['container is dead'],
      },
    ]);
  });

  it('a dead container whose spec changed is recreated for the change', () => {
    expect(
      summary({
        desired: hostState([desiredService('app', { spec: { tag: '1.5' } })]),
        actual: [managedContainer(app, { state: 'dead' })],
      }),
    ).toEqual(['recreate app: tag 1.0 -> 1.5']);
  });

  it('a dead orphan is removed', () => {
    expect(
      summary({
        desired: hostState([app]),
        actual: [managedContainer(app), managedContainer(db, { state: 'dead' })],
      }),
    ).toEqual(['remove db: service no longer in git for host web-1', 'in-sync app']);
  });
});

describe('planHost: gitdock labels inherited from an image (docker commit)', () => {
  /** A container run by hand from a `docker commit` of `app`'s container: its labels come from the image. */
  function committedCopy(name: string) {
    const original = managedContainer(app);
    const inherited = Object.fromEntries(
      Object.entries(original.labels).filter(([k]) => k.startsWith('io.gitdock.')),
    );
    return {
      ...managedContainer(app, { name, id: `c0${'d'.repeat(62)}` }),
      imageId: `sha256:${'c'.repeat(64)}`,
      imageGitdockLabels: inherited,
    };
  }

  it("a copy under another name is not gitdock's: never removed", () => {
    const copy = committedCopy('app-debug');
    const plan = planHost({ desired: hostState([app]), actual: [managedContainer(app), copy] });
    expect(plan.actions.map((a) => a.type)).toEqual(['in-sync']);
    // Nor when the service is gone from git, or the host allowed empty.
    for (const desired of [hostState([db]), hostState([], { allowEmpty: true })]) {
      const actions = planHost({ desired, actual: [copy] }).actions;
      expect(actions.filter((a) => a.type === 'remove')).toEqual([]);
    }
  });

  it('a copy alone does not count as a service the host runs (no empty-host refusal)', () => {
    const plan = planHost({ desired: hostState([]), actual: [committedCopy('app-debug')] });
    expect(plan.refused).toBeUndefined();
    expect(plan.actions).toEqual([]);
  });

  it("a copy under the service's name is a conflict whose reason names the image", () => {
    const copy = committedCopy('app');
    const plan = planHost({ desired: hostState([app]), actual: [copy] });
    expect(plan.actions).toHaveLength(1);
    const [action] = plan.actions;
    expect(action).toMatchObject({ type: 'conflict', service: 'app', container: copy });
    const reason = action!.type === 'conflict' ? action!.reasons.join('; ') : '';
    expect(reason).toContain('image');
    expect(reason).toBe(
      'container "app" (c0dddddddddd) was not made by gitdock: its gitdock labels come from its image (a `docker commit` of a managed container?); rename or remove it to let gitdock run app',
    );
  });

  it('a managed container whose image carries other gitdock labels stays managed', () => {
    // Its image was committed from an older container of the service: another spec hash.
    const imageLabels = { ...managedContainer(app).labels, [LABELS.specHash]: 'f'.repeat(64) };
    const container = { ...managedContainer(app), imageGitdockLabels: imageLabels };
    expect(summary({ desired: hostState([app]), actual: [container] })).toEqual(['in-sync app']);
    // Still gitdock's: changed, it is recreated; gone from git, it is removed.
    expect(
      summary({
        desired: hostState([desiredService('app', { spec: { tag: '1.5' } })]),
        actual: [container],
      }),
    ).toEqual(['recreate app: tag 1.0 -> 1.5']);
    const orphan = { ...managedContainer(db), imageGitdockLabels: imageLabels };
    expect(summary({ desired: hostState([app]), actual: [managedContainer(app), orphan] })).toEqual(
      ['remove db: service no longer in git for host web-1', 'in-sync app'],
    );
  });

  it('image gitdock labels without a spec hash do not make a container unmanaged', () => {
    const container = {
      ...managedContainer(app),
      imageGitdockLabels: { [LABELS.host]: 'web-1', [LABELS.service]: 'app' },
    };
    expect(summary({ desired: hostState([app]), actual: [container] })).toEqual(['in-sync app']);
  });
});

describe('hasChanges', () => {
  it.each<[Action['type'][], boolean]>([
    [[], false],
    [['in-sync'], false],
    [['conflict'], false],
    [['in-sync', 'conflict'], false],
    [['create'], true],
    [['in-sync', 'start'], true],
    [['remove'], true],
    [['recreate'], true],
  ])('%j -> %s', (types, expected) => {
    const actions = types.map((type) => ({ type, service: 'app' }) as Action);
    expect(hasChanges({ host: 'web-1', commit: 'c', actions })).toBe(expected);
  });
});

describe('nextName', () => {
  it('cannot clash with a service name', () => {
    expect(nextName('app')).toBe('app.gitdock-NEXT');
    expect(/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(nextName('app'))).toBe(false);
  });
});

/** A Compose service as the Compose front end gives it: identity `<project>/<service>`. */
function composeService(
  project: string,
  service: string,
  options: {
    containerName?: string;
    spec?: Partial<ContainerSpec>;
    oneShot?: boolean;
    secretValues?: string[];
  } = {},
): DesiredService {
  const base = desiredService(service, { spec: options.spec ?? {} });
  return {
    ...base,
    name: `${project}/${service}`,
    containerName: options.containerName ?? `${project}-${service}-1`,
    project,
    file: `hosts/web-1/${project}/compose.yaml`,
    ...(options.oneShot ? { oneShot: true as const } : {}),
    ...(options.secretValues ? { secretValues: options.secretValues } : {}),
  };
}

/** A container as gitdock makes it for a Compose service: named by its container name. */
function composeManaged(
  desired: DesiredService,
  options: ManagedContainerOptions & { exitCode?: number } = {},
): ActualContainer {
  const { exitCode, ...rest } = options;
  const c = managedContainer(desired, {
    name: desired.containerName,
    ...rest,
    labels: {
      [LABELS.project]: desired.project!,
      [LABELS.containerName]: desired.containerName,
      ...rest.labels,
    },
  });
  return exitCode === undefined ? c : ({ ...c, exitCode } as ActualContainer);
}

/** A container `docker compose up` made. */
function composeMade(
  name: string,
  project: string,
  service: string,
  extra: Record<string, string> = {},
): ActualContainer {
  return unmanagedContainer(name, {
    labels: {
      [COMPOSE_LABELS.project]: project,
      [COMPOSE_LABELS.service]: service,
      'com.docker.compose.container-number': '1',
      ...extra,
    },
  });
}

const shopDb = composeService('shop', 'db');
const blogDb = composeService('blog', 'db');
const fixed = composeService('shop', 'web', { containerName: 'shop-web' });
const COMPOSE_HINT = (project: string) =>
  `set hosts.web-1.projects.${project}.adopt_compose: true in gitdock.yaml to let gitdock replace it`;

describe('planHost: Compose identities (container name apart from identity)', () => {
  it.each<[string, PlanInput, string[]]>([
    [
      'no container: created under its container name',
      { desired: hostState([shopDb]), actual: [] },
      ['create shop/db: not running: no container'],
    ],
    [
      'its container under its container name: in sync',
      { desired: hostState([shopDb]), actual: [composeManaged(shopDb)] },
      ['in-sync shop/db'],
    ],
    [
      'two projects both have a db',
      {
        desired: hostState([shopDb, blogDb]),
        actual: [composeManaged(shopDb), composeManaged(blogDb)],
      },
      ['in-sync shop/db', 'in-sync blog/db'],
    ],
    [
      'a project removed from git: its containers removed, by identity',
      {
        desired: hostState([shopDb]),
        actual: [composeManaged(shopDb), composeManaged(blogDb)],
      },
      ['remove blog/db: service no longer in git for host web-1', 'in-sync shop/db'],
    ],
    [
      'leftover <container>.gitdock-NEXT: removed as left over',
      {
        desired: hostState([shopDb]),
        actual: [
          composeManaged(shopDb),
          composeManaged(shopDb, { name: nextName(shopDb.containerName), state: 'exited' }),
        ],
      },
      ['remove shop/db: left over from an interrupted update', 'in-sync shop/db'],
    ],
    [
      'leftover <container>.gitdock-NEXT of the wanted spec alone: it takes the name',
      {
        desired: hostState([shopDb]),
        actual: [composeManaged(shopDb, { name: nextName(shopDb.containerName) })],
      },
      [
        'create shop/db: not running: finishing an interrupted update (shop-db-1.gitdock-NEXT takes the name)',
      ],
    ],
    [
      'a copy under another name: a stray of its identity',
      {
        desired: hostState([shopDb]),
        actual: [composeManaged(shopDb), composeManaged(shopDb, { name: 'shop-db-old' })],
      },
      ['remove shop/db: container "shop-db-old" is a stray copy of shop/db', 'in-sync shop/db'],
    ],
    [
      'container_name changed: replaced (health-gated), not duplicated',
      {
        desired: hostState([composeService('shop', 'web', { containerName: 'shop-web-2' })]),
        actual: [composeManaged(fixed)],
      },
      ['recreate shop/web: container name shop-web -> shop-web-2'],
    ],
    [
      'a container of the user holding the container name: conflict',
      { desired: hostState([shopDb]), actual: [unmanagedContainer('shop-db-1')] },
      [
        `conflict shop/db: container "shop-db-1" (${unmanagedContainer('shop-db-1').id.slice(0, 12)}) is not managed by gitdock; rename or remove it to let gitdock run shop/db`,
      ],
    ],
    [
      'a gitdock manifest keeps its name as container name',
      { desired: hostState([app]), actual: [managedContainer(app)] },
      ['in-sync app'],
    ],
  ])('%s', (_name, input, expected) => {
    expect(summary(input)).toEqual(expected);
  });

  it('a leftover replacement under <container>.gitdock-NEXT marks the recreate interrupted', () => {
    const old = containerSpec({ image: shopDb.spec.image, tag: '0.9' });
    const plan = planHost({
      desired: hostState([shopDb]),
      actual: [
        composeManaged(shopDb, { state: 'exited', spec: old }),
        composeManaged(shopDb, { name: nextName('shop-db-1'), spec: old }),
      ],
    });
    expect(plan.actions.map((a) => `${a.type} ${a.service}`)).toEqual([
      'remove shop/db',
      'recreate shop/db',
    ]);
    expect(plan.actions[1]).toMatchObject({ interrupted: true });
  });

  it('names the temporary container after the container name', () => {
    expect(nextName('shop-db-1')).toBe('shop-db-1.gitdock-NEXT');
  });
});

describe('planHost: containers docker compose made', () => {
  const made = composeMade('shop-db-1', 'shop', 'db');
  const renamed = composeMade('shop_db_1', 'shop', 'db');
  it.each<[string, PlanInput, string[]]>([
    [
      'holding the container name: conflict naming the project',
      { desired: hostState([shopDb]), actual: [made] },
      [
        `conflict shop/db: container "shop-db-1" was made by docker compose for project shop; ${COMPOSE_HINT('shop')}`,
      ],
    ],
    [
      'same project and service under another name (compose v1): conflict too',
      { desired: hostState([shopDb]), actual: [renamed] },
      [
        `conflict shop/db: container "shop_db_1" was made by docker compose for project shop; ${COMPOSE_HINT('shop')}`,
      ],
    ],
    [
      'holding a fixed container_name, for another project: conflict naming that project',
      { desired: hostState([fixed]), actual: [composeMade('shop-web', 'legacy', 'web')] },
      [
        `conflict shop/web: container "shop-web" was made by docker compose for project legacy; ${COMPOSE_HINT('legacy')}`,
      ],
    ],
    [
      'adopted: replaced, health-gated',
      { desired: { ...hostState([shopDb]), adoptCompose: ['shop'] }, actual: [made] },
      ['recreate shop/db: replacing the container docker compose made for project shop'],
    ],
    [
      'adopted, under another name: replaced, the name is not blocked',
      { desired: { ...hostState([shopDb]), adoptCompose: ['shop'] }, actual: [renamed] },
      ['recreate shop/db: replacing the container docker compose made for project shop'],
    ],
    [
      'adopting another project does not adopt this one',
      { desired: { ...hostState([shopDb]), adoptCompose: ['blog'] }, actual: [made] },
      [
        `conflict shop/db: container "shop-db-1" was made by docker compose for project shop; ${COMPOSE_HINT('shop')}`,
      ],
    ],
    [
      'of another service of the project: ignored',
      { desired: hostState([shopDb]), actual: [composeMade('shop-cache-1', 'shop', 'cache')] },
      ['create shop/db: not running: no container'],
    ],
    [
      'a one-off of `docker compose run`: ignored',
      {
        desired: hostState([shopDb]),
        actual: [
          composeMade('shop-db-run-1a2b', 'shop', 'db', { 'com.docker.compose.oneoff': 'True' }),
        ],
      },
      ['create shop/db: not running: no container'],
    ],
    [
      'replica 2 matches container number 2 only',
      {
        desired: hostState([
          { ...composeService('shop', 'db'), name: 'shop/db#2', containerName: 'shop-db-2' },
        ]),
        actual: [made],
      },
      ['create shop/db#2: not running: no container'],
    ],
    [
      "gitdock's own runs, adopted compose one left under another name: removed first",
      {
        desired: { ...hostState([shopDb]), adoptCompose: ['shop'] },
        actual: [composeManaged(shopDb), renamed],
      },
      [
        'remove shop/db: left by docker compose for project shop; gitdock runs shop/db now',
        'in-sync shop/db',
      ],
    ],
    [
      "gitdock's own runs, compose one left, not adopted: conflict",
      { desired: hostState([shopDb]), actual: [composeManaged(shopDb), renamed] },
      [
        `conflict shop/db: container "shop_db_1" was made by docker compose for project shop; ${COMPOSE_HINT('shop')}`,
      ],
    ],
  ])('%s', (_name, input, expected) => {
    expect(summary(input)).toEqual(expected);
  });

  it('marks an adopted replacement with its project (replaced stop-first)', () => {
    const plan = planHost({
      desired: { ...hostState([shopDb]), adoptCompose: ['shop'] },
      actual: [renamed],
    });
    const action = plan.actions[0]!;
    expect(action.type === 'recreate' && action.compose).toBe('shop');
    expect(action.type === 'recreate' && action.container.id).toBe(renamed.id);
  });

  it('never removes a container docker compose made unless adopted', () => {
    for (const desired of [
      hostState([shopDb]),
      hostState([]),
      hostState([], { allowEmpty: true }),
    ]) {
      const plan = planHost({ desired, actual: [made, renamed] });
      expect(plan.actions.filter((a) => a.type === 'remove' || a.type === 'recreate')).toEqual([]);
    }
  });
});

describe('planHost: one-shot services', () => {
  const migrate = composeService('shop', 'migrate', { oneShot: true });
  it.each<[string, ActualContainer, string[]]>([
    [
      'exited 0: done, in sync',
      composeManaged(migrate, { state: 'exited', exitCode: 0 }),
      ['in-sync shop/migrate'],
    ],
    [
      'exited non-zero: run again (a failure, retried)',
      composeManaged(migrate, { state: 'exited', exitCode: 3 }),
      ['start shop/migrate: one-shot exited with code 3'],
    ],
    [
      'exit code unknown: taken as done',
      composeManaged(migrate, { state: 'exited' }),
      ['in-sync shop/migrate'],
    ],
    ['still running: in sync', composeManaged(migrate), ['in-sync shop/migrate']],
    [
      'never started: start',
      composeManaged(migrate, { state: 'created' }),
      ['start shop/migrate: container is created'],
    ],
    [
      'spec changed: recreated even when it exited 0',
      composeManaged(migrate, {
        state: 'exited',
        exitCode: 0,
        spec: containerSpec({ image: migrate.spec.image, tag: '0.9' }),
      }),
      ['recreate shop/migrate: tag 0.9 -> 1.0'],
    ],
  ])('%s', (_name, container, expected) => {
    expect(summary({ desired: hostState([migrate]), actual: [container] })).toEqual(expected);
  });

  it('a service that is not one-shot and exited is started as before', () => {
    expect(
      summary({
        desired: hostState([shopDb]),
        actual: [composeManaged(shopDb, { state: 'exited', exitCode: 0 })],
      }),
    ).toEqual(['start shop/db: container is exited']);
  });
});

describe('planHost: reasons of Compose services', () => {
  it('names a changed repo file relative to the project directory, and masks secrets', () => {
    const file = (sha256: string): Partial<ContainerSpec> => ({
      labels: { token: 's3cret-value' },
      volumes: [
        {
          type: 'bind',
          target: '/etc/nginx/nginx.conf',
          readOnly: true,
          repoFile: { path: 'hosts/web-1/shop/nginx.conf', sha256, kind: 'file' },
        },
      ],
    });
    const before = composeService('shop', 'proxy', {
      spec: { ...file('a'.repeat(64)), labels: { token: 'old-secret' } },
    });
    const after = composeService('shop', 'proxy', {
      spec: file('b'.repeat(64)),
      secretValues: ['s3cret-value', 'old-secret'],
    });
    expect(summary({ desired: hostState([after]), actual: [composeManaged(before)] })).toEqual([
      'recreate shop/proxy: labels.token changed; file ./nginx.conf changed',
    ]);
  });
});

describe('planHost: resources', () => {
  const net = (name: string, specHash: string) => ({
    name,
    project: 'shop',
    key: name.replace('shop_', ''),
    external: false,
    labels: {},
    specHash,
  });
  const onNet = composeService('shop', 'api', {
    spec: { networks: [{ name: 'shop_default' }] },
  });

  it('has no resources when the caller did not list networks and volumes', () => {
    expect(planHost({ desired: hostState([app]), actual: [] }).resources).toBeUndefined();
  });

  it('a recreated network recreates the services attached to it, with the reason', () => {
    const container = composeManaged(onNet);
    const plan = planHost({
      desired: { ...hostState([onNet]), networks: [net('shop_default', 'h2')] },
      actual: [container],
      networks: [
        {
          id: 'n1',
          name: 'shop_default',
          labels: { [LABELS.host]: 'web-1', [LABELS.resourceHash]: 'h1' },
          containers: [container.id],
        },
      ],
      volumes: [],
    });
    expect(plan.resources?.map((r) => r.type)).toEqual(['network-recreate']);
    expect(plan.actions).toMatchObject([
      {
        type: 'recreate',
        service: 'shop/api',
        reasons: ['network shop_default is recreated'],
        removedFirst: true,
      },
    ]);
    expect(hasChanges(plan)).toBe(true);
  });

  it('only resource changes are changes', () => {
    const plan = planHost({
      desired: { ...hostState([onNet]), networks: [net('shop_default', 'h1')] },
      actual: [composeManaged(onNet)],
      networks: [],
      volumes: [],
    });
    expect(plan.actions.map((a) => a.type)).toEqual(['in-sync']);
    expect(plan.resources?.map((r) => r.type)).toEqual(['network-create']);
    expect(hasChanges(plan)).toBe(true);
  });
});
