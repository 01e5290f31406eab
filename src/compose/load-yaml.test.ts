// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Compose interpolation, not templates
import { describe, expect, it } from 'vitest';
import { Positions } from './load-positions.js';
import { keepsText, MAX_COMPOSE_FILE_BYTES, parseComposeYaml } from './load-yaml.js';

function parse(text: string | Uint8Array, positions = new Positions()) {
  return parseComposeYaml(
    'stacks/app/compose.yaml',
    typeof text === 'string' ? Buffer.from(text) : text,
    positions,
  );
}

function value(text: string) {
  const r = parse(text);
  if (!r.ok) expect.fail(JSON.stringify(r.errors));
  return r.value.value;
}

function lines(...l: string[]) {
  return `${l.join('\n')}\n`;
}

describe('parseComposeYaml: exact text of values Compose passes as strings', () => {
  it.each([
    ['123456789012345678', '123456789012345678'],
    ['1.10', '1.10'],
    ['true', 'true'],
    ['false', 'false'],
    ['0x1F', '0x1F'],
    ['1e3', '1e3'],
    ['007', '007'],
    ['-0', '-0'],
    ['.inf', '.inf'],
    ['"quoted"', 'quoted'],
    ['yes', 'yes'],
    ['on', 'on'],
  ])('environment value %s -> %j', (written, text) => {
    const v = value(
      lines(
        'services:',
        '  web:',
        '    environment:',
        `      A: ${written}`,
        `    labels: { l: ${written} }`,
      ),
    );
    const web = (v.services as Record<string, Record<string, Record<string, unknown>>>).web!;
    expect(web.environment!.A).toBe(text);
    expect(web.labels!.l).toBe(text);
  });

  it('keeps numbers elsewhere as numbers and null as null', () => {
    const v = value(
      lines(
        'services:',
        '  web:',
        '    cpus: 1.5',
        '    environment: { A: ~, B: }',
        '    ports: [80]',
      ),
    );
    expect(v).toEqual({
      services: { web: { cpus: 1.5, environment: { A: null, B: null }, ports: [80] } },
    });
  });

  it('keeps exact text through anchors and merge keys used under environment', () => {
    const v = value(
      lines(
        'x-env: &env',
        '  BIG: 123456789012345678',
        'services:',
        '  web:',
        '    environment:',
        '      <<: *env',
        '      OWN: 1.10',
      ),
    );
    expect((v.services as Record<string, unknown>).web).toEqual({
      environment: { BIG: '123456789012345678', OWN: '1.10' },
    });
    // Outside the fields Compose passes as strings, a number stays a number.
    expect(typeof (v['x-env'] as Record<string, unknown>).BIG).toBe('number');
  });

  it.each([
    [['services', 'web', 'environment', 'A'], true],
    [['services', 'web', 'labels', 'x'], true],
    [['networks', 'n', 'labels', 'x'], true],
    [['volumes', 'v', 'driver_opts', 'o'], true],
    [['services', 'web', 'cpus'], false],
    [['services', 'web', 'environment'], false],
    [['services', 'web', 'environment', 0], false],
  ] as const)('keepsText(%j) = %s', (path, expected) => {
    expect(keepsText(path)).toBe(expected);
  });
});

describe('parseComposeYaml: modes written with a leading 0 are octal, as Go yaml reads them', () => {
  it.each([
    ['0700', 0o700],
    ['01777', 0o1777],
    ['0o750', 0o750],
    ['700', 700],
    ['0', 0],
    ['"0700"', '0700'],
    ['0x1ff', 0x1ff],
    ['0800', 800],
  ])('mode: %s -> %j in tmpfs, configs and secrets', (written, expected) => {
    const v = value(
      lines(
        'services:',
        '  web:',
        '    volumes:',
        `      - { type: tmpfs, target: /t, tmpfs: { mode: ${written} } }`,
        `    configs: [{ source: c, mode: ${written} }]`,
        `    secrets: [{ source: s, mode: ${written} }]`,
        'x-other:',
        `  mode: ${written}`,
      ),
    );
    const web = (v.services as Record<string, Record<string, Record<string, unknown>[]>>).web!;
    expect((web.volumes![0]!.tmpfs as Record<string, unknown>).mode).toBe(expected);
    expect(web.configs![0]!.mode).toBe(expected);
    expect(web.secrets![0]!.mode).toBe(expected);
    // Elsewhere YAML 1.2 holds: a leading 0 is decimal.
    if (written === '0700') expect((v['x-other'] as Record<string, unknown>).mode).toBe(700);
  });
});

