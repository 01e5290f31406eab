// Compose projects on the fake engine: networks and volumes around the
// services, containers docker compose made, depends_on conditions, one-shot
// services, repo files. Fake time; nothing real is touched but a temp dir.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { FakeEngine, type ImageBehaviour } from '../../test/support/fake-engine.js';
import { DEFAULTS, imageReference } from '../core/normalize.js';
import { hashSpec } from '../core/spec-hash.js';
import {
  COMPOSE_LABELS,
  type ContainerSpec,
  type DesiredNetwork,
  type DesiredService,
  type DesiredVolume,
  type HostState,
  LABELS,
} from '../core/types.js';
import { silentLog } from '../log.js';
import { type ReconcileOptions, type ReconcileResult, reconcileHost } from './reconcile-host.js';

const HOST = 'web-1';

function service(
  project: string | undefined,
  name: string,
  spec: Partial<ContainerSpec> = {},
  extra: Partial<DesiredService> = {},
): DesiredService {
  const full: ContainerSpec = {
    image: `registry.example.com/${name}`,
    tag: '1.0',
    environment: {},
    ports: [],
    volumes: [],
    restart: DEFAULTS.restart,
    labels: {},
    stopGracePeriodMs: DEFAULTS.stopGracePeriodMs,
    ...(project !== undefined ? { networks: [{ name: `${project}_default` }] } : {}),
    ...spec,
  };
  return {
    name: project !== undefined ? `${project}/${name}` : name,
    containerName: project !== undefined ? `${project}-${name}-1` : name,
    ...(project !== undefined ? { project } : {}),
    host: HOST,
    file:
      project !== undefined
        ? `hosts/${HOST}/${project}/compose.yaml`
        : `hosts/${HOST}/${name}.yaml`,
    origin: 'host',
    spec: full,
    rollout: {
      order: DEFAULTS.order,
      settleMs: DEFAULTS.settleMs,
      healthTimeoutMs: 20_000,
      pull: DEFAULTS.pull,
    },
    dependsOn: [],
    imageRef: imageReference(full),
    specHash: hashSpec(full),
    ...extra,
  };
}

function network(
  project: string,
  key: string,
  settings: Partial<DesiredNetwork> = {},
): DesiredNetwork {
  const base = { project, key, external: false, labels: {}, ...settings };
  return {
    name: `${project}_${key}`,
    ...base,
    specHash: createHash('sha256').update(JSON.stringify(base)).digest('hex'),
  };
}

function volume(project: string, key: string): DesiredVolume {
  return { name: `${project}_${key}`, project, key, external: false, labels: {} };
}

function state(services: DesiredService[], extra: Partial<HostState> = {}): HostState {
  return {
    host: HOST,
    commit: 'c0ffee0000000000000000000000000000000000',
    services,
    allowEmpty: true,
    ...extra,
  };
}

function world(images: Record<string, ImageBehaviour> = {}) {
  const clock = new FakeClock();
  const engine = new FakeEngine(clock);
  for (const [name, behaviour] of Object.entries(images)) {
    engine.loadImage(`registry.example.com/${name}:1.0`, behaviour);
  }
  return { clock, engine };
}

/** Runs one reconcile to its end in fake time (bounded). */
async function reconcile(
  w: { clock: FakeClock; engine: FakeEngine },
  desired: HostState,
  extra: Partial<ReconcileOptions> = {},
): Promise<ReconcileResult> {
  let result: ReconcileResult | undefined;
  let failure: unknown;
  reconcileHost({ engine: w.engine, clock: w.clock, log: silentLog, desired, ...extra }).then(
    (r) => {
      result = r;
    },
    (err: unknown) => {
      failure = err;
    },
  );
  for (let i = 0; i < 5_000 && result === undefined && failure === undefined; i++) {
    await w.clock.flush();
    if (result === undefined && failure === undefined) await w.clock.advance(100);
  }
  if (failure !== undefined) throw failure;
  if (result === undefined) throw new Error('reconcile did not finish within 500 s of fake time');
  return result;
}

/** `service: ok` or `service: FAILED error`, per outcome. */
function outcomes(result: ReconcileResult): string[] {
  return result.outcomes.map(
    (o) => `${o.action} ${o.service}: ${o.ok ? 'ok' : `FAILED ${o.code ?? ''} ${o.error}`}`,
  );
}

