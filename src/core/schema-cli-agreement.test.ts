/**
 * The generated JSON Schemas (schemas/*.schema.json, what an editor
 * validates with) must reject every single-file manifest `gitdock validate`
 * rejects. This table collects the rejected single-file manifests of the
 * unit tests (fleet.test.ts, normalize.test.ts, host-selector.test.ts,
 * schema-errors via fleet.test.ts) and feeds each to the CLI's loader and to
 * the generated schema through a fresh ajv, as an editor would.
 *
 * EXCEPTIONS below are rejections a single-file JSON Schema cannot express,
 * each with the reason; they are checked too: the CLI rejects them and the
 * schema (still) accepts them, so a case that becomes expressible shows up.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { loadFleet } from './fleet.js';
import { files, yaml } from './test-fixtures.js';
import { parseYamlSource } from './yaml-source.js';

const FILE = 'hosts/web-1/app.yaml';
const FLEET_FILE = 'services/app.yaml';

/** A manifest: image and tag, then the lines given. */
const m = (...lines: string[]) => yaml('image: registry.example.com/app', 'tag: "1.0"', ...lines);
/** A fleet file: hosts, image and tag, then the lines given. */
const f = (hosts: string, ...lines: string[]) =>
  yaml(`hosts: ${hosts}`, ...m(...lines).split('\n'));

interface Case {
  name: string;
  text: string;
  /** Default: a host file. */
  path?: string;
  /** Other files the loader sees (for a valid reference, never for the error itself). */
  others?: Record<string, string>;
}

