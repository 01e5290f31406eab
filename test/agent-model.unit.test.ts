// Model-based sequence tests of the agent (DESIGN 3a): random and hand-picked
// sequences of pushes (valid, invalid, crashing, missing tag), reverts, hand
// moves on the engine (docker stop, docker rm -f, a container of the user's
// holding a service's name), the engine and the registry going away and
// back, and agent restarts, each run in fake time on a FakeEngine. After
// every step, once the agent has settled, the invariants are checked. A
// failing run prints its seed and the shrunk sequence: replay it with
// `GITDOCK_MODEL_SEED=<seed> npx vitest run test/agent-model.unit.test.ts`.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AgentHarness,
  REGISTRY,
  type Release,
  SERVICES,
  type ServiceName,
} from './support/agent-harness.js';

type Step =
  | { t: 'push'; web: Release; cache: Release }
  | { t: 'revert' }
  | { t: 'invalid' }
  | { t: 'stop'; svc: ServiceName }
  | { t: 'rm'; svc: ServiceName; slowMs: number }
  | { t: 'conflict'; svc: ServiceName }
  | { t: 'clear-conflict' }
  | { t: 'engine-away'; ms: number }
  | { t: 'registry-away'; ms: number }
  | { t: 'restart-agent' }
  | { t: 'retry' }
  | { t: 'idle' };

const release = fc.constantFrom<Release>('v1', 'v2', 'v3', 'v1', 'v2', 'crash', 'missing');
const service = fc.constantFrom<ServiceName>(...SERVICES);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ t: fc.constant('push' as const), web: release, cache: release }),
  },
  { weight: 2, arbitrary: fc.constant({ t: 'revert' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'invalid' as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('stop' as const), svc: service }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('rm' as const),
      svc: service,
      slowMs: fc.constantFrom(0, 0, 800),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('conflict' as const), svc: service }) },
  { weight: 1, arbitrary: fc.constant({ t: 'clear-conflict' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('engine-away' as const),
      ms: fc.constantFrom(3000, 20_000),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('registry-away' as const),
      ms: fc.constantFrom(5000, 40_000),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'restart-agent' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'retry' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'idle' as const }) },
);

/** What the test knows of the world, to check the agent against. */
interface Model {
  /** The releases of the last valid commit, and of the one before it (what `revert` goes back to). */
  desired: Record<ServiceName, Release>;
  previous: Record<ServiceName, Release>;
  /** Services whose name a container of the user's holds. */
  conflicts: Set<ServiceName>;
  /** The last good release each service ran (what keeps running when a newer one fails). */
  running: Partial<Record<ServiceName, Release>>;
}

const isGood = (r: Release) => r === 'v1' || r === 'v2' || r === 'v3';

async function runSteps(steps: Step[], h: AgentHarness): Promise<void> {
  const m: Model = {
    desired: { web: 'v1', cache: 'v1' },
    previous: { web: 'v1', cache: 'v1' },
    conflicts: new Set(),
    running: {},
  };
  h.pushReleases(m.desired);
  h.start();
  await h.settle();
  m.running = { web: 'v1', cache: 'v1' };
  check(h, m, 'start');
  for (const [i, s] of steps.entries()) {
    const where = `step ${i + 1} ${JSON.stringify(s)}`;
    await apply(h, m, s, where);
    await h.settle();
    // What runs now: a good desired release took over; a failed one left the last good one.
    for (const svc of SERVICES) {
      if (m.conflicts.has(svc)) continue;
      if (isGood(m.desired[svc])) m.running[svc] = m.desired[svc];
    }
    check(h, m, where);
  }
  await h.stop();
}

