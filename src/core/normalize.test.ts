import { describe, expect, it } from 'vitest';
import {
  DEFAULTS,
  imageReference,
  MAX_ENV_FILE_BYTES,
  type NormalizedService,
  normalizeService,
  parseEnvFile,
} from './normalize.js';
import type { ServiceManifest } from './schema.js';
import { hashSpec } from './spec-hash.js';
import { files, formatErrors, yaml } from './test-fixtures.js';
import type { ContainerSpec, ManifestError } from './types.js';
import { validateService } from './validators.js';
import { parseYamlSource } from './yaml-source.js';

const FILE = 'hosts/web-1/app.yaml';

/** Parse, schema-check and normalise one manifest (image and tag first), as loadFleet does. */
function normalize(
  lines: string[],
  tree: Record<string, string> = {},
): { ok: true; value: NormalizedService } | { ok: false; errors: ManifestError[] } {
  const text = yaml('image: registry.example.com/app', 'tag: "1.0"', ...lines);
  const parsed = parseYamlSource(FILE, new TextEncoder().encode(text));
  if (!parsed.ok) expect.fail(formatErrors(parsed.errors));
  const check = validateService(parsed.value.value);
  if (!check.ok) expect.fail(`schema rejected the manifest: ${JSON.stringify(check.errors)}`);
  const repo = files(tree);
  return normalizeService(
    parsed.value.value as ServiceManifest,
    parsed.value,
    (p) => repo.get(p),
    text,
  );
}

/**
 * As `normalize`, without the schema check first: normalizeService keeps
 * its own checks of what the schema also refuses (defence in depth; the
 * schema's side is in schema-cli-agreement.test.ts).
 */
function normalizeRaw(
  lines: string[],
  tree: Record<string, string> = {},
): { ok: true; value: NormalizedService } | { ok: false; errors: ManifestError[] } {
  const text = yaml('image: registry.example.com/app', 'tag: "1.0"', ...lines);
  const parsed = parseYamlSource(FILE, new TextEncoder().encode(text));
  if (!parsed.ok) expect.fail(formatErrors(parsed.errors));
  const repo = files(tree);
  return normalizeService(
    parsed.value.value as ServiceManifest,
    parsed.value,
    (p) => repo.get(p),
    text,
  );
}

function specOf(lines: string[], tree: Record<string, string> = {}): ContainerSpec {
  const result = normalize(lines, tree);
  if (!result.ok) expect.fail(formatErrors(result.errors));
  return result.value.spec;
}

function hashOf(lines: string[], tree: Record<string, string> = {}): string {
  return hashSpec(specOf(lines, tree));
}

