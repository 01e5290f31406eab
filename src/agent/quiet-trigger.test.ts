import { describe, expect, it } from 'vitest';
import type { Clock } from '../reconcile/clock.js';
import { QuietTrigger } from './quiet-trigger.js';

/** A clock whose sleeps end when `advance` passes their deadline. */
function manualClock() {
  let now = 0;
  const sleepers: { at: number; resolve: () => void }[] = [];
  const clock: Clock = {
    now: () => now,
    sleep: (ms) => new Promise((resolve) => sleepers.push({ at: now + ms, resolve })),
  };
  const flush = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  const advance = async (ms: number) => {
    const end = now + ms;
    for (;;) {
      sleepers.sort((a, b) => a.at - b.at);
      const next = sleepers[0];
      if (!next || next.at > end) break;
      sleepers.shift();
      now = next.at;
      next.resolve();
      await flush();
    }
    now = end;
    await flush();
  };
  return { clock, advance };
}

describe('QuietTrigger', () => {
  it('lets a burst through once it has been quiet, all reasons at once, fetch OR-ed', async () => {
    const { clock, advance } = manualClock();
    const released: { reasons: string[]; fetch: boolean; at: number }[] = [];
    const q = new QuietTrigger({
      clock,
      quietMs: 1000,
      maxWaitMs: 10_000,
      signal: new AbortController().signal,
      release: (reasons, fetch) => released.push({ reasons, fetch, at: clock.now() }),
    });
    q.add('a');
    await advance(600);
    q.add('b', true);
    await advance(600);
    q.add('a');
    expect(released).toEqual([]);
    await advance(1000);
    expect(released).toEqual([{ reasons: ['a', 'b'], fetch: true, at: 2200 }]);
  });

  it('the same reason again and again still makes one release per burst', async () => {
    const { clock, advance } = manualClock();
    const released: number[] = [];
    const q = new QuietTrigger({
      clock,
      quietMs: 1000,
      maxWaitMs: 10_000,
      signal: new AbortController().signal,
      release: () => released.push(clock.now()),
    });
    for (let i = 0; i < 20; i++) {
      q.add('git: refs/heads/main change');
      await advance(900);
    }
    await advance(5000);
    // One release at the 10 s cap, one for the rest of the burst after it: not one per push.
    expect(released).toEqual([10_000, 18_100]);
  });

  it('never waits past maxWaitMs from the first, however busy', async () => {
    const { clock, advance } = manualClock();
    const released: number[] = [];
    const q = new QuietTrigger({
      clock,
      quietMs: 1000,
      maxWaitMs: 3000,
      signal: new AbortController().signal,
      release: () => released.push(clock.now()),
    });
    for (let i = 0; i < 10; i++) {
      q.add(`r${i}`);
      await advance(500);
    }
    expect(released[0]).toBe(3000);
  });

  it('lets nothing through once its signal aborts', async () => {
    const { clock, advance } = manualClock();
    const stop = new AbortController();
    const released: string[][] = [];
    const q = new QuietTrigger({
      clock,
      quietMs: 1000,
      maxWaitMs: 3000,
      signal: stop.signal,
      release: (r) => released.push(r),
    });
    q.add('a');
    stop.abort();
    await advance(5000);
    expect(released).toEqual([]);
  });
});
