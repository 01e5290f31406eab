import { describe, expect, it } from 'vitest';
import type { ContainerStatus } from '../core/engine.js';
import { type Plan, planHost } from '../core/plan.js';
import {
  containerSpec,
  desiredService,
  hostState,
  loadErrors,
  managedContainer,
  unmanagedContainer,
  yaml,
} from '../core/test-fixtures.js';
import type { ActualContainer, DesiredService, ManifestError } from '../core/types.js';
import type { ErrorCode } from '../errors.js';
import { describeServices, manifestErrorsToStatus, type ServiceStatus } from './status.js';

type Failure = { reason: string; code: ErrorCode; lastLogLines?: string[] };

interface Scenario {
  desired: DesiredService[];
  actual: ActualContainer[];
  /** What inspecting each container (by name) reports, over the defaults of `inspectOf`. */
  inspect?: Record<string, Partial<ContainerStatus> | 'gone'>;
  /** Failures the agent holds, by service, each for one spec hash. */
  failures?: Record<string, { specHash: string } & Failure>;
}

/** A running container, no restarts, no HEALTHCHECK: what a quiet service inspects as. */
function inspectOf(
  container: ActualContainer,
  overrides: Partial<ContainerStatus> = {},
): ContainerStatus {
  return {
    id: container.id,
    name: container.name,
    state: container.state,
    running: container.state === 'running' || container.state === 'restarting',
    exitCode: 0,
    restartCount: 0,
    ...overrides,
  };
}

/** The real planner on the scenario, then `describeServices` as the agent calls it. */
function run(scenario: Scenario): { plan: Plan; services: ServiceStatus[] } {
  const plan = planHost({ desired: hostState(scenario.desired), actual: scenario.actual });
  const inspected = new Map<string, ContainerStatus>();
  for (const c of scenario.actual) {
    const override = scenario.inspect?.[c.name];
    if (override === 'gone') continue;
    inspected.set(c.id, inspectOf(c, override));
  }
  const services = describeServices(plan, inspected, (service, specHash) => {
    const held = scenario.failures?.[service];
    if (!held || held.specHash !== specHash) return undefined;
    const { specHash: _, ...failure } = held;
    return failure;
  });
  return { plan, services };
}

/** The one service's status. */
function statusOf(scenario: Scenario): ServiceStatus {
  const { services } = run(scenario);
  expect(services).toHaveLength(1);
  return services[0]!;
}

const COMMIT = 'c0ffee0000000000000000000000000000000000';
const app = desiredService('app');
const appV2 = desiredService('app', { spec: { tag: '2.0' } });
const APP_ID = managedContainer(app).id;

/** What an in-sync, running, healthy `app` reports; cases override what differs. */
const SYNCED: ServiceStatus = {
  name: 'app',
  sync: 'Synced',
  health: 'Healthy',
  desiredImage: 'registry.example.com/app:1.0',
  runningImage: 'registry.example.com/app:1.0',
  containerId: APP_ID,
  commit: COMMIT,
};

const FAILURE: Failure = {
  reason: 'failed at c0ffee000000: app exited with code 1 (next try in 30s, or on a new commit)',
  code: 'GITDOCK_E_ROLLOUT_FAILED',
  lastLogLines: ['starting app 2.0', 'panic: DATABASE_URL is not set'],
};

