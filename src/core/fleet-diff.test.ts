import { describe, expect, it } from 'vitest';
import { diffFleets, type FleetDiff, hasFleetChanges, summarizeDiff } from './fleet-diff.js';
import { type FleetState, namedHosts, resolveFleetState } from './fleet-state.js';
import { files, formatErrors, loadOk, shuffled, yaml } from './test-fixtures.js';

const BASE = 'b'.repeat(40);
const HEAD = 'c'.repeat(40);

type Tree = Record<string, string>;

function state(tree: Tree, commit: string): FleetState {
  const resolved = resolveFleetState(loadOk(tree), files(tree), commit);
  if (!resolved.ok) expect.fail(formatErrors(resolved.errors));
  return resolved.value;
}

function diff(base: Tree, head: Tree): FleetDiff {
  return diffFleets(state(base, BASE), state(head, HEAD));
}

/** A tree with some files replaced (`null` deletes). */
function edit(tree: Tree, changes: Record<string, string | null>): Tree {
  const out = { ...tree };
  for (const [path, content] of Object.entries(changes)) {
    if (content === null) delete out[path];
    else out[path] = content;
  }
  return out;
}

/** The diff in one line per fact, so a table can say exactly what is expected. */
function lines(d: FleetDiff): string[] {
  const out: string[] = [];
  for (const h of d.hosts) {
    const note = h.presence === 'both' ? '' : ` (${h.presence})`;
    for (const s of h.services) {
      const what =
        s.change === 'changed'
          ? `${s.reasons.join(', ')}${s.recreate ? '' : ' (no recreate)'}`
          : s.image;
      const from =
        s.baseFile && s.headFile && s.baseFile !== s.headFile
          ? ` {${s.baseFile} -> ${s.headFile}}`
          : '';
      out.push(
        `${h.host}${note} ${{ added: '+', removed: '-', changed: '~' }[s.change]} ${s.service}: ${what}${from} [${s.files.join(', ')}]`,
      );
    }
    for (const o of h.shadowed) {
      out.push(`${h.host}${note} = ${o.service}: ${o.hostFile} shadows ${o.fleetFile}`);
    }
    if (h.refusedEmpty) out.push(`${h.host} refused empty`);
  }
  for (const f of d.fleetFiles) {
    out.push(
      `fleet ${f.file} ${f.change}: hosts [${f.hosts.join(', ')}] shadowed [${f.shadowed.join(', ')}]`,
    );
  }
  return out;
}

const IMAGE = 'registry.example.com';

function appserver(tag: string, ...extra: string[]): string {
  return yaml(`image: ${IMAGE}/appserver`, `tag: "${tag}"`, ...extra);
}

function fleetApp(tag: string, ...extra: string[]): string {
  return yaml('hosts: ["web-*"]', `image: ${IMAGE}/appserver`, `tag: "${tag}"`, ...extra);
}

const MEMCACHED = yaml(`image: ${IMAGE}/memcached`, 'tag: "1.6"');

/**
 * Three web hosts named in gitdock.yaml; appserver from the fleet file on
 * all of them, except web-1, which overrides it with a file of its own.
 */
const FLEET: Tree = {
  'gitdock.yaml': yaml('hosts:', '  web-1: {}', '  web-2: {}', '  web-3: {}'),
  'services/appserver.yaml': fleetApp('1.4.2', 'environment:', '  RAILS_ENV: production'),
  'hosts/web-1/appserver.yaml': appserver('1.4.2', 'environment:', '  RAILS_ENV: production'),
  'hosts/web-1/memcached.yaml': MEMCACHED,
  'hosts/web-2/memcached.yaml': MEMCACHED,
};

const BUMP = fleetApp('1.5.0', 'environment:', '  RAILS_ENV: production');

