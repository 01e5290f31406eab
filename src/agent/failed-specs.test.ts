import { describe, expect, it } from 'vitest';
import { backoffDelay, withJitter } from './backoff.js';
import { FailedSpecs } from './failed-specs.js';

describe('backoffDelay', () => {
  it.each([
    [0, 0],
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [5, 16_000],
    [6, 30_000],
    [60, 30_000],
  ])('after %i failures waits %i ms (base 1s, cap 30s)', (failures, ms) => {
    expect(backoffDelay({ baseMs: 1000, capMs: 30_000 }, failures)).toBe(ms);
  });

  it('adds at most the given fraction of jitter', () => {
    expect(withJitter(1000, 0.1, () => 0)).toBe(1000);
    expect(withJitter(1000, 0.1, () => 0.999)).toBe(1100);
  });
});

describe('FailedSpecs', () => {
  const policy = { baseMs: 10_000, capMs: 40_000 };

  it('holds a failed spec until its backoff ends, doubling each time, capped', () => {
    const f = new FailedSpecs(policy);
    f.recordFailure('web', 'h1', 'c1', 'exited with code 3\n  last log lines', 0);
    expect(f.holdReason('web', 'h1', 9_999)).toMatch(
      /failed 1 time at c1 \(exited with code 3\); next try in 1s/,
    );
    expect(f.holdReason('web', 'h1', 10_000)).toBeUndefined();
    f.recordFailure('web', 'h1', 'c1', 'again', 10_000);
    expect(f.holdReason('web', 'h1', 29_999)).toBeDefined();
    expect(f.holdReason('web', 'h1', 30_000)).toBeUndefined();
    f.recordFailure('web', 'h1', 'c1', 'again', 30_000);
    f.recordFailure('web', 'h1', 'c1', 'again', 30_000);
    expect(f.nextRetryAt()).toBe(70_000);
  });

  it('lets a different spec of the same service run at once (a new commit, a revert)', () => {
    const f = new FailedSpecs(policy);
    f.recordFailure('web', 'h1', 'c1', 'boom', 0);
    expect(f.holdReason('web', 'h2', 1)).toBeUndefined();
    expect(f.get('web', 'h2')).toBeUndefined();
    expect(f.get('web', 'h1')?.reason).toBe('boom');
  });

  it('forgets a service on success and when it is no longer desired', () => {
    const f = new FailedSpecs(policy);
    f.recordFailure('web', 'h1', 'c1', 'boom', 0);
    f.recordFailure('db', 'h9', 'c1', 'boom', 0);
    f.recordSuccess('web');
    expect(f.holdReason('web', 'h1', 1)).toBeUndefined();
    f.retain(new Set(['web']));
    expect(f.holdReason('db', 'h9', 1)).toBeUndefined();
    expect(f.nextRetryAt()).toBeUndefined();
  });
});
