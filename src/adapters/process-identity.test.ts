import { describe, expect, it } from 'vitest';
import { parseProcStat } from './process-identity.js';

const tail = (state: string, start: string) =>
  `${state} 7934 7934 5793 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 ${start} 3133440 409 18446744073709551615 0`;

describe('parseProcStat', () => {
  it('reads the state (field 3) and start time (field 22)', () => {
    expect(parseProcStat(`7939 (cat) ${tail('R', '37478')}`)).toEqual({
      state: 'R',
      startTime: '37478',
    });
  });

  it('finds the fields after a command name holding spaces and parentheses', () => {
    expect(parseProcStat(`12 (node (gitdock) x) ${tail('Z', '99')}\n`)).toEqual({
      state: 'Z',
      startTime: '99',
    });
  });

  it.each(['', 'garbage', '1 (x) R 1 2', `1 (x) ${tail('S', 'abc')}`])(
    'is undefined for %j',
    (t) => {
      expect(parseProcStat(t)).toBeUndefined();
    },
  );
});
