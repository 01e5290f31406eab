// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Compose interpolation, not templates
import { describe, expect, it } from 'vitest';
import { interpolateTree, substitute } from './interpolate.js';

const env: Record<string, string> = { FOO: 'foo', EMPTY: '', B: 'bee', DOLLAR: 'a$b' };
const lookup = (n: string) => (Object.hasOwn(env, n) ? env[n] : undefined);

describe('substitute: the cases of the Compose interpolation documentation', () => {
  it.each([
    // [template, expected]
    ['$FOO', 'foo'],
    ['${FOO}', 'foo'],
    ['pre-${FOO}-post', 'pre-foo-post'],
    ['$FOO.bar', 'foo.bar'],
    ['$FOO_bar', ''],
    ['${FOO}_bar', 'foo_bar'],
    // `:-`: default when unset or empty; `-`: only when unset.
    ['${UNSET:-default}', 'default'],
    ['${EMPTY:-default}', 'default'],
    ['${FOO:-default}', 'foo'],
    ['${UNSET-default}', 'default'],
    ['${EMPTY-default}', ''],
    ['${FOO-default}', 'foo'],
    ['${UNSET:-}', ''],
    // `:+`: alternative when set and non-empty; `+`: when set.
    ['${FOO:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${UNSET:+alt}', ''],
    ['${FOO+alt}', 'alt'],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    // `?` and `:?` with a value present.
    ['${FOO:?must be set}', 'foo'],
    ['${FOO?must be set}', 'foo'],
    ['${EMPTY?must be set}', ''],
    // Nested values in defaults and alternatives.
    ['${UNSET:-${FOO}}', 'foo'],
    ['${UNSET:-${UNSET2:-deep}}', 'deep'],
    ['${FOO:+${B}-x}', 'bee-x'],
    ['${UNSET:-$FOO}', 'foo'],
    ['${UNSET:-a}b}', 'ab}'],
    // `$$` is a literal `$`, never interpolated.
    ['$$FOO', '$FOO'],
    ['$${FOO}', '${FOO}'],
    ['echo $$$$', 'echo $$'],
    ['$$$FOO', '$foo'],
    ['${UNSET:-$$x}', '$x'],
    // A `$` that starts no variable stays as written.
    ['cost $5', 'cost $5'],
    ['end$', 'end$'],
    ['a $ b', 'a $ b'],
    // A value holding `$` is not interpolated again.
    ['${DOLLAR}', 'a$b'],
    ['no variables', 'no variables'],
    ['', ''],
  ])('%j -> %j', (template, expected) => {
    const r = substitute(template, lookup);
    expect(r.ok && r.value).toBe(expected);
  });

  it.each([
    ['${', 0],
    ['x ${FOO', 2],
    ['${1A}', 0],
    ['${}', 0],
    ['${FOO BAR}', 0],
    ['${FOO:x}', 0],
    ['${FOO!}', 0],
    ['${-x}', 0],
    ['ok ${UNSET:-${}}', 12],
  ])('invalid syntax %j is an error at offset %d', (template, offset) => {
    const r = substitute(template, lookup);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.offset).toBe(offset);
  });

  it.each([
    ['${UNSET}', [{ name: 'UNSET', required: false }]],
    ['$UNSET', [{ name: 'UNSET', required: false }]],
    ['${UNSET:?must be set}', [{ name: 'UNSET', required: true, message: 'must be set' }]],
    ['${UNSET?}', [{ name: 'UNSET', required: true, message: '' }]],
    ['${EMPTY:?no empty}', [{ name: 'EMPTY', required: true, message: 'no empty' }]],
    ['${UNSET:-x}', []],
    ['${UNSET-x}', []],
    ['${UNSET:+x}', []],
    ['${UNSET:-${OTHER}}', [{ name: 'OTHER', required: false }]],
  ])('%j reports missing %j', (template, missing) => {
    const r = substitute(template, lookup);
    expect(r.ok && r.missing).toEqual(missing);
  });

  it('reports the variables it used', () => {
    const r = substitute('${FOO} ${UNSET:-$B} ${EMPTY:+x}', lookup);
    expect(r.ok && r.used).toEqual(['FOO', 'B', 'EMPTY']);
  });

  it('leaves no interpolation syntax behind: every ${ in the result came from $$', () => {
    const pieces = ['$FOO', '${B}', '${UNSET:-${FOO}}', '$${x}', 'text', '${EMPTY:+y}', '$$', ' '];
    // Every combination of three pieces: the output has `${` only where `$${` was written.
    for (const a of pieces)
      for (const b of pieces)
        for (const c of pieces) {
          const template = a + b + c;
          const r = substitute(template, lookup);
          if (!r.ok) throw new Error(template);
          const escapes = template.split('$${').length - 1;
          expect(r.value.split('${').length - 1, template).toBeLessThanOrEqual(escapes);
        }
  });
});

describe('interpolateTree', () => {
  it('interpolates values at any depth, never keys, and skips other x- fields', () => {
    const tree: Record<string, unknown> = {
      services: { web: { image: 'app:${FOO}', command: ['echo', '$$HOME', '$B'], '${FOO}': 'k' } },
      'x-other': { bad: '${' },
      'x-gitdock': { profiles: ['${FOO}'] },
    };
    const seen: string[] = [];
    interpolateTree(tree, lookup, {
      used: (n) => seen.push(n),
      missing: () => {},
      invalid: (m) => seen.push(`invalid ${m}`),
    });
    expect(tree).toEqual({
      services: { web: { image: 'app:foo', command: ['echo', '$HOME', 'bee'], '${FOO}': 'k' } },
      'x-other': { bad: '${' },
      'x-gitdock': { profiles: ['foo'] },
    });
    expect(seen).toEqual(['FOO', 'B', 'FOO']);
  });

  it('reports invalid and missing with the path', () => {
    const tree: Record<string, unknown> = { services: { web: { image: '${', user: '$NOPE' } } };
    const invalid: unknown[] = [];
    const missing: unknown[] = [];
    interpolateTree(tree, lookup, {
      used: () => {},
      missing: (m, path) => missing.push([m.name, path]),
      invalid: (_m, path) => invalid.push(path),
    });
    expect(invalid).toEqual([['services', 'web', 'image']]);
    expect(missing).toEqual([['NOPE', ['services', 'web', 'user']]]);
    expect(tree).toEqual({ services: { web: { image: '${', user: '' } } });
  });
});