/** Gitdock's mutations as `op name`, in order. */
function moves(engine: FakeEngine, since = 0): string[] {
  return engine.journal
    .filter((e) => e.by === 'gitdock' && e.seq >= since && e.op !== 'pull')
    .map((e) => `${e.op} ${e.name}`);
}

function nextSeq(engine: FakeEngine): number {
  return (engine.journal.at(-1)?.seq ?? -1) + 1;
}

describe('reconcileHost: networks and volumes of a Compose project', () => {
  const db = service('shop', 'db', {
    volumes: [{ type: 'volume', source: 'shop_data', target: '/data', readOnly: false }],
  });
  const api = service('shop', 'api', {}, { dependsOn: ['shop/db'] });
  const desired = state([db, api], {
    networks: [network('shop', 'default')],
    volumes: [volume('shop', 'data')],
  });

  it('creates networks and volumes before the services, labelled as gitdock', async () => {
    const w = world({ db: {}, api: {} });
    const result = await reconcile(w, desired);
    expect(outcomes(result)).toEqual(['create shop/db: ok', 'create shop/api: ok']);
    expect(result.resources.map((r) => `${r.type} ${r.name} ${r.ok}`)).toEqual([
      'network-create shop_default true',
      'volume-create shop_data true',
    ]);
    expect(moves(w.engine)).toEqual([
      'create-network shop_default',
      'create-volume shop_data',
      'create shop-db-1',
      'start shop-db-1',
      'create shop-api-1',
      'start shop-api-1',
    ]);
    const net = w.engine.networks().find((n) => n.name === 'shop_default')!;
    expect(net.labels).toMatchObject({
      [LABELS.host]: HOST,
      [LABELS.project]: 'shop',
      [LABELS.resourceHash]: desired.networks![0]!.specHash,
    });
    expect(w.engine.volumes().find((v) => v.name === 'shop_data')?.labels).toMatchObject({
      [LABELS.host]: HOST,
      [LABELS.project]: 'shop',
    });
    expect(w.engine.container('shop-db-1')?.labels).toMatchObject({
      [LABELS.service]: 'shop/db',
      [LABELS.project]: 'shop',
      [LABELS.containerName]: 'shop-db-1',
    });
    expect(result.ok).toBe(true);
  });

  it('a second pass changes nothing', async () => {
    const w = world({ db: {}, api: {} });
    await reconcile(w, desired);
    const since = nextSeq(w.engine);
    const again = await reconcile(w, desired);
    expect(moves(w.engine, since)).toEqual([]);
    expect(outcomes(again)).toEqual(['in-sync shop/db: ok', 'in-sync shop/api: ok']);
    expect(again.resources.map((r) => r.type)).toEqual(['network-in-sync', 'volume-in-sync']);
  });

  it("a gitdock manifest's container gets no project or container-name label", async () => {
    const w = world({ app: {} });
    await reconcile(w, state([service(undefined, 'app')]));
    const labels = w.engine.container('app')!.labels;
    expect(labels[LABELS.service]).toBe('app');
    expect(labels[LABELS.project]).toBeUndefined();
    expect(labels[LABELS.containerName]).toBeUndefined();
  });

  it('a network that cannot be created fails only the services that join it', async () => {
    const w = world({ db: {}, api: {}, app: {}, cache: {} });
    const cache = service('blog', 'cache');
    w.engine.failWhen((call) =>
      call.method === 'createNetwork' && (call.args[0] as DesiredNetwork).name === 'shop_default'
        ? new Error('no more address pools')
        : undefined,
    );
    const result = await reconcile(
      w,
      state([db, api, service(undefined, 'app'), cache], {
        networks: [network('shop', 'default'), network('blog', 'default')],
        volumes: [volume('shop', 'data')],
      }),
    );
    expect(outcomes(result).map((line) => line.replace(/: FAILED .*/, ': FAILED'))).toEqual([
      'create shop/db: FAILED',
      'create shop/api: FAILED',
      'create app: ok',
      'create blog/cache: ok',
    ]);
    expect(result.outcomes[0]?.error).toContain('network shop_default could not be created');
    expect(result.ok).toBe(false);
    expect(w.engine.container('shop-db-1')).toBeUndefined();
  });

  it('an external network that is missing fails its services, the others converge', async () => {
    const w = world({ api: {}, app: {} });
    const onProxy = service('shop', 'api', { networks: [{ name: 'proxy' }] });
    const result = await reconcile(
      w,
      state([onProxy, service(undefined, 'app')], {
        networks: [{ ...network('shop', 'proxy'), name: 'proxy', external: true }],
      }),
    );
    expect(outcomes(result)).toEqual([
      'create shop/api: FAILED GITDOCK_E_APPLY_FAILED network proxy: external network proxy does not exist; create it or drop external',
      'create app: ok',
    ]);
  });

  it('a project removed: its containers first, then its network; its volume stays, reported', async () => {
    const w = world({ db: {}, api: {}, app: {} });
    await reconcile(w, desired);
    const since = nextSeq(w.engine);
    const result = await reconcile(w, state([service(undefined, 'app')]));
    expect(
      moves(w.engine, since).filter(
        (m) => !m.startsWith('create app') && !m.startsWith('start app'),
      ),
    ).toEqual([
      'stop shop-api-1',
      'remove shop-api-1',
      'stop shop-db-1',
      'remove shop-db-1',
      'remove-network shop_default',
    ]);
    expect(w.engine.volumes().map((v) => v.name)).toContain('shop_data');
    expect(result.plan.resources?.map((r) => `${r.type} ${r.name}`)).toEqual([
      'network-remove shop_default',
      'volume-unused shop_data',
    ]);
    expect(result.ok).toBe(true);
  });

  it('a volume listed in remove_volumes is removed once no service uses it', async () => {
    const w = world({ db: {}, api: {}, app: {} });
    await reconcile(w, desired);
    const result = await reconcile(
      w,
      state([service(undefined, 'app')], { removeVolumes: ['shop_data'] }),
    );
    expect(result.resources.map((r) => `${r.type} ${r.name} ${r.ok}`)).toEqual([
      'network-remove shop_default true',
      'volume-remove shop_data true',
    ]);
    expect(w.engine.volumes().map((v) => v.name)).not.toContain('shop_data');
  });

  it('a network whose settings changed is recreated with the containers on it', async () => {
    const w = world({ db: {}, api: {} });
    await reconcile(w, desired);
    const since = nextSeq(w.engine);
    const changed = { ...desired, networks: [network('shop', 'default', { internal: true })] };
    const result = await reconcile(w, changed);
    expect(
      result.plan.actions.map(
        (a) => `${a.type} ${a.service}: ${'reasons' in a ? a.reasons.join('; ') : ''}`,
      ),
    ).toEqual([
      'recreate shop/db: network shop_default is recreated',
      'recreate shop/api: network shop_default is recreated',
    ]);
    expect(moves(w.engine, since).slice(0, 6)).toEqual([
      'stop shop-api-1',
      'remove shop-api-1',
      'stop shop-db-1',
      'remove shop-db-1',
      'remove-network shop_default',
      'create-network shop_default',
    ]);
    expect(outcomes(result)).toEqual(['recreate shop/db: ok', 'recreate shop/api: ok']);
    expect(
      w.engine.networks().find((n) => n.name === 'shop_default')?.labels[LABELS.resourceHash],
    ).toBe(changed.networks[0]!.specHash);
    expect(w.engine.container('shop-api-1')?.state).toBe('running');
  });

  it('a network recreate waits while a service on it is held: nothing is removed', async () => {
    const w = world({ db: {}, api: {} });
    await reconcile(w, desired);
    const since = nextSeq(w.engine);
    const changed = { ...desired, networks: [network('shop', 'default', { internal: true })] };
    const result = await reconcile(w, changed, {
      hold: (action) => (action.service === 'shop/api' ? 'held after a failure' : undefined),
    });
    expect(moves(w.engine, since)).toEqual([]);
    expect(result.resources[0]).toMatchObject({
      type: 'network-recreate',
      ok: false,
      skipped: true,
    });
    // Not attempted is not failed: no hold is started on the services for it.
    expect(result.outcomes.map((o) => `${o.service} ${o.ok} ${o.skipped === true}`)).toEqual([
      'shop/db false true',
      'shop/api false true',
    ]);
    expect(w.engine.container('shop-db-1')?.state).toBe('running');
    expect(w.engine.container('shop-api-1')?.state).toBe('running');
  });
});