const cases: { name: string; base?: Tree; head: Tree; expected: string[]; summary: string }[] = [
  {
    name: 'no change',
    head: FLEET,
    expected: [],
    summary: 'no changes in 3 hosts',
  },
  {
    name: 'a comment and key order only',
    head: edit(FLEET, {
      'services/appserver.yaml': yaml(
        '# released on Monday',
        `tag: "1.4.2"`,
        `image: ${IMAGE}/appserver`,
        'hosts: ["web-*"]',
        'environment: { RAILS_ENV: production }',
      ),
    }),
    expected: [],
    summary: 'no changes in 3 hosts',
  },
  {
    name: 'tag bump in a fleet file: every matching host, web-1 shadowed',
    head: edit(FLEET, { 'services/appserver.yaml': BUMP }),
    expected: [
      'web-1 = appserver: hosts/web-1/appserver.yaml shadows services/appserver.yaml',
      'web-2 ~ appserver: tag 1.4.2 -> 1.5.0 [services/appserver.yaml]',
      'web-3 ~ appserver: tag 1.4.2 -> 1.5.0 [services/appserver.yaml]',
      'fleet services/appserver.yaml changed: hosts [web-2, web-3] shadowed [web-1]',
    ],
    summary: '2 hosts, 2 services changed; 1 override shadows a fleet change',
  },
  {
    name: 'fleet file and override both bumped: web-1 changed by its own file',
    head: edit(FLEET, {
      'services/appserver.yaml': BUMP,
      'hosts/web-1/appserver.yaml': appserver('1.5.0', 'environment:', '  RAILS_ENV: production'),
    }),
    expected: [
      'web-1 ~ appserver: tag 1.4.2 -> 1.5.0 [hosts/web-1/appserver.yaml]',
      'web-2 ~ appserver: tag 1.4.2 -> 1.5.0 [services/appserver.yaml]',
      'web-3 ~ appserver: tag 1.4.2 -> 1.5.0 [services/appserver.yaml]',
      'fleet services/appserver.yaml changed: hosts [web-2, web-3] shadowed []',
    ],
    summary: '3 hosts, 3 services changed',
  },
  {
    name: 'host override changed: only that host',
    head: edit(FLEET, {
      'hosts/web-1/appserver.yaml': appserver(
        '1.6.0-rc.1',
        'environment:',
        '  RAILS_ENV: production',
      ),
    }),
    expected: ['web-1 ~ appserver: tag 1.4.2 -> 1.6.0-rc.1 [hosts/web-1/appserver.yaml]'],
    summary: '1 host, 1 service changed',
  },
  {
    name: 'canary: a new override takes one host off the fleet file',
    head: edit(FLEET, {
      'hosts/web-2/appserver.yaml': appserver(
        '1.6.0-rc.1',
        'environment:',
        '  RAILS_ENV: production',
      ),
    }),
    expected: [
      'web-2 ~ appserver: tag 1.4.2 -> 1.6.0-rc.1 {services/appserver.yaml -> hosts/web-2/appserver.yaml} [hosts/web-2/appserver.yaml]',
    ],
    summary: '1 host, 1 service changed',
  },
  {
    name: 'override removed: the host falls back to the changed fleet file',
    head: edit(FLEET, { 'services/appserver.yaml': BUMP, 'hosts/web-1/appserver.yaml': null }),
    expected: [
      'web-1 ~ appserver: tag 1.4.2 -> 1.5.0 {hosts/web-1/appserver.yaml -> services/appserver.yaml} [hosts/web-1/appserver.yaml, services/appserver.yaml]',
      'web-2 ~ appserver: tag 1.4.2 -> 1.5.0 [services/appserver.yaml]',
      'web-3 ~ appserver: tag 1.4.2 -> 1.5.0 [services/appserver.yaml]',
      'fleet services/appserver.yaml changed: hosts [web-1, web-2, web-3] shadowed []',
    ],
    summary: '3 hosts, 3 services changed',
  },
  {
    name: 'hold back: a fleet bump with a new override keeping one host on the old tag',
    head: edit(FLEET, {
      'services/appserver.yaml': BUMP,
      'hosts/web-3/appserver.yaml': appserver('1.4.2', 'environment:', '  RAILS_ENV: production'),
    }),
    expected: [
      'web-1 = appserver: hosts/web-1/appserver.yaml shadows services/appserver.yaml',
      'web-2 ~ appserver: tag 1.4.2 -> 1.5.0 [services/appserver.yaml]',
      'web-3 = appserver: hosts/web-3/appserver.yaml shadows services/appserver.yaml',
      'fleet services/appserver.yaml changed: hosts [web-2] shadowed [web-1, web-3]',
    ],
    summary: '1 host, 1 service changed; 2 overrides shadow a fleet change',
  },
  {
    name: 'service added on one host',
    head: edit(FLEET, { 'hosts/web-3/memcached.yaml': MEMCACHED }),
    expected: [
      'web-3 + memcached: registry.example.com/memcached:1.6 [hosts/web-3/memcached.yaml]',
    ],
    summary: '1 host, 1 service changed',
  },
  {
    name: 'service removed from one host',
    head: edit(FLEET, { 'hosts/web-2/memcached.yaml': null }),
    expected: [
      'web-2 - memcached: registry.example.com/memcached:1.6 [hosts/web-2/memcached.yaml]',
    ],
    summary: '1 host, 1 service changed',
  },
  {
    name: 'fleet file added: shadowed where a host already has its own',
    head: edit(FLEET, {
      'services/memcached.yaml': yaml(
        'hosts: [web-1, web-3]',
        `image: ${IMAGE}/memcached`,
        'tag: "1.6"',
      ),
    }),
    expected: [
      'web-1 = memcached: hosts/web-1/memcached.yaml shadows services/memcached.yaml',
      'web-3 + memcached: registry.example.com/memcached:1.6 [services/memcached.yaml]',
      'fleet services/memcached.yaml added: hosts [web-3] shadowed [web-1]',
    ],
    summary: '1 host, 1 service changed; 1 override shadows a fleet change',
  },
  {
    name: 'fleet file removed',
    head: edit(FLEET, { 'services/appserver.yaml': null }),
    expected: [
      'web-1 = appserver: hosts/web-1/appserver.yaml shadows services/appserver.yaml',
      'web-2 - appserver: registry.example.com/appserver:1.4.2 [services/appserver.yaml]',
      'web-3 - appserver: registry.example.com/appserver:1.4.2 [services/appserver.yaml]',
      'web-3 refused empty',
      'fleet services/appserver.yaml removed: hosts [web-2, web-3] shadowed [web-1]',
    ],
    summary: '2 hosts, 2 services changed; 1 override shadows a fleet change',
  },
  {
    name: 'environment: names the variable, never the value',
    head: edit(FLEET, {
      'services/appserver.yaml': fleetApp(
        '1.4.2',
        'environment:',
        '  RAILS_ENV: staging',
        '  SECRET_KEY: hunter2',
      ),
    }),
    expected: [
      'web-1 = appserver: hosts/web-1/appserver.yaml shadows services/appserver.yaml',
      'web-2 ~ appserver: environment.RAILS_ENV changed, environment.SECRET_KEY added [services/appserver.yaml]',
      'web-3 ~ appserver: environment.RAILS_ENV changed, environment.SECRET_KEY added [services/appserver.yaml]',
      'fleet services/appserver.yaml changed: hosts [web-2, web-3] shadowed [web-1]',
    ],
    summary: '2 hosts, 2 services changed; 1 override shadows a fleet change',
  },
  {
    name: 'an env file changed: the env file is the cause, the fleet file reaches the hosts',
    base: edit(FLEET, {
      'services/appserver.yaml': fleetApp('1.4.2', 'env_file: env/app.env'),
      'services/env/app.env': 'RAILS_ENV=production\n',
    }),
    head: edit(FLEET, {
      'services/appserver.yaml': fleetApp('1.4.2', 'env_file: env/app.env'),
      'services/env/app.env': 'RAILS_ENV=staging\n',
    }),
    expected: [
      'web-1 = appserver: hosts/web-1/appserver.yaml shadows services/appserver.yaml',
      'web-2 ~ appserver: environment.RAILS_ENV changed [services/env/app.env]',
      'web-3 ~ appserver: environment.RAILS_ENV changed [services/env/app.env]',
      'fleet services/appserver.yaml changed: hosts [web-2, web-3] shadowed [web-1]',
    ],
    summary: '2 hosts, 2 services changed; 1 override shadows a fleet change',
  },
  {
    name: 'update, pull and depends_on only: changed, not recreated',
    head: edit(FLEET, {
      'hosts/web-1/appserver.yaml': appserver(
        '1.4.2',
        'environment:',
        '  RAILS_ENV: production',
        'update: { order: start-first, health_timeout: 2m }',
        'pull: always',
        'depends_on: [memcached]',
      ),
    }),
    expected: [
      'web-1 ~ appserver: update.order stop-first -> start-first, update.health_timeout 1m -> 2m, pull missing -> always, depends_on memcached added (no recreate) [hosts/web-1/appserver.yaml]',
    ],
    summary: '1 host, 1 service changed',
  },
  {
    name: 'new host directory: everything it will run',
    head: edit(FLEET, { 'hosts/web-4/memcached.yaml': MEMCACHED }),
    expected: [
      'web-4 (added) + appserver: registry.example.com/appserver:1.4.2 [services/appserver.yaml]',
      'web-4 (added) + memcached: registry.example.com/memcached:1.6 [hosts/web-4/memcached.yaml]',
    ],
    summary: '1 host, 2 services changed',
  },
  {
    name: 'host taken out of the repo',
    head: edit(FLEET, {
      'gitdock.yaml': yaml('hosts:', '  web-1: {}', '  web-3: {}'),
      'hosts/web-2/memcached.yaml': null,
    }),
    expected: [
      'web-2 (removed) - appserver: registry.example.com/appserver:1.4.2 [services/appserver.yaml]',
      'web-2 (removed) - memcached: registry.example.com/memcached:1.6 [hosts/web-2/memcached.yaml]',
    ],
    summary: '1 host, 2 services changed',
  },
  {
    name: 'host named in gitdock.yaml only: its fleet services, the manifest as the file',
    head: edit(FLEET, {
      'gitdock.yaml': yaml('hosts:', '  web-1: {}', '  web-2: {}', '  web-3: {}', '  web-9: {}'),
    }),
    expected: [
      'web-9 (added) + appserver: registry.example.com/appserver:1.4.2 [services/appserver.yaml]',
    ],
    summary: '1 host, 1 service changed',
  },
  {
    name: 'host emptied without allow_empty',
    head: edit(FLEET, {
      'services/appserver.yaml': yaml(
        'hosts: [web-1, web-2]',
        `image: ${IMAGE}/appserver`,
        'tag: "1.4.2"',
        'environment:',
        '  RAILS_ENV: production',
      ),
    }),
    expected: [
      'web-3 - appserver: registry.example.com/appserver:1.4.2 [services/appserver.yaml]',
      'web-3 refused empty',
      'fleet services/appserver.yaml changed: hosts [web-3] shadowed []',
    ],
    summary: '1 host, 1 service changed',
  },
  {
    name: 'host emptied with allow_empty',
    head: edit(FLEET, {
      'gitdock.yaml': yaml(
        'hosts:',
        '  web-1: {}',
        '  web-2: {}',
        '  web-3: { allow_empty: true }',
      ),
      'services/appserver.yaml': yaml(
        'hosts: [web-1, web-2]',
        `image: ${IMAGE}/appserver`,
        'tag: "1.4.2"',
        'environment:',
        '  RAILS_ENV: production',
      ),
    }),
    expected: [
      'web-3 - appserver: registry.example.com/appserver:1.4.2 [services/appserver.yaml]',
      'fleet services/appserver.yaml changed: hosts [web-3] shadowed []',
    ],
    summary: '1 host, 1 service changed',
  },
  {
    name: 'a fleet file that reaches no named host',
    head: edit(FLEET, {
      'services/worker.yaml': yaml('hosts: ["db-*"]', `image: ${IMAGE}/worker`, 'tag: "1"'),
    }),
    expected: ['fleet services/worker.yaml added: hosts [] shadowed []'],
    summary: 'no changes in 3 hosts',
  },
  {
    name: 'a literal name in hosts: names a host',
    head: edit(FLEET, {
      'services/worker.yaml': yaml('hosts: [db-1, "web-*"]', `image: ${IMAGE}/worker`, 'tag: "1"'),
    }),
    expected: [
      'db-1 (added) + worker: registry.example.com/worker:1 [services/worker.yaml]',
      'web-1 + worker: registry.example.com/worker:1 [services/worker.yaml]',
      'web-2 + worker: registry.example.com/worker:1 [services/worker.yaml]',
      'web-3 + worker: registry.example.com/worker:1 [services/worker.yaml]',
      'fleet services/worker.yaml added: hosts [db-1, web-1, web-2, web-3] shadowed []',
    ],
    summary: '4 hosts, 4 services changed',
  },
];

