import { describe, expect, it } from 'vitest';
import { yaml } from './test-fixtures.js';
import { MAX_MANIFEST_BYTES, parseYamlSource } from './yaml-source.js';

const encoder = new TextEncoder();

function parse(text: string | Uint8Array, file = 'hosts/web-1/app.yaml') {
  return parseYamlSource(file, typeof text === 'string' ? encoder.encode(text) : text);
}

function parseOk(text: string) {
  const result = parse(text);
  if (!result.ok) expect.fail(JSON.stringify(result.errors));
  return result.value;
}

/** Nine levels of nine: 9^9 (387 million) strings if expanded. */
const BILLION_LAUGHS = yaml(
  'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
  'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
  'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
  'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
  'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
  'f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]',
  'g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]',
  'h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]',
  'i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]',
);

describe('parseYamlSource: refused input', () => {
  it.each([
    {
      name: 'duplicate top-level key',
      text: yaml('image: app', 'tag: "1.0"', 'tag: "1.1"'),
      error: {
        line: 3,
        column: 1,
        path: '/tag',
        message: 'duplicate key "tag": expected each key once per mapping',
      },
    },
    {
      name: 'duplicate nested key',
      text: yaml('image: app', 'healthcheck:', '  retries: 1', '  retries: 2'),
      error: {
        line: 4,
        column: 3,
        path: '/healthcheck/retries',
        message: 'duplicate key "retries": expected each key once per mapping',
      },
    },
    {
      name: 'duplicate key inside a list item',
      text: yaml('ports:', '  - target: 80', '    target: 81'),
      error: {
        line: 3,
        column: 5,
        path: '/ports/0/target',
        message: 'duplicate key "target": expected each key once per mapping',
      },
    },
    {
      name: 'duplicate key written once plain and once quoted',
      text: yaml('image: app', '"image": other'),
      error: {
        line: 2,
        column: 1,
        path: '/image',
        message: 'duplicate key "image": expected each key once per mapping',
      },
    },
    {
      name: 'unterminated quoted string',
      text: yaml('image: app', 'tag: "1.0'),
      error: { line: 3, column: 1, path: '', message: 'not valid YAML: Missing closing "quote' },
    },
    {
      name: 'tab indentation',
      text: yaml('image: app', 'healthcheck:', '\tretries: 3'),
      error: {
        line: 3,
        column: 1,
        path: '',
        message: expect.stringMatching(/^not valid YAML: .*[Tt]ab/),
      },
    },
    {
      name: 'two documents in one file',
      text: yaml('image: app', '---', 'image: other'),
      error: {
        line: 2,
        column: 1,
        path: '',
        message: expect.stringMatching(/^not valid YAML: .*multiple documents/),
      },
    },
    {
      name: 'alias to an anchor that does not exist',
      text: yaml('image: *nothing'),
      error: {
        line: 1,
        column: 8,
        path: '',
        message: 'not valid YAML: alias *nothing has no anchor &nothing before it',
      },
    },
  ])('$name', ({ text, error }) => {
    const result = parse(text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([{ file: 'hosts/web-1/app.yaml', ...error }]);
  });

  it('refuses an alias bomb (billion laughs) without expanding it', () => {
    const started = performance.now();
    const result = parse(BILLION_LAUGHS);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          file: 'hosts/web-1/app.yaml',
          path: '',
          message: expect.stringMatching(
            /^YAML aliases expand too far \(.*\); at most 100 alias uses are allowed$/,
          ),
        },
      ],
    });
  });

  it('refuses a file over 1 MiB before parsing it', () => {
    const bytes = new Uint8Array(MAX_MANIFEST_BYTES + 1).fill(0x20);
    expect(parse(bytes)).toEqual({
      ok: false,
      errors: [
        {
          file: 'hosts/web-1/app.yaml',
          path: '',
          message: 'file is 1048577 bytes; manifests are limited to 1048576 bytes (1 MiB)',
        },
      ],
    });
  });

  it('accepts a file of exactly 1 MiB', () => {
    const head = encoder.encode('image: app\ntag: "1.0"\n# ');
    const bytes = new Uint8Array(MAX_MANIFEST_BYTES).fill(0x78);
    bytes.set(head);
    bytes[bytes.length - 1] = 0x0a;
    expect(parse(bytes).ok).toBe(true);
  });

  it('refuses bytes that are not UTF-8', () => {
    expect(parse(new Uint8Array([0x69, 0x3a, 0x20, 0xff, 0xfe, 0x0a]))).toEqual({
      ok: false,
      errors: [
        {
          file: 'hosts/web-1/app.yaml',
          path: '',
          message: 'file is not valid UTF-8 text; expected a YAML mapping',
        },
      ],
    });
  });
});

