// Releases by waves (gitdock.yaml `rollout`), each host an agent on its own
// FakeEngine, all sharing one fake clock and one in-memory fleet repo that
// carries their reports. Hand-picked sequences first (in order, halted by a
// failure, a revert, a newer commit mid-wave, a soak, a host down, the rule
// in force), then random sequences checked against the gate's promise.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FleetHarness,
  type FleetRelease,
  serviceManifest,
  WAVE_POLL_MS,
} from './support/fleet-harness.js';

const MINUTE = 60_000;
let fleet: FleetHarness | undefined;

afterEach(async () => {
  if (!fleet) return;
  for (const [name, host] of fleet.hosts) if (host.agent) await fleet.stop(name);
  fleet = undefined;
});

function make(hosts: string[], rollout?: string): FleetHarness {
  fleet = new FleetHarness({ hosts, ...(rollout ? { rollout } : {}) });
  return fleet;
}

/** Brings every host to `release` (no waves in the way yet: the first commit). */
async function deployed(f: FleetHarness, release: FleetRelease): Promise<string> {
  const commit = f.push(release);
  f.startAll();
  await f.until(
    () => [...f.hosts.keys()].every((h) => f.applied(h) === commit),
    2 * MINUTE,
    `every host applies ${release}`,
  );
  return commit;
}

describe('waves: in order', () => {
  it('applies a commit on the first wave, then on the next within a poll of its report', async () => {
    const f = make(['a', 'b', 'c'], '  waves: [[a], [b, c]]');
    await deployed(f, 'v1');
    const early: string[] = [];
    f.onStep = async () => {
      for (const h of ['b', 'c'])
        if (f.applied('a') !== c2 && (await f.tags(h)).includes('v2')) early.push(h);
    };
    const c2 = f.push('v2');
    await f.until(() => f.applied('a') === c2, MINUTE, 'a applies v2');
    expect(early).toEqual([]);
    const aAt = f.repo.refLog.find((w) => w.ref.endsWith('/a') && w.commit === c2)!.at;
    // b and c ran v1 until a had applied v2.
    expect(f.repo.refLog.filter((w) => w.commit === c2 && w.at < aAt)).toEqual([]);
    await f.until(() => f.applied('b') === c2 && f.applied('c') === c2, MINUTE, 'b and c apply v2');
    for (const h of ['b', 'c']) {
      expect(await f.runningTag(h)).toBe('v2');
      const at = f.repo.refLog.find((w) => w.ref.endsWith(`/${h}`) && w.commit === c2)!.at;
      // One poll (2 s), the pull (0.3 s), the settle (0.5 s) and the report.
      expect(at - aAt).toBeLessThan(WAVE_POLL_MS + 3_000);
    }
  });

  it('says, while it waits, which host of which wave holds it up', async () => {
    const f = make(['a', 'b', 'c'], '  waves: [[a], [b], [c]]');
    await deployed(f, 'v1');
    await f.stop('a');
    const c2 = f.push('v2');
    await f.advance(10_000);
    const rollout = f.status('c').rollout;
    expect(rollout).toMatchObject({
      commit: c2,
      wave: 3,
      waves: 3,
      state: 'waiting',
      blockers: [
        { host: 'a', wave: 1, state: 'pending', applied: expect.any(String) },
        { host: 'b', wave: 2, state: 'pending' },
      ],
    });
    expect(f.status('c').lastReconcile?.result).toBe('gated');
    expect(await f.runningTag('c')).toBe('v1');
  });
});

describe('waves: halted by a failure', () => {
  it('a release that fails on wave 1 reaches no later host; a revert moves everyone on', async () => {
    const f = make(['a', 'b', 'c'], '  waves: [[a], [b, c]]');
    await deployed(f, 'v1');
    const bad = f.push('crash');
    await f.until(() => f.failed('a') === bad, MINUTE, 'a reports its failure');
    await f.advance(2 * MINUTE);
    for (const h of ['b', 'c']) {
      expect(await f.tags(h)).toEqual(['v1']);
      expect(f.status(h).rollout).toMatchObject({
        commit: bad,
        state: 'halted',
        blockers: [{ host: 'a', state: 'failed' }],
      });
    }
    // a keeps serving v1: the failed container was undone.
    expect(await f.runningTag('a')).toBe('v1');
    const revert = f.push('v1');
    await f.until(
      () => ['a', 'b', 'c'].every((h) => f.applied(h) === revert),
      MINUTE,
      'every host applies the revert',
    );
    for (const h of ['b', 'c']) expect(f.status(h).rollout).toBeNull();
  });
});

