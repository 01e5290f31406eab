import { describe, expect, it } from 'vitest';
import { isFleetPath, loadFleet, resolveHost, SymlinkBlob } from './fleet.js';
import { NAME_RULE, SERVICE_NAME_RULE } from './names.js';
import { serviceSchema } from './schema.js';
import { explainSchemaErrors } from './schema-errors.js';
import { files, loadErrors, loadOk, yaml } from './test-fixtures.js';
import type { ManifestError } from './types.js';
import { parseYamlSource } from './yaml-source.js';

const APP = yaml('image: registry.example.com/app', 'tag: "1.0"');
const COMMIT = '0123456789abcdef0123456789abcdef01234567';

/** A minimal valid manifest for an image, with extra lines after image and tag. */
function manifest(image: string, ...extra: string[]): string {
  return yaml(`image: registry.example.com/${image}`, 'tag: "1.0"', ...extra);
}

/** A fleet file: `hosts:` first, then a minimal manifest. */
function fleetFile(hosts: string[], image: string, ...extra: string[]): string {
  return yaml(
    `hosts: [${hosts.map((h) => JSON.stringify(h)).join(', ')}]`,
    `image: registry.example.com/${image}`,
    'tag: "1.0"',
    ...extra,
  );
}

/** Service names of a host, in start order. */
function servicesOf(tree: Record<string, string>, host: string): string[] {
  const resolved = resolveHost(loadOk(tree), host, COMMIT);
  if (!resolved.ok) expect.fail(JSON.stringify(resolved.errors));
  return resolved.value.services.map((s) => s.name);
}

interface BadCase {
  name: string;
  tree: Record<string, string | Uint8Array>;
  /** Exactly the errors expected; `line`/`column` left out where there is no position. */
  errors: ManifestError[];
}

const FILE = 'hosts/web-1/app.yaml';