// Every rejected single-file service manifest of the unit tests.
const REJECTED: Case[] = [
  // A health check without a command: dockerd 20.10 panics on it.
  { name: 'healthcheck test: []', text: m('healthcheck:', '  test: []') },
  { name: 'healthcheck test: [CMD]', text: m('healthcheck:', '  test: [CMD]') },
  { name: 'healthcheck test: [CMD-SHELL]', text: m('healthcheck:', '  test: [CMD-SHELL]') },
  // fleet.test.ts: schema, fields and types
  { name: 'unknown field, with a close match', text: m('enviroment:', '  A: b') },
  { name: 'unknown field, case typo', text: yaml('Image: app', 'tag: "1.0"') },
  {
    name: 'unknown nested field',
    text: m('healthcheck:', '  test: ["CMD", "true"]', '  intervall: 5s'),
  },
  {
    name: 'unknown field in a long-form port',
    text: m('ports:', '  - target: 80', '    publish: 8080'),
  },
  { name: 'unknown field with no close match', text: m('replicas: 3') },
  { name: 'tag written as a number', text: yaml('image: app', 'tag: 1.0') },
  { name: 'ports as a scalar', text: m('ports: 80') },
  { name: 'command as a number', text: m('command: 5') },
  { name: 'environment as a string', text: m('environment: RAILS_ENV=production') },
  { name: 'depends_on as a string', text: m('depends_on: db') },
  { name: 'stop_grace_period as a bare number', text: m('stop_grace_period: 10') },
  { name: 'stop_grace_period in words', text: m('stop_grace_period: 10 seconds') },
  { name: 'restart policy not in the list', text: m('restart: sometimes') },
  { name: 'enum value', text: m('update:', '  order: blue-green') },
  { name: 'integer out of range, short form port', text: m('ports:', '  - 70000') },
  { name: 'errors in two items of one list', text: m('ports:', '  - 70000', '  - target: 0') },
  { name: 'negative retries', text: m('healthcheck:', '  retries: -1') },
  { name: 'empty network_mode', text: m('network_mode: ""') },
  { name: 'image with uppercase', text: yaml('image: App', 'tag: "1.0"') },
  {
    name: 'environment variable name with a space',
    text: m('environment:', '  "RAILS ENV": production'),
  },
  {
    name: 'unknown field in a depends_on condition',
    text: m('depends_on:', '  db:', '    conditon: service_healthy'),
    others: { 'hosts/web-1/db.yaml': m() },
  },
  { name: 'unknown update field', text: m('update:', '  parallelism: 2') },
  { name: 'a mapping as an environment value', text: m('environment:', '  A:', '    b: 1') },
  {
    name: 'relative target of a long-form mount',
    text: m('volumes:', '  - type: volume', '    source: data', '    target: data'),
  },
  {
    name: 'bad items of both forms in one list',
    text: m('volumes:', '  - data', '  - type: blob', '    target: /x'),
  },
  {
    name: 'glob with uppercase in hosts:',
    text: yaml('hosts: ["Web-*"]', 'image: app', 'tag: "1.0"'),
    path: FLEET_FILE,
  },
  { name: 'the file is a list', text: yaml('- image: app', '- tag: "1.0"') },
  {
    name: 'a shell script is YAML, but not a mapping',
    text: yaml('#!/bin/sh', 'exec /app --serve'),
  },
  { name: 'an empty file', text: '' },
  {
    name: 'tag and digest both',
    text: yaml('image: app', 'tag: "1.0"', `digest: sha256:${'a'.repeat(64)}`),
  },
  { name: 'neither tag nor digest', text: yaml('image: app') },
  { name: 'neither tag nor digest, and another error', text: yaml('image: app', 'ports: 80') },
  { name: 'short digest', text: yaml('image: app', 'digest: sha256:abc') },
  {
    name: 'empty hosts: in a fleet file',
    text: yaml('hosts: []', 'image: app', 'tag: "1.0"'),
    path: FLEET_FILE,
  },
  {
    name: 'hosts: as a single string',
    text: yaml('hosts: web-1', 'image: app', 'tag: "1.0"'),
    path: FLEET_FILE,
  },
  {
    name: 'env_file given as an absolute path',
    text: m('env_file: /etc/app.env'),
    others: { 'hosts/web-1/etc/app.env': 'A=1\n' },
  },
  { name: 'reserved io.gitdock. label (map form)', text: m('labels:', '  io.gitdock.host: web-2') },
  {
    name: 'reserved io.gitdock. label (list form)',
    text: m('labels:', '  - tier=web', '  - io.gitdock.spec-hash=0'),
  },
  {
    name: 'reserved io.gitdock. label (flow map)',
    text: m('labels: {tier: web, io.gitdock.service: x}'),
  },
  { name: 'relative bind mount (short form)', text: m('volumes:', '  - ./data:/data') },
  { name: 'parent-relative bind mount', text: m('volumes:', '  - ../data:/data') },
  { name: 'home-relative bind mount', text: m('volumes:', '  - /srv:/srv', '  - ~/data:/data') },
  {
    name: 'relative bind mount (long form)',
    text: m('volumes:', '  - type: bind', '    source: data', '    target: /data'),
  },
  {
    name: 'named volume without a source (long form)',
    text: m('volumes:', '  - type: volume', '    target: /data'),
  },
  {
    name: 'environment variable without a value (list form)',
    text: m('environment:', '  - RAILS_ENV'),
  },
  {
    name: 'environment variable without a value (map form)',
    text: m('environment:', '  RAILS_ENV:'),
  },
  { name: 'environment variable set to ~', text: m('environment:', '  RAILS_ENV: ~') },
  {
    name: 'environment variable set to null in a flow map',
    text: m('environment: {A: "1", RAILS_ENV: null}'),
  },
  { name: 'command with an unterminated quote', text: m(`command: sh -c 'echo hi`) },
  { name: 'entrypoint with an unterminated quote', text: m(`entrypoint: '/bin/app "--x'`) },
  ...[
    '80:80:80:80',
    '8080:70000',
    '0:80',
    '1.2.3:8080:80',
    '300.0.0.1:8080:80',
    '256.1.1.1:80:80',
    '127.0.0.1:80:80:80',
  ].map((port) => ({ name: `port "${port}"`, text: m('ports:', `  - "${port}"`) })),
  {
    name: 'long-form published port out of range',
    text: m('ports:', '  - target: 80', '    published: "70000"'),
  },
  {
    name: 'several errors of one file',
    text: m(
      `command: "sh -c 'x"`,
      'environment: [A]',
      'labels: {io.gitdock.x: y}',
      'volumes: ["./d:/d"]',
      'ports: ["99999:80"]',
    ),
  },
  // fleet.test.ts: every error in one run
  {
    name: 'schema and normalisation errors together',
    text: m('ports: 80', 'env_file: missing.env'),
  },
  { name: 'restart and privileged', text: m('privileged: true', 'restart: sometimes') },
  // fleet.test.ts: what validated and then failed on every host
  { name: 'an env value with NUL (list)', text: m('environment: ["A=x\\u0000y"]') },
  { name: 'an env value with NUL (map)', text: m('environment: {A: "x\\u0000y"}') },
  { name: 'a garbage user', text: m('user: "root:x:y"') },
  { name: 'a user id over 2^31-1', text: m('user: "2147483648"') },
  { name: 'volume name x!y', text: m('volumes: ["x!y:/data"]') },
  { name: 'a one-character volume name', text: m('volumes: ["x:/data"]') },
  {
    name: 'a long-form volume name x!y',
    text: m('volumes: [{type: volume, source: "x!y", target: /d}]'),
  },
  {
    name: 'a tmpfs mount with a source',
    text: m('volumes: [{type: tmpfs, source: x, target: /d}]'),
  },
  { name: 'a mount on /', text: m('volumes: ["/srv:/"]') },
  { name: 'a mount on / spelled /a/..', text: m('volumes: ["/srv:/a/.."]') },
  { name: 'a mount on / spelled /\\', text: m('volumes: [{type: tmpfs, target: "/\\\\"}]') },
  { name: 'a mount on /proc', text: m('volumes: ["/srv:/proc"]') },
  {
    name: 'a mount under /proc',
    text: m('volumes: [{type: volume, source: data, target: /proc/x}]'),
  },
  {
    name: 'a bind source with a colon',
    text: m('volumes: [{type: bind, source: "/a:b", target: /x}]'),
  },
  { name: 'an image with a tag', text: yaml('image: registry.example.com/app:2.0', 'tag: "2.0"') },
  {
    name: 'an image with a registry port and a tag',
    text: yaml('image: 127.0.0.1:5000/app:2.0', 'tag: "2.0"'),
  },
  {
    name: 'an image with a digest',
    text: yaml(`image: app@sha256:${'a'.repeat(64)}`, 'tag: "2.0"'),
  },
  { name: 'a relative working_dir', text: m('working_dir: srv') },
  {
    name: 'network_mode service:x',
    text: m('network_mode: "service:db"'),
    others: { 'hosts/web-1/db.yaml': m() },
  },
  { name: 'ports with network_mode none', text: m('network_mode: none', 'ports: ["80"]') },
  { name: 'ports with network_mode host', text: m('network_mode: host', 'ports: ["8080:80"]') },
  {
    name: 'ports with network_mode container:',
    text: m('network_mode: container:db', 'ports: ["80"]'),
    others: { 'hosts/web-1/db.yaml': m() },
  },
  { name: 'a duration beyond the engine', text: m('stop_grace_period: 9999999h') },
  { name: 'an unclosed glob [hb', text: f('["web-1", "[hb"]'), path: FLEET_FILE },
  { name: 'a reversed range in a glob', text: f('["web-[9-1]"]'), path: FLEET_FILE },
  // fleet.test.ts: environment values stay secret
  { name: 'env entry with a space', text: m('environment:', '  - "DB_PASSWORD hunter9"') },
  { name: 'env entry with a colon', text: m('environment:', '  - "DB_PASSWORD:hunter9"') },
  { name: 'env key with a space', text: m('environment:', '  "DB_PASSWORD hunter9": x') },
  { name: 'env value as a list', text: m('environment:', '  DB_PASSWORD: ["hunter9"]') },
  { name: 'env value with NUL', text: m('environment:', '  DB_PASSWORD: "hunter9\\u0000"') },
  { name: 'env entry with NUL', text: m('environment:', '  - "DB_PASSWORD=hunter9\\u0000"') },
  // host-selector.test.ts: checkGlob rejections, as fleet files
  ...['[]', '[z-a]', '[a-c-e]', '[a--]', '[--]', 'web!', '', 'web-['].map((glob) => ({
    name: `glob ${JSON.stringify(glob)}`,
    text: f(JSON.stringify([glob])),
    path: FLEET_FILE,
  })),
];

