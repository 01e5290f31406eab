/**
 * The FakeClock of the sequence tests (test/support/fake-clock.ts): time
 * moves only on `advance`, timers fire in deadline order with `now()` at
 * their deadline, and async code woken by a timer runs on before the next
 * one fires, as it would with real time. Pure: no engine, no real timers.
 */
import { describe, expect, it } from 'vitest';
import { FAKE_CLOCK_START, FakeClock } from './support/fake-clock.js';

/** Records when (fake time, relative to the start) each step of some async code ran. */
function recorder(clock: FakeClock) {
  const log: string[] = [];
  return {
    log,
    mark: (what: string) => log.push(`${clock.now() - FAKE_CLOCK_START} ${what}`),
  };
}

describe('FakeClock', () => {
  it('starts at 2026-01-01T00:00:00Z and does not move on its own', async () => {
    const clock = new FakeClock();
    expect(clock.isoNow()).toBe('2026-01-01T00:00:00.000Z');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await clock.flush();
    expect(clock.now()).toBe(FAKE_CLOCK_START);
  });

  it('takes a start time as ISO text, Date or unix ms', () => {
    expect(new FakeClock({ start: '2030-05-06T07:08:09Z' }).isoNow()).toBe(
      '2030-05-06T07:08:09.000Z',
    );
    expect(new FakeClock({ start: new Date(1000) }).now()).toBe(1000);
    expect(new FakeClock({ start: 42 }).now()).toBe(42);
    expect(() => new FakeClock({ start: 'not a time' })).toThrow(/bad start time/);
  });

  it('resolves a sleep only once time reaches its deadline, with now() at the deadline', async () => {
    const clock = new FakeClock();
    let wokeAt: number | undefined;
    void clock.sleep(100).then(() => {
      wokeAt = clock.now();
    });
    await clock.advance(99);
    expect(wokeAt).toBeUndefined();
    await clock.flush();
    expect(wokeAt).toBeUndefined();
    await clock.advance(1);
    expect(wokeAt).toBe(FAKE_CLOCK_START + 100);
  });

  it('fires timers in deadline order, equal deadlines in the order they were set', async () => {
    const clock = new FakeClock();
    const { log, mark } = recorder(clock);
    void clock.sleep(300).then(() => mark('c'));
    void clock.sleep(100).then(() => mark('a'));
    void clock.sleep(200).then(() => mark('b1'));
    void clock.sleep(200).then(() => mark('b2'));
    await clock.advance(1000);
    expect(log).toEqual(['100 a', '200 b1', '200 b2', '300 c']);
    expect(clock.now()).toBe(FAKE_CLOCK_START + 1000);
  });

  it('lets woken async code run on between firings, so a sleeping loop keeps pace', async () => {
    const clock = new FakeClock();
    const { log, mark } = recorder(clock);
    // A loop shaped like the agent's: sleep, some awaited work (promise chains and a
    // setImmediate hop, as I/O-free fakes produce), sleep again.
    const loop = (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(100);
        await Promise.resolve();
        await new Promise((resolve) => setImmediate(resolve));
        await (async () => {
          await null;
        })();
        mark(`pass ${i}`);
      }
    })();
    await clock.advance(250);
    expect(log).toEqual(['100 pass 0', '200 pass 1']);
    await clock.advance(50);
    await loop;
    expect(log).toEqual(['100 pass 0', '200 pass 1', '300 pass 2']);
  });

  it('fires timers set while advancing that fall due within the same advance', async () => {
    const clock = new FakeClock();
    const { log, mark } = recorder(clock);
    void (async () => {
      await clock.sleep(10);
      mark('first');
      await clock.sleep(10);
      mark('second');
      await clock.sleep(1000);
      mark('late');
    })();
    await clock.advance(25);
    expect(log).toEqual(['10 first', '20 second']);
  });

  it('resolves an aborted sleep at once, never rejecting, and drops its timer', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    let outcome = 'pending';
    clock.sleep(60_000, controller.signal).then(
      () => {
        outcome = `resolved at ${clock.now() - FAKE_CLOCK_START}`;
      },
      () => {
        outcome = 'rejected';
      },
    );
    await clock.advance(10);
    expect(clock.pendingTimers()).toHaveLength(1);
    controller.abort('preempted');
    await clock.flush();
    expect(outcome).toBe('resolved at 10');
    expect(clock.pendingTimers()).toEqual([]);
  });

  it('resolves a sleep on an already aborted signal without setting a timer', async () => {
    const clock = new FakeClock();
    await clock.sleep(1000, AbortSignal.abort());
    expect(clock.pendingTimers()).toEqual([]);
    expect(clock.now()).toBe(FAKE_CLOCK_START);
  });

  it('treats 0, negative and NaN sleeps as due now: they fire at advance(0), not at flush', async () => {
    const clock = new FakeClock();
    const woke: number[] = [];
    for (const ms of [0, -5, Number.NaN]) void clock.sleep(ms).then(() => woke.push(ms));
    await clock.flush();
    expect(woke).toEqual([]);
    expect(clock.nextDeadline()).toBe(FAKE_CLOCK_START);
    await clock.advance(0);
    expect(woke).toEqual([0, -5, Number.NaN]);
    expect(clock.now()).toBe(FAKE_CLOCK_START);
  });

  it('schedules callbacks by source and label, and cancels them', async () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    const keep = clock.schedule(500, () => fired.push('keep'), {
      source: 'engine',
      label: 'web: health check',
    });
    const drop = clock.schedule(200, () => fired.push('drop'), { source: 'engine' });
    void clock.sleep(300);
    expect(keep.deadline).toBe(FAKE_CLOCK_START + 500);
    expect(clock.pendingTimers()).toEqual([
      { deadline: FAKE_CLOCK_START + 200, source: 'engine', label: 'timer 200 ms' },
      { deadline: FAKE_CLOCK_START + 300, source: 'sleep', label: 'sleep 300 ms' },
      { deadline: FAKE_CLOCK_START + 500, source: 'engine', label: 'web: health check' },
    ]);
    expect(clock.nextDeadline({ source: 'sleep' })).toBe(FAKE_CLOCK_START + 300);
    drop.cancel();
    drop.cancel(); // harmless twice
    await clock.advance(1000);
    expect(fired).toEqual(['keep']);
    keep.cancel(); // harmless after firing
    expect(clock.nextDeadline()).toBeUndefined();
  });

  it('says whether anything is due before a time', async () => {
    const clock = new FakeClock();
    expect(clock.idleUntil(Number.POSITIVE_INFINITY)).toBe(true);
    clock.schedule(5000, () => {}, { source: 'engine' });
    void clock.sleep(60_000);
    expect(clock.idleUntil(FAKE_CLOCK_START + 5000)).toBe(true);
    expect(clock.idleUntil(FAKE_CLOCK_START + 5001)).toBe(false);
    expect(clock.idleUntil(FAKE_CLOCK_START + 59_999, { source: 'sleep' })).toBe(true);
    expect(clock.idleUntil(FAKE_CLOCK_START + 60_001, { source: 'sleep' })).toBe(false);
    expect(clock.describeTimers()).toBe(
      '+5000 ms  engine: timer 5000 ms\n+60000 ms  sleep: sleep 60000 ms',
    );
  });

  it('runs until idle: every timer fired, time left at the last one', async () => {
    const clock = new FakeClock();
    const { log, mark } = recorder(clock);
    void (async () => {
      for (let i = 0; i < 4; i++) {
        await clock.sleep(1000 * 2 ** i); // a capped back-off, say
        mark(`retry ${i}`);
      }
    })();
    const result = await clock.runUntilIdle({ maxMs: 60_000 });
    expect(result).toEqual({ idle: true, elapsedMs: 15_000, fired: 4 });
    expect(log).toEqual(['1000 retry 0', '3000 retry 1', '7000 retry 2', '15000 retry 3']);
    expect(clock.now()).toBe(FAKE_CLOCK_START + 15_000);
  });

  it('stops a run that is never idle at maxMs', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    let passes = 0;
    // A periodic resync: never idle.
    const loop = (async () => {
      while (!controller.signal.aborted) {
        await clock.sleep(30_000, controller.signal);
        passes++;
      }
    })();
    const result = await clock.runUntilIdle({ maxMs: 100_000 });
    expect(result).toEqual({ idle: false, elapsedMs: 100_000, fired: 3 });
    expect(passes).toBe(3);
    expect(clock.nextDeadline()).toBe(FAKE_CLOCK_START + 120_000);
    controller.abort();
    await loop;
  });

  it('runs until one source is idle, firing others due on the way', async () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    clock.schedule(100, () => fired.push('engine'), { source: 'engine' });
    clock.schedule(10_000, () => fired.push('engine later'), { source: 'engine' });
    void clock.sleep(200).then(() => fired.push('sleep'));
    const result = await clock.runUntilIdle({ source: 'sleep' });
    expect(result).toEqual({ idle: true, elapsedMs: 200, fired: 2 });
    expect(fired).toEqual(['engine', 'sleep']);
  });

  it('refuses to spin: a loop that sleeps 0 ms forever fails the advance', async () => {
    const clock = new FakeClock({ maxFiringsPerAdvance: 1000 });
    const controller = new AbortController();
    const loop = (async () => {
      while (!controller.signal.aborted) await clock.sleep(0, controller.signal);
    })();
    await expect(clock.advance(10)).rejects.toThrow(/1000 timers fired in one advance/);
    controller.abort();
    await loop;
  });

  it('refuses overlapping advances and going back in time', async () => {
    const clock = new FakeClock();
    const first = clock.advance(10);
    await expect(clock.advance(10)).rejects.toThrow(/while another advance/);
    await first;
    await expect(clock.advance(-1)).rejects.toThrow(/must be >= 0/);
    await expect(clock.advanceTo(FAKE_CLOCK_START)).rejects.toThrow(/before now/);
    expect(clock.now()).toBe(FAKE_CLOCK_START + 10);
  });
});
