import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { checkGlob, HOST_GLOB_PATTERN, matchesHost } from './host-selector.js';

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
    ['[-a]x', '-x', true],
    ['[a-]x', 'ax', true],
    // an invalid glob matches nothing (and never throws); checkGlob reports it
    ['[ab', '[ab', false],
    ['[ab', 'a', false],
    ['web-[9-1]', 'web-5', false],
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

describe('checkGlob', () => {
  const schemaAccepts = (glob: string) =>
    new Ajv().compile({ type: 'string', pattern: HOST_GLOB_PATTERN })(glob) as boolean;

  it.each([
    ['[hb', /never closed/],
    ['web-[', /never closed/],
    ['[]', /matches nothing/],
    ['web-[9-1]', /range 9-1 .* is reversed; write 1-9/],
    ['[z-a]', /reversed/],
    ['[a-c-e]', /a class holds/],
    ['[a--]', /a class holds/],
    ['web!', /cannot be part of a host name/],
    ['', /empty glob/],
  ])('rejects %s, and so does the schema pattern', (glob, message) => {
    expect(checkGlob(glob)).toMatch(message);
    expect(schemaAccepts(glob)).toBe(false);
  });

  it.each([
    'web-1',
    'web-*',
    'db-?',
    '[ab]-1',
    'web-[0-9]',
    '[.-]x',
    '[-a]x',
    '[a-]x',
    '[-]x',
    '[._0-9a-z]',
    'w[a-a]b',
    '[.-z]',
  ])('accepts %s, and so does the schema pattern', (glob) => {
    expect(checkGlob(glob)).toBeUndefined();
    expect(schemaAccepts(glob)).toBe(true);
  });

  it('the schema pattern and the parser agree on every short glob over a small alphabet', () => {
    // Exhaustive up to length 4 over the characters that matter: both must
    // accept exactly the same globs, or the JSON Schema and the CLI disagree.
    const alphabet = ['a', 'c', '1', '.', '-', '[', ']', '*', '_'];
    const check = new Ajv().compile({ type: 'string', pattern: HOST_GLOB_PATTERN });
    let globs = [''];
    for (let n = 1; n <= 4; n++) {
      globs = globs.flatMap((g) => alphabet.map((c) => g + c));
      for (const glob of globs) {
        expect([glob, check(glob)]).toEqual([glob, checkGlob(glob) === undefined]);
      }
    }
  });
});