describe('diffFleets', () => {
  it.each(cases)('$name', ({ base, head, expected, summary }) => {
    const d = diff(base ?? FLEET, head);
    expect(lines(d)).toEqual(expected);
    expect(summarizeDiff(d)).toBe(summary);
    expect(hasFleetChanges(d)).toBe(d.counts.services > 0);
  });

  it('describes a change in full', () => {
    const d = diff(FLEET, edit(FLEET, { 'services/appserver.yaml': BUMP }));
    expect(d).toEqual({
      base: BASE,
      head: HEAD,
      hosts: [
        {
          host: 'web-1',
          presence: 'both',
          services: [],
          shadowed: [
            {
              service: 'appserver',
              fleetFile: 'services/appserver.yaml',
              hostFile: 'hosts/web-1/appserver.yaml',
            },
          ],
          refusedEmpty: false,
        },
        ...['web-2', 'web-3'].map((host) => ({
          host,
          presence: 'both',
          services: [
            {
              service: 'appserver',
              change: 'changed',
              baseFile: 'services/appserver.yaml',
              headFile: 'services/appserver.yaml',
              image: 'registry.example.com/appserver:1.5.0',
              reasons: ['tag 1.4.2 -> 1.5.0'],
              recreate: true,
              files: ['services/appserver.yaml'],
            },
          ],
          shadowed: [],
          refusedEmpty: false,
        })),
      ],
      fleetFiles: [
        {
          file: 'services/appserver.yaml',
          service: 'appserver',
          change: 'changed',
          hosts: ['web-2', 'web-3'],
          shadowed: ['web-1'],
        },
      ],
      counts: { compared: 3, hosts: 2, services: 2, added: 0, removed: 0, changed: 2, shadowed: 1 },
    });
  });

  it('never puts an environment value in a reason', () => {
    const head = edit(FLEET, {
      'services/appserver.yaml': fleetApp('1.4.2', 'environment:', '  RAILS_ENV: hunter2'),
    });
    expect(JSON.stringify(diff(FLEET, head))).not.toContain('hunter2');
  });

  it('is the same whatever order the files come in', () => {
    const head = edit(FLEET, {
      'services/appserver.yaml': BUMP,
      'hosts/web-3/memcached.yaml': MEMCACHED,
      'hosts/web-2/memcached.yaml': null,
    });
    const expected = diff(FLEET, head);
    for (const seed of [1, 2, 3]) {
      const reorder = (t: Tree) => Object.fromEntries(shuffled(Object.entries(t), seed));
      expect(diff(reorder(FLEET), reorder(head))).toEqual(expected);
    }
  });

  it('reverses: BASE and HEAD swapped swap additions and removals', () => {
    const head = edit(FLEET, { 'hosts/web-3/memcached.yaml': MEMCACHED });
    expect(lines(diff(head, FLEET))).toEqual([
      'web-3 - memcached: registry.example.com/memcached:1.6 [hosts/web-3/memcached.yaml]',
    ]);
  });
});

