import { describe, expect, it } from 'vitest';
import { desiredService } from '../core/test-fixtures.js';
import type { DesiredService } from '../core/types.js';
import { describeHold, type Hold, type HoldKind, type HoldPolicy, Holds } from './holds.js';

const web = desiredService('web');
const webV2 = desiredService('web', { spec: { tag: '2.0' } });
const db = desiredService('db');
/** Publishes a fixed host port: old and new cannot run side by side. */
const proxy = desiredService('proxy', {
  spec: { ports: [{ containerPort: 80, protocol: 'tcp', hostPort: 8080 }] },
});
/** Exposes a port without publishing it: start-first is possible. */
const exposed = desiredService('exposed', {
  spec: { ports: [{ containerPort: 80, protocol: 'tcp' }] },
});

const TRANSIENT = { baseMs: 1_000, capMs: 4_000 };
const ROLLOUT = { baseMs: 60_000, capMs: 240_000 };
const COMMIT = 'c0ffee0000000000000000000000000000000000';

function fail(
  holds: Holds,
  desired: DesiredService,
  now: number,
  kind: HoldKind = 'rollout',
  extra: Partial<Hold> = {},
): void {
  holds.recordFailure(
    {
      service: desired.name,
      specHash: desired.specHash,
      commit: COMMIT,
      kind,
      code: kind === 'rollout' ? 'GITDOCK_E_ROLLOUT_FAILED' : 'GITDOCK_E_PULL_FAILED',
      reason: kind === 'rollout' ? 'web exited with code 1' : 'cannot pull',
      ...extra,
    },
    now,
    desired,
  );
}

function holdsWith(policy: Partial<HoldPolicy> = {}): Holds {
  return new Holds({ transient: TRANSIENT, ...policy });
}

describe('Holds: a failed rollout, by default', () => {
  it('holds with no automatic retry: verdict hold forever, no next retry time', () => {
    const holds = holdsWith();
    fail(holds, web, 0);
    for (const now of [0, 1, 60_000, 3_600_000, 1e12]) {
      const verdict = holds.verdict(web, now);
      expect(verdict.type).toBe('hold');
      expect(holds.nextRetryAt(now)).toBeUndefined();
    }
    const hold = holds.get('web', web.specHash)!;
    expect(hold.retryAt).toBeUndefined();
    expect(hold.noRetry).toBe('not retried on its own');
  });

  it('says why and how to move on', () => {
    const holds = holdsWith();
    fail(holds, web, 0);
    const verdict = holds.verdict(web, 5_000);
    expect(verdict).toEqual({
      type: 'hold',
      reason:
        'GITDOCK_E_ROLLOUT_FAILED: failed 1 time at c0ffee000000 (web exited with code 1); not retried on its own; push a fix (or git revert), or retry it explicitly',
    });
  });

  it('runs a service whose spec is not the one held (a new commit)', () => {
    const holds = holdsWith();
    fail(holds, web, 0);
    expect(holds.verdict(webV2, 1)).toEqual({ type: 'run' });
    expect(holds.verdict(db, 1)).toEqual({ type: 'run' });
  });

  it('keeps only the first line of the reason and drops empty log lines', () => {
    const holds = holdsWith();
    fail(holds, web, 0, 'rollout', {
      reason: 'exited with code 3\n  more detail',
      lastLogLines: [],
    });
    const hold = holds.get('web', web.specHash)!;
    expect(hold.reason).toBe('exited with code 3');
    expect(hold).not.toHaveProperty('lastLogLines');
    fail(holds, web, 1, 'rollout', { lastLogLines: ['panic'] });
    expect(holds.get('web', web.specHash)!.lastLogLines).toEqual(['panic']);
  });
});

