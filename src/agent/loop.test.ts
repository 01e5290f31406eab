import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../reconcile/clock.js';
import { type LoopOptions, type PassOutcome, type PassWork, ReconcileLoop } from './loop.js';

/** Lets woken code run on: each macrotask turn drains every queued microtask. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** Time moves only on `advance`; sleepers fire in deadline order, `now()` at their deadline. */
class FakeClock implements Clock {
  private t = 0;
  private sleepers: { at: number; wake: () => void }[] = [];

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper = {
        at: this.t + ms,
        wake: () => {
          this.sleepers = this.sleepers.filter((s) => s !== sleeper);
          signal?.removeEventListener('abort', sleeper.wake);
          resolve();
        },
      };
      this.sleepers.push(sleeper);
      signal?.addEventListener('abort', sleeper.wake, { once: true });
    });
  }

  /** Deadlines of every sleeper still waiting. */
  deadlines(): number[] {
    return this.sleepers.map((s) => s.at);
  }

  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    await flush();
    for (let firings = 0; ; firings++) {
      if (firings > 10_000) throw new Error('tight loop: 10000 timers fired in one advance');
      const due = this.sleepers.filter((s) => s.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = Math.max(this.t, due.at);
      due.wake();
      await flush();
    }
    this.t = target;
    await flush();
  }
}