const bad: BadCase[] = [
  // --- schema: fields and types ---------------------------------------------
  {
    name: 'unknown field, with a close match',
    tree: { [FILE]: manifest('app', 'enviroment:', '  A: b') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 1,
        path: '/enviroment',
        message: 'unknown field "enviroment"; did you mean "environment"?',
      },
    ],
  },
  {
    name: 'unknown field, case typo',
    tree: { [FILE]: yaml('Image: app', 'tag: "1.0"') },
    errors: [
      { file: FILE, line: 1, column: 1, path: '', message: 'missing required field "image"' },
      {
        file: FILE,
        line: 1,
        column: 1,
        path: '/Image',
        message: 'unknown field "Image"; did you mean "image"?',
      },
    ],
  },
  {
    name: 'unknown nested field',
    tree: { [FILE]: manifest('app', 'healthcheck:', '  test: ["CMD", "true"]', '  intervall: 5s') },
    errors: [
      {
        file: FILE,
        line: 5,
        column: 3,
        path: '/healthcheck/intervall',
        message: 'unknown field "intervall" in healthcheck; did you mean "interval"?',
      },
    ],
  },
  {
    name: 'unknown field in a long-form port',
    tree: { [FILE]: manifest('app', 'ports:', '  - target: 80', '    publish: 8080') },
    errors: [
      {
        file: FILE,
        line: 5,
        column: 5,
        path: '/ports/0/publish',
        message: 'unknown field "publish" in ports[0]; did you mean "published"?',
      },
    ],
  },
  {
    name: 'unknown field with no close match lists the known ones',
    tree: { [FILE]: manifest('app', 'replicas: 3') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 1,
        path: '/replicas',
        message:
          'unknown field "replicas"; expected one of: image, tag, digest, hosts, command, entrypoint, ' +
          'environment, env_file, ports, volumes, network_mode, privileged, restart, healthcheck, depends_on, ' +
          'labels, user, working_dir, stop_grace_period, update, pull',
      },
    ],
  },
  {
    name: 'tag written as a number',
    tree: { [FILE]: yaml('image: app', 'tag: 1.0') },
    errors: [
      {
        file: FILE,
        line: 2,
        column: 6,
        path: '/tag',
        message: 'tag: expected a string, got number 1',
      },
    ],
  },
  {
    name: 'ports as a scalar',
    tree: { [FILE]: manifest('app', 'ports: 80') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 8,
        path: '/ports',
        message: 'ports: expected a list of strings, integers or mappings, got number 80',
      },
    ],
  },
  {
    name: 'command as a number',
    tree: { [FILE]: manifest('app', 'command: 5') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 10,
        path: '/command',
        message: 'command: expected a string or a list of strings, got number 5',
      },
    ],
  },
  {
    name: 'environment as a string',
    tree: { [FILE]: manifest('app', 'environment: RAILS_ENV=production') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 14,
        path: '/environment',
        message: 'environment: expected a mapping or a list of strings, got a string',
      },
    ],
  },
  {
    name: 'depends_on as a string',
    tree: { [FILE]: manifest('app', 'depends_on: db') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 13,
        path: '/depends_on',
        message: 'depends_on: expected a list of strings or a mapping, got string "db"',
      },
    ],
  },
  {
    name: 'stop_grace_period as a bare number',
    tree: { [FILE]: manifest('app', 'stop_grace_period: 10') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 20,
        path: '/stop_grace_period',
        message: 'stop_grace_period: expected a string, got number 10',
      },
    ],
  },
  {
    name: 'stop_grace_period in words',
    tree: { [FILE]: manifest('app', 'stop_grace_period: 10 seconds') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 20,
        path: '/stop_grace_period',
        message:
          'stop_grace_period: string "10 seconds" is not valid; Time to wait after SIGTERM before SIGKILL: a duration such as `10s` or `1m30s`.',
      },
    ],
  },
  {
    name: 'restart policy not in the list',
    tree: { [FILE]: manifest('app', 'restart: sometimes') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 10,
        path: '/restart',
        message:
          'restart: string "sometimes" is not valid; Restart policy: `no` (default), `always`, `unless-stopped`, `on-failure` or `on-failure:N`.',
      },
    ],
  },
  {
    name: 'enum value',
    tree: { [FILE]: manifest('app', 'update:', '  order: blue-green') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 10,
        path: '/update/order',
        message:
          'update.order: expected one of "stop-first", "start-first", got string "blue-green"',
      },
    ],
  },
  {
    name: 'integer out of range, short form port',
    tree: { [FILE]: manifest('app', 'ports:', '  - 70000') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 5,
        path: '/ports/0',
        message: 'ports[0]: expected an integer from 1 to 65535, got number 70000',
      },
    ],
  },
  {
    // Regression: each item's union used to discard the other items' errors
    // (one schemaPath for all items), so the file failed with no message at
    // all and the service was silently dropped.
    name: 'errors in two items of one list are both reported',
    tree: { [FILE]: manifest('app', 'ports:', '  - 70000', '  - target: 0') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 5,
        path: '/ports/0',
        message: 'ports[0]: expected an integer from 1 to 65535, got number 70000',
      },
      {
        file: FILE,
        line: 5,
        column: 13,
        path: '/ports/1/target',
        message: 'ports[1].target: expected an integer from 1 to 65535, got number 0',
      },
    ],
  },
  {
    name: 'negative retries',
    tree: { [FILE]: manifest('app', 'healthcheck:', '  retries: -1') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 12,
        path: '/healthcheck/retries',
        message: 'healthcheck.retries: expected an integer from 0 to 2147483647, got number -1',
      },
    ],
  },
  {
    name: 'empty network_mode',
    tree: { [FILE]: manifest('app', 'network_mode: ""') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 15,
        path: '/network_mode',
        message:
          'network_mode: string "" is not valid; `none`, `host`, `bridge`, `container:SERVICE` (another service on the same host) or a network name.',
      },
    ],
  },
  {
    name: 'image with a tag in it',
    tree: { [FILE]: yaml('image: App', 'tag: "1.0"') },
    errors: [
      {
        file: FILE,
        line: 1,
        column: 8,
        path: '/image',
        message:
          'image: string "App" is not valid; Image repository without tag or digest, e.g. `registry.example.com/appserver` (the tag goes in `tag`, the digest in `digest`).',
      },
    ],
  },
  {
    name: 'environment variable name with a space',
    tree: { [FILE]: manifest('app', 'environment:', '  "RAILS ENV": production') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 3,
        path: '/environment/RAILS ENV',
        message:
          'environment: key "RAILS..." is not allowed here; expected a name without `=`, whitespace or NUL',
      },
    ],
  },
  {
    name: 'unknown field in a depends_on condition',
    tree: {
      [FILE]: manifest('app', 'depends_on:', '  db:', '    conditon: service_started'),
      'hosts/web-1/db.yaml': APP,
    },
    errors: [
      {
        file: FILE,
        line: 5,
        column: 5,
        path: '/depends_on/db/conditon',
        message: 'unknown field "conditon" in depends_on.db; did you mean "condition"?',
      },
    ],
  },
  {
    name: 'unknown update field lists the known ones',
    tree: { [FILE]: manifest('app', 'update:', '  parallelism: 2') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 3,
        path: '/update/parallelism',
        message:
          'unknown field "parallelism" in update; expected one of: order, settle, health_timeout',
      },
    ],
  },
  {
    name: 'a mapping as an environment value',
    tree: { [FILE]: manifest('app', 'environment:', '  A:', '    b: 1') },
    errors: [
      {
        file: FILE,
        line: 5,
        column: 5,
        path: '/environment/A',
        message: 'environment.A: expected a string, a number or a boolean, got a mapping',
      },
    ],
  },
  {
    // The pattern is explained by its own field, not by the description of `volumes`.
    name: 'relative target of a long-form mount',
    tree: {
      [FILE]: manifest('app', 'volumes:', '  - type: bind', '    source: /srv', '    target: data'),
    },
    errors: [
      {
        file: FILE,
        line: 6,
        column: 13,
        path: '/volumes/0/target',
        message:
          'volumes[0].target: string "data" is not valid; An absolute container path other than `/` and /proc, without `.` or `..` segments.',
      },
    ],
  },
  {
    name: 'bad items of both forms in one list',
    tree: { [FILE]: manifest('app', 'volumes:', '  - data', '  - type: blob', '    target: /x') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 5,
        path: '/volumes/0',
        message:
          'volumes[0]: string "data" is not valid; A mount such as `"/srv/data:/data"`, `"/etc/app:/etc/app:ro"` or `"named:/data"`: an absolute host path or a volume name (2+ letters, digits, `_`, `.`, `-`), then an absolute container path other than `/` and /proc (no `.` or `..` segments).',
      },
      {
        file: FILE,
        line: 5,
        column: 11,
        path: '/volumes/1/type',
        message: 'volumes[1].type: expected one of "bind", "volume", "tmpfs", got string "blob"',
      },
    ],
  },
  {
    name: 'glob with uppercase in hosts:',
    tree: { 'services/app.yaml': yaml('hosts: ["Web-*"]', 'image: app', 'tag: "1.0"') },
    errors: [
      {
        file: 'services/app.yaml',
        line: 1,
        column: 9,
        path: '/hosts/0',
        message:
          'hosts[0]: string "Web-*" is not valid; Fleet files only: the hosts this service runs on, by name or glob (`web-*`, `db-?`, `web-[1-3]`; brackets closed, ranges in order).',
      },
    ],
  },
  {
    name: 'the file is a list',
    tree: { [FILE]: yaml('- image: app', '- tag: "1.0"') },
    errors: [
      {
        file: FILE,
        line: 1,
        column: 1,
        path: '',
        message: 'the file: expected a mapping, got a list',
      },
    ],
  },
  {
    name: 'a shell script is YAML, but not a mapping',
    tree: { [FILE]: yaml('#!/bin/sh', 'exec /app --serve') },
    errors: [
      {
        file: FILE,
        line: 2,
        column: 1,
        path: '',
        message: 'the file: expected a mapping, got string "exec /app --serve"',
      },
    ],
  },
  {
    name: 'an empty file',
    tree: { [FILE]: '' },
    errors: [
      {
        file: FILE,
        path: '',
        message: 'file is empty; expected a mapping with at least "image" and "tag"',
      },
    ],
  },

  // --- tag / digest ---------------------------------------------------------
  {
    name: 'tag and digest both',
    tree: { [FILE]: yaml('image: app', 'tag: "1.0"', `digest: sha256:${'a'.repeat(64)}`) },
    errors: [
      {
        file: FILE,
        line: 1,
        column: 1,
        path: '',
        message: 'give either "tag" or "digest", not both',
      },
    ],
  },
  {
    name: 'neither tag nor digest',
    tree: { [FILE]: yaml('image: app') },
    errors: [
      {
        file: FILE,
        line: 1,
        column: 1,
        path: '',
        message: 'missing required field "tag" (or "digest")',
      },
    ],
  },
  {
    name: 'neither tag nor digest, and another error',
    tree: { [FILE]: yaml('image: app', 'ports: 80') },
    errors: [
      {
        file: FILE,
        line: 1,
        column: 1,
        path: '',
        message: 'missing required field "tag" (or "digest")',
      },
      {
        file: FILE,
        line: 2,
        column: 8,
        path: '/ports',
        message: 'ports: expected a list of strings, integers or mappings, got number 80',
      },
    ],
  },
  {
    name: 'short digest',
    tree: { [FILE]: yaml('image: app', 'digest: sha256:abc') },
    errors: [
      {
        file: FILE,
        line: 2,
        column: 9,
        path: '/digest',
        message:
          'digest: string "sha256:abc" is not valid; Image digest to run: `sha256:` and 64 hex digits. Exactly one of `tag` and `digest`.',
      },
    ],
  },

  // --- names ----------------------------------------------------------------
  ...[
    ['uppercase', 'Web-1'],
    ['leading dash', '-web'],
    ['64 characters', 'h'.repeat(64)],
    ['a space', 'web 1'],
  ].map(([what, host]) => ({
    name: `host name with ${what}`,
    tree: { [`hosts/${host}/app.yaml`]: APP },
    errors: [
      {
        file: `hosts/${host}/app.yaml`,
        path: '',
        message: `"${host}" is not a valid host name: use ${NAME_RULE}`,
      },
    ],
  })),
  ...[
    ['uppercase', 'App'],
    ['leading dash', '-app'],
    ['leading dot', '.app'],
    ['64 characters', 's'.repeat(64)],
  ].map(([what, service]) => ({
    name: `service name with ${what}`,
    tree: { [`hosts/web-1/${service}.yaml`]: APP },
    errors: [
      {
        file: `hosts/web-1/${service}.yaml`,
        path: '',
        message: `"${service}" is not a valid service name: use ${SERVICE_NAME_RULE}`,
      },
    ],
  })),
  {
    name: 'fleet service name with uppercase',
    tree: { 'services/App.yaml': fleetFile(['web-1'], 'app') },
    errors: [
      {
        file: 'services/App.yaml',
        path: '',
        message: `"App" is not a valid service name: use ${SERVICE_NAME_RULE}`,
      },
    ],
  },
  {
    name: 'host name in gitdock.yaml',
    tree: { 'gitdock.yaml': yaml('hosts:', '  Web-1:', '    allow_empty: true') },
    errors: [
      {
        file: 'gitdock.yaml',
        line: 2,
        column: 3,
        path: '/hosts/Web-1',
        message: `hosts: key "Web-1" is not allowed here; expected ${NAME_RULE}`,
      },
    ],
  },
  {
    name: 'unknown field in gitdock.yaml',
    tree: { 'gitdock.yaml': yaml('hosts:', '  web-1:', '    allow_emtpy: true') },
    errors: [
      {
        file: 'gitdock.yaml',
        line: 3,
        column: 5,
        path: '/hosts/web-1/allow_emtpy',
        message: 'unknown field "allow_emtpy" in hosts.web-1; did you mean "allow_empty"?',
      },
    ],
  },

  // --- layout ---------------------------------------------------------------
  {
    name: 'duplicate service: a.yaml and a.yml in one host directory',
    tree: { 'hosts/web-1/ab.yaml': APP, 'hosts/web-1/ab.yml': APP },
    errors: [
      {
        file: 'hosts/web-1/ab.yml',
        path: '',
        message: 'service "ab" is defined twice: hosts/web-1/ab.yaml and hosts/web-1/ab.yml',
      },
    ],
  },
  {
    name: 'duplicate service: ab.yaml and ab.yml in services/',
    tree: {
      'services/ab.yaml': fleetFile(['web-1'], 'ab'),
      'services/ab.yml': fleetFile(['web-2'], 'ab'),
    },
    errors: [
      {
        file: 'services/ab.yml',
        path: '',
        message: 'service "ab" is defined twice: services/ab.yaml and services/ab.yml',
      },
    ],
  },
  {
    name: 'manifest directly under hosts/',
    tree: { 'hosts/app.yaml': APP },
    errors: [
      {
        file: 'hosts/app.yaml',
        path: '',
        message: 'manifests go in hosts/<host>/<service>.yaml or services/<service>.yaml',
      },
    ],
  },
  {
    // A moved file used to be skipped silently, which removed the service.
    name: 'manifest in a subdirectory of a host directory',
    tree: { 'hosts/web-1/old/app.yaml': APP },
    errors: [
      {
        file: 'hosts/web-1/old/app.yaml',
        path: '',
        message: 'manifests go in hosts/<host>/<service>.yaml or services/<service>.yaml',
      },
    ],
  },
  {
    name: 'manifest in a subdirectory of services/',
    tree: { 'services/web/app.yaml': fleetFile(['web-1'], 'app') },
    errors: [
      {
        file: 'services/web/app.yaml',
        path: '',
        message: 'manifests go in hosts/<host>/<service>.yaml or services/<service>.yaml',
      },
    ],
  },
  {
    name: 'hosts: in a host file',
    tree: { [FILE]: manifest('app', 'hosts: [web-1]') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 8,
        path: '/hosts',
        message:
          '"hosts" belongs in services/ files; a host file applies to its own directory\'s host',
      },
    ],
  },
  {
    name: 'missing hosts: in a fleet file',
    tree: { 'services/app.yaml': APP },
    errors: [
      {
        file: 'services/app.yaml',
        line: 1,
        column: 1,
        path: '',
        message:
          'missing required field "hosts": a services/ file must say which hosts run it (names or globs)',
      },
    ],
  },
  {
    name: 'empty hosts: in a fleet file',
    tree: { 'services/app.yaml': yaml('hosts: []', 'image: app', 'tag: "1.0"') },
    errors: [
      {
        file: 'services/app.yaml',
        line: 1,
        column: 8,
        path: '/hosts',
        message: 'hosts: expected at least 1 item, got an empty list',
      },
    ],
  },
  {
    name: 'hosts: as a single string',
    tree: { 'services/app.yaml': yaml('hosts: web-1', 'image: app', 'tag: "1.0"') },
    errors: [
      {
        file: 'services/app.yaml',
        line: 1,
        column: 8,
        path: '/hosts',
        message: 'hosts: expected a list of strings, got string "web-1"',
      },
    ],
  },

  // --- dependencies ---------------------------------------------------------
  {
    name: 'unknown dependency (list form)',
    tree: { [FILE]: manifest('app', 'depends_on: [cache, db]'), 'hosts/web-1/cache.yaml': APP },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 21,
        path: '/depends_on/1',
        message: '"app" depends on "db", which is not a service on host web-1',
      },
    ],
  },
  {
    name: 'unknown dependency (map form)',
    tree: { [FILE]: manifest('app', 'depends_on:', '  db:', '    condition: service_healthy') },
    errors: [
      {
        file: FILE,
        line: 5,
        column: 5,
        path: '/depends_on/db',
        message: '"app" depends on "db", which is not a service on host web-1',
      },
    ],
  },
  {
    name: 'fleet file depending on a service one host lacks',
    tree: {
      'services/app.yaml': fleetFile(['web-*'], 'app', 'depends_on: [cache]'),
      'hosts/web-1/cache.yaml': APP,
      'hosts/web-2/other.yaml': APP,
    },
    errors: [
      {
        file: 'services/app.yaml',
        line: 4,
        column: 14,
        path: '/depends_on/0',
        message: '"app" depends on "cache", which is not a service on host web-2',
      },
    ],
  },
  {
    name: 'dependency cycle',
    tree: {
      'hosts/web-1/aa.yaml': manifest('aa', 'depends_on: [bb]'),
      'hosts/web-1/bb.yaml': manifest('bb', 'depends_on: [cc]'),
      'hosts/web-1/cc.yaml': manifest('cc', 'depends_on: [aa]'),
      'hosts/web-1/dd.yaml': manifest('dd', 'depends_on: [aa]'),
    },
    errors: [
      {
        file: 'hosts/web-1/aa.yaml',
        line: 3,
        column: 13,
        path: '/depends_on',
        message: 'dependency cycle on host web-1: aa -> bb -> cc -> aa',
      },
    ],
  },
  {
    name: 'dependency cycle reached through a service outside it',
    tree: {
      'hosts/web-1/aa.yaml': manifest('aa', 'depends_on: [yy]'),
      'hosts/web-1/yy.yaml': manifest('yy', 'depends_on: [zz]'),
      'hosts/web-1/zz.yaml': manifest('zz', 'depends_on: [yy]'),
    },
    errors: [
      {
        file: 'hosts/web-1/yy.yaml',
        line: 3,
        column: 13,
        path: '/depends_on',
        message: 'dependency cycle on host web-1: yy -> zz -> yy',
      },
    ],
  },
  {
    name: 'service depending on itself',
    tree: { [FILE]: manifest('app', 'depends_on: [app]') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 13,
        path: '/depends_on',
        message: 'dependency cycle on host web-1: app -> app',
      },
    ],
  },

  // --- YAML -----------------------------------------------------------------
  {
    name: 'not YAML: unterminated flow list',
    tree: { [FILE]: manifest('app', 'ports: ["80"') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 1,
        path: '',
        message: expect.stringMatching(/^not valid YAML: Flow sequence .* must .* end with a \]$/),
      },
    ],
  },
  {
    name: 'not YAML: bad indentation',
    tree: { [FILE]: yaml('image: app', ' tag: "1.0"') },
    errors: [
      {
        file: FILE,
        line: 1,
        column: 8,
        path: '',
        message: expect.stringMatching(/^not valid YAML: /),
      },
    ],
  },
  {
    name: 'not YAML: binary',
    tree: { [FILE]: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff]) },
    errors: [
      { file: FILE, path: '', message: 'file is not valid UTF-8 text; expected a YAML mapping' },
    ],
  },
  {
    name: 'duplicate YAML key',
    tree: { [FILE]: yaml('image: app', 'tag: "1.0"', 'tag: "1.1"') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 1,
        path: '/tag',
        message: 'duplicate key "tag": expected each key once per mapping',
      },
    ],
  },
  {
    name: 'YAML alias bomb',
    tree: {
      [FILE]: yaml(
        'image: app',
        'tag: "1.0"',
        'labels:',
        '  a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]',
        '  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
        '  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
        '  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
        '  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
        '  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]',
        '  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]',
        '  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]',
        '  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]',
      ),
    },
    errors: [
      {
        file: FILE,
        path: '',
        message: expect.stringMatching(
          /^YAML aliases expand too far .*; at most 100 alias uses are allowed$/,
        ),
      },
    ],
  },
  {
    name: 'file over 1 MiB',
    tree: { [FILE]: `${APP}# ${'x'.repeat(1024 * 1024)}\n` },
    errors: [
      {
        file: FILE,
        path: '',
        message: `file is ${APP.length + 2 + 1024 * 1024 + 1} bytes; manifests are limited to 1048576 bytes (1 MiB)`,
      },
    ],
  },

  // --- normalisation --------------------------------------------------------
  {
    name: 'env_file missing',
    tree: { [FILE]: manifest('app', 'env_file: app.env') },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 11,
        path: '/env_file',
        message: 'env_file "app.env" not found: no file "hosts/web-1/app.env" at this revision',
      },
    ],
  },
  {
    name: 'env_file outside hosts/ and services/',
    tree: { [FILE]: manifest('app', 'env_file: ../../secrets.env'), 'secrets.env': 'A=1\n' },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 11,
        path: '/env_file',
        message:
          'env_file "../../secrets.env" resolves to "secrets.env", outside hosts/ and services/',
      },
    ],
  },
  {
    name: 'env_file escaping the repo',
    tree: {
      [FILE]: manifest('app', 'env_file:', '  - app.env', '  - ../../../etc/passwd'),
      'hosts/web-1/app.env': 'A=1\n',
    },
    errors: [
      {
        file: FILE,
        line: 5,
        column: 5,
        path: '/env_file/1',
        message:
          'env_file "../../../etc/passwd" resolves to "../etc/passwd", outside hosts/ and services/',
      },
    ],
  },
  {
    name: 'env_file given as an absolute path',
    tree: { [FILE]: manifest('app', 'env_file: /etc/app.env'), 'hosts/web-1/etc/app.env': 'A=1\n' },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 11,
        path: '/env_file',
        message:
          'env_file: string "/etc/app.env" is not valid; A path relative to this manifest (not absolute), inside hosts/ or services/.',
      },
    ],
  },
  {
    name: 'env_file with a line that is not KEY=value',
    tree: {
      [FILE]: manifest('app', 'env_file: app.env'),
      'hosts/web-1/app.env': 'A=1\nnonsense\n',
    },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 11,
        path: '/env_file',
        message: 'env_file "hosts/web-1/app.env" line 2: expected KEY=value',
      },
    ],
  },
  {
    name: 'reserved io.gitdock. label (map form)',
    tree: { [FILE]: manifest('app', 'labels:', '  io.gitdock.host: web-2') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 3,
        path: '/labels/io.gitdock.host',
        message:
          'labels: key "io.gitdock.host" is not allowed here; expected a name without `=` or whitespace, not starting with `io.gitdock.` (reserved for gitdock\'s own labels)',
      },
    ],
  },
  {
    name: 'reserved io.gitdock. label (list form)',
    tree: { [FILE]: manifest('app', 'labels:', '  - tier=web', '  - io.gitdock.spec-hash=0') },
    errors: [
      {
        file: FILE,
        line: 5,
        column: 5,
        path: '/labels/1',
        message:
          'labels[1]: string "io.gitdock.spec-hash=0" is not valid; A label `key=value` (or `key`): a name without `=` or whitespace, not starting with `io.gitdock.` (reserved for gitdock).',
      },
    ],
  },
  {
    name: 'relative bind mount (short form)',
    tree: { [FILE]: manifest('app', 'volumes:', '  - ./data:/data') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 5,
        path: '/volumes/0',
        message:
          'volumes[0]: string "./data:/data" is not valid; A mount such as `"/srv/data:/data"`, `"/etc/app:/etc/app:ro"` or `"named:/data"`: an absolute host path or a volume name (2+ letters, digits, `_`, `.`, `-`), then an absolute container path other than `/` and /proc (no `.` or `..` segments).',
      },
    ],
  },
  {
    name: 'home-relative bind mount',
    tree: { [FILE]: manifest('app', 'volumes:', '  - /srv:/srv', '  - ~/data:/data') },
    errors: [
      {
        file: FILE,
        line: 5,
        column: 5,
        path: '/volumes/1',
        message:
          'volumes[1]: string "~/data:/data" is not valid; A mount such as `"/srv/data:/data"`, `"/etc/app:/etc/app:ro"` or `"named:/data"`: an absolute host path or a volume name (2+ letters, digits, `_`, `.`, `-`), then an absolute container path other than `/` and /proc (no `.` or `..` segments).',
      },
    ],
  },
  {
    name: 'relative bind mount (long form)',
    tree: {
      [FILE]: manifest(
        'app',
        'volumes:',
        '  - type: bind',
        '    source: data',
        '    target: /data',
      ),
    },
    errors: [
      {
        file: FILE,
        line: 5,
        column: 13,
        path: '/volumes/0/source',
        message:
          'volumes[0].source: string "data" is not valid; A bind mount source is an absolute path on the host, without `:` (the engine takes binds as `source:target`).',
      },
    ],
  },
  {
    name: 'named volume without a source (long form)',
    tree: { [FILE]: manifest('app', 'volumes:', '  - type: volume', '    target: /data') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 5,
        path: '/volumes/0',
        message: 'missing required field "source" in volumes[0]',
      },
    ],
  },
  {
    name: 'environment variable without a value (list form)',
    tree: { [FILE]: manifest('app', 'environment:', '  - RAILS_ENV') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 5,
        path: '/environment/0',
        message:
          'environment[0]: expected KEY=value; without "=" the variable would be taken from a shell, which an agent does not have (write KEY= for an empty string; the entry is not shown: it may hold a secret)',
      },
    ],
  },
  {
    name: 'environment variable without a value (map form)',
    tree: { [FILE]: manifest('app', 'environment:', '  RAILS_ENV:') },
    errors: [
      {
        file: FILE,
        line: 4,
        column: 3,
        path: '/environment/RAILS_ENV',
        message:
          'environment.RAILS_ENV has no value; expected a value (write RAILS_ENV: "" for an empty string)',
      },
    ],
  },
  {
    name: 'command with an unterminated quote',
    tree: { [FILE]: manifest('app', `command: sh -c 'echo hi`) },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 10,
        path: '/command',
        message: `command: string "sh -c 'echo hi" is not valid; A command line, split into words as a shell would (no expansion): quotes must be closed; no NUL characters.`,
      },
    ],
  },
  {
    name: 'entrypoint with an unterminated quote',
    tree: { [FILE]: manifest('app', `entrypoint: '/bin/app "--x'`) },
    errors: [
      {
        file: FILE,
        line: 3,
        column: 13,
        path: '/entrypoint',
        message: `entrypoint: string "/bin/app \\"--x" is not valid; A command line, split into words as a shell would (no expansion): quotes must be closed; no NUL characters.`,
      },
    ],
  },
  ...[
    ['80:80:80:80', 4],
    ['8080:70000', 4],
    ['0:80', 4],
    ['1.2.3:8080:80', 4],
    ['300.0.0.1:8080:80', 4],
    ['127.0.0.1:80:80:80', 4],
  ].map(([port, line]) => ({
    name: `port "${port}"`,
    tree: { [FILE]: manifest('app', 'ports:', `  - "${port}"`) },
    errors: [
      {
        file: FILE,
        line: line as number,
        column: 5,
        path: '/ports/0',
        message:
          `ports[0]: string "${port}" is not valid; A port such as \`"80"\`, \`"8080:80"\`, \`"127.0.0.1:8080:80"\`, ` +
          '`"127.0.0.1::80"` or `"[::1]:8080:80"`, ports 1 to 65535, optionally with /tcp or /udp.',
      },
    ],
  })),
  {
    name: 'long-form published port out of range',
    tree: { [FILE]: manifest('app', 'ports:', '  - target: 80', '    published: "70000"') },
    errors: [
      {
        file: FILE,
        line: 5,
        column: 16,
        path: '/ports/0/published',
        message: 'ports[0].published: string "70000" is not valid; A host port from 1 to 65535.',
      },
    ],
  },
];

