import { describe, expect, it } from 'vitest';
import { Positions } from './load-positions.js';
import { mergeCompose } from './merge.js';

function svc(value: Record<string, unknown>) {
  return { services: { web: value } };
}

function merge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
  tags?: Parameters<typeof mergeCompose>[3],
) {
  return (
    mergeCompose(svc(base), svc(over), new Positions(), tags).services as Record<string, unknown>
  ).web;
}

describe('mergeCompose: Compose merge rules per field', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>]>([
    [
      'scalars are replaced',
      { image: 'a:1', user: 'x' },
      { image: 'a:2' },
      { image: 'a:2', user: 'x' },
    ],
    [
      'mappings merge key by key (environment)',
      { environment: { A: '1', B: '2' } },
      { environment: { B: '3', C: '4' } },
      { environment: { A: '1', B: '3', C: '4' } },
    ],
    [
      'labels merge as mappings',
      { labels: { a: 'x' } },
      { labels: { a: 'y', b: 'z' } },
      { labels: { a: 'y', b: 'z' } },
    ],
    [
      'extra_hosts merge by host',
      { extra_hosts: { db: ['10.0.0.1'], a: ['1.1.1.1'] } },
      { extra_hosts: { db: ['10.0.0.2'] } },
      { extra_hosts: { db: ['10.0.0.2'], a: ['1.1.1.1'] } },
    ],
    [
      'command is replaced, not appended',
      { command: ['a', 'b'] },
      { command: ['c'] },
      { command: ['c'] },
    ],
    ['entrypoint is replaced', { entrypoint: ['/x'] }, { entrypoint: '/y' }, { entrypoint: '/y' }],
    [
      'healthcheck.test is replaced, the rest merged',
      { healthcheck: { test: ['CMD', 'a'], interval: '5s' } },
      { healthcheck: { test: ['CMD', 'b'] } },
      { healthcheck: { test: ['CMD', 'b'], interval: '5s' } },
    ],
    [
      'ports append, identical ones once',
      { ports: ['80:80', '443:443'] },
      { ports: ['443:443', '8080:80'] },
      { ports: ['80:80', '443:443', '8080:80'] },
    ],
    [
      'expose appends unique, the later entry kept',
      { expose: [80, '81'] },
      { expose: ['80', 82] },
      { expose: ['80', '81', 82] },
    ],
    [
      'dns, dns_search, dns_opt, tmpfs append unique',
      { dns: ['1.1.1.1'], dns_search: ['a'], dns_opt: ['x'], tmpfs: ['/t'] },
      { dns: ['1.1.1.1', '8.8.8.8'], dns_search: ['b'], dns_opt: ['x'], tmpfs: ['/t', '/u'] },
      { dns: ['1.1.1.1', '8.8.8.8'], dns_search: ['a', 'b'], dns_opt: ['x'], tmpfs: ['/t', '/u'] },
    ],
    [
      'cap_add and cap_drop append unique',
      { cap_add: ['NET_ADMIN'], cap_drop: ['ALL'] },
      { cap_add: ['NET_ADMIN', 'SYS_TIME'], cap_drop: ['ALL'] },
      { cap_add: ['NET_ADMIN', 'SYS_TIME'], cap_drop: ['ALL'] },
    ],
    [
      'volumes merge by target, in place',
      {
        volumes: [
          { type: 'volume', source: 'data', target: '/data' },
          { type: 'bind', source: 'x/a', target: '/a' },
        ],
      },
      {
        volumes: [
          { type: 'volume', source: 'other', target: '/data' },
          { type: 'tmpfs', target: '/t' },
        ],
      },
      {
        volumes: [
          { type: 'volume', source: 'other', target: '/data' },
          { type: 'bind', source: 'x/a', target: '/a' },
          { type: 'tmpfs', target: '/t' },
        ],
      },
    ],
    [
      'devices merge by target',
      { devices: ['/dev/a:/dev/x', '/dev/b'] },
      { devices: ['/dev/c:/dev/x:r', { source: '/dev/d', target: '/dev/y' }] },
      { devices: ['/dev/c:/dev/x:r', '/dev/b', { source: '/dev/d', target: '/dev/y' }] },
    ],
    [
      'secrets and configs merge by target',
      { secrets: ['a', { source: 'b', target: 't' }] },
      { secrets: [{ source: 'c', target: 't' }, 'd'] },
      { secrets: ['a', { source: 'c', target: 't' }, 'd'] },
    ],
    [
      'env_file entries merge by path',
      { env_file: [{ path: 'p/a.env', required: true }] },
      {
        env_file: [
          { path: 'p/a.env', required: false },
          { path: 'p/b.env', required: true },
        ],
      },
      {
        env_file: [
          { path: 'p/a.env', required: false },
          { path: 'p/b.env', required: true },
        ],
      },
    ],
    [
      'other sequences append (security_opt once, volumes_from appended)',
      { security_opt: ['no-new-privileges'], volumes_from: ['a'] },
      { security_opt: ['no-new-privileges'], volumes_from: ['a'] },
      { security_opt: ['no-new-privileges'], volumes_from: ['a', 'a'] },
    ],
    [
      'networks merge as a mapping; aliases unique',
      { networks: { front: null, back: { aliases: ['db'] } } },
      { networks: { front: { ipv4_address: '10.0.0.2' }, back: { aliases: ['db', 'pg'] } } },
      { networks: { front: { ipv4_address: '10.0.0.2' }, back: { aliases: ['db', 'pg'] } } },
    ],
    [
      'depends_on merges per service',
      { depends_on: { db: { condition: 'service_started', required: true } } },
      {
        depends_on: {
          db: { condition: 'service_healthy' },
          cache: { condition: 'service_started' },
        },
      },
      {
        depends_on: {
          db: { condition: 'service_healthy', required: true },
          cache: { condition: 'service_started' },
        },
      },
    ],
    [
      'logging with the same driver merges options',
      { logging: { driver: 'json-file', options: { 'max-size': '1m' } } },
      { logging: { driver: 'json-file', options: { 'max-file': '3' } } },
      { logging: { driver: 'json-file', options: { 'max-size': '1m', 'max-file': '3' } } },
    ],
    [
      'logging with another driver replaces options',
      { logging: { driver: 'json-file', options: { 'max-size': '1m' } } },
      { logging: { driver: 'syslog', options: { tag: 'x' } } },
      { logging: { driver: 'syslog', options: { tag: 'x' } } },
    ],
    [
      'logging without a driver in the override merges',
      { logging: { driver: 'local', options: { a: '1' } } },
      { logging: { options: { b: '2' } } },
      { logging: { driver: 'local', options: { a: '1', b: '2' } } },
    ],
    [
      'ulimits: a number replaces a mapping, mappings merge',
      { ulimits: { nofile: { soft: 1, hard: 2 }, nproc: 5 } },
      { ulimits: { nofile: 10, nproc: 6 } },
      { ulimits: { nofile: 10, nproc: 6 } },
    ],
    [
      'deploy.resources merges deeply',
      { deploy: { resources: { limits: { cpus: '1', memory: '1g' } } } },
      { deploy: { resources: { limits: { memory: '2g' } }, replicas: 2 } },
      { deploy: { resources: { limits: { cpus: '1', memory: '2g' } }, replicas: 2 } },
    ],
    [
      'x- fields are replaced, not merged',
      { 'x-gitdock': { update: 'auto', pull: 'always' } },
      { 'x-gitdock': { update: 'manual' } },
      { 'x-gitdock': { update: 'manual' } },
    ],
  ])('%s', (_name, base, over, expected) => {
    expect(merge(base, over)).toEqual(expected);
  });

  it('!reset removes what the base set; !override replaces instead of merging', () => {
    const base = { ports: ['80:80'], environment: { A: '1', B: '2' }, labels: { x: 'y' } };
    const over = { environment: { C: '3' } };
    const out = merge(base, over, {
      resets: [
        ['services', 'web', 'ports'],
        ['services', 'web', 'labels'],
      ],
      overrides: [['services', 'web', 'environment']],
    });
    expect(out).toEqual({ environment: { C: '3' } });
  });

  it('merges ipam config by subnet and top-level resources by name', () => {
    const base = {
      networks: { n: { ipam: { config: [{ subnet: '10.1.0.0/16', gateway: '10.1.0.1' }] } } },
      volumes: { a: null },
    };
    const over = {
      networks: {
        n: {
          ipam: {
            config: [{ subnet: '10.1.0.0/16', ip_range: '10.1.5.0/24' }, { subnet: '10.2.0.0/16' }],
          },
        },
      },
      volumes: { b: { name: 'bee' } },
    };
    expect(mergeCompose(base, over, new Positions())).toEqual({
      networks: {
        n: {
          ipam: {
            config: [
              { subnet: '10.1.0.0/16', gateway: '10.1.0.1', ip_range: '10.1.5.0/24' },
              { subnet: '10.2.0.0/16' },
            ],
          },
        },
      },
      volumes: { a: null, b: { name: 'bee' } },
    });
  });

  it('changes neither input', () => {
    const base = svc({ ports: ['1:1'], environment: { A: '1' } });
    const over = svc({ ports: ['2:2'], environment: { A: '2' } });
    const copy = JSON.stringify([base, over]);
    mergeCompose(base, over, new Positions());
    expect(JSON.stringify([base, over])).toBe(copy);
  });

  it('carries positions with the values: the last file that set a value', () => {
    const positions = new Positions();
    const base = svc({ image: 'a', environment: { A: '1', B: '2' } });
    const over = svc({ environment: { B: '3' } });
    const bEnv = (base.services.web as Record<string, unknown>).environment as object;
    const oEnv = (over.services.web as Record<string, unknown>).environment as object;
    positions.set(bEnv, 'A', { file: 'base.yaml', line: 3 });
    positions.set(bEnv, 'B', { file: 'base.yaml', line: 4 });
    positions.set(oEnv, 'B', { file: 'over.yaml', line: 9 });
    const out = mergeCompose(base, over, positions);
    const fb = { file: '?' };
    expect(positions.locate(out, ['services', 'web', 'environment', 'A'], fb)).toEqual({
      file: 'base.yaml',
      line: 3,
    });
    expect(positions.locate(out, ['services', 'web', 'environment', 'B'], fb)).toEqual({
      file: 'over.yaml',
      line: 9,
    });
  });
});