/** A promise resolved from outside. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

interface Seen {
  at: number;
  reasons: string[];
  fetch: boolean;
  since: number;
  signal: AbortSignal;
}

type Outcome = (n: number, work: PassWork) => PassOutcome | Promise<PassOutcome>;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function start(options: Partial<LoopOptions> & { outcome?: Outcome } = {}) {
  const clock = new FakeClock();
  const passes: Seen[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const { outcome, ...rest } = options;
  const stop = new AbortController();
  const loop = new ReconcileLoop({
    clock,
    resyncMs: 60_000,
    fetchOnResync: false,
    backoff: { baseMs: 1_000, capMs: 8_000 },
    random: () => 0,
    async pass(work) {
      passes.push({ at: clock.now(), ...work, reasons: [...work.reasons] });
      // A loop that runs passes back to back without sleeping never yields to the test: stop it.
      if (passes.length > 1_000) stop.abort();
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return (await outcome?.(passes.length, work)) ?? {};
      } finally {
        inFlight--;
      }
    },
    ...rest,
  });
  let returned = false;
  const done = loop.run(stop.signal).then(() => {
    returned = true;
  });
  cleanups.push(async () => {
    stop.abort();
    await clock.advance(0);
  });
  return {
    clock,
    loop,
    passes,
    stop,
    done,
    returned: () => returned,
    maxInFlight: () => maxInFlight,
  };
}

describe('ReconcileLoop: triggers', () => {
  it('coalesces a burst of triggers into one pass: reasons deduped in order, fetch OR-ed', async () => {
    const h = start();
    await h.clock.advance(1_000);
    expect(h.passes).toHaveLength(0);
    h.loop.trigger('push');
    h.loop.trigger('webhook', { fetch: true });
    h.loop.trigger('push', { fetch: false });
    h.loop.trigger('drift: web');
    await h.clock.advance(0);
    expect(h.passes).toHaveLength(1);
    expect(h.passes[0]).toMatchObject({
      at: 1_000,
      reasons: ['push', 'webhook', 'drift: web'],
      fetch: true,
      since: 1_000,
    });
    // Nothing more until the resync.
    await h.clock.advance(30_000);
    expect(h.passes).toHaveLength(1);
  });

  it('fetches only when a coalesced trigger asked to', async () => {
    const h = start();
    h.loop.trigger('push');
    h.loop.trigger('drift: web', { fetch: false });
    await h.clock.advance(0);
    expect(h.passes.map((p) => p.fetch)).toEqual([false]);
  });

  it('a pass runs only on a trigger or a deadline', async () => {
    const h = start();
    await h.clock.advance(59_999);
    expect(h.passes).toHaveLength(0);
  });
});

describe('ReconcileLoop: single flight', () => {
  it('a burst of triggers during a pass makes exactly one more pass after it', async () => {
    const gate = deferred();
    const h = start({ outcome: (n) => (n === 1 ? gate.promise.then(() => ({})) : {}) });
    h.loop.trigger('push');
    await h.clock.advance(0);
    expect(h.passes).toHaveLength(1);
    expect(h.loop.running()).toEqual({ startedAt: 0, reasons: ['push'] });

    await h.clock.advance(500);
    h.loop.trigger('drift: web');
    h.loop.trigger('webhook', { fetch: true });
    h.loop.trigger('drift: web');
    await h.clock.advance(500);
    // Still the one pass: nothing starts beside it.
    expect(h.passes).toHaveLength(1);

    gate.resolve();
    await h.clock.advance(0);
    expect(h.passes).toHaveLength(2);
    expect(h.passes[1]).toMatchObject({
      at: 1_000,
      reasons: ['drift: web', 'webhook'],
      fetch: true,
      since: 500,
    });
    await h.clock.advance(30_000);
    expect(h.passes).toHaveLength(2);
    expect(h.maxInFlight()).toBe(1);
    expect(h.loop.running()).toBeUndefined();
  });
});

describe('ReconcileLoop: periodic resync', () => {
  it('runs at the interval from the start of the last pass, fetching as configured', async () => {
    const h = start({ fetchOnResync: true });
    await h.clock.advance(59_999);
    expect(h.passes).toHaveLength(0);
    await h.clock.advance(1);
    expect(h.passes.map((p) => [p.at, p.reasons, p.fetch])).toEqual([
      [60_000, ['periodic resync'], true],
    ]);
    // A trigger moves the next resync to a full interval after it.
    await h.clock.advance(10_000);
    h.loop.trigger('push');
    await h.clock.advance(0);
    await h.clock.advance(59_999);
    expect(h.passes.map((p) => p.at)).toEqual([60_000, 70_000]);
    await h.clock.advance(1);
    expect(h.passes.map((p) => p.at)).toEqual([60_000, 70_000, 130_000]);
  });

  it('adds up to 10% jitter', async () => {
    const h = start({ random: () => 0.5 });
    await h.clock.advance(62_999);
    expect(h.passes).toHaveLength(0);
    await h.clock.advance(1);
    expect(h.passes.map((p) => p.at)).toEqual([63_000]);
  });

  it('idle: over 5 minutes, exactly 5 passes, all resyncs, and never a deadline in the past', async () => {
    const h = start();
    for (let t = 0; t < 300_000; t += 1_000) {
      await h.clock.advance(1_000);
      const now = h.clock.now();
      expect(h.loop.running()).toBeUndefined();
      expect(h.loop.nextWakeAt()).toBeGreaterThan(now);
      for (const d of h.clock.deadlines()) expect(d).toBeGreaterThan(now);
      expect(h.clock.deadlines()).toHaveLength(1);
    }
    expect(h.passes.map((p) => p.at)).toEqual([60_000, 120_000, 180_000, 240_000, 300_000]);
    expect(h.passes.every((p) => p.reasons.join() === 'periodic resync')).toBe(true);
  });
});

describe('ReconcileLoop: failures', () => {
  it('retries a failed pass after a doubling, capped backoff, and resets on success', async () => {
    // Passes 1-5 fail, 6 succeeds, 7 fails again.
    const h = start({
      resyncMs: 1e9,
      outcome: (n) => (n <= 5 || n === 7 ? { failed: true, fetchOnRetry: n === 2 } : {}),
    });
    h.loop.trigger('push');
    await h.clock.advance(0);
    await h.clock.advance(20_000);
    // 0, +1s, +2s, +4s, +8s, +8s (cap).
    expect(h.passes.map((p) => p.at)).toEqual([0, 1_000, 3_000, 7_000, 15_000]);
    await h.clock.advance(8_000);
    expect(h.passes.map((p) => p.at)).toEqual([0, 1_000, 3_000, 7_000, 15_000, 23_000]);
    expect(h.passes.slice(1).map((p) => p.reasons)).toEqual(Array(5).fill(['retry after failure']));
    // Only the retry of the pass that asked for it fetches.
    expect(h.passes.map((p) => p.fetch)).toEqual([false, false, true, false, false, false]);
    // Pass 6 succeeded: nothing is retried.
    await h.clock.advance(100_000);
    expect(h.passes).toHaveLength(6);

    // A new failure starts from the base again.
    h.loop.trigger('push');
    await h.clock.advance(0);
    const failedAt = h.clock.now();
    await h.clock.advance(999);
    expect(h.passes).toHaveLength(7);
    await h.clock.advance(1);
    expect(h.passes.map((p) => p.at).slice(6)).toEqual([failedAt, failedAt + 1_000]);
  });

  it('a pass that throws is retried like a failed one', async () => {
    const h = start({
      resyncMs: 1e9,
      outcome: (n) => {
        if (n === 1) throw new Error('bug');
        return {};
      },
    });
    h.loop.trigger('push');
    await h.clock.advance(5_000);
    expect(h.passes.map((p) => [p.at, p.reasons])).toEqual([
      [0, ['push']],
      [1_000, ['retry after failure']],
    ]);
    expect(h.loop.running()).toBeUndefined();
  });

  it('a trigger during the backoff runs at once and ends the pending retry when it succeeds', async () => {
    const h = start({ resyncMs: 1e9, outcome: (n) => (n === 1 ? { failed: true } : {}) });
    h.loop.trigger('push');
    await h.clock.advance(500);
    h.loop.trigger('drift: web');
    await h.clock.advance(10_000);
    expect(h.passes.map((p) => p.at)).toEqual([0, 500]);
  });
});

describe('ReconcileLoop: requeue and nextDue', () => {
  it('looks again after requeueAfterMs, once', async () => {
    const h = start({ outcome: (n) => (n === 1 ? { requeueAfterMs: 500 } : {}) });
    h.loop.trigger('push');
    await h.clock.advance(0);
    expect(h.loop.nextWakeAt()).toBe(500);
    await h.clock.advance(499);
    expect(h.passes).toHaveLength(1);
    await h.clock.advance(1);
    expect(h.passes.map((p) => [p.at, p.reasons])).toEqual([
      [0, ['push']],
      [500, ['looking again']],
    ]);
    await h.clock.advance(30_000);
    expect(h.passes).toHaveLength(2);
  });

  it('a requeue of 0 ms still looks again later, never at once', async () => {
    const h = start({ outcome: (n) => (n === 1 ? { requeueAfterMs: 0 } : {}) });
    h.loop.trigger('push');
    await h.clock.advance(0);
    expect(h.passes).toHaveLength(1);
    expect(h.loop.nextWakeAt()).toBeGreaterThan(h.clock.now());
    await h.clock.advance(1);
    expect(h.passes.map((p) => [p.at, p.reasons])).toEqual([
      [0, ['push']],
      [1, ['looking again']],
    ]);
  });

  it('fires a due time once, with its reason, and does not chase it', async () => {
    // Like Holds.nextRetryAt: the earliest time strictly after now, none once it is due.
    const dueTimes = [5_000];
    const asked: number[] = [];
    const h = start({
      dueReason: 'held spec retry',
      nextDue: (now) => {
        asked.push(now);
        return dueTimes.find((t) => t > now);
      },
    });
    await h.clock.advance(4_999);
    expect(h.passes).toHaveLength(0);
    await h.clock.advance(1);
    expect(h.passes.map((p) => [p.at, p.reasons])).toEqual([[5_000, ['held spec retry']]]);
    // Nothing more until the resync, which runs from the due pass's start.
    await h.clock.advance(59_999);
    expect(h.passes).toHaveLength(1);
    await h.clock.advance(1);
    expect(h.passes.map((p) => [p.at, p.reasons])).toEqual([
      [5_000, ['held spec retry']],
      [65_000, ['periodic resync']],
    ]);
    expect(asked.length).toBeLessThan(20);
  });

  it('a due time still ahead after a triggered pass fires at its time', async () => {
    const h = start({
      dueReason: 'held spec retry',
      nextDue: (now) => (now < 5_000 ? 5_000 : undefined),
    });
    await h.clock.advance(2_000);
    h.loop.trigger('push');
    await h.clock.advance(3_000);
    expect(h.passes.map((p) => [p.at, p.reasons])).toEqual([
      [2_000, ['push']],
      [5_000, ['held spec retry']],
    ]);
  });

  it('nextWakeAt is the earliest of resync, retry, requeue and nextDue', async () => {
    const h = start({ nextDue: (now) => (now < 40_000 ? 40_000 : undefined) });
    expect(h.loop.nextWakeAt()).toBe(40_000);
    await h.clock.advance(40_000);
    expect(h.loop.nextWakeAt()).toBe(100_000);
  });
});

describe('ReconcileLoop: preempt and stop', () => {
  it("preempt aborts the running pass's signal, and only that pass's", async () => {
    const gate = deferred();
    const h = start({ outcome: (n) => (n === 1 ? gate.promise.then(() => ({})) : {}) });
    h.loop.preempt('nothing running');
    h.loop.trigger('push');
    await h.clock.advance(0);
    const first = h.passes[0]!.signal;
    expect(first.aborted).toBe(false);
    h.loop.trigger('push: newer commit');
    h.loop.preempt('newer commit');
    expect(first.aborted).toBe(true);
    expect(first.reason).toBe('newer commit');
    gate.resolve();
    await h.clock.advance(0);
    expect(h.passes).toHaveLength(2);
    expect(h.passes[1]!.reasons).toEqual(['push: newer commit']);
    expect(h.passes[1]!.signal.aborted).toBe(false);
  });

  it('run() returns when its signal aborts while sleeping', async () => {
    const h = start();
    await h.clock.advance(1_000);
    expect(h.returned()).toBe(false);
    h.stop.abort();
    await flush();
    expect(h.returned()).toBe(true);
    await h.done;
    h.loop.trigger('push');
    await h.clock.advance(120_000);
    expect(h.passes).toHaveLength(0);
  });

  it('a trigger arriving with the stop starts no pass', async () => {
    const h = start();
    await h.clock.advance(1_000);
    h.loop.trigger('push');
    h.stop.abort();
    await h.clock.advance(0);
    expect(h.returned()).toBe(true);
    expect(h.passes).toHaveLength(0);
  });

  it('run() returns only once the pass in flight has returned, and starts no other', async () => {
    const gate = deferred();
    const h = start({ outcome: (n) => (n === 1 ? gate.promise.then(() => ({})) : {}) });
    h.loop.trigger('push');
    await h.clock.advance(0);
    h.loop.trigger('drift: web');
    h.stop.abort();
    await h.clock.advance(1_000);
    expect(h.returned()).toBe(false);
    gate.resolve();
    await flush();
    expect(h.returned()).toBe(true);
    expect(h.passes).toHaveLength(1);
  });

  it('run() with an aborted signal returns at once', async () => {
    const clock = new FakeClock();
    const loop = new ReconcileLoop({
      clock,
      resyncMs: 1_000,
      fetchOnResync: false,
      backoff: { baseMs: 1_000, capMs: 1_000 },
      pass: async () => {
        throw new Error('no pass expected');
      },
    });
    await loop.run(AbortSignal.abort());
    expect(clock.deadlines()).toEqual([]);
  });
});