describe('normalizeService: defaults', () => {
  it('fills every default into a minimal manifest', () => {
    const result = normalize([]);
    expect(result).toEqual({
      ok: true,
      value: {
        spec: {
          image: 'registry.example.com/app',
          tag: '1.0',
          environment: {},
          ports: [],
          volumes: [],
          restart: 'no',
          labels: {},
          stopGracePeriodMs: 10_000,
        },
        rollout: { order: 'stop-first', settleMs: 2000, healthTimeoutMs: 60_000, pull: 'missing' },
        dependsOn: [],
      },
    });
  });

  it.each([
    ['restart: "no"'],
    ['restart: no'],
    ['stop_grace_period: 10s'],
    ['stop_grace_period: 10000ms'],
    ['environment: {}'],
    ['environment: []'],
    ['labels: {}'],
    ['ports: []'],
    ['volumes: []'],
    ['env_file: []'],
    ['depends_on: []'],
    ['update:', '  order: start-first', '  settle: 5s', '  health_timeout: 2m'],
    ['pull: always'],
    ['privileged: false'],
  ])('%s hashes like the unset default', (...lines) => {
    expect(hashOf(lines)).toBe(hashOf([]));
  });

  it.each([
    ['restart: always'],
    ['stop_grace_period: 11s'],
    ['user: "1000"'],
    ['working_dir: /srv'],
    ['network_mode: host'],
    ['command: []'],
    ['environment: {A: ""}'],
    ['labels: {a: ""}'],
    ['healthcheck: {}'],
    ['privileged: true'],
  ])('%s changes the hash', (...lines) => {
    expect(hashOf(lines)).not.toBe(hashOf([]));
  });

  it('keeps the hashes of specs written before privileged existed', () => {
    // Pinned: a field added to the spec must not recreate containers that
    // do not use it. These hashes were taken before `privileged` was added.
    expect(hashOf([])).toBe('3c0bea594c019aa979bebe97caeb1739ca661cbbbdba4f1295ca702afd4e93b8');
    expect(hashOf(['network_mode: host', 'volumes: ["/srv/a:/a:ro"]'])).toBe(
      '25a2ff01f59992921c825924497c605ae5fe21e2e3cdc559b190ed49c4bd8496',
    );
    expect(specOf(['privileged: false'])).not.toHaveProperty('privileged');
    expect(specOf(['privileged: true'])).toHaveProperty('privileged', true);
  });

  it('reads the rollout policy, which stays out of the spec', () => {
    const result = normalize([
      'update:',
      '  order: start-first',
      '  settle: 500ms',
      '  health_timeout: 1m30s',
      'pull: always',
    ]);
    expect(result.ok && result.value.rollout).toEqual({
      order: 'start-first',
      settleMs: 500,
      healthTimeoutMs: 90_000,
      pull: 'always',
    });
  });

  it('exports its defaults', () => {
    expect(DEFAULTS).toMatchObject({ restart: 'no', stopGracePeriodMs: 10_000 });
  });
});

describe('normalizeService: image', () => {
  it.each([
    [{ image: 'app', tag: '1.0' }, 'app:1.0'],
    [
      { image: 'registry.example.com:5000/team/app', tag: 'v2' },
      'registry.example.com:5000/team/app:v2',
    ],
    [{ image: 'app', digest: `sha256:${'c'.repeat(64)}` }, `app@sha256:${'c'.repeat(64)}`],
  ])('%j -> %s', (spec, ref) => {
    expect(imageReference(spec)).toBe(ref);
  });

  it('keeps a digest, without a tag', () => {
    const text = yaml('image: app', `digest: sha256:${'d'.repeat(64)}`);
    const parsed = parseYamlSource(FILE, new TextEncoder().encode(text));
    if (!parsed.ok) expect.fail();
    const result = normalizeService(
      parsed.value.value as ServiceManifest,
      parsed.value,
      () => undefined,
    );
    expect(result.ok && result.value.spec).toMatchObject({
      image: 'app',
      digest: `sha256:${'d'.repeat(64)}`,
    });
    expect(result.ok && 'tag' in result.value.spec).toBe(false);
  });
});