describe('parseComposeYaml: anchors, merge keys, tags', () => {
  it('merges `<<` keys: own keys win, then the merged mappings in order', () => {
    const v = value(
      lines(
        'x-a: &a { image: a, restart: always, user: "1" }',
        'x-b: &b { image: b, init: true }',
        'services:',
        '  web:',
        '    <<: [*a, *b]',
        '    user: "2"',
      ),
    );
    expect((v.services as Record<string, unknown>).web).toEqual({
      user: '2',
      image: 'a',
      restart: 'always',
      init: true,
    });
  });

  it('merges nested merge keys', () => {
    const v = value(
      lines(
        'x-a: &a { image: a }',
        'x-b: &b { <<: *a, user: u }',
        'services:',
        '  web:',
        '    <<: *b',
      ),
    );
    expect((v.services as Record<string, unknown>).web).toEqual({ user: 'u', image: 'a' });
  });

  it('records !reset and !override paths, leaving reset values out', () => {
    const r = parse(
      lines(
        'services:',
        '  web:',
        '    ports: !reset []',
        '    environment: !override',
        '      A: "1"',
        '    command: !reset null',
      ),
    );
    if (!r.ok) expect.fail(JSON.stringify(r.errors));
    expect(r.value.value).toEqual({ services: { web: { environment: { A: '1' } } } });
    expect(r.value.resets).toEqual([
      ['services', 'web', 'ports'],
      ['services', 'web', 'command'],
    ]);
    expect(r.value.overrides).toEqual([['services', 'web', 'environment']]);
  });

  it('records positions of values and keys', () => {
    const positions = new Positions();
    const r = parse(
      lines('services:', '  web:', '    image: nginx', '    ports:', '      - "80:80"'),
      positions,
    );
    if (!r.ok) expect.fail('parse failed');
    const root = r.value.value;
    const fb = { file: 'x' };
    expect(positions.locate(root, ['services', 'web', 'image'], fb)).toEqual({
      file: 'stacks/app/compose.yaml',
      line: 3,
      column: 12,
    });
    expect(positions.locate(root, ['services', 'web', 'image'], fb, true)).toMatchObject({
      line: 3,
      column: 5,
    });
    expect(positions.locate(root, ['services', 'web', 'ports', 0], fb)).toMatchObject({
      line: 5,
      column: 9,
    });
    expect(positions.locate(root, ['services', 'web', 'ports', 7], fb)).toMatchObject({
      line: 5,
      column: 7,
    });
  });
});

describe('parseComposeYaml: refused input, each with a position', () => {
  const bomb = lines(
    'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
    'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
    'f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]',
  );
  it.each([
    ['an alias bomb', bomb, /aliases expand too far/],
    ['a duplicate key', lines('services:', '  web: {}', '  web: {}'), /duplicate key/],
    ['an unknown alias', lines('services:', '  web: *nope'), /alias/],
    ['an unknown tag', lines('services:', '  web: !custom {}'), /unknown YAML tag !custom/],
    ['a list at the top', lines('- a'), /expected a mapping at the top/],
    ['an empty file', '', /file is empty/],
    ['bad YAML', lines('services:', '  web: [unclosed'), /not valid YAML/],
    ['a merge key on a scalar', lines('services:', '  web:', '    <<: nope'), /merge key/],
  ])('%s', (_name, text, message) => {
    const r = parse(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors[0]!.message).toMatch(message);
      expect(r.errors[0]!.file).toBe('stacks/app/compose.yaml');
    }
  });

  it('refuses files over 1 MiB and invalid UTF-8', () => {
    const big = parse(new Uint8Array(MAX_COMPOSE_FILE_BYTES + 1));
    expect(!big.ok && big.errors[0]!.message).toMatch(/limited to/);
    const bad = parse(new Uint8Array([0x61, 0x3a, 0x20, 0xff]));
    expect(!bad.ok && bad.errors[0]!.message).toMatch(/UTF-8/);
  });

  it('positions YAML errors', () => {
    const r = parse(lines('services:', '  web: {}', '  web: {}'));
    expect(!r.ok && r.errors[0]).toMatchObject({ line: 3, column: 3 });
  });
});
