/**
 * A `Clock` whose time moves only when a test says so. Sequence tests drive
 * the agent (and the FakeEngine, which schedules its containers' exits,
 * health checks, restarts and pulls here too) through hours of time in
 * milliseconds of real time, and can assert "nothing is due before X".
 *
 * Time never moves on its own; `advance(ms)` moves it and fires every timer
 * that falls due, in deadline order (ties in the order they were set), with
 * `now()` equal to each timer's deadline while it fires. Between firings it
 * lets the code that was woken run on (see `flush`), so a loop that sleeps,
 * wakes, calls the engine and sleeps again makes the same progress it would
 * with real time.
 */
import type { Clock } from '../../src/reconcile/clock.js';

/** 2026-01-01T00:00:00Z: a fixed start, so times in failures are easy to read and replay. */
export const FAKE_CLOCK_START = Date.UTC(2026, 0, 1);

export interface FakeClockOptions {
  /** Start time: unix ms, an ISO string or a Date. Default `FAKE_CLOCK_START`. */
  start?: number | string | Date;
  /**
   * Macrotask turns (`setImmediate`) `flush` waits. Each turn runs every
   * microtask queued before it, so promise chains of any length finish in
   * one; more turns cover code that hops through `setImmediate` itself.
   */
  flushTurns?: number;
  /**
   * Timers one `advance` may fire before it gives up: a loop that sleeps
   * 0 ms forever would otherwise spin the test forever. Hitting it is the
   * finding ("tight loop"), so it throws.
   */
  maxFiringsPerAdvance?: number;
}

/** A pending timer, as tests see it. */
export interface PendingTimer {
  /** Unix ms at which it fires. */
  deadline: number;
  /** `sleep` for `Clock.sleep`; whatever the scheduler said otherwise (the FakeEngine says `engine`). */
  source: string;
  /** What it is for, for failure messages: `sleep 100 ms`, `web-1: health check`. */
  label: string;
}

/** Handle of a timer set with `schedule`. */
export interface TimerHandle {
  readonly deadline: number;
  /** Drops the timer; harmless when it already fired. */
  cancel(): void;
}

interface TimerEntry extends PendingTimer {
  seq: number;
  fire: () => void;
}

export interface RunUntilIdleResult {
  /** No timer (of the asked source) is left. */
  idle: boolean;
  /** How far time moved. */
  elapsedMs: number;
  /** Timers fired on the way. */
  fired: number;
}