describe('loadFleet: invalid revisions', () => {
  it.each(bad)('$name', ({ tree, errors }) => {
    expect(loadErrors(tree)).toEqual(errors);
  });

  it('every bad file is reported, in path order', () => {
    const errors = loadErrors({
      'services/zz.yaml': APP,
      'hosts/web-2/bb.yaml': yaml('image: app'),
      'hosts/web-1/aa.yaml': manifest('aa', 'foo: 1'),
    });
    expect(errors.map((e) => [e.file, e.line, e.column, e.path])).toEqual([
      ['hosts/web-1/aa.yaml', 3, 1, '/foo'],
      ['hosts/web-2/bb.yaml', 1, 1, ''],
      ['services/zz.yaml', 1, 1, ''],
    ]);
  });

  it('one bad file fails the whole revision, even when the rest is valid', () => {
    const result = loadFleet(
      files({
        'hosts/web-1/good.yaml': APP,
        'hosts/web-2/good.yaml': APP,
        'hosts/web-2/bad.yaml': yaml('image: app'),
      }),
    );
    expect(result.ok).toBe(false);
  });

  it('errors carry file, line, column, path and message, nothing else', () => {
    const [error] = loadErrors({ [FILE]: manifest('app', 'foo: 1') });
    expect(error).toEqual({
      file: FILE,
      line: 3,
      column: 1,
      path: '/foo',
      message:
        'unknown field "foo"; expected one of: image, tag, digest, hosts, command, entrypoint, environment, env_file, ports, volumes, network_mode, privileged, restart, healthcheck, depends_on, labels, user, working_dir, stop_grace_period, update, pull',
    });
  });
});