describe('reconcileHost: containers docker compose made', () => {
  const db = service('shop', 'db');
  const composeLabels = {
    [COMPOSE_LABELS.project]: 'shop',
    [COMPOSE_LABELS.service]: 'db',
    'com.docker.compose.container-number': '1',
  };

  it('are left alone and reported as a conflict naming the project', async () => {
    const w = world({ db: {} });
    w.engine.userRun('shop-db-1', 'registry.example.com/db:1.0', composeLabels);
    const since = nextSeq(w.engine);
    const result = await reconcile(w, state([db], { networks: [network('shop', 'default')] }));
    expect(outcomes(result)).toEqual([
      'conflict shop/db: FAILED GITDOCK_E_NAME_CONFLICT container "shop-db-1" was made by docker compose for project shop; set hosts.web-1.projects.shop.adopt_compose: true in gitdock.yaml to let gitdock replace it',
    ]);
    expect(moves(w.engine, since)).toEqual(['create-network shop_default']);
    expect(w.engine.container('shop-db-1')?.state).toBe('running');
  });

  it('with adopt_compose: stopped first, replaced, removed once the new one is up', async () => {
    const w = world({ db: {} });
    const old = w.engine.userRun('shop_db_1', 'registry.example.com/db:1.0', composeLabels);
    const since = nextSeq(w.engine);
    const result = await reconcile(
      w,
      state([{ ...db, rollout: { ...db.rollout, order: 'start-first' } }], {
        networks: [network('shop', 'default')],
        adoptCompose: ['shop'],
      }),
    );
    expect(outcomes(result)).toEqual(['recreate shop/db: ok']);
    expect(moves(w.engine, since)).toEqual([
      'create-network shop_default',
      'create shop-db-1.gitdock-NEXT',
      'stop shop_db_1',
      'start shop-db-1.gitdock-NEXT',
      'remove shop_db_1',
      'rename shop-db-1.gitdock-NEXT',
    ]);
    expect(w.engine.container(old)).toBeUndefined();
    expect(w.engine.container('shop-db-1')?.labels[LABELS.service]).toBe('shop/db');
  });

  it('with adopt_compose, a replacement that does not come up gives the old container back', async () => {
    const w = world({ db: { exitAfterMs: 500, exitCode: 1 } });
    w.engine.loadImage('registry.example.com/old:1', {});
    w.engine.userRun('shop-db-1', 'registry.example.com/old:1', composeLabels);
    const result = await reconcile(
      w,
      state([db], { adoptCompose: ['shop'], networks: [network('shop', 'default')] }),
    );
    expect(result.outcomes[0]).toMatchObject({ ok: false, code: 'GITDOCK_E_ROLLOUT_FAILED' });
    expect(w.engine.container('shop-db-1')).toMatchObject({
      state: 'running',
      labels: composeLabels,
    });
  });
});