async function apply(h: AgentHarness, m: Model, s: Step, where: string): Promise<void> {
  switch (s.t) {
    case 'push':
      m.previous = m.desired;
      m.desired = { web: s.web, cache: s.cache };
      h.pushReleases(m.desired);
      return;
    case 'revert': {
      const back = m.previous;
      m.previous = m.desired;
      m.desired = back;
      h.pushReleases(m.desired);
      return;
    }
    case 'invalid': {
      // An invalid commit changes nothing at all on the engine.
      const seq = h.lastSeq();
      h.pushInvalid();
      await h.settle();
      const byAgent = h.journalSince(seq).filter((e) => e.by === 'gitdock');
      expect(byAgent, `${where}: engine calls after an invalid commit`).toEqual([]);
      const errors = h.status().errors;
      expect(errors.some((e) => e.code === 'GITDOCK_E_INVALID_MANIFESTS' && e.file)).toBe(true);
      // The valid commit is pushed again: the branch is back where it was.
      h.pushReleases(m.desired);
      return;
    }
    case 'stop':
      if (m.conflicts.has(s.svc) || !h.engine.container(s.svc)?.running) return;
      await h.engine.userStop(s.svc, { timeoutMs: 0 });
      return;
    case 'rm': {
      const c = h.engine.container(s.svc);
      if (m.conflicts.has(s.svc) || !c || c.state === 'removing') return;
      void h.engine.userRemove(s.svc, { slowMs: s.slowMs });
      // Healing makes what git says; while that release fails, nothing runs
      // (the agent never goes back to a release git no longer names).
      if (!isGood(m.desired[s.svc])) delete m.running[s.svc];
      return;
    }
    case 'conflict': {
      if (m.conflicts.has(s.svc)) return;
      const c = h.engine.container(s.svc);
      if (c) {
        if (c.state === 'removing') return;
        await h.engine.userRemove(s.svc);
      }
      h.engine.userRun(s.svc, `${REGISTRY}/app:v1`, {});
      m.conflicts.add(s.svc);
      delete m.running[s.svc];
      // A container of the user's sends no event the agent follows: the
      // conflict is seen at the next pass, at the latest the periodic resync.
      await h.advance(70_000, 1000);
      return;
    }
    case 'clear-conflict':
      if (m.conflicts.size === 0) return;
      for (const svc of m.conflicts) await h.engine.userRemove(svc);
      m.conflicts.clear();
      // The events of a container gitdock did not make are not followed: the
      // name coming free is seen at the next periodic resync.
      await h.advance(70_000, 1000);
      return;
    case 'engine-away':
      h.engine.setReachable(false);
      await h.advance(Math.min(s.ms, 5000));
      // While it is away, every service's health is Unknown and the status says why.
      expect(h.status().engine.reachable, `${where}: engine.reachable`).toBe(false);
      for (const svc of h.status().services)
        expect(svc.health, `${where}: ${svc.name} health while the engine is away`).toBe('Unknown');
      await h.advance(Math.max(0, s.ms - 5000));
      h.engine.setReachable(true);
      return;
    case 'registry-away':
      h.engine.setRegistryReachable(false);
      await h.advance(s.ms);
      h.engine.setRegistryReachable(true);
      // A failed pull is retried after its backoff (at most a minute): let it come.
      await h.advance(65_000);
      return;
    case 'restart-agent':
      await h.stop();
      h.start();
      return;
    case 'retry':
      h.agent.requestRetry();
      return;
    case 'idle': {
      // Nothing changes for 5 minutes: no engine mutation, no pass beyond the
      // periodic resync (and a failing pull's backoff), never a deadline in the past.
      const seq = h.lastSeq();
      const passes = h.passes.length;
      const pulling = Object.values(m.desired).filter((r) => r === 'missing').length;
      for (let t = 0; t < 300_000; t += 5000) {
        await h.clock.advance(5000);
        const next = h.status().nextPassAt;
        expect(!next || Date.parse(next) > h.clock.now(), `${where}: nextPassAt ${next}`).toBe(
          true,
        );
      }
      const mutations = h.journalSince(seq).filter((e) => e.by === 'gitdock' && e.op !== 'pull');
      expect(mutations, `${where}: mutations while idle`).toEqual([]);
      const ran = h.passes.slice(passes);
      // Resyncs: one a minute. A failing pull: its retries (5 s doubling to a
      // minute: at most 9 in 5 minutes) of each service, each a pass that
      // starts the pull and one when it has failed.
      const other = ran.filter((p) => !/held spec due|image .* pulled/.test(p.trigger));
      expect(other.length, `${where}: passes in 5 idle minutes`).toBeLessThanOrEqual(6);
      expect(ran.length - other.length, `${where}: retry passes`).toBeLessThanOrEqual(18 * pulling);
      return;
    }
  }
}