describe('normalizeService: ports', () => {
  it.each([
    ['"80"', { containerPort: 80, protocol: 'tcp' }],
    ['80', { containerPort: 80, protocol: 'tcp' }],
    ['"80/udp"', { containerPort: 80, protocol: 'udp' }],
    ['"8080:80"', { containerPort: 80, protocol: 'tcp', hostPort: 8080 }],
    ['"8080:80/tcp"', { containerPort: 80, protocol: 'tcp', hostPort: 8080 }],
    [
      '"127.0.0.1:8080:80/udp"',
      { containerPort: 80, protocol: 'udp', hostPort: 8080, hostIp: '127.0.0.1' },
    ],
    [
      '"0.0.0.0:443:8443"',
      { containerPort: 8443, protocol: 'tcp', hostPort: 443, hostIp: '0.0.0.0' },
    ],
    ['"127.0.0.1::80"', { containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1' }],
    ['"[::1]:8080:80"', { containerPort: 80, protocol: 'tcp', hostPort: 8080, hostIp: '::1' }],
    [
      '"[fe80::1]:5353:53/udp"',
      { containerPort: 53, protocol: 'udp', hostPort: 5353, hostIp: 'fe80::1' },
    ],
    ['"65535:1"', { containerPort: 1, protocol: 'tcp', hostPort: 65535 }],
    ['{target: 80}', { containerPort: 80, protocol: 'tcp' }],
    ['{target: 80, published: 8080}', { containerPort: 80, protocol: 'tcp', hostPort: 8080 }],
    ['{target: 80, published: "8080"}', { containerPort: 80, protocol: 'tcp', hostPort: 8080 }],
    [
      '{target: 53, published: 5353, host_ip: 127.0.0.1, protocol: udp}',
      { containerPort: 53, protocol: 'udp', hostPort: 5353, hostIp: '127.0.0.1' },
    ],
  ])('%s', (port, expected) => {
    expect(specOf([`ports: [${port}]`]).ports).toEqual([expected]);
  });

  it('short and long forms of the same port hash the same', () => {
    expect(hashOf(['ports: ["127.0.0.1:8080:80"]'])).toBe(
      hashOf([
        'ports:',
        '  - target: 80',
        '    published: 8080',
        '    host_ip: 127.0.0.1',
        '    protocol: tcp',
      ]),
    );
    expect(hashOf(['ports: ["80"]'])).toBe(hashOf(['ports: [80]']));
    expect(hashOf(['ports: ["80/tcp"]'])).toBe(hashOf(['ports: [{target: 80}]']));
  });

  it('keeps the order ports are written in', () => {
    expect(specOf(['ports: ["443", "80"]']).ports.map((p) => p.containerPort)).toEqual([443, 80]);
  });

  it.each([
    '80:80:80:80',
    '8080:70000',
    '0:80',
    '1.2.3:8080:80',
    '256.1.1.1:80:80',
    '127.0.0.1:80:80:80',
  ])('refuses "%s" with what was expected', (port) => {
    const result = normalizeRaw(['ports:', `  - "${port}"`]);
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          file: FILE,
          line: 4,
          column: 5,
          path: '/ports/0',
          message: expect.stringMatching(
            new RegExp(
              `^ports\\[0\\]: "${port.replace(/\./g, '\\.')}" is not a valid port; expected "80", "8080:80"`,
            ),
          ),
        },
      ],
    });
  });
});

describe('normalizeService: volumes', () => {
  it.each([
    ['/srv/data:/data', { type: 'bind', source: '/srv/data', target: '/data', readOnly: false }],
    [
      '/etc/app:/etc/app:ro',
      { type: 'bind', source: '/etc/app', target: '/etc/app', readOnly: true },
    ],
    [
      '/etc/app:/etc/app:rw',
      { type: 'bind', source: '/etc/app', target: '/etc/app', readOnly: false },
    ],
    [
      'pgdata:/var/lib/postgresql/data',
      { type: 'volume', source: 'pgdata', target: '/var/lib/postgresql/data', readOnly: false },
    ],
    ['cache:/cache:ro', { type: 'volume', source: 'cache', target: '/cache', readOnly: true }],
  ])('"%s"', (volume, expected) => {
    expect(specOf([`volumes: ["${volume}"]`]).volumes).toEqual([expected]);
  });

  it.each([
    [
      '{type: bind, source: /srv, target: /srv, read_only: true}',
      { type: 'bind', source: '/srv', target: '/srv', readOnly: true },
    ],
    [
      '{type: volume, source: data, target: /data}',
      { type: 'volume', source: 'data', target: '/data', readOnly: false },
    ],
    ['{type: tmpfs, target: /tmp}', { type: 'tmpfs', target: '/tmp', readOnly: false }],
  ])('%s', (volume, expected) => {
    expect(specOf([`volumes: [${volume}]`]).volumes).toEqual([expected]);
  });

  it('short and long forms of the same mount hash the same', () => {
    expect(hashOf(['volumes: ["/etc/app:/etc/app:ro"]'])).toBe(
      hashOf(['volumes: [{type: bind, source: /etc/app, target: /etc/app, read_only: true}]']),
    );
    expect(hashOf(['volumes: ["data:/data"]'])).toBe(
      hashOf(['volumes: [{type: volume, source: data, target: /data}]']),
    );
  });

  it.each([
    ['./data:/data', 'bind mount source "./data" must be an absolute path on the host'],
    ['../data:/data', 'bind mount source "../data" must be an absolute path on the host'],
    ['~/data:/data', 'bind mount source "~/data" must be an absolute path on the host'],
  ])('refuses "%s"', (volume, message) => {
    expect(normalizeRaw(['volumes:', `  - "${volume}"`])).toEqual({
      ok: false,
      errors: [{ file: FILE, line: 4, column: 5, path: '/volumes/0', message }],
    });
  });
});