describe('loadFleet: what it reads', () => {
  it('accepts a 63-character host and service name', () => {
    const host = 'h'.repeat(63);
    const service = 's'.repeat(63);
    expect(servicesOf({ [`hosts/${host}/${service}.yaml`]: APP }, host)).toEqual([service]);
  });

  it.each(['ab', '00', 'web_1', 'web.1', 'a-b_c.d', '9lives'])('accepts the name %s', (name) => {
    expect(servicesOf({ [`hosts/${name}/${name}.yaml`]: APP }, name)).toEqual([name]);
  });

  it.each(['a', '0'])('accepts the one-character host name %s', (host) => {
    expect(servicesOf({ [`hosts/${host}/app.yaml`]: APP }, host)).toEqual(['app']);
  });

  it('accepts .yml as well as .yaml', () => {
    expect(servicesOf({ 'hosts/web-1/app.yml': APP }, 'web-1')).toEqual(['app']);
  });

  it('ignores files that are not manifests', () => {
    const fleet = loadOk({
      'README.md': '# fleet\n',
      'hosts/web-1/app.yaml': manifest('app', 'env_file: app.env'),
      'hosts/web-1/app.env': 'A=1\n',
      'hosts/web-1/notes.txt': 'not yaml: [',
      'docs/example.yaml': 'not: [valid',
      'services/README.md': 'x',
    });
    expect([...fleet.hostServices.get('web-1')!.keys()]).toEqual(['app']);
  });

  it('knows hosts from hosts/ directories and from gitdock.yaml, sorted', () => {
    const fleet = loadOk({
      'gitdock.yaml': yaml('hosts:', '  edge-1:', '    allow_empty: true'),
      'hosts/web-2/app.yaml': APP,
      'hosts/db-1/pg.yaml': APP,
      'hosts/web-1/app.env': 'A=1\n',
    });
    expect(fleet.knownHosts).toEqual(['db-1', 'edge-1', 'web-1', 'web-2']);
  });

  it('loads an empty repo as an empty fleet', () => {
    const fleet = loadOk({});
    expect(fleet.knownHosts).toEqual([]);
    expect(resolveHost(fleet, 'web-1', COMMIT)).toEqual({
      ok: true,
      value: { host: 'web-1', commit: COMMIT, services: [], allowEmpty: false },
    });
  });

  it('reads allow_empty from gitdock.yaml for its host only', () => {
    const fleet = loadOk({ 'gitdock.yaml': yaml('hosts:', '  edge-1:', '    allow_empty: true') });
    const edge = resolveHost(fleet, 'edge-1', COMMIT);
    const web = resolveHost(fleet, 'web-1', COMMIT);
    expect(edge.ok && edge.value.allowEmpty).toBe(true);
    expect(web.ok && web.value.allowEmpty).toBe(false);
  });

  it('treats an empty gitdock.yaml as no settings', () => {
    expect(loadOk({ 'gitdock.yaml': '' }).config).toEqual({});
  });
});