/** The invariants at a quiescent point. */
function check(h: AgentHarness, m: Model, where: string): void {
  const containers = h.engine.containers();
  const status = h.status();
  // No replacement left under its temporary name.
  expect(
    containers.filter((c) => c.name.includes('gitdock-NEXT')).map((c) => c.name),
    `${where}: temporary containers`,
  ).toEqual([]);
  for (const svc of SERVICES) {
    const named = containers.filter((c) => c.name === svc);
    const reported = status.services.find((x) => x.name === svc);
    expect(reported, `${where}: ${svc} in /status`).toBeDefined();
    if (m.conflicts.has(svc)) {
      // The user's container is never touched; the service is a reported conflict.
      expect(named, `${where}: ${svc} conflict container`).toHaveLength(1);
      expect(named[0]?.labels['io.gitdock.host']).toBeUndefined();
      expect(reported?.sync, `${where}: ${svc} sync with a conflict`).toBe('Failed');
      expect(reported?.code).toBe('GITDOCK_E_NAME_CONFLICT');
      continue;
    }
    // Exactly one container per service...
    const managed = containers.filter((c) => c.labels['io.gitdock.service'] === svc);
    expect(
      managed.map((c) => `${c.name}:${c.state}`),
      `${where}: ${svc} containers`,
    ).toHaveLength(m.running[svc] ? 1 : 0);
    const want = m.desired[svc];
    const runningRelease = m.running[svc];
    if (runningRelease) {
      // ...running the last good release, started again after any hand stop or removal.
      expect(named[0]?.state, `${where}: ${svc} state`).toBe('running');
      expect(named[0]?.labels['io.gitdock.image'], `${where}: ${svc} image`).toBe(
        `${REGISTRY}/app:${runningRelease}`,
      );
    }
    // /status agrees with the engine.
    if (isGood(want)) {
      expect(
        [reported?.sync, reported?.health],
        `${where}: ${svc} status ${reported?.reason ?? ''}`,
      ).toEqual(['Synced', 'Healthy']);
    } else {
      expect(
        reported?.sync,
        `${where}: ${svc} sync at a ${want} release (${reported?.reason})`,
      ).toBe('Failed');
      expect(reported?.code, `${where}: ${svc} code`).toBe(
        want === 'missing' ? 'GITDOCK_E_PULL_FAILED' : 'GITDOCK_E_ROLLOUT_FAILED',
      );
      expect(reported?.health, `${where}: ${svc} health`).toBe(
        runningRelease ? 'Healthy' : 'Missing',
      );
    }
  }
}

/** Gitdock never acted on a container it did not make. */
function checkNeverTouchedUsers(h: AgentHarness): void {
  const userMade = new Set(h.engine.mutations({ by: 'user', op: 'create' }).map((e) => e.id));
  const touched = h.engine.journal.filter((e) => e.by === 'gitdock' && e.id && userMade.has(e.id));
  expect(touched, 'gitdock acted on a container the user made').toEqual([]);
}

const envSeed = process.env.GITDOCK_MODEL_SEED;
const runs = Number(process.env.GITDOCK_MODEL_RUNS ?? 250);

describe('the agent, model-based', () => {
  it('keeps the invariants over random sequences of pushes, hand moves, outages and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 16 }), async (steps) => {
        const h = new AgentHarness();
        await runSteps(steps, h);
        checkNeverTouchedUsers(h);
      }),
      {
        numRuns: runs,
        ...(envSeed ? { seed: Number(envSeed) } : {}),
        verbose: 1,
      },
    );
  }, 240_000);
});

