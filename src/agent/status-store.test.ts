import { describe, expect, it } from 'vitest';
import type { ServiceStatus } from '../core/agent-status.js';
import { desiredService, hostState } from '../core/test-fixtures.js';
import type { PassWork } from './loop.js';
import type { PassResult } from './reconcile-pass.js';
import { StatusStore } from './status-store.js';

const C1 = '1111111111111111111111111111111111111111';
const C2 = '2222222222222222222222222222222222222222';
const C3 = '3333333333333333333333333333333333333333';
const T0 = Date.UTC(2026, 0, 1);
const web = desiredService('web');

const HEALTHY: ServiceStatus = {
  name: 'web',
  sync: 'Synced',
  health: 'Healthy',
  desiredImage: web.imageRef,
  runningImage: web.imageRef,
  containerId: 'abc',
  commit: C1,
};

function store(init: Partial<ConstructorParameters<typeof StatusStore>[0]> = {}): StatusStore {
  return new StatusStore({
    host: 'web-1',
    branch: 'main',
    source: '/srv/fleet.git',
    watched: true,
    ...init,
  });
}

function work(reasons: string[], since = T0): PassWork {
  return { reasons, fetch: false, since, signal: new AbortController().signal };
}

function result(overrides: Partial<PassResult> = {}): PassResult {
  const commit = overrides.commit === undefined ? C1 : overrides.commit;
  return {
    result: 'success',
    commit,
    target: commit === null ? undefined : hostState([web], { commit }),
    acted: false,
    errors: [],
    services: [{ ...HEALTHY, commit: commit ?? C1 }],
    engine: { reachable: true },
    transient: false,
    fetchFailed: false,
    ...overrides,
  };
}

/** A pass that started at `at` and took a second. */
function finish(s: StatusStore, w: PassWork, r: PassResult, at: number) {
  s.passStarted(w, at);
  return s.passFinished(w, r, { startedAt: at, finishedAt: at + 1_000 });
}

describe('StatusStore: initial state', () => {
  it('starts with nothing known, engine and git assumed reachable', () => {
    const s = store({ appliedRef: 'refs/gitdock/applied/web-1' });
    expect(s.status).toEqual({
      host: 'web-1',
      branch: 'main',
      source: '/srv/fleet.git',
      desiredCommit: null,
      servicesCommit: null,
      lastAttemptedCommit: null,
      lastAppliedCommit: null,
      lastReconcile: null,
      running: null,
      nextPassAt: null,
      engine: { reachable: true },
      git: { reachable: true },
      watch: { watching: false },
      appliedRef: { ref: 'refs/gitdock/applied/web-1', reportedCommit: null },
      errors: [],
      services: [],
    });
  });

  it('a remote (not watched) has no watch, and no appliedRef without one asked', () => {
    const s = store({ watched: false });
    expect(s.status).not.toHaveProperty('watch');
    expect(s.status).not.toHaveProperty('appliedRef');
  });
});