describe('normalizeService: command and entrypoint', () => {
  it.each([
    ['command: serve --port 80', ['serve', '--port', '80']],
    [`command: sh -c 'echo "hello world"'`, ['sh', '-c', 'echo "hello world"']],
    [`command: "sh -c \\"exec app\\" --name 'a b'"`, ['sh', '-c', 'exec app', '--name', 'a b']],
    [`command: app a\\ b ""`, ['app', 'a b', '']],
    ['command: ["sh", "-c", "echo $HOME"]', ['sh', '-c', 'echo $HOME']],
    ['command: []', []],
  ])('%s', (line, argv) => {
    expect(specOf([line]).command).toEqual(argv);
  });

  it('a command string and the list it splits into hash the same', () => {
    expect(hashOf([`command: sh -c 'echo hi'`])).toBe(hashOf(['command: [sh, -c, echo hi]']));
  });

  it('splits an entrypoint string too', () => {
    expect(specOf([`entrypoint: /bin/tini -- "/app/run it"`]).entrypoint).toEqual([
      '/bin/tini',
      '--',
      '/app/run it',
    ]);
  });

  it('leaves command and entrypoint out when not given', () => {
    const spec = specOf([]);
    expect('command' in spec).toBe(false);
    expect('entrypoint' in spec).toBe(false);
  });

  it('reports an unterminated quote (it used to be dropped and run as an empty command)', () => {
    expect(normalizeRaw([`command: sh -c 'echo`])).toEqual({
      ok: false,
      errors: [
        {
          file: FILE,
          line: 3,
          column: 10,
          path: '/command',
          message: `command: unterminated quote in "sh -c 'echo"`,
        },
      ],
    });
  });
});

describe('normalizeService: healthcheck', () => {
  it.each([
    [
      ['healthcheck:', '  test: curl -f http://127.0.0.1/'],
      { test: ['CMD-SHELL', 'curl -f http://127.0.0.1/'] },
    ],
    [
      ['healthcheck:', '  test: ["CMD", "curl", "-f", "http://127.0.0.1/"]'],
      { test: ['CMD', 'curl', '-f', 'http://127.0.0.1/'] },
    ],
    [
      ['healthcheck:', '  test: ["CMD-SHELL", "curl -f http://127.0.0.1/"]'],
      { test: ['CMD-SHELL', 'curl -f http://127.0.0.1/'] },
    ],
    [['healthcheck:', '  test: ["curl", "-f"]'], { test: ['CMD', 'curl', '-f'] }],
    [['healthcheck:', '  test: ["NONE"]'], { test: ['NONE'] }],
    [['healthcheck:', '  disable: true'], { test: ['NONE'] }],
    [
      ['healthcheck:', '  disable: true', '  test: ["CMD", "true"]', '  interval: 5s'],
      { test: ['NONE'] },
    ],
    [
      [
        'healthcheck:',
        '  test: ["CMD", "true"]',
        '  interval: 1m30s',
        '  timeout: 500ms',
        '  retries: 3',
        '  start_period: 2.5s',
      ],
      {
        test: ['CMD', 'true'],
        intervalMs: 90_000,
        timeoutMs: 500,
        retries: 3,
        startPeriodMs: 2500,
      },
    ],
    [['healthcheck:', '  interval: 10s'], { intervalMs: 10_000 }],
    [['healthcheck:', '  retries: 0'], { retries: 0 }],
    [['healthcheck:', '  disable: false', '  test: ["CMD", "true"]'], { test: ['CMD', 'true'] }],
  ])('%j', (lines, expected) => {
    expect(specOf(lines).healthcheck).toEqual(expected);
  });

  it('leaves the image HEALTHCHECK alone when not given', () => {
    expect('healthcheck' in specOf([])).toBe(false);
  });

  it('string and CMD-SHELL forms hash the same', () => {
    expect(hashOf(['healthcheck:', '  test: pg_isready'])).toBe(
      hashOf(['healthcheck:', '  test: ["CMD-SHELL", "pg_isready"]']),
    );
  });
});