describe('the agent, hand-picked sequences', () => {
  const sequences: [string, Step[]][] = [
    [
      'a crashing release, then its revert: no loop, no outage',
      [{ t: 'push', web: 'crash', cache: 'v1' }, { t: 'idle' }, { t: 'revert' }, { t: 'idle' }],
    ],
    [
      'a missing tag, then a fix',
      [
        { t: 'push', web: 'missing', cache: 'v1' },
        { t: 'idle' },
        { t: 'push', web: 'v2', cache: 'v1' },
      ],
    ],
    [
      'docker rm -f while the engine is still removing',
      [{ t: 'rm', svc: 'web', slowMs: 800 }, { t: 'idle' }],
    ],
    [
      'a heal, then an invalid commit',
      [{ t: 'rm', svc: 'web', slowMs: 0 }, { t: 'invalid' }, { t: 'idle' }],
    ],
    [
      'a name taken by hand, then given back',
      [{ t: 'conflict', svc: 'cache' }, { t: 'idle' }, { t: 'clear-conflict' }],
    ],
    [
      'a failed release survives an agent restart as Failed, not retried',
      [{ t: 'push', web: 'crash', cache: 'v2' }, { t: 'restart-agent' }, { t: 'idle' }],
    ],
    [
      'the engine away and back',
      [
        { t: 'engine-away', ms: 20_000 },
        { t: 'stop', svc: 'web' },
      ],
    ],
    [
      'the registry away during a release',
      [
        { t: 'registry-away', ms: 40_000 },
        { t: 'push', web: 'v3', cache: 'v3' },
      ],
    ],
  ];
  it.each(sequences)('%s', async (_name, steps) => {
    const h = new AgentHarness();
    await runSteps(steps, h);
    checkNeverTouchedUsers(h);
  });

  it('a failed release is not retried by stopping the healthy old container, even when asked to retry on its own', async () => {
    const h = new AgentHarness({ failedRetryMs: 30_000 });
    h.pushReleases({ web: 'v1', cache: 'v1' });
    h.start();
    await h.settle();
    const oldId = h.engine.container('web')!.id;
    h.pushReleases({ web: 'crash', cache: 'v1' });
    await h.settle();
    const seq = h.lastSeq();
    await h.advance(600_000, 5000);
    // Automatic retries ran (start-first), and the old container was never stopped.
    const retries = h.journalSince(seq).filter((e) => e.by === 'gitdock' && e.op === 'create');
    expect(retries.length).toBeGreaterThan(0);
    // The first attempt (the push) stopped it, as stop-first does; no retry ever did.
    expect(h.journalSince(seq).filter((e) => e.id === oldId && e.op === 'stop')).toEqual([]);
    expect(h.engine.container('web')?.id).toBe(oldId);
    expect(h.status().services.find((s) => s.name === 'web')?.sync).toBe('Failed');
    await h.stop();
  });

  it('an explicit retry of a failed release tries once more, then holds again', async () => {
    const h = new AgentHarness();
    h.pushReleases({ web: 'v1', cache: 'v1' });
    h.start();
    await h.settle();
    h.pushReleases({ web: 'crash', cache: 'v1' });
    await h.settle();
    const seq = h.lastSeq();
    expect(h.agent.requestRetry(['web'])).toEqual(['web']);
    await h.settle();
    expect(h.journalSince(seq).filter((e) => e.by === 'gitdock' && e.op === 'create')).toHaveLength(
      1,
    );
    const again = h.lastSeq();
    await h.advance(300_000, 5000);
    expect(h.journalSince(again).filter((e) => e.by === 'gitdock')).toEqual([]);
    await h.stop();
  });

  it('a failing pull is retried with a growing backoff, touching nothing', async () => {
    const h = new AgentHarness();
    h.pushReleases({ web: 'v1', cache: 'v1' });
    h.start();
    await h.settle();
    const seq = h.lastSeq();
    const before = h.engine.callCount('pullImage');
    h.pushReleases({ web: 'missing', cache: 'v1' });
    await h.advance(300_000, 1000);
    const pulls = h.engine.callCount('pullImage') - before;
    const touched = h.journalSince(seq).filter((e) => e.by === 'gitdock' && e.op !== 'pull');
    // 5 s, 10 s, 20 s, 40 s, then a minute: 8 tries in 5 minutes, not 60.
    expect(pulls).toBeGreaterThanOrEqual(6);
    expect(pulls).toBeLessThanOrEqual(10);
    // Each retry pulls afresh (it waits for its pull), never reuses an old failure.
    const retries = h.passes.filter((p) => p.trigger.includes('held spec due'));
    expect(retries.length).toBeGreaterThanOrEqual(5);
    expect(retries.map((p) => p.result)).toEqual(retries.map(() => 'waiting'));
    expect(touched).toEqual([]);
    const web = h.status().services.find((s) => s.name === 'web');
    expect(web?.reason).toMatch(/^GITDOCK_E_PULL_FAILED: failed [4-9] times/);
    await h.stop();
  });

  it('a stalled pull holds up its own service only: a heal, a fix and a stop do not wait for it', async () => {
    const h = new AgentHarness();
    h.pushReleases({ web: 'v1', cache: 'v1' });
    h.start();
    await h.settle();
    const oldWeb = h.engine.container('web')!.id;
    h.engine.stallPulls(`${REGISTRY}/app:v3`);
    h.pushReleases({ web: 'v3', cache: 'v1' });
    await h.advance(2000);
    expect(h.status().services.find((s) => s.name === 'web')?.reason).toMatch(/pulling/);
    expect(h.status().running).toBeNull();
    // A hand stop of cache is healed while web's pull stalls.
    await h.engine.userStop('cache', { timeoutMs: 0 });
    await h.advance(2000);
    expect(h.engine.container('cache')?.state).toBe('running');
    // The old web keeps serving; a fix commit goes ahead and cuts the stalled pull.
    expect(h.engine.container('web')?.id).toBe(oldWeb);
    h.pushReleases({ web: 'v2', cache: 'v1' });
    await h.settle();
    expect(h.engine.container('web')?.labels['io.gitdock.image']).toBe(`${REGISTRY}/app:v2`);
    expect(h.logs.some((l) => l.msg === 'image pull cut')).toBe(true);
    // Stopping while a pull stalls returns at once.
    h.engine.stallPulls(`${REGISTRY}/app:v1`);
    h.engine.removeImage(`${REGISTRY}/app:v1`);
    h.pushReleases({ web: 'v1', cache: 'v1' });
    await h.advance(1000);
    await h.stop();
  });

  it('an invalid commit pushed while a heal is under way does not undo the heal', async () => {
    const h = new AgentHarness();
    h.pushReleases({ web: 'v1', cache: 'v1' });
    h.start();
    await h.settle();
    void h.engine.userRemove('web');
    // The heal's new container is up and in its settle time...
    await h.advance(400, 50);
    const healed = h.engine.container('web');
    expect(healed?.state).toBe('running');
    const seq = h.lastSeq();
    h.pushInvalid();
    await h.settle();
    // ...and stays: no gitdock call at all after the invalid push.
    expect(h.journalSince(seq).filter((e) => e.by === 'gitdock')).toEqual([]);
    expect(h.engine.container('web')?.id).toBe(healed?.id);
    expect(h.status().errors.some((e) => e.code === 'GITDOCK_E_INVALID_MANIFESTS')).toBe(true);
    await h.stop();
  });

  it('one push makes one pass: the agent runs none for the events of its own calls', async () => {
    const h = new AgentHarness();
    h.pushReleases({ web: 'v1', cache: 'v1' });
    h.start();
    await h.settle();
    const before = h.passes.length;
    h.pushReleases({ web: 'v2', cache: 'v1' });
    await h.settle();
    const after = h.passes.slice(before);
    // One pass at the push; the pull finishing in the background brings the second.
    expect(after.map((p) => p.trigger).filter((t) => t.startsWith('engine:'))).toEqual([]);
    expect(after.length).toBeLessThanOrEqual(2);
    expect(h.status().lastReconcile?.trigger).toMatch(/^(git:|image )/);
    await h.stop();
  });

  it('a burst of commits stops each service at most twice and converges on the last', async () => {
    const h = new AgentHarness();
    h.pushReleases({ web: 'v1', cache: 'v1' });
    h.start();
    await h.settle();
    const seq = h.lastSeq();
    const releases: Release[] = ['v2', 'v3', 'v1', 'v2', 'v3', 'v1', 'v2'];
    for (const r of releases) {
      h.pushReleases({ web: r, cache: r });
      await h.advance(400, 100);
    }
    await h.settle();
    for (const svc of SERVICES) {
      const stops = h
        .journalSince(seq)
        .filter((e) => e.by === 'gitdock' && e.op === 'stop' && e.name === svc);
      expect(stops.length, `${svc} stopped`).toBeLessThanOrEqual(2);
      expect(h.engine.container(svc)?.labels['io.gitdock.image']).toBe(`${REGISTRY}/app:v2`);
    }
    expect(h.logs.filter((l) => l.level === 'error' && l.msg === 'service failed')).toEqual([]);
    await h.stop();
  });
});