describe('reconcileHost: depends_on conditions and one-shot services', () => {
  const migrate = (_exitCode: number) => service('shop', 'migrate', {}, { oneShot: true });
  const app = (condition: 'service_completed_successfully' | 'service_healthy', dep: string) =>
    service('shop', 'app', {}, { dependsOn: [dep], dependsOnConditions: { [dep]: condition } });
  const nets = { networks: [network('shop', 'default')] };

  it('service_completed_successfully: the dependent starts once the one-shot exited 0', async () => {
    const w = world({ migrate: { exitAfterMs: 5_000, exitCode: 0 }, app: {} });
    const result = await reconcile(
      w,
      state([migrate(0), app('service_completed_successfully', 'shop/migrate')], nets),
    );
    expect(outcomes(result)).toEqual(['create shop/migrate: ok', 'create shop/app: ok']);
    const exit = w.engine.journal.find((e) => e.op === 'exit' && e.name === 'shop-migrate-1')!;
    const start = w.engine.journal.find(
      (e) => e.op === 'start' && e.name?.startsWith('shop-app-1'),
    )!;
    expect(exit).toBeDefined();
    expect(start.seq).toBeGreaterThan(exit.seq);
    expect(w.engine.container('shop-migrate-1')).toMatchObject({ state: 'exited', exitCode: 0 });

    // The next pass: the one-shot is done, not drift.
    const since = nextSeq(w.engine);
    const again = await reconcile(
      w,
      state([migrate(0), app('service_completed_successfully', 'shop/migrate')], nets),
    );
    expect(outcomes(again)).toEqual(['in-sync shop/migrate: ok', 'in-sync shop/app: ok']);
    expect(moves(w.engine, since)).toEqual([]);
  });

  it('service_completed_successfully: a one-shot that fails keeps the dependent from starting', async () => {
    const w = world({ migrate: { exitAfterMs: 500, exitCode: 2 }, app: {} });
    const result = await reconcile(
      w,
      state([migrate(2), app('service_completed_successfully', 'shop/migrate')], nets),
    );
    expect(result.outcomes.map((o) => `${o.service} ${o.ok}`)).toEqual([
      'shop/migrate false',
      'shop/app false',
    ]);
    expect(result.outcomes[0]?.error).toContain('exited with code 2');
    expect(result.outcomes[1]?.error).toBe(
      `not started: shop/migrate must complete successfully first: it failed: ${result.outcomes[0]?.error}`,
    );
    expect(w.engine.container('shop-app-1')).toBeUndefined();
  });

  it('a one-shot that exited non-zero is run again by the next pass', async () => {
    const w = world({ migrate: { exitAfterMs: 60_000, exitCode: 0 } });
    await reconcile(w, state([migrate(0)], nets));
    w.engine.crashContainer('shop-migrate-1', 3);
    const since = nextSeq(w.engine);
    const result = await reconcile(w, state([migrate(0)], nets));
    expect(result.plan.actions.map((a) => `${a.type}: ${'reasons' in a ? a.reasons : ''}`)).toEqual(
      ['start: one-shot exited with code 3'],
    );
    expect(outcomes(result)).toEqual(['start shop/migrate: ok']);
    expect(moves(w.engine, since)).toEqual(['start shop-migrate-1']);
  });

  it('service_healthy: the dependent waits until its dependency is healthy again', async () => {
    const w = world({ app: {} });
    w.engine.loadImage('registry.example.com/db:1.0', { healthyAfterMs: 3_000 });
    const db = service('shop', 'db');
    await reconcile(w, state([db], nets));
    expect(w.engine.container('shop-db-1')?.health).toBe('healthy');
    // Restarted by hand: health is `starting` for 3 s again.
    await w.engine.userStop('shop-db-1', { timeoutMs: 0 });
    w.engine.userStart('shop-db-1');
    const restartedAt = w.clock.now();
    const result = await reconcile(w, state([db, app('service_healthy', 'shop/db')], nets));
    expect(outcomes(result)).toEqual(['in-sync shop/db: ok', 'create shop/app: ok']);
    const create = w.engine.journal.find((e) => e.op === 'create' && e.name === 'shop-app-1')!;
    expect(create.at).toBeGreaterThanOrEqual(restartedAt + 3_000);
  });

  it('service_healthy: a dependency whose image is still being pulled makes the dependent wait, not fail', async () => {
    const w = world({ app: {} });
    w.engine.loadImage('registry.example.com/db:1.0', { healthyAfterMs: 1_000 });
    // As the agent's background pulls answer while db's image travels.
    const images = {
      ensure: async (d: { name: string }) =>
        d.name === 'shop/db' ? { pending: 'pulling db:1.0' } : { id: 'sha256:app' },
    };
    const result = await reconcile(
      w,
      state([service('shop', 'db'), app('service_healthy', 'shop/db')], nets),
      { images: images as never },
    );
    expect(result.outcomes.map((o) => [o.service, o.ok, o.waiting === true, o.code])).toEqual([
      ['shop/db', false, true, undefined],
      ['shop/app', false, true, undefined],
    ]);
    expect(result.outcomes[1]?.error).toBe(
      'not started yet: shop/db must be healthy first: it waits (pulling db:1.0)',
    );
    expect(w.engine.container('shop-app-1')).toBeUndefined();
  });

  it('service_healthy: a dependency without a health check fails the dependent with the reason', async () => {
    const w = world({ db: {}, app: {} });
    const result = await reconcile(
      w,
      state([service('shop', 'db'), app('service_healthy', 'shop/db')], nets),
    );
    expect(outcomes(result)).toEqual([
      'create shop/db: ok',
      'create shop/app: FAILED GITDOCK_E_ROLLOUT_FAILED not started: shop/db must be healthy first: it has no health check',
    ]);
  });
});

