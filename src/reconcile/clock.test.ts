import { describe, expect, it } from 'vitest';
import { anySignal, systemClock } from './clock.js';

describe('systemClock.sleep', () => {
  it('waits longer than a Node timer can (a 30-day --interval) without firing early', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const stop = new AbortController();
      let done = false;
      const sleeping = systemClock.sleep(30 * 24 * 3600 * 1000, stop.signal).then(() => {
        done = true;
      });
      await new Promise((r) => setTimeout(r, 100));
      expect(done).toBe(false);
      stop.abort();
      await sleeping;
      expect(done).toBe(true);
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('resolves at once for an aborted signal or a wait of 0', async () => {
    await systemClock.sleep(60_000, AbortSignal.abort());
    await systemClock.sleep(0);
  });
});

describe('anySignal', () => {
  it('aborts with the first signal that does, and leaves no listener behind when disposed', () => {
    const long = new AbortController();
    const short = new AbortController();
    const either = anySignal([long.signal, short.signal, undefined]);
    short.abort('preempted');
    expect(either.signal.aborted).toBe(true);
    expect(either.signal.reason).toBe('preempted');
    const again = anySignal([long.signal]);
    again.dispose();
    long.abort('stopping');
    expect(again.signal.aborted).toBe(false);
  });
});