describe('isFleetPath', () => {
  it.each([
    ['gitdock.yaml', false, true],
    ['hosts', true, true],
    ['hosts/web-1', true, true],
    ['hosts/web-1/app.yaml', false, true],
    ['hosts/web-1/app.env', false, true],
    ['services', true, true],
    ['services/app.yaml', false, true],
    ['stacks', true, true],
    ['stacks/shop/compose.yaml', false, true],
    ['stacksx', true, false],
    ['docs', true, false],
    ['hostsx', true, false],
    ['README.md', false, false],
    ['src/hosts/app.yaml', false, false],
  ] as const)('%s (dir: %s) -> %s', (path, isDir, expected) => {
    expect(isFleetPath(path, isDir)).toBe(expected);
  });
});

describe('resolveHost: fleet files and host files', () => {
  const tree = {
    'services/app.yaml': fleetFile(['web-*'], 'app'),
    'services/exporter.yaml': fleetFile(['*'], 'exporter'),
    'services/pg.yaml': fleetFile(['db-?'], 'pg'),
    'services/pair.yaml': fleetFile(['[ab]-1'], 'pair'),
    'services/named.yaml': fleetFile(['edge-1', 'edge-2'], 'named'),
    'hosts/web-1/cache.yaml': APP,
    'hosts/web-2/app.yaml': manifest('app-canary'),
  };

  it.each([
    ['web-1', ['app', 'cache', 'exporter']],
    ['web-2', ['app', 'exporter']],
    ['web-10', ['app', 'exporter']],
    ['db-1', ['exporter', 'pg']],
    ['db-10', ['exporter']],
    ['a-1', ['exporter', 'pair']],
    ['b-1', ['exporter', 'pair']],
    ['c-1', ['exporter']],
    ['a-10', ['exporter']],
    ['edge-2', ['exporter', 'named']],
    ['edge-3', ['exporter']],
    ['web', ['exporter']],
  ])('%s runs %j', (host, expected) => {
    expect(servicesOf(tree, host)).toEqual(expected);
  });

  it('a host file overrides the fleet file entirely, for its own host only', () => {
    const fleet = loadOk({
      'services/app.yaml': fleetFile(
        ['web-*'],
        'app',
        'environment:',
        '  RAILS_ENV: production',
        'ports: ["8080:80"]',
      ),
      'hosts/web-2/app.yaml': yaml('image: registry.example.com/app', 'tag: "1.1-rc1"'),
    });
    const web1 = resolveHost(fleet, 'web-1', COMMIT);
    const web2 = resolveHost(fleet, 'web-2', COMMIT);
    if (!web1.ok || !web2.ok) expect.fail('hosts did not resolve');
    const [fleetApp] = web1.value.services;
    const [canary] = web2.value.services;
    expect(fleetApp).toMatchObject({
      name: 'app',
      host: 'web-1',
      file: 'services/app.yaml',
      origin: 'fleet',
      imageRef: 'registry.example.com/app:1.0',
      spec: {
        environment: { RAILS_ENV: 'production' },
        ports: [{ containerPort: 80, hostPort: 8080 }],
      },
    });
    // Nothing of the fleet file leaks into the override: no merge.
    expect(canary).toMatchObject({
      name: 'app',
      host: 'web-2',
      file: 'hosts/web-2/app.yaml',
      origin: 'host',
      imageRef: 'registry.example.com/app:1.1-rc1',
      spec: { environment: {}, ports: [] },
    });
  });

  it('an unknown host gets the fleet services that match it', () => {
    const fleet = loadOk({
      'services/app.yaml': fleetFile(['web-*'], 'app'),
      'hosts/web-1/xx.yaml': APP,
    });
    expect(fleet.knownHosts).toEqual(['web-1']);
    const resolved = resolveHost(fleet, 'web-99', COMMIT);
    expect(resolved.ok && resolved.value.services.map((s) => [s.name, s.host, s.origin])).toEqual([
      ['app', 'web-99', 'fleet'],
    ]);
  });

  it('an unknown host that matches nothing has no services', () => {
    const resolved = resolveHost(
      loadOk({ 'services/app.yaml': fleetFile(['web-*'], 'app') }),
      'mail-1',
      COMMIT,
    );
    expect(resolved).toEqual({
      ok: true,
      value: { host: 'mail-1', commit: COMMIT, services: [], allowEmpty: false },
    });
  });

  it('reports an unknown dependency for a host loadFleet did not know about', () => {
    const fleet = loadOk({
      'services/app.yaml': fleetFile(['web-*'], 'app', 'depends_on: [cache]'),
      'hosts/web-1/cache.yaml': APP,
    });
    expect(resolveHost(fleet, 'web-7', COMMIT)).toEqual({
      ok: false,
      errors: [
        {
          file: 'services/app.yaml',
          line: 4,
          column: 14,
          path: '/depends_on/0',
          message: '"app" depends on "cache", which is not a service on host web-7',
        },
      ],
    });
  });

  it('a fleet file may depend on a service a host file defines', () => {
    expect(
      servicesOf(
        {
          'services/app.yaml': fleetFile(['web-1'], 'app', 'depends_on: [cache]'),
          'hosts/web-1/cache.yaml': APP,
        },
        'web-1',
      ),
    ).toEqual(['cache', 'app']);
  });

  it("the overridden fleet file's dependencies do not apply to the overriding host", () => {
    expect(
      servicesOf(
        {
          'services/app.yaml': fleetFile(['web-*'], 'app', 'depends_on: [cache]'),
          'hosts/web-1/cache.yaml': APP,
          'hosts/web-2/app.yaml': APP,
        },
        'web-2',
      ),
    ).toEqual(['app']);
  });
});