describe('Holds: a failed rollout with a rollout retry policy', () => {
  it('grants a start-first retry at retryAt, once, and sets the next time at once', () => {
    const holds = holdsWith({ rollout: ROLLOUT });
    fail(holds, web, 0);
    expect(holds.get('web', web.specHash)!.retryAt).toBe(60_000);
    expect(holds.nextRetryAt(0)).toBe(60_000);
    expect(holds.verdict(web, 59_999).type).toBe('hold');

    expect(holds.verdict(web, 60_000)).toEqual({ type: 'retry', startFirst: true });
    // Granted once: asked again at the same time, it holds; the next try is in the future.
    expect(holds.verdict(web, 60_000).type).toBe('hold');
    const next = holds.nextRetryAt(60_000);
    expect(next).toBeDefined();
    expect(next!).toBeGreaterThan(60_000);
    expect(next).toBe(120_000);
  });

  it('a retry granted late (the agent was busy) is not followed by a deadline in the past', () => {
    const holds = holdsWith({ rollout: ROLLOUT });
    fail(holds, web, 0);
    const late = 10_000_000;
    expect(holds.verdict(web, late)).toEqual({ type: 'retry', startFirst: true });
    expect(holds.nextRetryAt(late)!).toBeGreaterThan(late);
  });

  it('a retry that fails again backs off doubling, capped', () => {
    const holds = holdsWith({ rollout: ROLLOUT });
    const delays: number[] = [];
    let now = 0;
    for (let i = 0; i < 5; i++) {
      fail(holds, web, now);
      const retryAt = holds.get('web', web.specHash)!.retryAt!;
      delays.push(retryAt - now);
      now = retryAt;
      expect(holds.verdict(web, now)).toEqual({ type: 'retry', startFirst: true });
    }
    expect(delays).toEqual([60_000, 120_000, 240_000, 240_000, 240_000]);
    expect(holds.get('web', web.specHash)!.failures).toBe(5);
  });

  it('a service publishing fixed host ports is not retried on its own', () => {
    const holds = holdsWith({ rollout: ROLLOUT });
    fail(holds, proxy, 0);
    const hold = holds.get('proxy', proxy.specHash)!;
    expect(hold.retryAt).toBeUndefined();
    expect(hold.noRetry).toMatch(/fixed host ports/);
    expect(holds.verdict(proxy, 1e9).type).toBe('hold');
    expect(holds.nextRetryAt(0)).toBeUndefined();
    const verdict = holds.verdict(proxy, 1e9);
    expect(verdict.type === 'hold' && verdict.reason).toMatch(/fixed host ports/);
  });

  it('a port exposed but not published does not prevent the retry', () => {
    const holds = holdsWith({ rollout: ROLLOUT });
    fail(holds, exposed, 0);
    expect(holds.get('exposed', exposed.specHash)!.retryAt).toBe(60_000);
    expect(holds.verdict(exposed, 60_000)).toEqual({ type: 'retry', startFirst: true });
  });
});

describe('Holds: a failed pull (transient)', () => {
  it('is retried after a doubling backoff, capped, not start-first, even without a rollout policy', () => {
    const holds = holdsWith();
    const delays: number[] = [];
    let now = 0;
    for (let i = 0; i < 5; i++) {
      fail(holds, web, now, 'transient');
      const retryAt = holds.get('web', web.specHash)!.retryAt!;
      delays.push(retryAt - now);
      expect(holds.verdict(web, retryAt - 1).type).toBe('hold');
      now = retryAt;
      expect(holds.verdict(web, now)).toEqual({ type: 'retry', startFirst: false });
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 4_000, 4_000]);
  });

  it('the count starts again when the kind of failure changes', () => {
    const holds = holdsWith({ rollout: ROLLOUT });
    fail(holds, web, 0, 'transient');
    fail(holds, web, 0, 'transient');
    expect(holds.get('web', web.specHash)!.failures).toBe(2);
    fail(holds, web, 0, 'rollout');
    expect(holds.get('web', web.specHash)!.failures).toBe(1);
    expect(holds.get('web', web.specHash)!.retryAt).toBe(60_000);
  });

  it('the count starts again for a new spec', () => {
    const holds = holdsWith();
    fail(holds, web, 0, 'transient');
    fail(holds, web, 0, 'transient');
    fail(holds, webV2, 0, 'transient');
    expect(holds.get('web', web.specHash)).toBeUndefined();
    expect(holds.get('web', webV2.specHash)!.failures).toBe(1);
    expect(holds.get('web', webV2.specHash)!.retryAt).toBe(1_000);
  });
});

