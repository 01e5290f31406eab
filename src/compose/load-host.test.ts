// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Compose interpolation, not templates
import { describe, expect, it } from 'vitest';
import { load, loadOk, only, service, type Tree, y } from './load-fixtures.js';

describe('loadComposeHost: discovery', () => {
  it('loads a host project: name from the directory, paths in the repo', () => {
    const p = only({
      'hosts/web-1/gitea/compose.yaml': y('services:', '  web:', '    image: gitea/gitea:1.21'),
    });
    expect(p).toMatchObject({ name: 'gitea', host: 'web-1', dir: 'hosts/web-1/gitea' });
    expect(p.files).toEqual(['hosts/web-1/gitea/compose.yaml']);
    expect(p.model).toEqual({ services: { web: { image: 'gitea/gitea:1.21' } } });
    expect(p.secretValues).toEqual([]);
  });

  it('takes the project name from top-level name:', () => {
    const p = only({
      'hosts/web-1/dir/compose.yaml': y('name: my-app', 'services:', '  a: { image: x }'),
    });
    expect(p.name).toBe('my-app');
    expect(p.model.name).toBeUndefined();
  });

  it.each([
    [
      { 'hosts/web-1/My.App/compose.yaml': y('services:', '  a: { image: x }') },
      /rename the directory or set `name:`/,
    ],
    [
      { 'hosts/web-1/ok/compose.yaml': y('name: Bad_Name', 'services:', '  a: { image: x }') },
      /name "Bad_Name" is not a valid Compose project name/,
    ],
  ])('refuses an invalid project name', (tree, message) => {
    const r = load(tree);
    expect(r.projects).toEqual([]);
    expect(r.errors.map((e) => e.message)).toEqual([expect.stringMatching(message)]);
  });

  it('merges compose.override.yaml of the same directory', () => {
    const p = only({
      'hosts/web-1/app/compose.yaml': y(
        'services:',
        '  a:',
        '    image: x:1',
        '    ports: ["80:80"]',
      ),
      'hosts/web-1/app/compose.override.yaml': y(
        'services:',
        '  a:',
        '    image: x:2',
        '    ports: ["81:81"]',
      ),
    });
    expect(service(p, 'a')).toEqual({ image: 'x:2', ports: ['80:80', '81:81'] });
  });

  const stack = y(
    'x-gitdock:',
    '  hosts: ["web-*", db-1]',
    'services:',
    '  app:',
    '    image: shop:${TAG}',
    '    environment: { MODE: "${MODE:-prod}" }',
    '    volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro"]',
  );

  it.each([
    ['web-1', true],
    ['web-22', true],
    ['db-1', true],
    ['db-2', false],
  ])('a stack selects hosts by x-gitdock.hosts: %s -> %s', (host, selected) => {
    const r = loadOk({ 'stacks/shop/compose.yaml': stack, 'stacks/shop/.env': 'TAG=1.0\n' }, host);
    expect(r.projects.map((p) => p.name)).toEqual(selected ? ['shop'] : []);
  });

  it('merges the host override and .env over the stack; paths stay relative to the stack', () => {
    const tree = {
      'stacks/shop/compose.yaml': stack,
      'stacks/shop/.env': 'TAG=1.0\nMODE=dev\n',
      'hosts/web-2/shop/compose.override.yaml': y(
        'services:',
        '  app:',
        '    environment: { EXTRA: "1" }',
      ),
      'hosts/web-2/shop/.env': 'TAG=2.0\n',
    };
    const web1 = only(tree, 'web-1');
    const web2 = only(tree, 'web-2');
    expect(service(web1, 'app').image).toBe('shop:1.0');
    expect(service(web2, 'app').image).toBe('shop:2.0');
    expect(service(web1, 'app').environment).toEqual({ MODE: 'dev' });
    expect(service(web2, 'app').environment).toEqual({ MODE: 'dev', EXTRA: '1' });
    expect(web2.dir).toBe('stacks/shop');
    expect(service(web2, 'app').volumes).toEqual([
      {
        type: 'bind',
        source: 'stacks/shop/nginx.conf',
        target: '/etc/nginx/nginx.conf',
        read_only: true,
        bind: { create_host_path: true },
        'x-gitdock-repo-path': true,
      },
    ]);
    expect(web2.files).toEqual([
      'stacks/shop/compose.yaml',
      'hosts/web-2/shop/compose.override.yaml',
      'stacks/shop/.env',
      'hosts/web-2/shop/.env',
    ]);
    expect(web2.locate(['services', 'app', 'environment', 'EXTRA'])).toEqual({
      file: 'hosts/web-2/shop/compose.override.yaml',
      line: 3,
      column: 27,
    });
    expect(web2.locate(['services', 'app', 'image'])).toMatchObject({
      file: 'stacks/shop/compose.yaml',
      line: 5,
    });
  });

  it.each<[string, Tree, RegExp]>([
    [
      'a project defined twice',
      {
        'stacks/shop/compose.yaml': stack,
        'hosts/web-1/shop/compose.yaml': y('services:', '  a: { image: x }'),
      },
      /project shop is defined twice for host web-1/,
    ],
    [
      'an override with nothing to override',
      { 'hosts/web-1/shop/compose.override.yaml': y('services: {}') },
      /overrides nothing/,
    ],
    [
      'a stack without x-gitdock.hosts',
      { 'stacks/shop/compose.yaml': y('services:', '  a: { image: x }') },
      /chooses its hosts with a top-level `x-gitdock/,
    ],
    [
      'an unclosed glob in x-gitdock.hosts',
      { 'stacks/shop/compose.yaml': y('x-gitdock: { hosts: ["[hb"] }', 'services: {}') },
      /not a valid host glob/,
    ],
    [
      'x-gitdock.hosts in a host project',
      {
        'hosts/web-1/a/compose.yaml': y(
          'x-gitdock: { hosts: [web-1] }',
          'services:',
          '  a: { image: x }',
        ),
      },
      /x-gitdock.hosts is for stacks/,
    ],
    [
      'x-gitdock.hosts in a host override',
      {
        'stacks/shop/compose.yaml': stack.replace('${TAG}', '1'),
        'hosts/web-1/shop/compose.override.yaml': y('x-gitdock: { hosts: [x] }'),
      },
      /can only be set in stacks\/shop\/compose.yaml/,
    ],
    [
      'an unknown x-gitdock field',
      {
        'hosts/web-1/a/compose.yaml': y(
          'x-gitdock: { profile: [x] }',
          'services:',
          '  a: { image: x }',
        ),
      },
      /unknown field "profile" in x-gitdock; expected one of: hosts, profiles/,
    ],
    [
      'bad x-gitdock.profiles',
      {
        'hosts/web-1/a/compose.yaml': y(
          'x-gitdock: { profiles: "debug" }',
          'services:',
          '  a: { image: x }',
        ),
      },
      /x-gitdock.profiles: expected a list/,
    ],
    [
      'two projects with one name',
      {
        'hosts/web-1/a/compose.yaml': y('name: same', 'services:', '  a: { image: x }'),
        'hosts/web-1/b/compose.yaml': y('name: same', 'services:', '  a: { image: x }'),
      },
      /project name "same" is used by both/,
    ],
  ])('error: %s', (_name, tree, message) => {
    const r = load(tree);
    expect(r.errors.map((e) => e.message)).toContainEqual(expect.stringMatching(message));
  });

  it('keeps x-gitdock profiles, drops other x- fields (their anchors still usable)', () => {
    const p = only({
      'hosts/web-1/a/compose.yaml': y(
        'x-gitdock: { profiles: [debug] }',
        'x-defaults: &d { restart: always }',
        'services:',
        '  a:',
        '    <<: *d',
        '    image: x',
        '    x-gitdock: { update: auto }',
        '    x-other: 1',
        '    labels: { x-keep: "1" }',
      ),
    });
    expect(p.model).toEqual({
      'x-gitdock': { profiles: ['debug'] },
      services: {
        a: {
          restart: 'always',
          image: 'x',
          'x-gitdock': { update: 'auto' },
          labels: { 'x-keep': '1' },
        },
      },
    });
  });
});

describe('loadComposeHost: interpolation and secrets', () => {
  const tree = {
    'hosts/web-1/app/compose.yaml': y(
      'services:',
      '  db:',
      '    image: postgres:${PG_VERSION:-16}',
      '    environment:',
      '      POSTGRES_PASSWORD: ${DB_PASSWORD}',
      '      TZ: $TZ',
      '      LITERAL: $$HOME',
      '      FROM_ENV:',
      '      - ignored',
    ).replace('      - ignored\n', ''),
    'hosts/web-1/app/.env': 'TZ=Europe/Paris\n',
  };

  it('CI (no host env): unset variables are notes, once per project, never errors', () => {
    const r = load({
      ...tree,
      'hosts/web-1/app/compose.override.yaml': y(
        'services:',
        '  db:',
        '    labels: { a: "${DB_PASSWORD:?needed}" }',
      ),
    });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.notes.map((n) => n.message)).toEqual([
      'project app: the host must supply DB_PASSWORD (no value in the repository and no default)',
      'project app: the host may supply FROM_ENV (an environment entry without a value: left out of the container when unset, as Compose does)',
    ]);
    expect(r.notes[0]).toMatchObject({ file: 'hosts/web-1/app/compose.yaml', line: 5 });
    const db = service(r.projects[0]!, 'db');
    expect(db.environment).toEqual({ POSTGRES_PASSWORD: '', TZ: 'Europe/Paris', LITERAL: '$HOME' });
  });

  it('host env: values win over .env, are secrets, and fill bare environment entries', () => {
    const p = only(tree, 'web-1', {
      app: { DB_PASSWORD: 'hunter2', TZ: 'UTC', FROM_ENV: 'fe', UNUSED: 'nope' },
    });
    expect(service(p, 'db').environment).toEqual({
      POSTGRES_PASSWORD: 'hunter2',
      TZ: 'UTC',
      LITERAL: '$HOME',
      FROM_ENV: 'fe',
    });
    expect(p.secretValues.sort()).toEqual(['UTC', 'fe', 'hunter2']);
  });

  it('host env: unset ${VAR} is a warning with file:line; unset ${VAR:?msg} an error', () => {
    const r = load(
      {
        'hosts/web-1/app/compose.yaml': y(
          'services:',
          '  a:',
          '    image: x',
          '    user: ${USER_ID}',
          '    environment: [FOO]',
        ),
      },
      'web-1',
      { app: {} },
    );
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([
      expect.objectContaining({
        line: 4,
        message: 'services.a.user: variable USER_ID is not set; using an empty string',
      }),
      expect.objectContaining({
        line: 5,
        message: expect.stringContaining('environment FOO has no value'),
      }),
    ]);
    // An empty `user` is unset, as compose-go reads it: the image's user applies.
    expect(service(r.projects[0]!, 'a')).toEqual({ image: 'x', environment: {} });
    const failed = load(
      {
        'hosts/web-1/app/compose.yaml': y(
          'services:',
          '  a:',
          '    image: x',
          '    user: ${USER_ID}',
          '    working_dir: ${WD:?set WD to the app directory}',
        ),
      },
      'web-1',
      { app: {} },
    );
    expect(failed.projects).toEqual([]);
    expect(failed.errors).toEqual([
      expect.objectContaining({
        file: 'hosts/web-1/app/compose.yaml',
        line: 5,
        message: expect.stringContaining(
          'required variable WD is missing a value: set WD to the app directory',
        ),
      }),
    ]);
  });

  it('a .env value built from a host secret is a secret too', () => {
    const p = only(
      {
        'hosts/web-1/app/compose.yaml': y(
          'services:',
          '  a:',
          '    image: x',
          '    environment: { URL: "${DB_URL}" }',
        ),
        'hosts/web-1/app/.env': 'DB_URL=postgres://u:${DB_PASSWORD}@db/x\n',
      },
      'web-1',
      { app: { DB_PASSWORD: 'pw' } },
    );
    expect(service(p, 'a').environment).toEqual({ URL: 'postgres://u:pw@db/x' });
    expect(p.secretValues.sort()).toEqual(['postgres://u:pw@db/x']);
  });

  it.each([
    ['image: "${"', 3, 12],
    ['image: "x:${1A}"', 3, 12],
    ['image: "${TAG"', 3, 12],
  ])('invalid syntax %s is an error at file:line:column', (line, l, c) => {
    const r = load({ 'hosts/web-1/app/compose.yaml': y('services:', '  a:', `    ${line}`) });
    expect(r.errors).toEqual([
      expect.objectContaining({
        file: 'hosts/web-1/app/compose.yaml',
        line: l,
        column: c,
        path: '/services/a/image',
        message: expect.stringContaining('write $$ for a literal $'),
      }),
    ]);
  });
});

describe('loadComposeHost: canonical forms', () => {
  it('environment and labels in list form become mappings of exact strings', () => {
    const p = only({
      'hosts/web-1/a/compose.yaml': y(
        'services:',
        '  a:',
        '    image: x',
        '    environment:',
        '      - BIG=123456789012345678',
        '      - EMPTY=',
        '      - EQ=a=b',
        '    labels: ["traefik.enable=true", "bare"]',
        '    sysctls: { net.core.somaxconn: 1024 }',
      ),
    });
    expect(service(p, 'a')).toMatchObject({
      environment: { BIG: '123456789012345678', EMPTY: '', EQ: 'a=b' },
      labels: { 'traefik.enable': 'true', bare: '' },
      sysctls: { 'net.core.somaxconn': '1024' },
    });
  });

  it.each([
    ['db_data:/var/lib/db', { type: 'volume', source: 'db_data', target: '/var/lib/db' }],
    ['/anon', { type: 'volume', target: '/anon' }],
    [
      'db_data:/d:ro,nocopy',
      {
        type: 'volume',
        source: 'db_data',
        target: '/d',
        read_only: true,
        volume: { nocopy: true },
      },
    ],
    [
      './data:/data',
      {
        type: 'bind',
        source: 'hosts/web-1/a/data',
        target: '/data',
        bind: { create_host_path: true },
        'x-gitdock-repo-path': true,
      },
    ],
    [
      '.:/src:rw',
      {
        type: 'bind',
        source: 'hosts/web-1/a',
        target: '/src',
        bind: { create_host_path: true },
        'x-gitdock-repo-path': true,
      },
    ],
    [
      '../a/conf:/c:z',
      {
        type: 'bind',
        source: 'hosts/web-1/a/conf',
        target: '/c',
        bind: { selinux: 'z', create_host_path: true },
        'x-gitdock-repo-path': true,
      },
    ],
    [
      '/var/run/docker.sock:/var/run/docker.sock:ro',
      {
        type: 'bind',
        source: '/var/run/docker.sock',
        target: '/var/run/docker.sock',
        read_only: true,
        bind: { create_host_path: true },
      },
    ],
    [
      '/mnt:/mnt:rshared',
      {
        type: 'bind',
        source: '/mnt',
        target: '/mnt',
        bind: { propagation: 'rshared', create_host_path: true },
      },
    ],
  ])('volume %s', (short, long) => {
    const p = only({
      'hosts/web-1/a/compose.yaml': y(
        'services:',
        '  a:',
        '    image: x',
        `    volumes: ["${short}"]`,
      ),
    });
    expect(service(p, 'a').volumes).toEqual([long]);
  });

  it('rebases long-form binds, configs and secrets files and build context', () => {
    const p = only({
      'hosts/web-1/a/compose.yaml': y(
        'services:',
        '  a:',
        '    image: x',
        '    build: ./src',
        '    volumes:',
        '      - { type: bind, source: conf/app.ini, target: /app.ini, read_only: true }',
        '    networks: [front]',
        '    depends_on: [db]',
        '    dns: 1.1.1.1',
        '    extra_hosts: ["host.docker.internal:host-gateway", "v6=::1"]',
        '  db: { image: pg }',
        'networks: { front: {} }',
        'configs: { c: { file: ./c.conf } }',
        'secrets: { s: { file: /etc/s } }',
      ),
    });
    expect(service(p, 'a')).toEqual({
      image: 'x',
      build: { context: 'hosts/web-1/a/src' },
      volumes: [
        {
          type: 'bind',
          source: 'hosts/web-1/a/conf/app.ini',
          target: '/app.ini',
          read_only: true,
          'x-gitdock-repo-path': true,
        },
      ],
      networks: { front: null },
      depends_on: { db: { condition: 'service_started', required: true } },
      dns: ['1.1.1.1'],
      extra_hosts: { 'host.docker.internal': ['host-gateway'], v6: ['::1'] },
    });
    expect(p.model.configs).toEqual({ c: { file: 'hosts/web-1/a/c.conf' } });
    expect(p.model.secrets).toEqual({ s: { file: '/etc/s' } });
  });

  it.each([
    ['volumes: ["../../../../etc:/etc"]', /leads outside the repository/],
    ['volumes: ["~/data:/data"]', /starts with "~"/],
    ['env_file: /etc/app.env', /absolute path: env files come from the repository/],
    ['env_file: ../../../../x.env', /leads outside the repository/],
    ['volumes: ["a:b:c:d"]', /expected \[SOURCE:\]TARGET\[:MODE\]/],
    ['volumes: ["./x:/x:bogus"]', /unknown option "bogus"/],
    ['volumes: ["./x:/x:nocopy"]', /nocopy applies to named volumes/],
    ['env_file: [{ path: a.env, format: raw }]', /format "raw" is not supported/],
  ])('%s is an error', (line, message) => {
    const r = load({
      'hosts/web-1/a/compose.yaml': y('services:', '  a:', '    image: x', `    ${line}`),
    });
    expect(r.projects).toEqual([]);
    expect(r.errors).toEqual([
      expect.objectContaining({
        file: 'hosts/web-1/a/compose.yaml',
        line: 4,
        message: expect.stringMatching(message),
      }),
    ]);
  });
});

describe('loadComposeHost: env_file', () => {
  it('reads env files into environment: files first, environment over them, required: false may be missing', () => {
    const p = only(
      {
        'hosts/web-1/a/compose.yaml': y(
          'services:',
          '  a:',
          '    image: x',
          '    env_file:',
          '      - common.env',
          '      - { path: ./local.env, required: false }',
          '      - { path: ./more.env, required: true }',
          '    environment: { B: own }',
        ),
        'hosts/web-1/a/common.env': 'A=1\nB=from-file\nC=${SECRET}\nD\n',
        'hosts/web-1/a/more.env': 'E="two\nlines"\n',
        'hosts/web-1/a/.env': 'D=from-dotenv\n',
      },
      'web-1',
      { a: { SECRET: 'shh' } },
    );
    expect(service(p, 'a')).toEqual({
      image: 'x',
      environment: { A: '1', B: 'own', C: 'shh', D: 'from-dotenv', E: 'two\nlines' },
    });
    expect(p.secretValues).toEqual(['shh']);
    expect(p.files).toContain('hosts/web-1/a/common.env');
    expect(p.files).toContain('hosts/web-1/a/more.env');
    expect(p.locate(['services', 'a', 'environment', 'C'])).toEqual({
      file: 'hosts/web-1/a/common.env',
      line: 3,
      column: 1,
    });
  });

  it('a missing required env file and a bad line are errors; the bad line is never printed', () => {
    const r = load({
      'hosts/web-1/a/compose.yaml': y(
        'services:',
        '  a:',
        '    image: x',
        '    env_file: [missing.env, bad.env]',
      ),
      'hosts/web-1/a/bad.env': 'OK=1\nDB_PASSWORD hunter9\n',
    });
    expect(r.errors.map((e) => `${e.file}:${e.line} ${e.message}`)).toEqual([
      'hosts/web-1/a/compose.yaml:4 hosts/web-1/a/missing.env does not exist in the repository (set `required: false` if it is optional)',
      'hosts/web-1/a/bad.env:2 line 2: expected KEY=value',
    ]);
    expect(JSON.stringify(r)).not.toContain('hunter9');
  });
});

describe('loadComposeHost: schema', () => {
  it('reports every schema error at once with file:line:column', () => {
    const r = load({
      'hosts/web-1/a/compose.yaml': y(
        'services:',
        '  a:',
        '    image: x',
        '    restrat: always',
        '    ports: { a: 1 }',
        '  b:',
        '    image: [list]',
        'volumes:',
        '  v: { driver: 1 }',
      ),
    });
    expect(r.errors.map((e) => [e.line, e.column, e.path, e.message])).toEqual([
      [
        4,
        5,
        '/services/a/restrat',
        'unknown field "restrat" in services.a; did you mean "restart"?',
      ],
      [
        5,
        12,
        '/services/a/ports',
        'services.a.ports: expected a list of numbers, strings or mappings, got a mapping',
      ],
      [7, 12, '/services/b/image', 'services.b.image: expected a string, got a list'],
      [9, 16, '/volumes/v/driver', 'volumes.v.driver: expected a string, got number 1'],
    ]);
  });

  it('accepts what the current spec added after the npm copy', () => {
    only({
      'hosts/web-1/a/compose.yaml': y(
        'name: a',
        'services:',
        '  a:',
        '    image: x',
        '    env_file: [{ path: a.env, required: false }]',
        '    depends_on: { b: { condition: service_completed_successfully, required: false, restart: true } }',
        '    develop: { watch: [{ path: ./src, action: sync, target: /src }] }',
        '    networks: { n: { gw_priority: 1, priority: 2 } }',
        '    volumes: [{ type: volume, source: v, target: /v, volume: { subpath: sub } }]',
        '    post_start: [{ command: ["echo", "hi"] }]',
        '  b: { image: y }',
        'networks: { n: {} }',
        'volumes: { v: {} }',
      ),
    });
  });
});

describe('loadComposeHost: values that need a host variable', () => {
  const tree = {
    'hosts/web-1/immich/compose.yaml': y(
      'services:',
      '  server:',
      '    image: ghcr.io/immich-app/immich-server:${IMMICH_VERSION:-release}',
      '    volumes:',
      '      - ${UPLOAD_LOCATION}:/usr/src/app/upload',
      '      - /etc/localtime:/etc/localtime:ro',
    ),
  };

  it('CI: a volume whose source only the host knows is a note, not an error', () => {
    const r = load(tree);
    expect(r.errors).toEqual([]);
    expect(r.notes.map((n) => n.message)).toEqual([
      expect.stringContaining('must supply UPLOAD_LOCATION'),
    ]);
  });

  it('host: the same unset variable gives a warning and the broken volume an error', () => {
    const r = load(tree, 'web-1', { immich: {} });
    expect(r.warnings.map((w) => w.message)).toEqual([
      expect.stringContaining('UPLOAD_LOCATION is not set'),
    ]);
    expect(r.errors.map((e) => e.message)).toEqual([
      expect.stringContaining('expected [SOURCE:]TARGET[:MODE]'),
    ]);
  });

  it('host: with the variable set, the source is a repo path', () => {
    const p = only(tree, 'web-1', { immich: { UPLOAD_LOCATION: './library' } });
    expect(service(p, 'server').volumes).toEqual([
      {
        type: 'bind',
        source: 'hosts/web-1/immich/library',
        target: '/usr/src/app/upload',
        bind: { create_host_path: true },
        'x-gitdock-repo-path': true,
      },
      {
        type: 'bind',
        source: '/etc/localtime',
        target: '/etc/localtime',
        read_only: true,
        bind: { create_host_path: true },
      },
    ]);
  });
});

describe('loadComposeHost: override tags from a host override file', () => {
  it('!reset removes and !override replaces what the stack set', () => {
    const p = only(
      {
        'stacks/shop/compose.yaml': y(
          'x-gitdock: { hosts: [web-1] }',
          'services:',
          '  app:',
          '    image: shop',
          '    ports: ["80:80"]',
          '    environment: { A: "1", B: "2" }',
          '    labels: [a=1]',
          '  debug: { image: busybox }',
        ),
        'hosts/web-1/shop/compose.override.yaml': y(
          'services:',
          '  app:',
          '    ports: !reset []',
          '    environment: !override { C: "3" }',
          '    labels: [b=2]',
          '  debug: !reset',
        ),
      },
      'web-1',
    );
    expect(p.model.services).toEqual({
      app: { image: 'shop', environment: { C: '3' }, labels: { a: '1', b: '2' } },
    });
  });

  it('resolves configs and secrets from a variable into content, a host value staying secret', () => {
    const p = only(
      {
        'hosts/web-1/a/compose.yaml': y(
          'services:',
          '  a: { image: x, secrets: [token] }',
          'secrets: { token: { environment: TOKEN } }',
          'configs: { motd: { environment: MOTD } }',
        ),
        'hosts/web-1/a/.env': 'MOTD=hello\n',
      },
      'web-1',
      { a: { TOKEN: 't0k3n' } },
    );
    expect(p.model.secrets).toEqual({ token: { content: 't0k3n' } });
    expect(p.model.configs).toEqual({ motd: { content: 'hello' } });
    expect(p.secretValues).toEqual(['t0k3n']);
  });
});

describe('loadComposeHost: the COMPOSE_ variables and shell variables', () => {
  const app = y('name: from-file', 'services:', '  a: { image: x, profiles: [debug] }');

  it('COMPOSE_PROJECT_NAME in .env names the project, before name: and the directory', () => {
    const p = only(
      {
        'hosts/web-1/app/compose.yaml': app,
        'hosts/web-1/app/.env': 'COMPOSE_PROJECT_NAME=legacy\n',
      },
      'web-1',
      // The host env is chosen by that name, and cannot rename the project.
      { legacy: { COMPOSE_PROJECT_NAME: 'other', V: 'host' } },
    );
    expect(p.name).toBe('legacy');
    expect(p.secretValues).toEqual([]);
    expect(
      only({
        'hosts/web-1/app/compose.yaml': app,
        'hosts/web-1/app/.env': 'COMPOSE_PROJECT_NAME=\n',
      }).name,
    ).toBe('from-file');
  });

  it('an invalid COMPOSE_PROJECT_NAME is an error at its .env line', () => {
    const r = load({
      'hosts/web-1/app/compose.yaml': app,
      'hosts/web-1/app/.env': '# migrated\nCOMPOSE_PROJECT_NAME=My App\n',
    });
    expect(r.projects).toEqual([]);
    expect(r.errors).toEqual([
      expect.objectContaining({
        file: 'hosts/web-1/app/.env',
        line: 2,
        message: expect.stringContaining(
          'COMPOSE_PROJECT_NAME "My App" is not a valid Compose project name',
        ),
      }),
    ]);
  });

  it('COMPOSE_PROFILES from .env or the host env turns profiles on with x-gitdock.profiles', () => {
    const tree = {
      'hosts/web-1/app/compose.yaml': y(
        'x-gitdock: { profiles: [a] }',
        app.replace('name: from-file\n', ''),
      ),
      'hosts/web-1/app/.env': 'COMPOSE_PROFILES=debug, b\n',
    };
    expect(only(tree).model['x-gitdock']).toEqual({ profiles: ['a', 'debug', 'b'] });
    expect(only(tree, 'web-1', { app: { COMPOSE_PROFILES: '*' } }).model['x-gitdock']).toEqual({
      profiles: ['a', '*'],
    });
    const bad = load({ ...tree, 'hosts/web-1/app/.env': 'COMPOSE_PROFILES=ok,not ok\n' });
    expect(bad.errors).toEqual([
      expect.objectContaining({
        file: 'hosts/web-1/app/.env',
        line: 1,
        message: expect.stringContaining('COMPOSE_PROFILES: "not ok" is not a profile name'),
      }),
    ]);
  });

  it('CI: a variable only bare environment entries use is optional; one ${X} also uses is needed', () => {
    const r = load({
      'hosts/web-1/app/compose.yaml': y(
        'services:',
        '  a:',
        '    image: x',
        '    environment: [OPTIONAL, BOTH]',
        '    labels: { l: "${BOTH}" }',
      ),
    });
    expect(r.notes.map((n) => n.message)).toEqual([
      'project app: the host must supply BOTH (no value in the repository and no default)',
      'project app: the host may supply OPTIONAL (an environment entry without a value: left out of the container when unset, as Compose does)',
    ]);
  });

  it('says where a shell variable such as PWD must come from', () => {
    const tree = {
      'hosts/web-1/app/compose.yaml': y(
        'services:',
        '  a:',
        '    image: x',
        '    volumes: ["${PWD}/conf/app.conf:/etc/app.conf"]',
        '    environment: { H: "${HOME}" }',
      ),
    };
    expect(load(tree).notes.map((n) => n.message)).toEqual([
      expect.stringMatching(/must supply PWD .*write \.\/ for the project directory$/),
      expect.stringMatching(
        /must supply HOME .*set it in the host's env file for the project or in \.env$/,
      ),
    ]);
    expect(load(tree, 'web-1', { app: {} }).warnings.map((n) => n.message)).toEqual([
      expect.stringMatching(
        /variable PWD is not set; using an empty string; Compose takes PWD from the shell/,
      ),
      expect.stringMatching(
        /variable HOME is not set; using an empty string; Compose takes HOME from the shell/,
      ),
    ]);
  });
});