describe('normalizeService: environment', () => {
  it('a map and a list of KEY=value give the same spec and hash', () => {
    const map = [
      'environment:',
      '  RAILS_ENV: production',
      '  PORT: "8080"',
      '  EMPTY: ""',
      '  URL: a=b',
    ];
    const list = [
      'environment:',
      '  - URL=a=b',
      '  - PORT=8080',
      '  - EMPTY=',
      '  - RAILS_ENV=production',
    ];
    expect(specOf(map).environment).toEqual({
      EMPTY: '',
      PORT: '8080',
      RAILS_ENV: 'production',
      URL: 'a=b',
    });
    expect(hashOf(list)).toBe(hashOf(map));
  });

  it('sorts keys, so order in the file does not matter', () => {
    expect(Object.keys(specOf(['environment: {B: "1", A: "2", C: "3"}']).environment)).toEqual([
      'A',
      'B',
      'C',
    ]);
    expect(hashOf(['environment: {B: "1", A: "2"}'])).toBe(
      hashOf(['environment: {A: "2", B: "1"}']),
    );
  });

  it('turns numbers and booleans into strings, as Compose does', () => {
    expect(
      specOf(['environment:', '  PORT: 8080', '  DEBUG: true', '  RATIO: 0.5']).environment,
    ).toEqual({
      DEBUG: 'true',
      PORT: '8080',
      RATIO: '0.5',
    });
  });

  it('a changed value changes the hash', () => {
    expect(hashOf(['environment: {A: "1"}'])).not.toBe(hashOf(['environment: {A: "2"}']));
  });

  it.each([
    [['environment:', '  - RAILS_ENV'], 4, 5, '/environment/0', 'RAILS_ENV='],
    [['environment:', '  RAILS_ENV:'], 4, 3, '/environment/RAILS_ENV', 'RAILS_ENV: ""'],
    [['environment:', '  RAILS_ENV: ~'], 4, 3, '/environment/RAILS_ENV', 'RAILS_ENV: ""'],
    [['environment: {A: "1", RAILS_ENV: null}'], 3, 23, '/environment/RAILS_ENV', 'RAILS_ENV: ""'],
  ])('a variable without a value: %j', (lines, line, column, path, hint) => {
    expect(normalizeRaw(lines)).toEqual({
      ok: false,
      errors: [
        {
          file: FILE,
          line,
          column,
          path,
          message: `environment.RAILS_ENV has no value; expected a value (write ${hint} for an empty string)`,
        },
      ],
    });
  });
});