describe('Holds: ending a hold', () => {
  it('retain() drops holds whose spec changed or whose service is gone, keeps the rest', () => {
    const holds = holdsWith();
    const cache = desiredService('cache');
    fail(holds, web, 0);
    fail(holds, db, 0);
    fail(holds, cache, 0);
    holds.retain([webV2, cache]);
    expect(holds.entries().map((h) => h.service)).toEqual(['cache']);
    expect(holds.get('web', web.specHash)).toBeUndefined();
    expect(holds.get('db', db.specHash)).toBeUndefined();
    expect(holds.verdict(webV2, 1)).toEqual({ type: 'run' });
    // The old spec coming back (a revert of the fix) is tried again, not held.
    expect(holds.verdict(web, 1)).toEqual({ type: 'run' });
    expect(holds.verdict(cache, 1).type).toBe('hold');
  });

  it('clear() ends the hold and any retry asked for it', () => {
    const holds = holdsWith();
    fail(holds, web, 0);
    fail(holds, db, 0);
    holds.requestRetry(['web']);
    holds.clear('web');
    expect(holds.get('web', web.specHash)).toBeUndefined();
    expect(holds.verdict(web, 1)).toEqual({ type: 'run' });
    expect(holds.retryPending()).toBe(false);
    // A later failure of the same spec is held, the cleared retry request not carried over.
    fail(holds, web, 2);
    expect(holds.verdict(web, 3).type).toBe('hold');
    expect(holds.get('db', db.specHash)).toBeDefined();
  });

  it('requestRetry() grants one retry, stop-first order untouched (startFirst false)', () => {
    const holds = holdsWith({ rollout: ROLLOUT });
    fail(holds, web, 0);
    expect(holds.retryPending()).toBe(false);
    expect(holds.requestRetry(['web', 'nope'])).toEqual(['web']);
    expect(holds.retryPending()).toBe(true);
    expect(holds.verdict(web, 1)).toEqual({ type: 'retry', startFirst: false });
    expect(holds.retryPending()).toBe(false);
    expect(holds.verdict(web, 2).type).toBe('hold');
  });

  it('requestRetry() without names asks for every held service', () => {
    const holds = holdsWith();
    fail(holds, web, 0);
    fail(holds, db, 0);
    expect(holds.requestRetry().sort()).toEqual(['db', 'web']);
    expect(holds.verdict(web, 1)).toEqual({ type: 'retry', startFirst: false });
    expect(holds.verdict(db, 1)).toEqual({ type: 'retry', startFirst: false });
  });

  it('requestRetry() of nothing held finds nothing and leaves nothing pending', () => {
    const holds = holdsWith();
    expect(holds.requestRetry(['web'])).toEqual([]);
    expect(holds.requestRetry()).toEqual([]);
    expect(holds.retryPending()).toBe(false);
  });
});

describe('Holds: nextRetryAt', () => {
  it('is the earliest retry strictly after now, never one due already', () => {
    const holds = holdsWith({ rollout: ROLLOUT });
    fail(holds, web, 0, 'transient'); // 1_000
    fail(holds, db, 0, 'rollout'); // 60_000
    fail(holds, proxy, 0, 'rollout'); // never
    expect(holds.nextRetryAt(0)).toBe(1_000);
    expect(holds.nextRetryAt(999)).toBe(1_000);
    // Due now or past: left to the next pass, not returned.
    expect(holds.nextRetryAt(1_000)).toBe(60_000);
    expect(holds.nextRetryAt(59_999)).toBe(60_000);
    expect(holds.nextRetryAt(60_000)).toBeUndefined();
    expect(holds.nextRetryAt(1e12)).toBeUndefined();
  });

  it('never returns a time at or before now, whatever the holds', () => {
    const holds = holdsWith({ rollout: ROLLOUT });
    fail(holds, web, 0, 'transient');
    fail(holds, db, 500, 'rollout');
    fail(holds, exposed, 30_000, 'transient');
    for (let now = 0; now <= 400_000; now += 250) {
      const next = holds.nextRetryAt(now);
      if (next !== undefined) expect(next).toBeGreaterThan(now);
      // Granting whatever is due keeps it so.
      for (const s of [web, db, exposed]) holds.verdict(s, now);
      const after = holds.nextRetryAt(now);
      if (after !== undefined) expect(after).toBeGreaterThan(now);
    }
  });

  it('is undefined with nothing held', () => {
    expect(holdsWith().nextRetryAt(0)).toBeUndefined();
  });
});

