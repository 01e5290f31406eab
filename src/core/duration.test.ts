import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['0s', 0],
    ['10s', 10_000],
    ['500ms', 500],
    ['2.5s', 2500],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['1h2m3s', 3_723_000],
    ['1h2m3.5s', 3_723_500],
    ['1500us', 2],
    ['1000000ns', 1],
    ['100us', 0],
    ['10s500ms', 10_500],
  ])('%s -> %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '10', 's', '1x', '-1s', '1 s', ' 1s', '1s ', '1d', '1.s', '.5s', '1m30', '1S'])(
    'throws on %j',
    (text) => {
      expect(() => parseDuration(text)).toThrow(`invalid duration ${JSON.stringify(text)}`);
    },
  );
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [1, '1ms'],
    [500, '500ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [10_000, '10s'],
    [59_999, '59.999s'],
    [60_000, '1m'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [3_661_000, '1h1m1s'],
    [5_400_000, '1h30m'],
    [86_400_000, '24h'],
  ])('%i ms -> %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([0, 1, 999, 1000, 1001, 1500, 59_999, 60_000, 61_500, 3_600_500, 3_723_500, 86_399_999])(
    'round-trips %i ms through parseDuration',
    (ms) => {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    },
  );
});