describe('reconcileHost: repo files and host data', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const bytes = new TextEncoder().encode('worker_processes 1;\n');
  const sha = createHash('sha256').update(bytes).digest('hex');
  const proxy = service(
    'shop',
    'proxy',
    {
      volumes: [
        {
          type: 'bind',
          target: '/etc/nginx/nginx.conf',
          readOnly: true,
          repoFile: { path: 'hosts/web-1/shop/nginx.conf', sha256: sha, kind: 'file' },
        },
      ],
    },
    { repoFiles: [{ mountSha256: sha, relativePath: '', bytes, mode: 0o644 }] },
  );
  const nets = { networks: [network('shop', 'default')] };

  it('without a state dir, a service mounting repo files fails with a coded error; the others converge', async () => {
    const w = world({ proxy: {}, app: {} });
    const result = await reconcile(w, state([proxy, service('shop', 'app')], nets));
    expect(result.outcomes.map((o) => `${o.service} ${o.ok} ${o.code ?? ''}`)).toEqual([
      'shop/proxy false GITDOCK_E_STATE_DIR',
      'shop/app true ',
    ]);
    expect(result.outcomes[0]?.error).toContain('shop/proxy mounts files from the repo');
  });

  it('with a state dir, the files are written and mounted from there', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gitdock-reconcile-'));
    const w = world({ proxy: {} });
    const result = await reconcile(w, state([proxy], nets), { stateDir: dir });
    expect(outcomes(result)).toEqual(['create shop/proxy: ok']);
    expect(await readFile(path.join(dir, 'files', sha, 'content'), 'utf8')).toBe(
      'worker_processes 1;\n',
    );
  });
});