describe('resolveFleetState', () => {
  it('names hosts by directory, gitdock.yaml and literal selector names, not globs', () => {
    const fleet = loadOk({
      'gitdock.yaml': yaml('hosts:', '  cfg-1: {}'),
      'hosts/dir-1/app.yaml': appserver('1'),
      'services/app.yaml': yaml(
        'hosts: [lit-1, "web-*", "db-[12]"]',
        `image: ${IMAGE}/x`,
        'tag: "1"',
      ),
    });
    expect(namedHosts(fleet)).toEqual(['cfg-1', 'dir-1', 'lit-1']);
  });

  it("names the literal hosts of a stack's x-gitdock.hosts, not its globs", () => {
    const tree = {
      'stacks/shop/compose.yaml': yaml(
        'x-gitdock:',
        '  hosts: [db-9, "web-*"]',
        'services:',
        '  app:',
        '    image: app:1',
      ),
      'stacks/shop/notes.yaml': yaml('x-gitdock:', '  hosts: [not-a-host]'),
    };
    const fleet = loadOk(tree);
    expect(namedHosts(fleet)).toEqual(['db-9']);
    const resolved = resolveFleetState(fleet, files(tree), HEAD);
    expect(resolved.ok && resolved.value.hosts.get('db-9')?.services.map((s) => s.name)).toEqual([
      'shop/app',
    ]);
  });

  it('fails for a host named only in hosts: whose dependencies are missing', () => {
    const tree = {
      'services/app.yaml': yaml(
        'hosts: [db-1]',
        `image: ${IMAGE}/x`,
        'tag: "1"',
        'depends_on: [cache]',
      ),
    };
    const resolved = resolveFleetState(loadOk(tree), files(tree), HEAD);
    expect(resolved).toEqual({
      ok: false,
      errors: [
        {
          file: 'services/app.yaml',
          line: 4,
          column: 14,
          path: '/depends_on/0',
          message: '"app" depends on "cache", which is not a service on host db-1',
        },
      ],
    });
  });
});