describe('waves: what halts a release', () => {
  it('an image wave 1 cannot pull halts the later waves, which pull nothing of it', async () => {
    const f = make(['a', 'b'], '  waves: [[a], [b]]');
    await deployed(f, 'v1');
    const bad = f.push('missing');
    await f.until(() => f.failed('a') === bad, MINUTE, 'a reports its failed pull');
    await f.advance(MINUTE);
    expect(f.status('b').rollout).toMatchObject({ state: 'halted', blockers: [{ host: 'a' }] });
    expect(f.pulls('b').filter((ref) => ref.endsWith(':missing'))).toEqual([]);
    expect(await f.runningTag('a')).toBe('v1');
  });

  it('a waiting host pulls the waiting images once, not at every poll', async () => {
    const f = make(['a', 'b'], '  waves: [[a], [b]]');
    await deployed(f, 'v1');
    await f.stop('a');
    // An image that cannot be pulled: a pull at every poll would show.
    const before = f.pullCalls('b');
    f.push('missing');
    await f.advance(2 * MINUTE);
    expect(f.status('b').rollout?.state).toBe('waiting');
    expect(f.pullCalls('b') - before).toBe(1);
    expect(await f.runningTag('b')).toBe('v1');
  });

  it('a host that failed half way keeps what it began while a newer commit waits: no rollback', async () => {
    const f = make(['a', 'b'], '  waves: [[a], [b]]');
    await deployed(f, 'v1');
    // On b, web moves to v2 and a second service crashes: b fails half way at c2.
    const c2 = f.push('v2', { 'hosts/b/api.yaml': serviceManifest('crash') });
    await f.until(() => f.applied('a') === c2, MINUTE, 'a applies c2');
    await f.until(() => f.failed('b') === c2, MINUTE, 'b fails at c2');
    expect(await f.runningTag('b')).toBe('v2');
    await f.stop('a');
    f.push('v3', { 'hosts/b/api.yaml': serviceManifest('crash') });
    await f.advance(MINUTE);
    expect(f.status('b').rollout?.state).toBe('waiting');
    expect(await f.tags('b')).toEqual(['v2']);
  });
});

describe('waves: a newer commit mid-wave', () => {
  it('hosts finish the commit they began; the newer one starts again at wave 1; a host that never began the older one skips it', async () => {
    const f = make(['a', 'b', 'c'], '  waves: [[a], [b], [c]]');
    await deployed(f, 'v1');
    const seen = new Map<string, Set<string>>();
    f.onStep = async () => {
      for (const h of ['a', 'b', 'c']) {
        const tags = seen.get(h) ?? new Set();
        for (const t of await f.tags(h)) tags.add(t);
        seen.set(h, tags);
      }
    };
    const c2 = f.push('v2');
    await f.until(() => f.applied('a') === c2, MINUTE, 'a applies v2');
    // b begins v2 (its gate opened): push v3 while b replaces.
    await f.until(async () => (await f.tags('b')).includes('v2'), MINUTE, 'b begins v2');
    const c3 = f.push('v3');
    await f.until(() => f.applied('b') === c2, MINUTE, 'b finishes v2');
    await f.until(
      () => ['a', 'b', 'c'].every((h) => f.applied(h) === c3),
      2 * MINUTE,
      'every host applies v3',
    );
    expect(seen.get('c')?.has('v2')).toBe(false);
    // The order held for v3 too.
    const at = (h: string) =>
      f.repo.refLog.find((w) => w.ref === `refs/gitdock/applied/${h}` && w.commit === c3)!.at;
    expect(at('a')).toBeLessThanOrEqual(at('b'));
    expect(at('b')).toBeLessThanOrEqual(at('c'));
  });
});

describe('waves: soak', () => {
  it('a later wave waits out the soak from the moment it sees the gate open', async () => {
    const f = make(['a', 'b'], '  waves: [[a], [b]]\n  soak: 30s');
    await deployed(f, 'v1');
    const c2 = f.push('v2');
    await f.until(() => f.applied('a') === c2, MINUTE, 'a applies v2');
    const aAt = f.clock.now();
    await f.until(() => f.status('b').rollout?.state === 'soaking', 10_000, 'b soaks');
    await f.until(() => f.applied('b') === c2, 2 * MINUTE, 'b applies v2');
    const waited = f.clock.now() - aAt;
    expect(waited).toBeGreaterThanOrEqual(30_000);
    expect(waited).toBeLessThan(30_000 + WAVE_POLL_MS + 3_000);
  });
});

describe('waves: a host that is down', () => {
  it('holds the later waves by default (down_hosts: wait)', { timeout: 60_000 }, async () => {
    const f = make(['a', 'b'], '  waves: [[a], [b]]');
    await deployed(f, 'v1');
    await f.stop('a');
    f.push('v2');
    await f.advance(20 * MINUTE, 1000);
    expect(await f.runningTag('b')).toBe('v1');
    expect(f.status('b').rollout?.blockers).toMatchObject([{ host: 'a', state: 'pending' }]);
  });

  it('with down_hosts: skip, goes on without it after down_after', async () => {
    const f = make(['a', 'b'], '  waves: [[a], [b]]\n  down_hosts: skip\n  down_after: 2m');
    await deployed(f, 'v1');
    await f.stop('a');
    const c2 = f.push('v2');
    const start = f.clock.now();
    await f.until(() => f.applied('b') === c2, 5 * MINUTE, 'b applies v2 without a');
    expect(f.clock.now() - start).toBeGreaterThanOrEqual(2 * MINUTE);
    expect(f.logs.some((l) => l.host === 'b' && /never reported/.test(l.msg))).toBe(true);
  });

  it('a host that comes back catches up, and the wave after it follows', async () => {
    const f = make(['a', 'b'], '  waves: [[a], [b]]');
    await deployed(f, 'v1');
    await f.stop('a');
    const c2 = f.push('v2');
    await f.advance(MINUTE);
    f.start('a');
    await f.until(() => f.applied('b') === c2, MINUTE, 'b applies v2 after a');
  });
});