describe('describeServices: sync', () => {
  it('an in-sync running container is Synced and Healthy, with no reason', () => {
    const { plan, services } = run({ desired: [app], actual: [managedContainer(app)] });
    expect(plan.actions.map((a) => a.type)).toEqual(['in-sync']);
    expect(services).toStrictEqual([SYNCED]);
  });

  it('reads the running image and commit from the container labels', () => {
    const container = managedContainer(app, {
      labels: { 'io.gitdock.commit': 'feedface'.repeat(5) },
    });
    expect(statusOf({ desired: [app], actual: [container] })).toStrictEqual({
      ...SYNCED,
      commit: 'feedface'.repeat(5),
    });
  });

  it('a container without image or commit labels reports null for them', () => {
    const container = managedContainer(app);
    delete container.labels['io.gitdock.image'];
    delete container.labels['io.gitdock.commit'];
    expect(statusOf({ desired: [app], actual: [container] })).toStrictEqual({
      ...SYNCED,
      runningImage: null,
      commit: null,
    });
  });

  it.each<[string, DesiredService, ActualContainer, string]>([
    ['tag', appV2, managedContainer(app), 'recreate: tag 1.0 -> 2.0'],
    [
      'environment key, never its value',
      desiredService('app', { spec: { environment: { RAILS_ENV: 'production' } } }),
      managedContainer(desiredService('app', { spec: { environment: { RAILS_ENV: 'staging' } } })),
      'recreate: environment.RAILS_ENV changed',
    ],
    [
      'several fields',
      desiredService('app', { spec: { tag: '2', command: ['serve'] } }),
      managedContainer(app, {
        spec: containerSpec({ image: app.spec.image, tag: '1' }),
      }),
      'recreate: tag 1 -> 2, command changed',
    ],
  ])(
    'a spec change (%s) is OutOfSync, the reason naming the field',
    (_what, desired, container, reason) => {
      expect(statusOf({ desired: [desired], actual: [container] })).toStrictEqual({
        ...SYNCED,
        sync: 'OutOfSync',
        desiredImage: desired.imageRef,
        runningImage: container.labels['io.gitdock.image'],
        reason,
      });
    },
  );

  it('a missing container is OutOfSync and Missing', () => {
    expect(statusOf({ desired: [app], actual: [] })).toStrictEqual({
      ...SYNCED,
      sync: 'OutOfSync',
      health: 'Missing',
      runningImage: null,
      containerId: null,
      commit: null,
      reason: 'create: not running: no container',
    });
  });

  it('a container removed between list and inspect is Missing, still naming the listed one', () => {
    expect(
      statusOf({ desired: [app], actual: [managedContainer(app)], inspect: { app: 'gone' } }),
    ).toStrictEqual({ ...SYNCED, health: 'Missing', reason: 'no container' });
  });
});

describe('describeServices: failures the agent holds', () => {
  it('a failure for the desired spec is Failed, with its reason and last log lines', () => {
    const { plan, services } = run({
      desired: [appV2],
      actual: [managedContainer(app)],
      failures: { app: { specHash: appV2.specHash, ...FAILURE } },
    });
    expect(plan.actions.map((a) => a.type)).toEqual(['recreate']);
    // The old container still runs and is reported as it is.
    expect(services).toStrictEqual([
      {
        ...SYNCED,
        sync: 'Failed',
        desiredImage: 'registry.example.com/app:2.0',
        reason: FAILURE.reason,
        code: 'GITDOCK_E_ROLLOUT_FAILED',
        lastLogLines: ['starting app 2.0', 'panic: DATABASE_URL is not set'],
      },
    ]);
  });

  it('a failure without log lines has no lastLogLines', () => {
    expect(
      statusOf({
        desired: [appV2],
        actual: [managedContainer(app)],
        failures: {
          app: { specHash: appV2.specHash, reason: 'pull failed', code: 'GITDOCK_E_PULL_FAILED' },
        },
      }),
    ).toStrictEqual({
      ...SYNCED,
      sync: 'Failed',
      desiredImage: 'registry.example.com/app:2.0',
      reason: 'pull failed',
      code: 'GITDOCK_E_PULL_FAILED',
    });
  });

  it('a new service whose first container failed is Failed and Missing', () => {
    expect(
      statusOf({
        desired: [app],
        actual: [],
        failures: { app: { specHash: app.specHash, ...FAILURE } },
      }),
    ).toStrictEqual({
      ...SYNCED,
      sync: 'Failed',
      health: 'Missing',
      runningImage: null,
      containerId: null,
      commit: null,
      reason: FAILURE.reason,
      code: 'GITDOCK_E_ROLLOUT_FAILED',
      lastLogLines: FAILURE.lastLogLines,
    });
  });

  it('failureOf is asked about the desired spec, not the running one', () => {
    const asked: [string, string][] = [];
    const plan = planHost({ desired: hostState([appV2]), actual: [managedContainer(app)] });
    describeServices(plan, new Map(), (service, specHash) => {
      asked.push([service, specHash]);
      return undefined;
    });
    expect(asked).toEqual([['app', appV2.specHash]]);
    expect(appV2.specHash).not.toBe(app.specHash);
  });

  it('a failure held for an in-sync service is ignored: Synced, no reason, no log lines', () => {
    expect(
      statusOf({
        desired: [app],
        actual: [managedContainer(app)],
        failures: { app: { specHash: app.specHash, ...FAILURE } },
      }),
    ).toStrictEqual(SYNCED);
  });
});