describe('StatusStore: lastReconcile says what the user last did', () => {
  it('a routine resync pass that changes nothing does not replace lastReconcile', () => {
    const s = store();
    expect(
      finish(s, work(['git: refs/heads/main changed']), result({ acted: true }), T0).news,
    ).toBe(true);
    const after = structuredClone(s.status.lastReconcile);
    expect(after).toEqual({
      startedAt: new Date(T0).toISOString(),
      finishedAt: new Date(T0 + 1_000).toISOString(),
      result: 'success',
      trigger: 'git: refs/heads/main changed',
      commit: C1,
    });
    for (const reasons of [
      ['periodic resync'],
      ['looking again'],
      ['periodic resync', 'retry after failure'],
    ]) {
      const { news } = finish(s, work(reasons), result(), T0 + 60_000);
      expect(news).toBe(false);
      expect(s.status.lastReconcile).toEqual(after);
    }
  });

  it('a push-triggered pass replaces it even when it changes nothing', () => {
    const s = store();
    finish(s, work(['startup']), result({ acted: true }), T0);
    const { news } = finish(s, work(['git: refs/heads/main changed']), result(), T0 + 5_000);
    expect(news).toBe(true);
    expect(s.status.lastReconcile).toMatchObject({
      startedAt: new Date(T0 + 5_000).toISOString(),
      trigger: 'git: refs/heads/main changed',
      result: 'success',
    });
  });

  it('a routine pass that coalesced a user trigger is news', () => {
    const s = store();
    finish(s, work(['startup']), result(), T0);
    expect(finish(s, work(['periodic resync', 'engine: die web']), result(), T0 + 1).news).toBe(
      true,
    );
    expect(s.status.lastReconcile?.trigger).toBe('periodic resync, engine: die web');
  });

  it.each<[string, Partial<PassResult>]>([
    ['it acted (healed drift)', { acted: true }],
    ['its result differs', { result: 'failure' }],
    ['it found a new commit (a fetch on resync)', { commit: C2 }],
  ])('a routine pass is news when %s', (_what, overrides) => {
    const s = store();
    finish(s, work(['startup']), result(), T0);
    const { news } = finish(s, work(['periodic resync']), result(overrides), T0 + 60_000);
    expect(news).toBe(true);
    expect(s.status.lastReconcile).toMatchObject({
      trigger: 'periodic resync',
      startedAt: new Date(T0 + 60_000).toISOString(),
    });
  });

  it('the first pass is always news, routine or not', () => {
    const s = store();
    expect(finish(s, work(['periodic resync']), result(), T0).news).toBe(true);
    expect(s.status.lastReconcile?.trigger).toBe('periodic resync');
  });

  it('the rest of the status is updated by a routine pass all the same', () => {
    const s = store();
    finish(s, work(['git: push']), result(), T0);
    const degraded = { ...HEALTHY, health: 'Degraded' as const, reason: 'exited (exit code 1)' };
    finish(s, work(['periodic resync']), result({ services: [degraded], errors: [] }), T0 + 60_000);
    expect(s.status.services).toEqual([degraded]);
    expect(s.status.running).toBeNull();
  });
});

describe('StatusStore: the engine', () => {
  it('engine lost: services keep their sync, health becomes Unknown, with the reason', () => {
    const s = store();
    finish(s, work(['startup']), result(), T0);
    s.setEngine(false, 'connect ENOENT /var/run/docker.sock', T0 + 10_000);
    expect(s.status.engine).toEqual({
      reachable: false,
      error: 'connect ENOENT /var/run/docker.sock',
      since: new Date(T0 + 10_000).toISOString(),
    });
    expect(s.status.services).toEqual([
      {
        ...HEALTHY,
        health: 'Unknown',
        reason: 'engine unreachable: connect ENOENT /var/run/docker.sock',
      },
    ]);
    // Said again, nothing moves: `since` is when it was lost.
    s.setEngine(false, 'connect ENOENT /var/run/docker.sock', T0 + 20_000);
    expect(s.status.engine.since).toBe(new Date(T0 + 10_000).toISOString());
  });

  it('a pass that could not reach the engine leaves the last services, health Unknown', () => {
    const s = store();
    finish(s, work(['startup']), result(), T0);
    finish(
      s,
      work(['periodic resync']),
      result({
        result: 'failure',
        services: undefined,
        engine: { reachable: false, error: 'connect ECONNREFUSED' },
        transient: true,
      }),
      T0 + 60_000,
    );
    expect(s.status.engine.reachable).toBe(false);
    expect(s.status.services.map((x) => [x.name, x.sync, x.health])).toEqual([
      ['web', 'Synced', 'Unknown'],
    ]);
    expect(s.status.services[0]!.reason).toBe('engine unreachable: connect ECONNREFUSED');
  });

  it('engine back: reachable, no error; the next pass brings health back', () => {
    const s = store();
    finish(s, work(['startup']), result(), T0);
    s.setEngine(false, 'gone', T0 + 1);
    s.setEngine(true, undefined, T0 + 2);
    expect(s.status.engine).toEqual({ reachable: true, since: new Date(T0 + 2).toISOString() });
    finish(s, work(['engine reachable again']), result(), T0 + 3);
    expect(s.status.services[0]!.health).toBe('Healthy');
    expect(s.status.services[0]).not.toHaveProperty('reason');
  });
});