describe('resolveHost: start order', () => {
  it.each([
    {
      name: 'no dependencies: by name',
      deps: { cc: [], aa: [], bb: [] },
      order: ['aa', 'bb', 'cc'],
    },
    {
      name: 'dependencies first',
      deps: { app: ['db', 'cache'], cache: [], db: [] },
      order: ['cache', 'db', 'app'],
    },
    {
      name: 'a chain',
      deps: { aa: ['bb'], bb: ['cc'], cc: [] },
      order: ['cc', 'bb', 'aa'],
    },
    {
      name: 'a diamond, ties by name at every level',
      deps: { web: ['api', 'auth'], api: ['db'], auth: ['db'], db: [], zz: [], aa: ['zz'] },
      order: ['db', 'zz', 'aa', 'api', 'auth', 'web'],
    },
    {
      name: 'map form of depends_on',
      deps: { app: { db: { condition: 'service_healthy' } }, db: [] },
      order: ['db', 'app'],
    },
  ])('$name', ({ deps, order }) => {
    const tree: Record<string, string> = {};
    for (const [name, on] of Object.entries(deps)) {
      const line = Array.isArray(on)
        ? on.length > 0
          ? `depends_on: [${on.join(', ')}]`
          : ''
        : `depends_on: ${JSON.stringify(on)}`;
      tree[`hosts/web-1/${name}.yaml`] = manifest(name, ...(line ? [line] : []));
    }
    expect(servicesOf(tree, 'web-1')).toEqual(order);
  });

  it('is deterministic whatever the order of the files in the map', () => {
    const entries = Object.entries({
      'hosts/web-1/web.yaml': manifest('web', 'depends_on: [api, auth]'),
      'hosts/web-1/api.yaml': manifest('api', 'depends_on: [db]'),
      'hosts/web-1/auth.yaml': manifest('auth', 'depends_on: [db]'),
      'hosts/web-1/db.yaml': manifest('db'),
      'services/exporter.yaml': fleetFile(['web-*'], 'exporter'),
    });
    const results = [
      entries,
      [...entries].reverse(),
      [entries[2]!, entries[4]!, entries[0]!, entries[3]!, entries[1]!],
    ].map((list) => {
      const fleet = loadFleet(files(Object.fromEntries(list)));
      if (!fleet.ok) expect.fail(JSON.stringify(fleet.errors));
      return resolveHost(fleet.value, 'web-1', COMMIT);
    });
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    // Level by level (everything whose dependencies have started), by name within a level.
    expect(results[0]!.ok && results[0]!.value.services.map((s) => s.name)).toEqual([
      'db',
      'exporter',
      'api',
      'auth',
      'web',
    ]);
  });
});

