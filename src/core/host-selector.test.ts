import { describe, expect, it } from 'vitest';
import { matchesHost } from './host-selector.js';

describe('matchesHost', () => {
  it.each([
    // exact names
    ['web-1', 'web-1', true],
    ['web-1', 'web-10', false],
    ['web-1', 'xweb-1', false],
    // `.` and `-` are literal, not regex
    ['web.1', 'web.1', true],
    ['web.1', 'webx1', false],
    ['a-c', 'b', false],
    // `*`: any run, including none
    ['web-*', 'web-1', true],
    ['web-*', 'web-12', true],
    ['web-*', 'web-', true],
    ['web-*', 'web', false],
    ['web-*', 'db-1', false],
    ['*', 'anything', true],
    ['*-1', 'web-1', true],
    ['*-1', 'web-2', false],
    ['w*b*', 'web-1', true],
    // `?`: exactly one character
    ['db-?', 'db-1', true],
    ['db-?', 'db-10', false],
    ['db-?', 'db-', false],
    ['??', 'ab', true],
    // classes
    ['[ab]-1', 'a-1', true],
    ['[ab]-1', 'b-1', true],
    ['[ab]-1', 'c-1', false],
    ['[ab]-1', 'ab-1', false],
    ['web-[0-9]', 'web-7', true],
    ['web-[0-9]', 'web-a', false],
    ['web-[0-9]*', 'web-12', true],
    ['[a-c]-1', 'b-1', true],
    ['[a-c]-1', 'd-1', false],
    ['[.-]x', '.x', true],
    ['[.-]x', '-x', true],
    // an unclosed `[` is literal
    ['[ab', '[ab', true],
    ['[ab', 'a', false],
    // matching is of the whole name
    ['web', 'web-1', false],
  ])('%s matches %s: %s', (pattern, host, expected) => {
    expect(matchesHost([pattern], host)).toBe(expected);
  });

  it('matches when any pattern of the selector does', () => {
    expect(matchesHost(['db-?', 'web-*'], 'web-3')).toBe(true);
    expect(matchesHost(['db-?', 'web-*'], 'mail-1')).toBe(false);
  });

  it('matches nothing with an empty selector', () => {
    expect(matchesHost([], 'web-1')).toBe(false);
  });

  it('gives the same answer on repeated calls (cached patterns)', () => {
    for (let i = 0; i < 3; i++) {
      expect(matchesHost(['web-*'], 'web-1')).toBe(true);
      expect(matchesHost(['web-*'], 'db-1')).toBe(false);
    }
  });
});