export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  /** Sorted by (deadline, seq): the head is always the next to fire. */
  private timers: TimerEntry[] = [];
  private advancing = false;
  private readonly flushTurns: number;
  private readonly maxFirings: number;

  constructor(options: FakeClockOptions = {}) {
    const start = options.start ?? FAKE_CLOCK_START;
    this.time = typeof start === 'number' ? start : new Date(start).getTime();
    if (!Number.isFinite(this.time)) throw new Error(`FakeClock: bad start time ${String(start)}`);
    this.flushTurns = options.flushTurns ?? 5;
    this.maxFirings = options.maxFiringsPerAdvance ?? 100_000;
  }

  now(): number {
    return this.time;
  }

  /** ISO text of `now()`, for messages and engine timestamps. */
  isoNow(): string {
    return new Date(this.time).toISOString();
  }

  /**
   * Resolves once time has been advanced by `ms` (a negative or NaN `ms` is
   * 0: due at the next `advance`, even `advance(0)`), or as soon as `signal`
   * aborts. Never rejects, like `systemClock.sleep`.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = () => {
        handle.cancel();
        resolve();
      };
      const handle = this.schedule(
        ms,
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        { source: 'sleep', label: `sleep ${ms} ms` },
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Calls `fire` when time reaches now + `ms`. For fakes that act on their
   * own over time (a container that exits after 3 s); `fire` runs inside
   * `advance`, synchronously, with `now()` at its deadline.
   */
  schedule(
    ms: number,
    fire: () => void,
    meta: { source?: string; label?: string } = {},
  ): TimerHandle {
    const delay = Number.isNaN(ms) ? 0 : Math.max(0, ms);
    const entry: TimerEntry = {
      deadline: this.time + delay,
      seq: this.seq++,
      source: meta.source ?? 'timer',
      label: meta.label ?? `timer ${delay} ms`,
      fire,
    };
    // Insert after every entry due at or before it: equal deadlines fire in the order they were set.
    let at = this.timers.length;
    while (at > 0 && this.timers[at - 1]!.deadline > entry.deadline) at--;
    this.timers.splice(at, 0, entry);
    return {
      deadline: entry.deadline,
      cancel: () => {
        const index = this.timers.indexOf(entry);
        if (index >= 0) this.timers.splice(index, 1);
      },
    };
  }

  /**
   * Lets woken code run on without moving time: `flushTurns` macrotask
   * turns, each after every microtask queued so far. Bounded, so code that
   * is waiting on something else (a hung engine call) does not hold it up.
   */
  async flush(turns: number = this.flushTurns): Promise<void> {
    for (let i = 0; i < turns; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Moves time forward by `ms`, firing every timer due by then in deadline
   * order, flushing after each (timers set while flushing that fall due
   * within the window fire too). Ends with time at exactly now + `ms`.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new Error(`FakeClock.advance: ms must be >= 0, got ${ms}`);
    await this.advanceTo(this.time + ms);
  }

  /** Like `advance`, to an absolute time (not before now). */
  async advanceTo(target: number): Promise<void> {
    if (target < this.time) {
      throw new Error(
        `FakeClock.advanceTo: ${new Date(target).toISOString()} is before now (${this.isoNow()})`,
      );
    }
    await this.run(target, () => false);
  }

  /**
   * Fires timers (of `source`, when given; others due on the way fire too,
   * in order) until none of that source is left or `maxMs` has passed.
   * Time ends at the last timer fired, or at now + `maxMs` when it was not
   * idle by then. The `maxMs` bound matters: an agent with a periodic
   * resync is never idle.
   */
  async runUntilIdle(
    options: { maxMs?: number; source?: string } = {},
  ): Promise<RunUntilIdleResult> {
    const startedAt = this.time;
    const limit = startedAt + (options.maxMs ?? 60 * 60_000);
    const matches = (t: PendingTimer) =>
      options.source === undefined || t.source === options.source;
    const fired = await this.run(limit, () => !this.timers.some(matches), true);
    const idle = !this.timers.some(matches);
    return { idle, elapsedMs: this.time - startedAt, fired };
  }

  /** Deadline of the next timer (of `source`, when given), or undefined when none is pending. */
  nextDeadline(filter: { source?: string } = {}): number | undefined {
    return this.pendingTimers(filter)[0]?.deadline;
  }

  /** Pending timers in firing order (copies). */
  pendingTimers(filter: { source?: string } = {}): PendingTimer[] {
    return this.timers
      .filter((t) => filter.source === undefined || t.source === filter.source)
      .map(({ deadline, source, label }) => ({ deadline, source, label }));
  }

  /** True when no timer (of `source`) is due before `time`: "the loop is idle until X". */
  idleUntil(time: number, filter: { source?: string } = {}): boolean {
    return (this.nextDeadline(filter) ?? Number.POSITIVE_INFINITY) >= time;
  }

  /** One line per pending timer, for failure messages. */
  describeTimers(): string {
    if (this.timers.length === 0) return '(no timers)';
    return this.timers
      .map((t) => `+${t.deadline - this.time} ms  ${t.source}: ${t.label}`)
      .join('\n');
  }

  /**
   * The loop of `advanceTo` and `runUntilIdle`: flush, fire the head if it
   * is due by `limit`, repeat. With `stopEarly`, time stays where the last
   * timer fired once `done()` says so; otherwise it ends at `limit`.
   */
  private async run(limit: number, done: () => boolean, stopEarly = false): Promise<number> {
    if (this.advancing) {
      throw new Error('FakeClock: advance() called while another advance() is running');
    }
    this.advancing = true;
    let fired = 0;
    try {
      await this.flush();
      for (;;) {
        if (stopEarly && done()) return fired;
        const head = this.timers[0];
        if (head === undefined || head.deadline > limit) break;
        if (fired >= this.maxFirings) {
          throw new Error(
            `FakeClock: ${fired} timers fired in one advance, the last at ${this.isoNow()}: a loop that never waits? Pending:\n${this.describeTimers()}`,
          );
        }
        this.timers.shift();
        this.time = head.deadline;
        fired++;
        head.fire();
        await this.flush();
      }
      this.time = limit;
      await this.flush();
      return fired;
    } finally {
      this.advancing = false;
    }
  }
}