describe('describeServices: conflicts', () => {
  const unmanaged = unmanagedContainer('app');

  it('an unlabelled container holding the name is Failed, with none of its details', () => {
    const { plan, services } = run({ desired: [app], actual: [unmanaged] });
    expect(plan.actions.map((a) => a.type)).toEqual(['conflict']);
    expect(services).toStrictEqual([
      {
        ...SYNCED,
        sync: 'Failed',
        health: 'Missing',
        runningImage: null,
        containerId: null,
        commit: null,
        reason:
          'container "app" (617070000000) is not managed by gitdock; rename or remove it to let gitdock run app',
        code: 'GITDOCK_E_NAME_CONFLICT',
      },
    ]);
  });

  it('its health is not taken from the foreign container, even when inspected', () => {
    const inspected = new Map([[unmanaged.id, inspectOf(unmanaged, { health: 'unhealthy' })]]);
    const plan = planHost({ desired: hostState([app]), actual: [unmanaged] });
    const [status] = describeServices(plan, inspected, () => undefined);
    expect(status!.health).toBe('Missing');
    expect(status!.containerId).toBeNull();
  });

  it('a container of another gitdock host holding the name is Failed too', () => {
    const foreign = managedContainer(app, { host: 'web-2' });
    expect(statusOf({ desired: [app], actual: [foreign] })).toStrictEqual({
      ...SYNCED,
      sync: 'Failed',
      health: 'Missing',
      runningImage: null,
      containerId: null,
      commit: null,
      reason: 'container "app" (617070000000) belongs to gitdock host web-2, not web-1',
      code: 'GITDOCK_E_NAME_CONFLICT',
    });
  });

  it('the conflict, not a held failure, is the reason', () => {
    const status = statusOf({
      desired: [app],
      actual: [unmanaged],
      failures: { app: { specHash: app.specHash, ...FAILURE } },
    });
    expect(status.sync).toBe('Failed');
    expect(status.reason).toBe(
      'container "app" (617070000000) is not managed by gitdock; rename or remove it to let gitdock run app',
    );
  });

  it("the conflict's code, not a held failure's, is the code", () => {
    const status = statusOf({
      desired: [app],
      actual: [unmanaged],
      failures: { app: { specHash: app.specHash, ...FAILURE } },
    });
    expect(status.code).toBe('GITDOCK_E_NAME_CONFLICT');
  });

  // `lastLogLines` belong to a failed rollout, not to a conflict that hides it.
  it('a conflict does not carry the log lines of an earlier failure', () => {
    const status = statusOf({
      desired: [app],
      actual: [unmanaged],
      failures: { app: { specHash: app.specHash, ...FAILURE } },
    });
    expect(status).not.toHaveProperty('lastLogLines');
  });
});

