import { describe, expect, it } from 'vitest';
import type { CreateContainerOptions } from '../core/engine.js';
import type { ContainerSpec } from '../core/types.js';
import { type ContainerCreateBody, toCreateBody, toRestartPolicy } from './container-config.js';

function baseSpec(overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    image: 'registry.example/app',
    tag: '1.0',
    environment: {},
    ports: [],
    volumes: [],
    restart: 'no',
    labels: {},
    stopGracePeriodMs: 10_000,
    ...overrides,
  };
}

function create(
  spec: Partial<ContainerSpec> = {},
  labels: Record<string, string> = {},
): ContainerCreateBody {
  const options: CreateContainerOptions = {
    name: 'app',
    image: 'sha256:abc',
    spec: baseSpec(spec),
    labels,
  };
  return toCreateBody(options);
}

describe('toCreateBody', () => {
  it('maps a minimal spec to the minimal body', () => {
    expect(create()).toEqual({
      Image: 'sha256:abc',
      Env: [],
      Labels: {},
      StopTimeout: 10,
      HostConfig: { RestartPolicy: { Name: 'no' } },
    });
  });

  const cases: Array<{
    name: string;
    spec: Partial<ContainerSpec>;
    expected: Partial<ContainerCreateBody>;
  }> = [
    {
      name: 'command',
      spec: { command: ['serve', '--port', '80'] },
      expected: { Cmd: ['serve', '--port', '80'] },
    },
    {
      name: 'entrypoint',
      spec: { entrypoint: ['/bin/sh', '-c'] },
      expected: { Entrypoint: ['/bin/sh', '-c'] },
    },
    { name: 'empty entrypoint is kept', spec: { entrypoint: [] }, expected: { Entrypoint: [] } },
    {
      name: 'environment as sorted K=V',
      spec: { environment: { ZED: '1', ALPHA: 'a=b', MID: '' } },
      expected: { Env: ['ALPHA=a=b', 'MID=', 'ZED=1'] },
    },
    { name: 'user', spec: { user: '1000:1000' }, expected: { User: '1000:1000' } },
    { name: 'working dir', spec: { workingDir: '/srv' }, expected: { WorkingDir: '/srv' } },
    {
      name: 'stop grace rounds up',
      spec: { stopGracePeriodMs: 1500 },
      expected: { StopTimeout: 2 },
    },
    {
      name: 'stop grace whole seconds',
      spec: { stopGracePeriodMs: 3000 },
      expected: { StopTimeout: 3 },
    },
    { name: 'stop grace zero', spec: { stopGracePeriodMs: 0 }, expected: { StopTimeout: 0 } },
    { name: 'stop grace 1 ms', spec: { stopGracePeriodMs: 1 }, expected: { StopTimeout: 1 } },
    {
      name: 'healthcheck in nanoseconds',
      spec: {
        healthcheck: {
          test: ['CMD-SHELL', 'wget -q -O- http://127.0.0.1/ || exit 1'],
          intervalMs: 5000,
          timeoutMs: 1500,
          retries: 3,
          startPeriodMs: 250,
        },
      },
      expected: {
        Healthcheck: {
          Test: ['CMD-SHELL', 'wget -q -O- http://127.0.0.1/ || exit 1'],
          Interval: 5_000_000_000,
          Timeout: 1_500_000_000,
          Retries: 3,
          StartPeriod: 250_000_000,
        },
      },
    },
    {
      name: 'healthcheck NONE only',
      spec: { healthcheck: { test: ['NONE'] } },
      expected: { Healthcheck: { Test: ['NONE'] } },
    },
    {
      name: 'exposed-only port',
      spec: { ports: [{ containerPort: 80, protocol: 'tcp' }] },
      expected: { ExposedPorts: { '80/tcp': {} } },
    },
  ];

  it.each(cases)('$name', ({ spec, expected }) => {
    expect(create(spec)).toMatchObject(expected);
  });

  it('leaves out fields the spec does not set', () => {
    const body = create();
    for (const key of ['Cmd', 'Entrypoint', 'User', 'WorkingDir', 'ExposedPorts', 'Healthcheck']) {
      expect(body).not.toHaveProperty(key);
    }
    for (const key of ['NetworkMode', 'Privileged', 'PortBindings', 'Binds', 'Mounts']) {
      expect(body.HostConfig).not.toHaveProperty(key);
    }
  });

  it('merges labels, the gitdock labels winning', () => {
    const body = create(
      { labels: { team: 'web', 'io.gitdock.service': 'forged' } },
      { 'io.gitdock.service': 'app', 'io.gitdock.host': 'web-1' },
    );
    expect(body.Labels).toEqual({
      team: 'web',
      'io.gitdock.service': 'app',
      'io.gitdock.host': 'web-1',
    });
  });

  it('does not share arrays with the spec', () => {
    const spec = baseSpec({
      command: ['a'],
      entrypoint: ['b'],
      healthcheck: { test: ['CMD', 'x'] },
    });
    const body = toCreateBody({ name: 'x', image: 'img', spec, labels: {} });
    body.Cmd?.push('mutated');
    body.Entrypoint?.push('mutated');
    body.Healthcheck?.Test?.push('mutated');
    expect(spec.command).toEqual(['a']);
    expect(spec.entrypoint).toEqual(['b']);
    expect(spec.healthcheck?.test).toEqual(['CMD', 'x']);
  });

  describe('HostConfig', () => {
    const hostCases: Array<{
      name: string;
      spec: Partial<ContainerSpec>;
      expected: Partial<ContainerCreateBody['HostConfig']>;
    }> = [
      {
        name: 'network mode none',
        spec: { networkMode: 'none' },
        expected: { NetworkMode: 'none' },
      },
      {
        name: 'network mode host',
        spec: { networkMode: 'host' },
        expected: { NetworkMode: 'host' },
      },
      {
        name: 'privileged',
        spec: { privileged: true },
        expected: { Privileged: true },
      },
      {
        name: 'restart always',
        spec: { restart: 'always' },
        expected: { RestartPolicy: { Name: 'always' } },
      },
      {
        name: 'restart on-failure:5',
        spec: { restart: 'on-failure:5' },
        expected: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 5 } },
      },
      {
        name: 'published ports, several per container port',
        spec: {
          ports: [
            { containerPort: 80, protocol: 'tcp', hostPort: 8080 },
            { containerPort: 80, protocol: 'tcp', hostPort: 8081, hostIp: '127.0.0.1' },
            { containerPort: 53, protocol: 'udp', hostPort: 5353 },
            { containerPort: 9000, protocol: 'tcp' },
          ],
        },
        expected: {
          PortBindings: {
            '80/tcp': [
              { HostIp: '', HostPort: '8080' },
              { HostIp: '127.0.0.1', HostPort: '8081' },
            ],
            '53/udp': [{ HostIp: '', HostPort: '5353' }],
          },
        },
      },
      {
        name: 'bind mounts as Binds',
        spec: {
          volumes: [
            { type: 'bind', source: '/srv/data', target: '/data', readOnly: false },
            { type: 'bind', source: '/etc/app', target: '/config', readOnly: true },
          ],
        },
        expected: { Binds: ['/srv/data:/data', '/etc/app:/config:ro'] },
      },
      {
        name: 'volumes and tmpfs as Mounts',
        spec: {
          volumes: [
            { type: 'volume', source: 'cache', target: '/cache', readOnly: false },
            { type: 'volume', target: '/anon', readOnly: false },
            { type: 'volume', source: 'ro', target: '/ro', readOnly: true },
            { type: 'tmpfs', target: '/tmp', readOnly: false },
          ],
        },
        expected: {
          Mounts: [
            { Type: 'volume', Source: 'cache', Target: '/cache' },
            { Type: 'volume', Target: '/anon' },
            { Type: 'volume', Source: 'ro', Target: '/ro', ReadOnly: true },
            { Type: 'tmpfs', Target: '/tmp' },
          ],
        },
      },
    ];

    it.each(hostCases)('$name', ({ spec, expected }) => {
      expect(create(spec).HostConfig).toMatchObject(expected);
    });

    it('exposes every port and binds only published ones', () => {
      const body = create({
        ports: [
          { containerPort: 80, protocol: 'tcp', hostPort: 8080 },
          { containerPort: 9000, protocol: 'tcp' },
        ],
      });
      expect(body.ExposedPorts).toEqual({ '80/tcp': {}, '9000/tcp': {} });
      expect(body.HostConfig.PortBindings).toEqual({
        '80/tcp': [{ HostIp: '', HostPort: '8080' }],
      });
    });

    it('splits binds from mounts', () => {
      const body = create({
        volumes: [
          { type: 'bind', source: '/a', target: '/b', readOnly: false },
          { type: 'volume', source: 'v', target: '/v', readOnly: false },
        ],
      });
      expect(body.HostConfig.Binds).toEqual(['/a:/b']);
      expect(body.HostConfig.Mounts).toEqual([{ Type: 'volume', Source: 'v', Target: '/v' }]);
    });
  });
});

describe('toRestartPolicy', () => {
  it.each([
    ['no', { Name: 'no' }],
    ['always', { Name: 'always' }],
    ['unless-stopped', { Name: 'unless-stopped' }],
    ['on-failure', { Name: 'on-failure', MaximumRetryCount: 0 }],
    ['on-failure:3', { Name: 'on-failure', MaximumRetryCount: 3 }],
    ['on-failure:12', { Name: 'on-failure', MaximumRetryCount: 12 }],
    // Not valid: passed through so the engine names the problem.
    ['sometimes', { Name: 'sometimes' }],
    ['on-failure:x', { Name: 'on-failure:x' }],
  ])('%s', (restart, expected) => {
    expect(toRestartPolicy(restart)).toEqual(expected);
  });
});