describe('parseYamlSource: values', () => {
  it.each([
    // YAML 1.2 core schema, as Compose v2: these stay strings.
    { text: 'restart: no', value: { restart: 'no' } },
    { text: 'a: on', value: { a: 'on' } },
    { text: 'a: yes', value: { a: 'yes' } },
    { text: 'a: off', value: { a: 'off' } },
    { text: 'a: true', value: { a: true } },
    { text: 'a: 1.0', value: { a: 1 } },
    { text: 'a: "1.0"', value: { a: '1.0' } },
    { text: 'a: 0755', value: { a: 755 } },
    { text: 'a: 0o755', value: { a: 493 } },
    { text: 'a:', value: { a: null } },
    { text: 'a: ~', value: { a: null } },
    // No merge keys in YAML 1.2: `<<` is an ordinary (and so unknown) key.
    { text: 'b: &x {c: 1}\na:\n  <<: *x', value: { b: { c: 1 }, a: { '<<': { c: 1 } } } },
    { text: '{"image": "app", "tag": "1"}', value: { image: 'app', tag: '1' } },
    { text: '', value: null },
    { text: '# only a comment', value: null },
  ])('$text', ({ text, value }) => {
    expect(parseOk(`${text}\n`).value).toEqual(value);
  });

  it('skips a UTF-8 byte order mark', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode('image: app\n')]);
    const result = parse(bytes);
    expect(result.ok && result.value.value).toEqual({ image: 'app' });
  });

  it('allows a few aliases, as real manifests use them', () => {
    const source = parseOk(yaml('x: &env {A: "1"}', 'y: *env', 'z: *env'));
    expect(source.value).toEqual({ x: { A: '1' }, y: { A: '1' }, z: { A: '1' } });
  });
});

describe('parseYamlSource: locate', () => {
  const source = parseOk(
    yaml(
      'image: app', //                        line 1
      'environment:', //                      line 2
      '  RAILS_ENV: production', //           line 3
      '  EMPTY:', //                          line 4
      'ports:', //                            line 5
      '  - "80"', //                          line 6
      '  - target: 443', //                   line 7
      '    published: 8443', //               line 8
      'labels: {a.b/c: x}', //                line 9
    ),
  );

  it.each([
    { path: [], key: false, at: { line: 1, column: 1 } },
    { path: ['image'], key: false, at: { line: 1, column: 8 } },
    { path: ['image'], key: true, at: { line: 1, column: 1 } },
    { path: ['environment', 'RAILS_ENV'], key: false, at: { line: 3, column: 14 } },
    { path: ['environment', 'RAILS_ENV'], key: true, at: { line: 3, column: 3 } },
    { path: ['environment', 'EMPTY'], key: true, at: { line: 4, column: 3 } },
    { path: ['ports', 0], key: false, at: { line: 6, column: 5 } },
    { path: ['ports', 1, 'published'], key: false, at: { line: 8, column: 16 } },
    { path: ['ports', 1, 'published'], key: true, at: { line: 8, column: 5 } },
    { path: ['labels', 'a.b/c'], key: true, at: { line: 9, column: 10 } },
    // Missing segments fall back to the nearest parent that exists.
    { path: ['ports', 7], key: false, at: { line: 6, column: 3 } },
    { path: ['environment', 'NOPE'], key: false, at: { line: 3, column: 3 } },
    { path: ['nope', 'deeper'], key: false, at: { line: 1, column: 1 } },
    // A list index used against a mapping stops there.
    { path: ['environment', 0], key: false, at: { line: 3, column: 3 } },
  ] as const)('$path (key: $key) -> $at.line:$at.column', ({ path, key, at }) => {
    expect(source.locate(path, key)).toEqual(at);
  });

  it('finds keys that YAML reads as numbers', () => {
    const numeric = parseOk(yaml('environment:', '  8080: x'));
    expect(numeric.locate(['environment', 8080], true)).toEqual({ line: 2, column: 3 });
  });

  it('points at 1:1 in an empty document', () => {
    expect(parseOk('').locate(['image'])).toEqual({ line: 1, column: 1 });
  });
});