describe('describeServices: health', () => {
  it.each<[string, string, Partial<ContainerStatus>, Pick<ServiceStatus, 'health' | 'reason'>]>([
    ['healthy health check', 'running', { health: 'healthy' }, { health: 'Healthy' }],
    [
      'health check starting',
      'running',
      { health: 'starting' },
      { health: 'Progressing', reason: 'health check starting' },
    ],
    [
      'health check unhealthy',
      'running',
      { health: 'unhealthy' },
      { health: 'Degraded', reason: 'health check reports unhealthy' },
    ],
    [
      'restarting (crash loop)',
      'restarting',
      { restartCount: 5, exitCode: 1 },
      { health: 'Degraded', reason: 'restarting (5 restarts, last exit code 1)' },
    ],
    [
      'restarting, even with a healthy last check',
      'restarting',
      { restartCount: 3, exitCode: 2, health: 'healthy' },
      { health: 'Degraded', reason: 'restarting (3 restarts, last exit code 2)' },
    ],
    [
      'running after restarts, no health check',
      'running',
      { restartCount: 2, exitCode: 137 },
      { health: 'Degraded', reason: 'restarting (2 restarts, last exit code 137)' },
    ],
    [
      'running after restarts, health check still starting',
      'running',
      { restartCount: 1, exitCode: 1, health: 'starting' },
      { health: 'Degraded', reason: 'restarting (1 restarts, last exit code 1)' },
    ],
    [
      'running after restarts, health check healthy',
      'running',
      { restartCount: 4, exitCode: 1, health: 'healthy' },
      { health: 'Healthy' },
    ],
    [
      'listed running, exited by the time it is inspected',
      'running',
      { state: 'exited', running: false, exitCode: 1 },
      { health: 'Degraded', reason: 'exited (exit code 1)' },
    ],
  ])('%s', (_what, state, inspect, expected) => {
    const { plan, services } = run({
      desired: [app],
      actual: [managedContainer(app, { state })],
      inspect: { app: inspect },
    });
    // Health never drives the plan: every one of these is left alone.
    expect(plan.actions.map((a) => a.type)).toEqual(['in-sync']);
    expect(services).toStrictEqual([{ ...SYNCED, ...expected }]);
  });

  it('a crash loop with a failure held for its spec is reported, not recreated', () => {
    const { plan, services } = run({
      desired: [app],
      actual: [managedContainer(app, { state: 'restarting' })],
      inspect: { app: { restartCount: 12, exitCode: 1 } },
      failures: { app: { specHash: app.specHash, ...FAILURE } },
    });
    expect(plan.actions.map((a) => a.type)).toEqual(['in-sync']);
    expect(services).toStrictEqual([
      { ...SYNCED, health: 'Degraded', reason: 'restarting (12 restarts, last exit code 1)' },
    ]);
  });

  it('a stopped container is OutOfSync (to be started) and Degraded', () => {
    const { plan, services } = run({
      desired: [app],
      actual: [managedContainer(app, { state: 'exited' })],
      inspect: { app: { exitCode: 137 } },
    });
    expect(plan.actions.map((a) => a.type)).toEqual(['start']);
    // The pending start first, then why the container is not healthy.
    expect(services).toStrictEqual([
      {
        ...SYNCED,
        sync: 'OutOfSync',
        health: 'Degraded',
        reason: 'start: container is exited; exited (exit code 137)',
      },
    ]);
  });

  // A stopped container always plans as `start` (or `recreate`): its sync
  // reason must not hide the exit code.
  it("a stopped container's exit code reaches the reason", () => {
    const status = statusOf({
      desired: [app],
      actual: [managedContainer(app, { state: 'exited' })],
      inspect: { app: { exitCode: 137 } },
    });
    expect(status.reason).toContain('exit code 137');
  });
});