describe('StatusStore: commits and convergence', () => {
  it('convergedAfterMs only on reaching a new commit, measured from the trigger', () => {
    const s = store();
    // First convergence at C1: from the trigger (since) to the end of the pass.
    expect(finish(s, work(['startup'], T0 - 500), result({ acted: true }), T0)).toEqual({
      news: true,
      convergedAfterMs: 1_500,
    });
    expect(s.status.lastAppliedCommit).toBe(C1);
    // Still C1: no convergence to report.
    expect(
      finish(s, work(['periodic resync']), result(), T0 + 60_000).convergedAfterMs,
    ).toBeUndefined();
    expect(finish(s, work(['git: push']), result(), T0 + 61_000).convergedAfterMs).toBeUndefined();
    expect(
      finish(s, work(['engine: die web']), result({ acted: true }), T0 + 62_000).convergedAfterMs,
    ).toBeUndefined();
    // C2 pushed: preempted, then failed, then converged.
    const since = T0 + 100_000;
    for (const kind of ['preempted', 'failure'] as const) {
      const r = finish(s, work(['git: push'], since), result({ commit: C2, result: kind }), since);
      expect(r.convergedAfterMs).toBeUndefined();
    }
    expect(s.status.lastAppliedCommit).toBe(C1);
    expect(s.status.lastAttemptedCommit).toBe(C2);
    const reached = finish(
      s,
      work(['retry asked for web'], since),
      result({ commit: C2, acted: true }),
      since + 30_000,
    );
    expect(reached.convergedAfterMs).toBe(31_000);
    expect(s.status.lastAppliedCommit).toBe(C2);
    expect(
      finish(s, work(['periodic resync']), result({ commit: C2 }), since + 90_000).convergedAfterMs,
    ).toBeUndefined();
  });

  it('the applied commit reached again after another was attempted (a force-push back) converges', () => {
    const s = store();
    finish(s, work(['startup']), result(), T0);
    finish(s, work(['git: push']), result({ commit: C2, result: 'failure' }), T0 + 10_000);
    const back = finish(s, work(['git: push'], T0 + 20_000), result({ acted: true }), T0 + 20_000);
    expect(back.convergedAfterMs).toBe(1_000);
    expect(s.status).toMatchObject({ lastAttemptedCommit: C1, lastAppliedCommit: C1 });
  });

  it('keeps the last attempted commit apart from the last applied one', () => {
    const s = store();
    finish(s, work(['startup']), result(), T0);
    finish(
      s,
      work(['git: push']),
      result({
        commit: C2,
        result: 'failure',
        errors: [{ code: 'GITDOCK_E_ROLLOUT_FAILED', message: 'web: exited', service: 'web' }],
      }),
      T0 + 1_000,
    );
    expect(s.status).toMatchObject({
      desiredCommit: C2,
      servicesCommit: C2,
      lastAttemptedCommit: C2,
      lastAppliedCommit: C1,
      errors: [{ code: 'GITDOCK_E_ROLLOUT_FAILED', message: 'web: exited', service: 'web' }],
    });
    expect(s.status.lastReconcile).toMatchObject({ result: 'failure', commit: C2 });
  });

  it('an invalid commit is attempted, never applied; services stay computed against the last valid one', () => {
    const s = store();
    finish(s, work(['startup']), result(), T0);
    finish(
      s,
      work(['git: push']),
      result({
        commit: C3,
        result: 'invalid',
        target: hostState([web], { commit: C1 }),
        errors: [{ code: 'GITDOCK_E_INVALID_MANIFESTS', message: 'bad', file: 'a.yaml' }],
      }),
      T0 + 1_000,
    );
    expect(s.status).toMatchObject({
      desiredCommit: C3,
      servicesCommit: C1,
      lastAttemptedCommit: C3,
      lastAppliedCommit: C1,
    });
    expect(s.status.errors.map((e) => e.code)).toEqual(['GITDOCK_E_INVALID_MANIFESTS']);
  });

  it('errors are those of the last pass', () => {
    const s = store();
    finish(
      s,
      work(['startup']),
      result({ result: 'failure', errors: [{ code: 'GITDOCK_E_PULL_FAILED', message: 'x' }] }),
      T0,
    );
    finish(s, work(['image pulled']), result(), T0 + 1);
    expect(s.status.errors).toEqual([]);
  });
});