describe('normalizeService: env_file', () => {
  const envTree = {
    'hosts/web-1/app.env': '# shared\nRAILS_ENV=staging\nDB_HOST=db\n',
    'hosts/web-1/override.env': 'DB_HOST=db-2\nPOOL=5\n',
    'services/common.env': 'TZ=UTC\n',
  };

  it('reads the file relative to the manifest', () => {
    expect(specOf(['env_file: app.env'], envTree).environment).toEqual({
      DB_HOST: 'db',
      RAILS_ENV: 'staging',
    });
  });

  it('merges files in order, later files winning, and environment winning over all', () => {
    const spec = specOf(
      [
        'env_file: [app.env, override.env, ../../services/common.env]',
        'environment:',
        '  RAILS_ENV: production',
      ],
      envTree,
    );
    expect(spec.environment).toEqual({
      DB_HOST: 'db-2',
      POOL: '5',
      RAILS_ENV: 'production',
      TZ: 'UTC',
    });
  });

  it('an env_file and the same variables inline hash the same', () => {
    expect(hashOf(['env_file: app.env'], envTree)).toBe(
      hashOf(['environment:', '  RAILS_ENV: staging', '  DB_HOST: db']),
    );
  });

  it('a changed env_file changes the hash', () => {
    expect(hashOf(['env_file: app.env'], envTree)).not.toBe(
      hashOf(['env_file: app.env'], {
        'hosts/web-1/app.env': 'RAILS_ENV=production\nDB_HOST=db\n',
      }),
    );
  });

  it.each([
    [
      'missing',
      ['env_file: nope.env'],
      3,
      11,
      '/env_file',
      'env_file "nope.env" not found: no file "hosts/web-1/nope.env" at this revision',
    ],
    [
      'missing, second in a list',
      ['env_file:', '  - app.env', '  - nope.env'],
      5,
      5,
      '/env_file/1',
      'env_file "nope.env" not found: no file "hosts/web-1/nope.env" at this revision',
    ],
    [
      'outside hosts/ and services/',
      ['env_file: ../../secrets/app.env'],
      3,
      11,
      '/env_file',
      'env_file "../../secrets/app.env" resolves to "secrets/app.env", outside hosts/ and services/',
    ],
    [
      'outside the repo',
      ['env_file: ../../../app.env'],
      3,
      11,
      '/env_file',
      'env_file "../../../app.env" resolves to "../app.env", outside hosts/ and services/',
    ],
    [
      'a hosts-like prefix that is not hosts/',
      ['env_file: ../../hostsx/app.env'],
      3,
      11,
      '/env_file',
      'env_file "../../hostsx/app.env" resolves to "hostsx/app.env", outside hosts/ and services/',
    ],
    [
      'absolute',
      ['env_file: /hosts/web-1/app.env'],
      3,
      11,
      '/env_file',
      'env_file "/hosts/web-1/app.env" is absolute; expected a path relative to this manifest, inside hosts/ or services/',
    ],
  ])('refuses an env_file %s', (_what, lines, line, column, path, message) => {
    expect(normalizeRaw(lines, envTree)).toEqual({
      ok: false,
      errors: [{ file: FILE, line, column, path, message }],
    });
  });

  it("may read another host's directory (both are in git)", () => {
    expect(
      specOf(['env_file: ../web-2/app.env'], { 'hosts/web-2/app.env': 'A=1\n' }).environment,
    ).toEqual({ A: '1' });
  });

  it('reports every bad line of an env file', () => {
    expect(
      normalize(['env_file: app.env'], { 'hosts/web-1/app.env': 'A=1\njunk\nB=2\n=x\n' }),
    ).toEqual({
      ok: false,
      errors: [
        {
          file: FILE,
          line: 3,
          column: 11,
          path: '/env_file',
          message: 'env_file "hosts/web-1/app.env" line 2: expected KEY=value',
        },
        {
          file: FILE,
          line: 3,
          column: 11,
          path: '/env_file',
          message: 'env_file "hosts/web-1/app.env" line 4: expected KEY=value',
        },
      ],
    });
  });
});

describe('parseEnvFile', () => {
  it.each([
    ['A=1', { A: '1' }],
    ['A=', { A: '' }],
    ['A = 1', { A: '1' }],
    ['export A=1', { A: '1' }],
    ['A="quoted value"', { A: 'quoted value' }],
    ["A='single # not a comment'", { A: 'single # not a comment' }],
    ['A=value # comment', { A: 'value' }],
    ['A=value#not-a-comment', { A: 'value#not-a-comment' }],
    ['A=a=b=c', { A: 'a=b=c' }],
    ['# comment\n\n   \nA=1', { A: '1' }],
    ['A=1\r\nB=2\r\n', { A: '1', B: '2' }],
    ['A=1\nA=2', { A: '2' }],
  ])('%j', (text, values) => {
    expect(parseEnvFile(text)).toEqual({ values, badLines: [] });
  });

  it.each([
    ['JUST_A_NAME', [1]],
    ['A=1\n=2\nB C=3', [2, 3]],
  ])('bad lines in %j', (text, badLines) => {
    expect(parseEnvFile(text).badLines).toEqual(badLines);
  });
});