/** Rejected gitdock.yaml files of the unit tests. */
const REJECTED_CONFIGS: Case[] = [
  { name: 'host name in gitdock.yaml', text: yaml('hosts:', '  Web-1:', '    allow_empty: true') },
  {
    name: 'unknown field in gitdock.yaml',
    text: yaml('hosts:', '  web-1:', '    allow_emtpy: true'),
  },
  // fleet-rollout.test.ts
  { name: 'rollout without waves', text: yaml('rollout:', '  soak: 1m') },
  { name: 'rollout: no wave', text: yaml('rollout:', '  waves: []') },
  { name: 'rollout: an empty wave', text: yaml('rollout:', '  waves: [[]]') },
  {
    name: 'rollout: down_hosts ignore',
    text: yaml('rollout:', '  waves: [[a1]]', '  down_hosts: ignore'),
  },
  { name: 'rollout: soak not a duration', text: yaml('rollout:', '  waves: [[a1]]', '  soak: 10') },
  { name: 'rollout: a wave item with uppercase', text: yaml('rollout:', '  waves: [[Web-1]]') },
  { name: 'max_parallel: 0', text: yaml('max_parallel: 0') },
  {
    name: 'hosts.<h>.max_parallel: 1.5',
    text: yaml('hosts:', '  web-1:', '    max_parallel: 1.5'),
  },
];

