import { describe, expect, it } from 'vitest';
import type { HealthcheckSpec } from '../core/types.js';
import { healthGateMs, MAX_DERIVED_HEALTH_TIMEOUT_MS } from './wait-until-up.js';

describe('healthGateMs', () => {
  const cmd = ['CMD', 'true'];
  it.each<[string, HealthcheckSpec | undefined, number]>([
    ['no healthcheck: the fallback', undefined, 60_000],
    ['NONE: the fallback', { test: ['NONE'], intervalMs: 600_000 }, 60_000],
    [
      'a fast check: the fallback',
      { test: cmd, intervalMs: 2_000, timeoutMs: 1_000, retries: 3 },
      60_000,
    ],
    // 90 s between checks: 3 x (90 s + 10 s).
    ['interval 1m30s, timeout 10s', { test: cmd, intervalMs: 90_000, timeoutMs: 10_000 }, 300_000],
    // Engine defaults for what is not set: 30 s interval and timeout, 3 retries.
    ['only the test (engine defaults)', { test: cmd }, 180_000],
    [
      'start period added',
      { test: cmd, intervalMs: 20_000, timeoutMs: 5_000, retries: 2, startPeriodMs: 40_000 },
      90_000,
    ],
    ['capped', { test: cmd, intervalMs: 3_600_000, retries: 5 }, MAX_DERIVED_HEALTH_TIMEOUT_MS],
  ])('%s', (_what, healthcheck, expected) => {
    expect(healthGateMs(60_000, healthcheck)).toBe(expected);
  });

  it('never shortens a longer fallback', () => {
    expect(healthGateMs(30 * 60_000, { test: cmd, intervalMs: 90_000 })).toBe(30 * 60_000);
  });
});