describe('normalizeService: labels', () => {
  it('a map and a list give the same labels, values as strings', () => {
    const map = specOf([
      'labels:',
      '  tier: web',
      '  "com.example.team": payments',
      '  weight: 10',
      '  flag:',
    ]);
    const list = specOf(['labels: ["weight=10", "tier=web", "com.example.team=payments", "flag"]']);
    expect(map.labels).toEqual({
      'com.example.team': 'payments',
      flag: '',
      tier: 'web',
      weight: '10',
    });
    expect(hashSpec(list)).toBe(hashSpec(map));
  });

  it.each([
    [['labels:', '  io.gitdock.host: web-2'], 4, 3, '/labels/io.gitdock.host', 'io.gitdock.host'],
    [['labels:', '  - io.gitdock.custom=x'], 4, 5, '/labels/0', 'io.gitdock.custom'],
    [
      ['labels: {tier: web, io.gitdock.service: x}'],
      3,
      21,
      '/labels/io.gitdock.service',
      'io.gitdock.service',
    ],
  ])('refuses the reserved prefix: %j', (lines, line, column, path, key) => {
    expect(normalizeRaw(lines)).toEqual({
      ok: false,
      errors: [
        {
          file: FILE,
          line,
          column,
          path,
          message: `label "${key}": the io.gitdock. prefix is reserved for gitdock's own labels`,
        },
      ],
    });
  });

  it('allows labels that only look similar', () => {
    expect(specOf(['labels: {io.gitdockx: a, com.io.gitdock.x: b}']).labels).toEqual({
      'com.io.gitdock.x': 'b',
      'io.gitdockx': 'a',
    });
  });
});

describe('normalizeService: dependencies and several errors', () => {
  it.each([
    [['depends_on: [db, cache]'], ['db', 'cache']],
    [
      ['depends_on:', '  db: {condition: service_healthy}', '  cache: {}'],
      ['db', 'cache'],
    ],
  ])('%j', (lines, deps) => {
    const result = normalize(lines);
    expect(result.ok && result.value.dependsOn).toEqual(deps);
  });

  it('reports every problem of a file in one pass, in field order', () => {
    const result = normalizeRaw([
      `command: "sh -c 'x"`,
      'environment: [A]',
      'labels: {io.gitdock.x: y}',
      'volumes: ["./d:/d"]',
      'ports: ["99999:80"]',
    ]);
    expect(result.ok ? [] : result.errors.map((e) => e.path)).toEqual([
      '/command',
      '/environment/0',
      '/labels/io.gitdock.x',
      '/ports/0',
      '/volumes/0',
    ]);
  });
});

describe('normalizeService: values as the container gets them', () => {
  // An integer too large for a JavaScript number keeps its text; every
  // other number or boolean keeps the text it always had, and so the spec
  // hash it always had (upgrading recreates nothing).
  it.each([
    ['123456789012345678', '123456789012345678'],
    ['-123456789012345678', '-123456789012345678'],
    ['1.0', '1'],
    ['0x1F', '31'],
    ['.5', '0.5'],
    ['True', 'true'],
    ['8080', '8080'],
    ['8080   # a comment', '8080'],
    ['"123456789012345678"', '123456789012345678'],
    ['"1.0"', '1.0'],
  ])('environment value %s is passed as %s', (written, expected) => {
    expect(specOf(['environment:', `  A: ${written}`]).environment).toEqual({ A: expected });
  });

  it('in flow mappings, and for labels too', () => {
    const spec = specOf([
      'environment: {A: 123456789012345678, B: 2.50}',
      'labels: {build: 123456789012345678}',
    ]);
    expect(spec.environment).toEqual({ A: '123456789012345678', B: '2.5' });
    expect(spec.labels).toEqual({ build: '123456789012345678' });
  });

  it('falls back to the parsed value where the text is not the scalar (an alias)', () => {
    expect(specOf(['labels: {a: &n 7}', 'environment:', '  A: *n']).environment).toEqual({
      A: '7',
    });
  });

  it('keeps the hash of values whose text is what String() gave', () => {
    expect(hashOf(['environment: {PORT: 8080, DEBUG: true}'])).toBe(
      hashOf(['environment: {PORT: "8080", DEBUG: "true"}']),
    );
  });
});