/** Rejected by the CLI, not expressible in a single-file schema: why, for each. */
const EXCEPTIONS: (Case & { why: string })[] = [
  {
    name: 'one-character service name',
    path: 'hosts/web-1/a.yaml',
    text: m(),
    why: 'the name is the file name, not content',
  },
  {
    name: 'service name with uppercase',
    path: 'hosts/web-1/App.yaml',
    text: m(),
    why: 'the name is the file name, not content',
  },
  {
    name: 'hosts: in a host file',
    text: m('hosts: [web-1]'),
    why: 'allowed or required by the directory the file is in',
  },
  {
    name: 'missing hosts: in a fleet file',
    path: FLEET_FILE,
    text: m(),
    why: 'allowed or required by the directory the file is in',
  },
  { name: 'env_file missing', text: m('env_file: app.env'), why: 'another file of the revision' },
  {
    name: 'env_file outside hosts/ and services/',
    text: m('env_file: ../../secrets.env'),
    others: { 'secrets.env': 'A=1\n' },
    why: "where `..` leads depends on the manifest's directory",
  },
  {
    name: 'env_file with a bad line',
    text: m('env_file: app.env'),
    others: { 'hosts/web-1/app.env': 'A=1\nnot a line\n' },
    why: 'the content of another file',
  },
  {
    name: 'env_file over 1 MiB',
    text: m('env_file: big.env'),
    others: { 'hosts/web-1/big.env': `A=${'x'.repeat(1024 * 1024)}\n` },
    why: 'the size of another file',
  },
  {
    name: 'env_file value with NUL',
    text: m('env_file: app.env'),
    others: { 'hosts/web-1/app.env': 'A=x\u0000y\n' },
    why: 'the content of another file',
  },
  {
    name: 'unknown dependency',
    text: m('depends_on: [db]'),
    why: 'the services of the host come from other files',
  },
  {
    name: 'service depending on itself',
    text: m('depends_on: [app]'),
    why: 'the service name is the file name',
  },
  {
    name: 'network_mode container:missing',
    text: m('network_mode: container:missing'),
    why: 'the services of the host come from other files',
  },
  {
    name: 'network_mode container: itself',
    text: m('network_mode: container:app'),
    why: 'the service name is the file name',
  },
  {
    name: 'two mounts on one target',
    text: m('volumes: ["/a:/x", "/b:/x"]'),
    why: 'JSON Schema cannot compare one field across the items of a list (uniqueItems compares whole items)',
  },
  {
    name: 'two mounts on one target, spelled differently',
    text: m('volumes: ["/a:/x", "b-vol:/x/"]'),
    why: 'as above, and the paths are equal only once normalised',
  },
  {
    name: 'one host port published twice',
    text: m('ports: ["8080:80", "8080:81"]'),
    why: 'JSON Schema cannot compare one field across the items of a list',
  },
  {
    name: 'a policy violation',
    text: m('privileged: true'),
    others: { 'gitdock.yaml': 'policy:\n  deny_privileged: true\n' },
    why: 'the policy is in gitdock.yaml',
  },
];