describe('resolveHost: desired services', () => {
  it('fills name, host, file, origin, image reference, hash and dependencies', () => {
    const fleet = loadOk({
      'hosts/web-1/app.yaml': manifest(
        'app',
        'depends_on: [db]',
        'update:',
        '  order: start-first',
      ),
      'hosts/web-1/db.yaml': yaml(
        'image: registry.example.com/pg',
        `digest: sha256:${'b'.repeat(64)}`,
      ),
    });
    const resolved = resolveHost(fleet, 'web-1', COMMIT);
    if (!resolved.ok) expect.fail(JSON.stringify(resolved.errors));
    const [db, app] = resolved.value.services;
    expect(db).toMatchObject({
      name: 'db',
      imageRef: `registry.example.com/pg@sha256:${'b'.repeat(64)}`,
      dependsOn: [],
    });
    expect(app).toMatchObject({
      name: 'app',
      host: 'web-1',
      file: 'hosts/web-1/app.yaml',
      origin: 'host',
      imageRef: 'registry.example.com/app:1.0',
      dependsOn: ['db'],
      rollout: { order: 'start-first', settleMs: 2000, healthTimeoutMs: 60_000, pull: 'missing' },
    });
    expect(app!.specHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the same fleet file gives the same hash on every host', () => {
    const fleet = loadOk({ 'services/app.yaml': fleetFile(['web-*'], 'app') });
    const hashes = ['web-1', 'web-2'].map((host) => {
      const r = resolveHost(fleet, host, COMMIT);
      return r.ok ? r.value.services[0]!.specHash : '';
    });
    expect(hashes[0]).toBe(hashes[1]);
  });

  it('depends_on stays out of the spec hash', () => {
    const hashOf = (extra: string[]) => {
      const fleet = loadOk({
        'hosts/web-1/app.yaml': manifest('app', ...extra),
        'hosts/web-1/db.yaml': APP,
      });
      const r = resolveHost(fleet, 'web-1', COMMIT);
      return r.ok ? r.value.services.find((s) => s.name === 'app')!.specHash : '';
    };
    expect(hashOf(['depends_on: [db]'])).toBe(hashOf([]));
  });

  it('the commit does not reach the spec hash', () => {
    const fleet = loadOk({ [FILE]: APP });
    const a = resolveHost(fleet, 'web-1', 'a'.repeat(40));
    const b = resolveHost(fleet, 'web-1', 'b'.repeat(40));
    expect(a.ok && a.value.services[0]!.specHash).toBe(b.ok && b.value.services[0]!.specHash);
  });
});

describe('explainSchemaErrors: safety net', () => {
  // loadFleet drops a file whose validation failed; if no message came out,
  // the revision would load without that service and plan its removal.
  it('never turns a failed validation into zero messages', () => {
    const parsed = parseYamlSource(
      FILE,
      new TextEncoder().encode(manifest('app', 'ports: [70000]')),
    );
    if (!parsed.ok) expect.fail();
    // A union error whose branch errors were lost: nothing precise to say.
    const errors = [
      {
        instancePath: '/ports/0',
        schemaPath: '#/properties/ports/items/anyOf',
        keyword: 'anyOf',
        params: {},
        message: 'must match a schema in anyOf',
      },
    ];
    expect(explainSchemaErrors(parsed.value, serviceSchema, errors)).toEqual([
      {
        file: FILE,
        line: 3,
        column: 9,
        path: '/ports/0',
        message: 'ports[0] must match a schema in anyOf',
      },
    ]);
  });
});

describe('loadFleet: symlinks are refused, never skipped', () => {
  const link = (target: string) => new SymlinkBlob(new TextEncoder().encode(target));

  it.each([
    ['a manifest under hosts/', 'hosts/web-1/db.yaml'],
    ['a manifest under services/', 'services/db.yaml'],
    ['gitdock.yaml', 'gitdock.yaml'],
    ['a file under stacks/', 'stacks/shop/compose.yaml'],
    ['a host directory', 'hosts/web-2'],
  ])('%s', (_what, path) => {
    const errors = loadErrors({ [FILE]: APP, [path]: link('../elsewhere.yaml') });
    expect(errors).toEqual([
      {
        file: path,
        path: '',
        message: `"${path}" is a symlink; gitdock reads regular files only (commit the file itself)`,
      },
    ]);
  });

  it('a symlinked gitdock.yaml does not turn the policy off: the revision fails', () => {
    const result = loadFleet(
      new Map<string, Uint8Array>([
        ['gitdock.yaml', link('policy.yaml')],
        [FILE, new TextEncoder().encode(manifest('app', 'privileged: true'))],
      ]),
    );
    expect(result.ok).toBe(false);
  });

  it('an env_file that is a symlink is not read', () => {
    const errors = loadErrors({
      [FILE]: manifest('app', 'env_file: app.env'),
      'hosts/web-1/app.env': link('/etc/passwd'),
    });
    expect(errors.map((e) => e.message)).toEqual([
      '"hosts/web-1/app.env" is a symlink; gitdock reads regular files only (commit the file itself)',
      'env_file "app.env" not found: no file "hosts/web-1/app.env" at this revision',
    ]);
  });
});

describe('loadFleet: every error in one run', () => {
  it('reports schema errors and the normalisation errors of the valid fields together', () => {
    const errors = loadErrors({
      [FILE]: manifest('app', 'ports: 80', 'env_file: missing.env', 'volumes: ["/a:/x", "/b:/x"]'),
    });
    expect(errors.map((e) => [e.line, e.column, e.path])).toEqual([
      [3, 8, '/ports'],
      [4, 11, '/env_file'],
      [5, 20, '/volumes/1'],
    ]);
  });

  it("one service's error never hides another's", () => {
    const errors = loadErrors({
      'hosts/web-1/aa.yaml': manifest('aa', 'restart: sometimes'),
      'hosts/web-1/bb.yaml': manifest('bb', 'env_file: nope.env'),
      'services/cc.yaml': fleetFile(['web-*'], 'cc', 'depends_on: [dd]'),
    });
    expect(errors.map((e) => e.file)).toEqual([
      'hosts/web-1/aa.yaml',
      'hosts/web-1/bb.yaml',
      'services/cc.yaml',
    ]);
  });

  it('checks dependencies while other files have errors, without blaming the broken ones', () => {
    const errors = loadErrors({
      'hosts/web-1/db.yaml': manifest('db', 'restart: sometimes'),
      'hosts/web-1/app.yaml': manifest('app', 'depends_on: [db, cache]'),
    });
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/^restart: /),
      '"app" depends on "cache", which is not a service on host web-1',
    ]);
  });

  it('checks the policy on the valid fields of a file that has errors', () => {
    const errors = loadErrors({
      'gitdock.yaml': yaml('policy:', '  deny_privileged: true'),
      [FILE]: manifest('app', 'privileged: true', 'restart: sometimes'),
    });
    expect(errors.map((e) => e.path)).toEqual(['/restart', '/privileged']);
  });

  it('checks "hosts" placement in a file with schema errors too', () => {
    const errors = loadErrors({ [FILE]: manifest('app', 'hosts: [web-1]', 'restart: x') });
    expect(errors.map((e) => e.path)).toEqual(['/restart', '/hosts']);
  });
});