describe('describeServices: output', () => {
  it('lists desired services sorted by name, without removals', () => {
    const web = desiredService('web', { dependsOn: ['db'] });
    const db = desiredService('db');
    const cache = desiredService('cache');
    const { plan, services } = run({
      // Start order: db before web; the plan keeps it.
      desired: [db, web, cache],
      actual: [managedContainer(web), managedContainer(db), managedContainer('old-worker')],
    });
    expect(plan.actions.map((a) => `${a.type} ${a.service}`)).toEqual([
      'remove old-worker',
      'in-sync db',
      'in-sync web',
      'create cache',
    ]);
    expect(services.map((s) => [s.name, s.sync, s.health])).toEqual([
      ['cache', 'OutOfSync', 'Missing'],
      ['db', 'Synced', 'Healthy'],
      ['web', 'Synced', 'Healthy'],
    ]);
  });

  it('an empty plan describes no services', () => {
    expect(run({ desired: [], actual: [] }).services).toEqual([]);
  });
});

describe('manifestErrorsToStatus', () => {
  it.each<[string, ManifestError, object]>([
    [
      'with a position',
      { file: 'hosts/web-1/app.yaml', line: 3, column: 1, path: '/enviroment', message: 'm' },
      {
        code: 'GITDOCK_E_INVALID_MANIFESTS',
        file: 'hosts/web-1/app.yaml',
        line: 3,
        column: 1,
        message: 'm',
      },
    ],
    [
      'without a position: no line or column keys',
      { file: 'gitdock.yaml', path: '', message: 'not a YAML mapping' },
      { code: 'GITDOCK_E_INVALID_MANIFESTS', file: 'gitdock.yaml', message: 'not a YAML mapping' },
    ],
    [
      'a line without a column',
      { file: 'a.yaml', line: 7, path: '/tag', message: 'm' },
      { code: 'GITDOCK_E_INVALID_MANIFESTS', file: 'a.yaml', line: 7, message: 'm' },
    ],
  ])('%s', (_what, error, expected) => {
    expect(manifestErrorsToStatus([error])).toStrictEqual([expected]);
  });

  it('keeps the order, and maps nothing to nothing', () => {
    expect(manifestErrorsToStatus([])).toEqual([]);
    expect(
      manifestErrorsToStatus([
        { file: 'b.yaml', path: '', message: 'second file' },
        { file: 'a.yaml', path: '', message: 'first file' },
      ]).map((e) => e.file),
    ).toEqual(['b.yaml', 'a.yaml']);
  });

  it('carries a real validation error: message and position, not the JSON pointer', () => {
    const errors = loadErrors({
      'hosts/web-1/app.yaml': yaml(
        'image: registry.example.com/app',
        'tag: "1.0"',
        'enviroment:',
        '  A: b',
      ),
    });
    expect(manifestErrorsToStatus(errors)).toStrictEqual([
      {
        code: 'GITDOCK_E_INVALID_MANIFESTS',
        file: 'hosts/web-1/app.yaml',
        line: 3,
        column: 1,
        message: 'unknown field "enviroment"; did you mean "environment"?',
      },
    ]);
  });
});

describe('describeServices: values from the host-local env file', () => {
  it('are masked in a held failure, its last log lines and the pending reasons', () => {
    const secret = 'hunter2-Secret';
    const withSecret = {
      ...appV2,
      secretValues: [secret],
      imageRef: `registry.example.com/${secret}/app:2.0`,
    };
    const { services } = run({
      desired: [withSecret],
      actual: [managedContainer(app)],
      failures: {
        app: {
          specHash: withSecret.specHash,
          reason: `exited with code 1: connecting with ${secret}`,
          code: 'GITDOCK_E_ROLLOUT_FAILED',
          lastLogLines: [`password=${secret}`],
        },
      },
    });
    expect(services[0]).toMatchObject({
      reason: 'exited with code 1: connecting with ***',
      lastLogLines: ['password=***'],
      desiredImage: 'registry.example.com/***/app:2.0',
    });
    expect(JSON.stringify(services)).not.toContain('hunter2');
  });
});