describe('reconcileHost: max_parallel', () => {
  /** A gitdock manifest's service; `release` changes its spec, so a second pass replaces it. */
  const app = (name: string, release: string, dependsOn: string[] = [], settleMs?: number) => {
    const s = service(undefined, name, { environment: { RELEASE: release } }, { dependsOn });
    return settleMs === undefined ? s : { ...s, rollout: { ...s.rollout, settleMs } };
  };
  const images = (names: string[]) => Object.fromEntries(names.map((n) => [n, {}]));

  /**
   * Each service's span in the engine's journal: gitdock's first and last
   * mutation of its containers (the replacement under its temporary name
   * included) since `since`, by sequence number. A stop-first replacement
   * runs create, stop, start, then (after its settle time) remove and
   * rename, so its span covers the whole replacement.
   */
  function spans(engine: FakeEngine, since: number): Map<string, { first: number; last: number }> {
    const out = new Map<string, { first: number; last: number }>();
    for (const e of engine.journal) {
      if (e.by !== 'gitdock' || e.seq < since || e.op === 'pull' || e.name === undefined) continue;
      const name = e.name.replace(/\.gitdock-NEXT$/, '');
      const span = out.get(name);
      if (span) span.last = e.seq;
      else out.set(name, { first: e.seq, last: e.seq });
    }
    return out;
  }

  /** The most spans open at the same point of the journal. */
  function mostAtOnce(all: Map<string, { first: number; last: number }>): number {
    let most = 0;
    for (const { first } of all.values()) {
      const open = [...all.values()].filter((s) => s.first <= first && first <= s.last).length;
      most = Math.max(most, open);
    }
    return most;
  }

  /** Every `depends_on` edge: the dependency's replacement ended before the dependent's began. */
  function dependencyOrderHeld(
    services: DesiredService[],
    all: Map<string, { first: number; last: number }>,
  ): string[] {
    return services.flatMap((s) =>
      s.dependsOn.map(
        (dep) => `${dep} before ${s.name}: ${all.get(dep)!.last < all.get(s.name)!.first}`,
      ),
    );
  }

  /** Creates `v1` (no bound), then replaces every service with `v2` under `maxParallel`. */
  async function release(
    v1: DesiredService[],
    v2: DesiredService[],
    maxParallel: number | undefined,
  ) {
    const w = world(images(v1.map((s) => s.name)));
    const first = await reconcile(w, state(v1, maxParallel === undefined ? {} : { maxParallel }));
    expect(first.ok).toBe(true);
    const since = nextSeq(w.engine);
    const result = await reconcile(w, state(v2, maxParallel === undefined ? {} : { maxParallel }));
    return { w, result, spans: spans(w.engine, since) };
  }

  const six = ['s1', 's2', 's3', 's4', 's5', 's6'];

  it.each([
    { maxParallel: 1, most: 1 },
    { maxParallel: 2, most: 2 },
    { maxParallel: 4, most: 4 },
    { maxParallel: 6, most: 6 },
    { maxParallel: 10, most: 6 },
    // Unset: 64, so all six at once (the measure sees parallel replacements).
    { maxParallel: undefined, most: 6 },
  ])(
    'max_parallel $maxParallel, 6 independent changed services: at most $most replaced at once, all done',
    async ({ maxParallel, most }) => {
      const {
        w,
        result,
        spans: all,
      } = await release(
        six.map((n) => app(n, '1')),
        six.map((n) => app(n, '2')),
        maxParallel,
      );
      expect(outcomes(result)).toEqual(six.map((n) => `recreate ${n}: ok`));
      expect(mostAtOnce(all)).toBe(most);
      // Every replacement went to its end: the new container renamed into place, running.
      for (const name of six) {
        const last = w.engine.journal.find((e) => e.seq === all.get(name)!.last)!;
        expect(`${last.op} ${last.name}`).toBe(`rename ${name}.gitdock-NEXT`);
        expect(w.engine.container(name)).toMatchObject({ state: 'running' });
      }
    },
  );

  it('max_parallel 1 with a depends_on chain and independents: finishes, in dependency order', async () => {
    // db <- api <- web, plus cache and queue; in start order, as resolveHost gives it.
    const v = (release: string) => [
      app('cache', release),
      app('db', release),
      app('queue', release),
      app('api', release, ['db']),
      app('web', release, ['api']),
    ];
    const { result, spans: all } = await release(v('1'), v('2'), 1);
    expect(outcomes(result)).toEqual(
      ['cache', 'db', 'queue', 'api', 'web'].map((n) => `recreate ${n}: ok`),
    );
    expect(mostAtOnce(all)).toBe(1);
    expect(dependencyOrderHeld(v('2'), all)).toEqual([
      'db before api: true',
      'api before web: true',
    ]);
  });

  it('depends_on order holds under the bound (a diamond and independents, max_parallel 2)', async () => {
    const v = (release: string) => [
      app('db', release),
      app('m1', release),
      app('m2', release),
      app('m3', release),
      app('api', release, ['db']),
      app('worker', release, ['db']),
      app('web', release, ['api', 'worker']),
    ];
    const { result, spans: all } = await release(v('1'), v('2'), 2);
    expect(result.ok).toBe(true);
    expect(mostAtOnce(all)).toBe(2);
    expect(dependencyOrderHeld(v('2'), all)).toEqual([
      'db before api: true',
      'db before worker: true',
      'api before web: true',
      'worker before web: true',
    ]);
  });

  it('a service waiting for its dependency holds no place: the others go meanwhile', async () => {
    // db settles for 10 s; api, listed right after it, waits for it. With 2
    // places, cache and queue are replaced while db settles; had api taken a
    // place while waiting, only db would run until it is done.
    const v = (release: string) => [
      app('db', release, [], 10_000),
      app('api', release, ['db']),
      app('cache', release),
      app('queue', release),
    ];
    const { result, spans: all } = await release(v('1'), v('2'), 2);
    expect(result.ok).toBe(true);
    const db = all.get('db')!;
    expect(all.get('cache')!.first).toBeLessThan(db.last);
    expect(all.get('queue')!.first).toBeLessThan(db.last);
    expect(all.get('api')!.first).toBeGreaterThan(db.last);
    expect(mostAtOnce(all)).toBe(2);
  });
});