describe('loadFleet: what validated and then failed on every host', () => {
  const messagesOf = (tree: Record<string, string>) =>
    loadErrors(tree)
      .map((e) => `${e.path}: ${e.message}`)
      .join('\n');

  it('a one-character service name (Docker refuses it as a container name)', () => {
    expect(loadErrors({ 'hosts/web-1/a.yaml': APP })).toEqual([
      {
        file: 'hosts/web-1/a.yaml',
        path: '',
        message: `"a" is not a valid service name: use ${SERVICE_NAME_RULE}`,
      },
    ]);
  });

  it.each([
    [
      'an env value with NUL (list)',
      ['environment: ["A=x\\u0000y"]'],
      /environment\[0\]: expected KEY=value without NUL/,
    ],
    [
      'an env value with NUL (map)',
      ['environment: {A: "x\\u0000y"}'],
      /environment\.A: the value holds a NUL/,
    ],
    ['a garbage user', ['user: "root:x:y"'], /^\/user: /],
    ['a user id over 2^31-1', ['user: "2147483648"'], /^\/user: /],
    ['volume name x!y', ['volumes: ["x!y:/data"]'], /^\/volumes\/0: /],
    ['a one-character volume name', ['volumes: ["x:/data"]'], /^\/volumes\/0: /],
    [
      'a long-form volume name x!y',
      ['volumes: [{type: volume, source: "x!y", target: /d}]'],
      /^\/volumes\/0\/source: /,
    ],
    [
      'a tmpfs mount with a source',
      ['volumes: [{type: tmpfs, source: x, target: /d}]'],
      /A tmpfs mount has no source/,
    ],
    ['a mount on /', ['volumes: ["/srv:/"]'], /^\/volumes\/0: /],
    ['a mount on / spelled /a/..', ['volumes: ["/srv:/a/.."]'], /^\/volumes\/0: /],
    [
      'a mount on / spelled /\\',
      ['volumes: [{type: tmpfs, target: "/\\\\"}]'],
      /^\/volumes\/0\/target: /,
    ],
    ['a mount on /proc', ['volumes: ["/srv:/proc"]'], /^\/volumes\/0: /],
    [
      'a mount under /proc',
      ['volumes: [{type: volume, source: data, target: /proc/x}]'],
      /^\/volumes\/0\/target: /,
    ],
    [
      'a bind source with a colon',
      ['volumes: [{type: bind, source: "/a:b", target: /x}]'],
      /^\/volumes\/0\/source: /,
    ],
    [
      'an image with a tag',
      ['image: registry.example.com/app:2.0'],
      /^\/image: .*the tag goes in `tag`/,
    ],
    ['an image with a registry port and a tag', ['image: 127.0.0.1:5000/app:2.0'], /^\/image: /],
    ['an image with a digest', [`image: app@sha256:${'a'.repeat(64)}`], /^\/image: /],
    ['a relative working_dir', ['working_dir: srv'], /^\/working_dir: /],
    ['network_mode service:x (Compose only)', ['network_mode: "service:db"'], /^\/network_mode: /],
    [
      'ports with network_mode none',
      ['network_mode: none', 'ports: ["80"]'],
      /^\/ports: ports: a container with network_mode none has no network/,
    ],
    [
      'ports with network_mode host',
      ['network_mode: host', 'ports: ["8080:80"]'],
      /^\/ports: ports: the engine ignores ports with network_mode host.*use no ports/,
    ],
    [
      'ports with network_mode container:',
      ['network_mode: container:db', 'ports: ["80"]'],
      /^\/ports: ports: .*publish the ports on that service/,
    ],
    ['a duration beyond the engine', ['stop_grace_period: 9999999h'], /^\/stop_grace_period: /],
  ])('%s', (_what, lines, message) => {
    const extra = lines.filter((l) => !l.startsWith('image:'));
    const image = lines.find((l) => l.startsWith('image:'));
    const text = image ? yaml(image, 'tag: "1.0"', ...extra) : manifest('app', ...extra);
    expect(messagesOf({ [FILE]: text, 'hosts/web-1/db.yaml': APP })).toMatch(message);
  });

  it('an unclosed glob [hb in hosts:', () => {
    expect(messagesOf({ 'services/app.yaml': fleetFile(['web-1', '[hb'], 'app') })).toMatch(
      /^\/hosts\/1: hosts\[1\]: string "\[hb" is not valid; .*brackets closed/,
    );
  });

  it('a reversed range in a glob', () => {
    expect(messagesOf({ 'services/app.yaml': fleetFile(['web-[9-1]'], 'app') })).toMatch(
      /^\/hosts\/0: /,
    );
  });

  it('network_mode container:NAME naming no service of the host', () => {
    expect(loadErrors({ [FILE]: manifest('app', 'network_mode: container:missing') })).toEqual([
      {
        file: FILE,
        line: 3,
        column: 15,
        path: '/network_mode',
        message:
          'network_mode container:missing: "missing" is not a service on host web-1; container: must name another service on the same host',
      },
    ]);
  });

  it('network_mode container:NAME naming the service itself', () => {
    expect(loadErrors({ [FILE]: manifest('app', 'network_mode: container:app') })).toEqual([
      {
        file: FILE,
        line: 3,
        column: 15,
        path: '/network_mode',
        message:
          'network_mode container:app names "app" itself; name another service on host web-1',
      },
    ]);
  });

  it('network_mode container:NAME of a service on the host starts after it', () => {
    expect(
      servicesOf(
        {
          'hosts/web-1/app.yaml': manifest('app', 'network_mode: container:vpn'),
          'hosts/web-1/vpn.yaml': manifest('vpn', 'network_mode: none'),
        },
        'web-1',
      ),
    ).toEqual(['vpn', 'app']);
  });

  it('a fleet file whose container: peer one host lacks fails for that host', () => {
    const errors = loadErrors({
      'services/app.yaml': fleetFile(['web-*'], 'app', 'network_mode: container:vpn'),
      'hosts/web-1/vpn.yaml': APP,
      'hosts/web-2/other.yaml': APP,
    });
    expect(errors.map((e) => e.message)).toEqual([
      'network_mode container:vpn: "vpn" is not a service on host web-2; container: must name another service on the same host',
    ]);
  });
});

describe('loadFleet: environment values stay secret and exact', () => {
  it.each([
    [['environment:', '  - "DB_PASSWORD hunter9"']],
    [['environment:', '  - "DB_PASSWORD:hunter9"']],
    [['environment:', '  "DB_PASSWORD hunter9": x']],
    [['environment:', '  DB_PASSWORD: ["hunter9"]']],
    [['environment: "DB_PASSWORD=hunter9"']],
    [['environment:', '  DB_PASSWORD: "hunter9\\u0000"']],
    [['environment:', '  - "DB_PASSWORD=hunter9\\u0000"']],
  ])('no error message shows the value: %j', (lines) => {
    const errors = loadErrors({ [FILE]: manifest('app', ...lines) });
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e.message).not.toContain('hunter9');
  });

  it('a malformed entry says what is expected', () => {
    expect(
      loadErrors({ [FILE]: manifest('app', 'environment:', '  - "DB_PASSWORD hunter9"') }),
    ).toEqual([
      {
        file: FILE,
        line: 4,
        column: 5,
        path: '/environment/0',
        message:
          'environment[0]: expected KEY=value: a name without "=" or whitespace, "=", then the value (the entry is not shown: it may hold a secret)',
      },
    ]);
  });

  it('keeps a long integer as written', () => {
    const fleet = loadOk({ [FILE]: manifest('app', 'environment:', '  ID: 123456789012345678') });
    expect(fleet.hostServices.get('web-1')!.get('app')!.normalized.spec.environment).toEqual({
      ID: '123456789012345678',
    });
  });
});
