// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Compose interpolation, not templates
import { describe, expect, it } from 'vitest';
import { MAX_ENV_FILE_BYTES, parseDotenv, toEnvironment } from './dotenv.js';

const host: Record<string, string> = { HOSTVAR: 'from-host' };
const lookup = (n: string) => host[n];

function parse(text: string) {
  return parseDotenv('stacks/app/.env', Buffer.from(text), lookup);
}

function values(text: string) {
  const r = parse(text);
  expect(r.errors).toEqual([]);
  return Object.fromEntries(r.entries.map((e) => [e.key, e.value]));
}

describe('parseDotenv: Compose dotenv rules', () => {
  it.each([
    ['A=1', { A: '1' }],
    ['A=', { A: '' }],
    ['A = spaced ', { A: 'spaced' }],
    ['export A=1', { A: '1' }],
    ['# comment\n\nA=1\n  # indented comment', { A: '1' }],
    ['A=value # inline comment', { A: 'value' }],
    ['A=value#not-a-comment', { A: 'value#not-a-comment' }],
    ["A='single $HOSTVAR \\n literal'", { A: 'single $HOSTVAR \\n literal' }],
    ["A='quoted' # comment", { A: 'quoted' }],
    ['A="double\\nline"', { A: 'double\nline' }],
    ['A="tab\\there \\"q\\" back\\\\slash"', { A: 'tab\there "q" back\\slash' }],
    ['A="multi\nline"\nB=2', { A: 'multi\nline', B: '2' }],
    ['A="# not a comment"', { A: '# not a comment' }],
    ['A=$HOSTVAR', { A: 'from-host' }],
    ['A="${HOSTVAR}-x"', { A: 'from-host-x' }],
    ['A=1\nB=${A}2', { A: '1', B: '12' }],
    ['A=${UNSET:-dflt}', { A: 'dflt' }],
    ['A="\\$HOSTVAR"', { A: '$HOSTVAR' }],
    ['A=$$HOSTVAR', { A: '$HOSTVAR' }],
    ['A', { A: undefined }],
    ['export A', { A: undefined }],
    ['A=1\r\nB=2\r\n', { A: '1', B: '2' }],
    ['\uFEFFA=1', { A: '1' }],
    ['A.B-C=1', { 'A.B-C': '1' }],
    ['A=x=y', { A: 'x=y' }],
  ])('%j', (text, expected) => {
    expect(values(text)).toEqual(expected);
  });

  it('later lines win and the host lookup wins over earlier lines', () => {
    expect(values('A=1\nA=2')).toEqual({ A: '2' });
    expect(values('HOSTVAR=repo\nB=$HOSTVAR')).toEqual({ HOSTVAR: 'repo', B: 'from-host' });
  });

  it('keeps the line of each entry (the start of a multi-line value) and what it used', () => {
    const r = parse('A="x\ny"\n\nB=$HOSTVAR\nC=1');
    expect(r.entries.map((e) => [e.key, e.line, e.uses])).toEqual([
      ['A', 1, []],
      ['B', 4, ['HOSTVAR']],
      ['C', 5, []],
    ]);
  });

  it.each([
    ['DB_PASSWORD hunter9', 'line 1: expected KEY=value'],
    ['OK=1\n=nokey', 'line 2: expected KEY=value'],
    ['BAD KEY=secret', 'line 1: expected KEY=value'],
    ['A="s3cr3t\nB=2', 'line 1: unclosed double quote'],
    ["A='s3cr3t", 'line 1: unclosed single quote'],
    ['A="x" trailing', 'line 1: unexpected text after the closing quote'],
    ['A=${', 'line 1: invalid `$` syntax in the value; write `$$` for a literal `$`'],
    ['A=x\u0000y', 'line 1: the value contains a NUL character'],
  ])('%j is reported by line only, never printing the value', (text, message) => {
    const r = parse(text);
    expect(r.errors.map((e) => e.message)).toEqual([message]);
    expect(r.errors[0]!.file).toBe('stacks/app/.env');
    for (const secret of ['hunter9', 'secret', 's3cr3t', 'trailing'])
      expect(r.errors[0]!.message).not.toContain(secret);
  });

  it('reports every bad line at once', () => {
    const r = parse('bad one\nA=1\nbad two');
    expect(r.errors.map((e) => e.line)).toEqual([1, 3]);
    expect(r.entries.map((e) => e.key)).toEqual(['A']);
  });

  it('reports unset variables with their line', () => {
    const r = parse('A=1\nB=${NOPE}\nC=${REQ:?x}');
    expect(r.missing).toEqual([
      { name: 'NOPE', required: false, line: 2 },
      { name: 'REQ', required: true, line: 3 },
    ]);
  });

  it('refuses a file over 1 MiB and text that is not UTF-8', () => {
    const big = parseDotenv('e.env', new Uint8Array(MAX_ENV_FILE_BYTES + 1), lookup);
    expect(big.errors[0]!.message).toMatch(/limited to 1048576 bytes \(1 MiB\)/);
    const bad = parseDotenv('e.env', new Uint8Array([0x41, 0x3d, 0xff]), lookup);
    expect(bad.errors[0]!.message).toMatch(/not valid UTF-8/);
  });
});

describe('toEnvironment', () => {
  it('resolves KEY alone through the environment, dropping it when unset', () => {
    const r = parse('A=1\nHOSTVAR\nMISSING');
    expect(toEnvironment(r.entries, lookup)).toEqual({ A: '1', HOSTVAR: 'from-host' });
  });
});