describe('normalizeService: what the engine would refuse at apply', () => {
  it('refuses an env_file over 1 MiB, before reading it', () => {
    const big = `A=${'x'.repeat(MAX_ENV_FILE_BYTES)}\n`;
    expect(normalize(['env_file: big.env'], { 'hosts/web-1/big.env': big })).toEqual({
      ok: false,
      errors: [
        {
          file: FILE,
          line: 3,
          column: 11,
          path: '/env_file',
          message: `env_file "hosts/web-1/big.env" is ${big.length} bytes; env files are limited to 1048576 bytes (1 MiB)`,
        },
      ],
    });
  });

  it('accepts an env_file of exactly 1 MiB', () => {
    const body = `A=${'x'.repeat(MAX_ENV_FILE_BYTES - 3)}\n`;
    expect(body.length).toBe(MAX_ENV_FILE_BYTES);
    expect(specOf(['env_file: ok.env'], { 'hosts/web-1/ok.env': body }).environment.A).toHaveLength(
      MAX_ENV_FILE_BYTES - 3,
    );
  });

  it('refuses a NUL in an env_file value without printing the value', () => {
    const result = normalize(['env_file: app.env'], {
      'hosts/web-1/app.env': 'TOKEN=hunter9\u0000x\n',
    });
    expect(result.ok).toBe(false);
    const messages = result.ok ? '' : formatErrors(result.errors);
    expect(messages).toContain('TOKEN holds a NUL character');
    expect(messages).not.toContain('hunter9');
  });

  it('refuses two mounts on one container path', () => {
    expect(
      normalize(['volumes: ["/srv/a:/data", "b-vol:/data/", {type: tmpfs, target: /x}]']),
    ).toEqual({
      ok: false,
      errors: [
        {
          file: FILE,
          line: 3,
          column: 27,
          path: '/volumes/1',
          message:
            'volumes[1]: target /data is already mounted by volumes[0]; mount each container path once',
        },
      ],
    });
  });

  it.each([
    [['8080:80', '8080:81'], 'host port 8080/tcp is already published by ports[0]'],
    [['127.0.0.1:8080:80', '8080:81'], 'host port 8080/tcp is already published by ports[0]'],
    [['127.0.0.1:8080:80', '127.0.0.1:8080:81'], 'host port 127.0.0.1:8080/tcp is already'],
  ])('refuses one host port published twice: %j', (ports, message) => {
    const result = normalize([`ports: [${ports.map((p) => `"${p}"`).join(', ')}]`]);
    expect(result.ok ? '' : formatErrors(result.errors)).toContain(message);
  });

  it.each([
    [['8080:80', '8080:80/udp']],
    [['127.0.0.1:8080:80', '127.0.0.2:8080:81']],
    [['80', '80']],
  ])('accepts ports that do not clash: %j', (ports) => {
    expect(normalize([`ports: [${ports.map((p) => `"${p}"`).join(', ')}]`]).ok).toBe(true);
  });

  it('orders a container: network peer first, as an implicit dependency', () => {
    const result = normalize(['network_mode: container:vpn', 'depends_on: [db]']);
    expect(result.ok && result.value.dependsOn).toEqual(['db', 'vpn']);
    const again = normalize(['network_mode: container:vpn', 'depends_on: [vpn]']);
    expect(again.ok && again.value.dependsOn).toEqual(['vpn']);
  });
});