describe('StatusStore: running pass, next pass, git, watch, applied ref', () => {
  it('shows the pass in flight and its age, then clears it', () => {
    const s = store();
    const w = work(['git: push', 'engine: die web']);
    s.passStarted(w, T0);
    s.tick(T0 + 2_500, T0 + 60_000);
    expect(s.status.running).toEqual({
      startedAt: new Date(T0).toISOString(),
      runningForMs: 2_500,
      trigger: 'git: push, engine: die web',
    });
    expect(s.status.nextPassAt).toBe(new Date(T0 + 60_000).toISOString());
    s.passFinished(w, result(), { startedAt: T0, finishedAt: T0 + 3_000 });
    expect(s.status.running).toBeNull();
    s.tick(T0 + 4_000, Number.POSITIVE_INFINITY);
    expect(s.status.nextPassAt).toBeNull();
    s.tick(T0 + 4_000, undefined);
    expect(s.status.nextPassAt).toBeNull();
  });

  it('records git: a fetch, then a failed one that keeps the last fetch time', () => {
    const s = store({ watched: false });
    finish(s, work(['startup']), result({ git: { reachable: true, fetchedAt: T0 } }), T0);
    expect(s.status.git).toEqual({ reachable: true, lastFetchAt: new Date(T0).toISOString() });
    finish(
      s,
      work(['periodic resync']),
      result({
        git: { reachable: false, error: 'ECONNRESET' },
        fetchFailed: true,
        transient: true,
      }),
      T0 + 60_000,
    );
    expect(s.status.git).toEqual({
      reachable: false,
      error: 'ECONNRESET',
      lastFetchAt: new Date(T0).toISOString(),
    });
  });

  it('records the watch and the applied ref', () => {
    const s = store({ appliedRef: 'refs/gitdock/applied/web-1' });
    s.setWatch(false, 'ENOENT', T0);
    expect(s.status.watch).toEqual({
      watching: false,
      error: 'ENOENT',
      since: new Date(T0).toISOString(),
    });
    s.setWatch(true, undefined, T0 + 1);
    expect(s.status.watch).toEqual({ watching: true, since: new Date(T0 + 1).toISOString() });
    s.setAppliedRef({ reportedCommit: C1 });
    s.setAppliedRef({ error: 'push rejected' });
    expect(s.status.appliedRef).toEqual({
      ref: 'refs/gitdock/applied/web-1',
      reportedCommit: C1,
      error: 'push rejected',
    });
    s.setAppliedRef({ reportedCommit: C2 });
    expect(s.status.appliedRef).toEqual({ ref: 'refs/gitdock/applied/web-1', reportedCommit: C2 });
  });
});

describe('StatusStore: values from the host-local env file', () => {
  it('are masked in the errors and services of a pass', () => {
    const secret = 'hunter2-Secret';
    const s = store();
    finish(
      s,
      work(['startup']),
      result({
        result: 'failure',
        target: hostState([{ ...web, secretValues: [secret] }], { commit: C1 }),
        errors: [
          {
            code: 'GITDOCK_E_ROLLOUT_FAILED',
            message: `web: exited with code 1\n  last log lines:\n    pw ${secret}`,
          },
        ],
        services: [{ ...HEALTHY, reason: `failed: ${secret}` }],
      }),
      T0,
    );
    expect(s.status.errors[0]!.message).toBe(
      'web: exited with code 1\n  last log lines:\n    pw ***',
    );
    expect(s.status.services[0]!.reason).toBe('failed: ***');
  });
});