describe('waves: the rule in force', () => {
  it('is the one of the commit the host runs: a commit cannot switch off its own gate', async () => {
    const f = make(['a', 'b'], '  waves: [[a], [b]]');
    await deployed(f, 'v1');
    await f.stop('a');
    f.setRollout(undefined);
    const c2 = f.push('v2');
    await f.advance(2 * MINUTE);
    expect(await f.runningTag('b')).toBe('v1');
    f.start('a');
    await f.until(() => f.applied('b') === c2, MINUTE, 'b applies v2 once a has');
    // From c2 on there is no rule: the next commit goes everywhere at once.
    await f.stop('a');
    const c3 = f.push('v3');
    await f.until(() => f.applied('b') === c3, MINUTE, 'b applies v3 with a down');
  });

  it('a restarted agent takes the rule of what it runs from its own applied ref', async () => {
    const f = make(['a', 'b'], '  waves: [[a], [b]]');
    await deployed(f, 'v1');
    await f.stop('a');
    await f.stop('b');
    f.setRollout(undefined);
    f.push('v2');
    f.start('b');
    await f.advance(MINUTE);
    expect(await f.runningTag('b')).toBe('v1');
    expect(f.status('b').rollout?.state).toBe('waiting');
  });
});

type Step =
  | { t: 'push'; release: FleetRelease }
  | { t: 'stop'; host: string }
  | { t: 'start'; host: string }
  | { t: 'wait'; ms: number };

const HOSTS = ['a', 'b', 'c'];
const WAVES = [['a'], ['b'], ['c']];
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('push' as const),
      release: fc.constantFrom<FleetRelease>('v2', 'v3', 'v4', 'crash', 'v1'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('stop' as const), host: fc.constantFrom(...HOSTS) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('start' as const), host: fc.constantFrom(...HOSTS) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('wait' as const),
      ms: fc.constantFrom(500, 3000, 20_000),
    }),
  },
);

describe('waves: random sequences', () => {
  it('no host runs a release before every earlier wave applied it; in the end all converge', async () => {
    const seed = Number(process.env.GITDOCK_WAVES_SEED ?? Date.now() % 1_000_000);
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 3, maxLength: 10 }), async (steps) => {
        const f = make(HOSTS, '  waves: [[a], [b], [c]]');
        try {
          await deployed(f, 'v1');
          // Releases each host may run: those it ran before, and those of
          // commits every host of the earlier waves had applied.
          const allowed = new Map(HOSTS.map((h) => [h, new Set<string>(['v1'])]));
          f.onStep = async () => {
            for (const [i, wave] of WAVES.entries()) {
              for (const h of wave) {
                const earlier = WAVES.slice(0, i).flat();
                for (const [commit, release] of f.repo.releaseOf)
                  if (earlier.every((e) => f.applied(e) === commit || ranBefore(f, e, commit)))
                    allowed.get(h)!.add(release);
                for (const tag of await f.tags(h))
                  if (!allowed.get(h)!.has(tag))
                    throw new Error(`${h} runs ${tag} before the earlier waves applied it`);
              }
            }
          };
          for (const s of steps) {
            if (s.t === 'push') f.push(s.release);
            else if (s.t === 'stop' && f.hosts.get(s.host)!.agent) await f.stop(s.host);
            else if (s.t === 'start' && !f.hosts.get(s.host)!.agent) f.start(s.host);
            else if (s.t === 'wait') await f.advance(s.ms);
          }
          for (const h of HOSTS) if (!f.hosts.get(h)!.agent) f.start(h);
          const last = f.push('v4');
          await f.until(
            () => HOSTS.every((h) => f.applied(h) === last),
            5 * MINUTE,
            'every host applies the last commit',
          );
        } finally {
          f.onStep = undefined;
          for (const [name, host] of f.hosts) if (host.agent) await f.stop(name);
          fleet = undefined;
        }
      }),
      { numRuns: Number(process.env.GITDOCK_WAVES_RUNS ?? 12), seed, endOnFailure: true },
    );
  }, 120_000);
});

/** Whether the host has ever reported `commit` applied. */
function ranBefore(f: FleetHarness, host: string, commit: string): boolean {
  return f.repo.refLog.some((w) => w.ref === `refs/gitdock/applied/${host}` && w.commit === commit);
}