describe('diffFleets: Compose projects', () => {
  // A stack on web-1 and web-2, web-2 with its own override, and a project
  // of web-1 alone: proxy mounts a file and a directory, app reads .env and
  // an env file, db does neither.
  const SHOP: Tree = {
    'gitdock.yaml': yaml('hosts:', '  web-1: {}', '  web-2: {}'),
    'stacks/shop/compose.yaml': yaml(
      'x-gitdock:',
      '  hosts: [web-1, web-2]',
      'services:',
      '  proxy:',
      '    image: proxy:1',
      '    volumes: ["./httpd.conf:/etc/httpd.conf:ro", "./site:/www:ro"]',
      '  app:',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose interpolation
      '    image: app:${APP_TAG}',
      '    env_file: app.env',
      '    deploy: { replicas: 2 }',
      '  db:',
      '    image: db:1',
    ),
    'stacks/shop/.env': 'APP_TAG=1\n',
    'stacks/shop/app.env': 'MODE=a\n',
    'stacks/shop/httpd.conf': 'I:index.html\n',
    'stacks/shop/site/index.html': '<p>1</p>\n',
    'hosts/web-2/shop/compose.override.yaml': yaml('services:', '  db:', '    image: db:2'),
    'hosts/web-1/blog/compose.yaml': yaml('services:', '  db:', '    image: db:1'),
  };
  const changed = (d: FleetDiff) =>
    d.hosts.flatMap((h) => h.services.map((s) => `${h.host} ${s.service} [${s.files.join(', ')}]`));

  it.each<{ name: string; edit: Record<string, string | null>; expected: string[] }>([
    {
      name: 'a mounted file: only the services that mount it',
      edit: { 'stacks/shop/httpd.conf': 'I:other.html\n' },
      expected: [
        'web-1 shop/proxy [stacks/shop/httpd.conf]',
        'web-2 shop/proxy [stacks/shop/httpd.conf]',
      ],
    },
    {
      name: 'a file of a mounted directory',
      edit: { 'stacks/shop/site/index.html': '<p>2</p>\n' },
      expected: [
        'web-1 shop/proxy [stacks/shop/site/index.html]',
        'web-2 shop/proxy [stacks/shop/site/index.html]',
      ],
    },
    {
      name: 'the .env: the services whose values change, every replica',
      edit: { 'stacks/shop/.env': 'APP_TAG=2\n' },
      expected: [
        'web-1 shop/app [stacks/shop/.env]',
        'web-1 shop/app#2 [stacks/shop/.env]',
        'web-2 shop/app [stacks/shop/.env]',
        'web-2 shop/app#2 [stacks/shop/.env]',
      ],
    },
    {
      name: 'an env file',
      edit: { 'stacks/shop/app.env': 'MODE=b\n' },
      expected: [
        'web-1 shop/app [stacks/shop/app.env]',
        'web-1 shop/app#2 [stacks/shop/app.env]',
        'web-2 shop/app [stacks/shop/app.env]',
        'web-2 shop/app#2 [stacks/shop/app.env]',
      ],
    },
    {
      name: "a host's override: that host only",
      edit: {
        'hosts/web-2/shop/compose.override.yaml': yaml('services:', '  db:', '    image: db:3'),
      },
      expected: ['web-2 shop/db [hosts/web-2/shop/compose.override.yaml]'],
    },
    {
      name: 'an override added for a host',
      edit: {
        'hosts/web-1/shop/compose.override.yaml': yaml('services:', '  db:', '    image: db:3'),
      },
      expected: ['web-1 shop/db [hosts/web-1/shop/compose.override.yaml]'],
    },
    {
      name: "one project's file never counts for another project's service",
      edit: { 'hosts/web-1/blog/compose.yaml': yaml('services:', '  db:', '    image: db:2') },
      expected: ['web-1 blog/db [hosts/web-1/blog/compose.yaml]'],
    },
    {
      name: 'a comment in the compose file: no service changes',
      edit: { 'stacks/shop/compose.yaml': `# a comment\n${SHOP['stacks/shop/compose.yaml']}` },
      expected: [],
    },
  ])('$name', ({ edit: changes, expected }) => {
    expect(changed(diff(SHOP, edit(SHOP, changes)))).toEqual(expected);
  });

  it('gives each service its project files and the files it mounts', () => {
    const inputs = state(SHOP, HEAD).composeInputs;
    expect(Object.fromEntries(inputs?.get('web-2') ?? [])).toEqual({
      'shop/app': [
        'hosts/web-2/shop/compose.override.yaml',
        'stacks/shop/.env',
        'stacks/shop/app.env',
        'stacks/shop/compose.yaml',
      ],
      'shop/app#2': [
        'hosts/web-2/shop/compose.override.yaml',
        'stacks/shop/.env',
        'stacks/shop/app.env',
        'stacks/shop/compose.yaml',
      ],
      'shop/db': [
        'hosts/web-2/shop/compose.override.yaml',
        'stacks/shop/.env',
        'stacks/shop/app.env',
        'stacks/shop/compose.yaml',
      ],
      'shop/proxy': [
        'hosts/web-2/shop/compose.override.yaml',
        'stacks/shop/.env',
        'stacks/shop/app.env',
        'stacks/shop/compose.yaml',
        'stacks/shop/httpd.conf',
        'stacks/shop/site/index.html',
      ],
    });
  });
});