describe('Holds: entries and restore', () => {
  it('round-trips: a restored agent holds what the old one held, with the same times', () => {
    const before = holdsWith({ rollout: ROLLOUT });
    fail(before, web, 0, 'rollout', { lastLogLines: ['panic'] });
    fail(before, web, 10, 'rollout');
    fail(before, db, 0, 'transient');
    fail(before, proxy, 0, 'rollout');
    const saved = JSON.parse(JSON.stringify(before.entries())) as Hold[];

    const after = holdsWith({ rollout: ROLLOUT });
    after.restore(saved);
    expect(after.entries()).toEqual(before.entries());
    expect(after.nextRetryAt(0)).toBe(before.nextRetryAt(0));
    for (const s of [web, db, proxy])
      for (const now of [0, 1_000, 120_010, 1e9]) {
        const a = holdsWith({ rollout: ROLLOUT });
        a.restore(saved);
        const b = holdsWith({ rollout: ROLLOUT });
        b.restore(saved);
        expect(a.verdict(s, now)).toEqual(b.verdict(s, now));
      }
    // A restart is not a retry: the web hold (2 failures, next at 10 + 120_000) still holds.
    expect(after.get('web', web.specHash)!.failures).toBe(2);
    expect(after.verdict(web, 120_009).type).toBe('hold');
    expect(after.verdict(web, 120_010)).toEqual({ type: 'retry', startFirst: true });
  });

  it('entries() are copies: changing them changes no hold', () => {
    const holds = holdsWith();
    fail(holds, web, 0, 'transient');
    const [entry] = holds.entries();
    entry!.retryAt = 0;
    entry!.specHash = 'other';
    expect(holds.get('web', web.specHash)!.retryAt).toBe(1_000);
  });

  it('restore() copies: changing the saved list changes no hold', () => {
    const holds = holdsWith();
    const saved: Hold[] = [
      {
        service: 'web',
        specHash: web.specHash,
        commit: COMMIT,
        kind: 'transient',
        code: 'GITDOCK_E_PULL_FAILED',
        reason: 'cannot pull',
        failures: 1,
        retryAt: 5_000,
      },
    ];
    holds.restore(saved);
    saved[0]!.retryAt = 0;
    expect(holds.nextRetryAt(0)).toBe(5_000);
  });
});

describe('describeHold', () => {
  it('names the code, count, commit, reason and the next try', () => {
    const holds = holdsWith();
    fail(holds, web, 0, 'transient');
    fail(holds, web, 0, 'transient');
    const hold = holds.get('web', web.specHash)!;
    expect(describeHold(hold, 500)).toBe(
      'GITDOCK_E_PULL_FAILED: failed 2 times at c0ffee000000 (cannot pull); next try in 2s, on a new commit, or on an explicit retry',
    );
  });

  it('never says "next try in 0s"', () => {
    const holds = holdsWith();
    fail(holds, web, 0, 'transient');
    const hold = holds.get('web', web.specHash)!;
    expect(describeHold(hold, 1_000)).toContain('next try in 1s');
    expect(describeHold(hold, 5_000)).toContain('next try in 1s');
  });
});

describe('Holds: an explicit retry asked for', () => {
  it('is forgotten with its hold: a later failure of another spec is not retried by it', async () => {
    const { Holds } = await import('./holds.js');
    const holds = new Holds({ transient: { baseMs: 1000, capMs: 10_000 } });
    const spec = (hash: string) =>
      ({ name: 'web', specHash: hash, spec: { ports: [] } }) as unknown as Parameters<
        typeof holds.verdict
      >[0];
    const fail = (hash: string) =>
      holds.recordFailure(
        {
          service: 'web',
          specHash: hash,
          commit: 'c',
          kind: 'rollout',
          code: 'GITDOCK_E_ROLLOUT_FAILED',
          reason: 'exited',
        },
        0,
        spec(hash),
      );
    fail('a');
    expect(holds.requestRetry(['web'])).toEqual(['web']);
    // A commit changes web before the retry ran; its new spec fails too.
    holds.retain([spec('b')]);
    fail('b');
    expect(holds.verdict(spec('b'), 1).type).toBe('hold');
  });
});