/** An editor's view: the committed JSON file, compiled by a fresh ajv. */
function schemaCheck(file: string) {
  const schema = JSON.parse(readFileSync(file, 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  return (value: unknown) => validate(value) as boolean;
}
const serviceAccepts = schemaCheck('schemas/service.schema.json');
const configAccepts = schemaCheck('schemas/gitdock.schema.json');

function documentOf(c: Case): unknown {
  const parsed = parseYamlSource(c.path ?? FILE, new TextEncoder().encode(c.text));
  if (!parsed.ok) expect.fail(`not YAML: ${JSON.stringify(parsed.errors)}`);
  return parsed.value.value ?? null;
}

function cliRejects(c: Case, path = c.path ?? FILE): boolean {
  return !loadFleet(files({ ...c.others, [path]: c.text })).ok;
}

describe('the generated JSON Schemas reject what the CLI rejects', () => {
  it.each(REJECTED)('service: $name', (c) => {
    expect(cliRejects(c)).toBe(true);
    expect(serviceAccepts(documentOf(c))).toBe(false);
  });

  it.each(REJECTED_CONFIGS)('gitdock.yaml: $name', (c) => {
    expect(cliRejects(c, 'gitdock.yaml')).toBe(true);
    expect(configAccepts(documentOf(c))).toBe(false);
  });

  it.each(EXCEPTIONS)('not expressible in one file ($why): $name', (c) => {
    expect(cliRejects(c)).toBe(true);
    expect(serviceAccepts(documentOf(c))).toBe(true);
  });

  it('the schema accepts what the CLI accepts (no false alarms in an editor)', () => {
    const valid = [
      m(),
      m('ports: ["80", "8080:80", "127.0.0.1:8080:80/udp", "127.0.0.1::80", "[::1]:8081:80", 443]'),
      m('ports: [{target: 80, published: "8080", host_ip: "::1", protocol: udp}]'),
      m(
        'volumes: ["/srv:/srv:ro", "data:/data", {type: tmpfs, target: /tmp}, {type: bind, source: /a, target: /b}]',
      ),
      m('environment: {A: 1, B: true, C: "x"}', 'labels: ["a=b", c]', 'user: "1000:1000"'),
      m(
        'user: nobody',
        'working_dir: /srv',
        'network_mode: container:db',
        'command: sh -c \'echo "hi"\'',
      ),
      m('stop_grace_period: 1m30s', 'healthcheck: {test: "true", interval: 500ms, retries: 3}'),
      yaml('image: 127.0.0.1:5055/gitdock-test/app', `digest: sha256:${'a'.repeat(64)}`),
      f('["web-*", "db-[0-9]", "[.-]x"]'),
    ];
    for (const text of valid) {
      const path = text.startsWith('hosts:') ? FLEET_FILE : FILE;
      const tree = { [path]: text, 'hosts/web-1/db.yaml': m() };
      expect(loadFleet(files(tree)).ok, text).toBe(true);
      expect(serviceAccepts(documentOf({ name: '', text, path })), text).toBe(true);
    }
  });
});
