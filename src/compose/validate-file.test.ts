import { describe, expect, it } from 'vitest';
import { Positions } from './load-positions.js';
import { parseComposeYaml } from './load-yaml.js';
import { validateComposeFile } from './validate-file.js';

function check(text: string) {
  const positions = new Positions();
  const parsed = parseComposeYaml('c.yaml', Buffer.from(text), positions);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return validateComposeFile('c.yaml', parsed.value.value, positions);
}

const service = (...lines: string[]) =>
  `services:\n  a:\n    image: x\n${lines.map((l) => `    ${l}\n`).join('')}`;

describe('validateComposeFile: what the current Compose spec accepts', () => {
  it.each([
    [
      'top-level name and include',
      'name: app\ninclude: [other.yaml, { path: [a.yaml, b.yaml], project_directory: ., env_file: x.env }]\nservices: {}\n',
    ],
    [
      'long-form env_file',
      service('env_file: [a.env, { path: b.env, required: false, format: raw }]'),
    ],
    [
      'depends_on required and restart',
      service('depends_on: { b: { condition: service_healthy, required: false, restart: true } }'),
    ],
    [
      'develop.watch',
      service(
        'develop: { watch: [{ path: ., action: sync+restart, target: /app, ignore: [node_modules] }] }',
      ),
    ],
    [
      'network gw_priority, priority, interface_name',
      service('networks: { n: { gw_priority: 10, priority: 5, interface_name: eth1 } }'),
    ],
    [
      'volume subpath and image mounts',
      service(
        'volumes: [{ type: volume, source: v, target: /v, volume: { subpath: s } }, { type: image, source: alpine, target: /i, image: { subpath: etc } }]',
      ),
    ],
    [
      'bind recursive and selinux',
      service(
        'volumes: [{ type: bind, source: ., target: /s, bind: { recursive: readonly, selinux: Z } }]',
      ),
    ],
    [
      'label_file, post_start, pre_stop',
      service(
        'label_file: l.txt',
        'post_start: [{ command: echo hi, user: root }]',
        'pre_stop: [{ command: [sh, -c, exit] }]',
      ),
    ],
    [
      'interpolated booleans and numbers as strings',
      service('read_only: "true"', 'cpus: "0.5"', 'scale: "2"', 'init: "false"', 'mem_limit: 1g'),
    ],
    [
      'extension fields everywhere the spec allows',
      service(
        'x-gitdock: { update: auto }',
        'ports: [{ target: 80, x-note: a }]',
        'logging: { driver: local, x-a: 1 }',
      ) + 'x-top: 1\n',
    ],
    [
      'gpus, models, provider',
      service('gpus: all', 'models: [m]') + 'models: { m: { model: ai/smollm2 } }\n',
    ],
    [
      'a GPU reservation with both driver and capabilities (the common form)',
      service(
        'deploy: { resources: { reservations: { devices: [{ driver: nvidia, count: 1, capabilities: [gpu] }] } } }',
      ),
    ],
    [
      'top-level resources',
      'services: {}\nnetworks: { n: { enable_ipv4: false, ipam: { config: [{ subnet: 10.0.0.0/24 }] } } }\nvolumes: { v: { external: true } }\nconfigs: { c: { content: hi } }\nsecrets: { s: { environment: TOKEN } }\n',
    ],
  ])('%s', (_name, text) => {
    expect(check(text)).toEqual([]);
  });
});

describe('validateComposeFile: errors, all at once, positioned', () => {
  it.each([
    [
      service('restrat: always'),
      [[4, 5, 'unknown field "restrat" in services.a; did you mean "restart"?']],
    ],
    [
      service('depends_on: { b: { required: true } }'),
      [[4, 22, 'missing required field "condition" in services.a.depends_on.b']],
    ],
    [
      service('depends_on: { b: { condition: ready } }'),
      [
        [
          4,
          35,
          expect.stringContaining(
            'one of "service_started", "service_healthy", "service_completed_successfully"',
          ),
        ],
      ],
    ],
    [
      service('volumes: [{ type: nfs, target: /x }]'),
      [[4, 23, expect.stringContaining('services.a.volumes[0].type: expected one of "bind"')]],
    ],
    [
      service('deploy: { resources: { reservations: { devices: [{ count: 1 }] } } }'),
      [
        [
          4,
          54,
          'missing required field "capabilities" in services.a.deploy.resources.reservations.devices[0]',
        ],
      ],
    ],
    [
      service('ulimits: { nofile: { soft: 1 } }'),
      [[4, 24, 'missing required field "hard" in services.a.ulimits.nofile']],
    ],
    [
      'services: {}\nunknown: 1\n',
      [
        [
          2,
          1,
          expect.stringContaining(
            'unknown field "unknown"; expected one of: version, name, include',
          ),
        ],
      ],
    ],
    [
      service('ports: 80', 'environment: [1]', 'pull_policy: sometimes'),
      [
        [4, 12, expect.stringContaining('services.a.ports: expected a list')],
        [5, 19, expect.stringContaining('services.a.environment[0]: expected a string')],
        [
          6,
          18,
          expect.stringContaining(
            'services.a.pull_policy: string "sometimes" is not valid; A pull policy',
          ),
        ],
      ],
    ],
  ])('%j', (text, expected) => {
    const errors = check(text);
    expect(errors.map((e) => [e.line, e.column, e.message])).toEqual(expected);
    for (const e of errors) expect(e.file).toBe('c.yaml');
  });
});
