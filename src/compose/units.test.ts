import { describe, expect, it } from 'vitest';
import {
  mapOrListEntries,
  parseByteSize,
  parseComposeDuration,
  parseCpus,
  parseInteger,
  parseMemorySize,
  stringOrList,
} from './units.js';

describe('parseByteSize', () => {
  it.each([
    [512, 512],
    ['512', 512],
    ['1k', 1024],
    ['1kb', 1024],
    ['1KiB', 1024],
    ['512m', 512 * 1024 ** 2],
    ['512M', 512 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1gb', 1024 ** 3],
    ['1.5gb', 1.5 * 1024 ** 3],
    ['1.5k', 1536],
    ['0.3k', 307],
    ['2 mb', 2 * 1024 ** 2],
    ['1t', 1024 ** 4],
    ['10b', 10],
  ])('%j is %d bytes', (input, bytes) => {
    expect(parseByteSize(input)).toBe(bytes);
  });

  it.each([['-1'], ['1x'], ['m'], [''], [1.5], [-3], [true], [null], ['1 g b']])(
    '%j is not a size',
    (input) => {
      expect(parseByteSize(input)).toBeUndefined();
    },
  );

  it('takes -1 as unlimited only where a memory size may be unlimited', () => {
    expect(parseMemorySize(-1)).toBe(-1);
    expect(parseMemorySize('-1')).toBe(-1);
    expect(parseMemorySize('1g')).toBe(1024 ** 3);
    expect(parseByteSize(-1)).toBeUndefined();
  });
});

describe('parseComposeDuration', () => {
  it.each([
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1h', 3_600_000],
    ['2.5s', 2500],
  ])('%s is %d ms', (input, ms) => {
    expect(parseComposeDuration(input)).toBe(ms);
  });
  it.each([['10'], [10], [''], ['1d'], [null]])('%j is not a duration', (input) => {
    expect(parseComposeDuration(input)).toBeUndefined();
  });
});

describe('parseCpus', () => {
  it.each([
    [0.5, 500_000_000],
    ['1.5', 1_500_000_000],
    [2, 2_000_000_000],
    ['0.001', 1_000_000],
  ])('%j cpus is %d NanoCpus', (input, nano) => {
    expect(parseCpus(input)).toBe(nano);
  });
  it.each([['-1'], ['half'], [-0.5], [null]])('%j is not a CPU count', (input) => {
    expect(parseCpus(input)).toBeUndefined();
  });
});

describe('value forms', () => {
  it('parses integers given as numbers or text', () => {
    expect(parseInteger(5)).toBe(5);
    expect(parseInteger('-7')).toBe(-7);
    expect(parseInteger('1.5')).toBeUndefined();
    expect(parseInteger(1.5)).toBeUndefined();
  });

  it('takes a string or a list of strings', () => {
    expect(stringOrList('8.8.8.8')).toEqual(['8.8.8.8']);
    expect(stringOrList(['a', 1])).toEqual(['a', '1']);
    expect(stringOrList({ a: 1 })).toBeUndefined();
    expect(stringOrList(undefined)).toBeUndefined();
  });

  it('reads maps and KEY=value lists alike, values as text', () => {
    expect(mapOrListEntries({ 'net.core.somaxconn': 1024, x: null })).toEqual([
      ['net.core.somaxconn', '1024'],
      ['x', ''],
    ]);
    expect(mapOrListEntries(['a=1', 'b=x=y', 'c'])).toEqual([
      ['a', '1'],
      ['b', 'x=y'],
      ['c', ''],
    ]);
    expect(mapOrListEntries('a=1')).toBeUndefined();
    expect(mapOrListEntries({ a: { b: 1 } })).toBeUndefined();
  });
});
