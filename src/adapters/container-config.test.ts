import { describe, expect, it } from 'vitest';
import type { CreateContainerOptions } from '../core/engine.js';
import type { ContainerSpec } from '../core/types.js';
import { GitdockError } from '../errors.js';
import {
  type ContainerCreateBody,
  toCreateBody,
  toCreateQuery,
  toNetworkConnects,
  toRestartPolicy,
} from './container-config.js';

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
  bindSources?: ReadonlyMap<number, string>,
): ContainerCreateBody {
  const options: CreateContainerOptions = {
    name: 'app',
    image: 'sha256:abc',
    spec: baseSpec(spec),
    labels,
    ...(bindSources === undefined ? {} : { bindSources }),
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

describe('toCreateBody for a spec written before Compose projects', () => {
  it('sends the same bytes as before', () => {
    const body = create(
      {
        command: ['serve'],
        entrypoint: ['/init'],
        environment: { B: '2', A: '1' },
        user: '1000',
        workingDir: '/srv',
        healthcheck: { test: ['CMD', 'true'], intervalMs: 1000 },
        ports: [
          { containerPort: 80, protocol: 'tcp', hostPort: 8080, hostIp: '127.0.0.1' },
          { containerPort: 53, protocol: 'udp' },
        ],
        networkMode: 'none',
        privileged: true,
        restart: 'on-failure:3',
        volumes: [
          { type: 'bind', source: '/srv/a', target: '/a', readOnly: true },
          { type: 'volume', source: 'v', target: '/v', readOnly: false },
        ],
        labels: { team: 'web' },
      },
      { 'io.gitdock.service': 'app' },
    );
    // Written out by hand from the body gitdock sent before these fields existed.
    expect(JSON.stringify(body)).toBe(
      '{"Image":"sha256:abc","Env":["A=1","B=2"],"Labels":{"team":"web","io.gitdock.service":"app"},' +
        '"StopTimeout":10,"HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},' +
        '"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},"NetworkMode":"none",' +
        '"Privileged":true,"Binds":["/srv/a:/a:ro"],"Mounts":[{"Type":"volume","Target":"/v","Source":"v"}]},' +
        '"Cmd":["serve"],"Entrypoint":["/init"],"User":"1000","WorkingDir":"/srv",' +
        '"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000},' +
        '"ExposedPorts":{"80/tcp":{},"53/udp":{}}}',
    );
  });
});

describe('toCreateBody for Compose fields', () => {
  it('maps every container and host field', () => {
    const body = create({
      hostname: 'db',
      domainname: 'example.internal',
      capAdd: ['NET_ADMIN'],
      capDrop: ['MKNOD'],
      securityOpt: ['no-new-privileges:true'],
      devices: [
        { pathOnHost: '/dev/null', pathInContainer: '/dev/nothing' },
        { pathOnHost: '/dev/zero', pathInContainer: '/dev/zero', cgroupPermissions: 'r' },
      ],
      sysctls: { 'net.core.somaxconn': '1024' },
      ulimits: { nproc: { soft: 65535, hard: 65535 }, nofile: { soft: 1024, hard: 2048 } },
      pidsLimit: 100,
      shmSizeBytes: 67_108_864,
      init: true,
      tty: true,
      stdinOpen: true,
      stopSignal: 'SIGQUIT',
      logging: { driver: 'json-file', options: { 'max-size': '1m' } },
      dns: ['127.0.0.1'],
      dnsSearch: ['example.internal'],
      dnsOpt: ['ndots:1'],
      extraHosts: ['gateway:10.0.0.1'],
      memLimitBytes: 268_435_456,
      memReservationBytes: 134_217_728,
      memSwapLimitBytes: 536_870_912,
      nanoCpus: 500_000_000,
      cpuShares: 512,
      cpusetCpus: '0',
      readOnly: true,
      pid: 'host',
      ipc: 'shareable',
      groupAdd: ['audio'],
      oomScoreAdj: 100,
      links: ['proj-db-1:database'],
      volumesFrom: ['proj-data-1:ro'],
      macAddress: '02:42:ac:11:00:02',
    });
    expect(body).toMatchObject({
      Hostname: 'db',
      Domainname: 'example.internal',
      Tty: true,
      OpenStdin: true,
      StopSignal: 'SIGQUIT',
      MacAddress: '02:42:ac:11:00:02',
    });
    expect(body.HostConfig).toEqual({
      RestartPolicy: { Name: 'no' },
      CapAdd: ['NET_ADMIN'],
      CapDrop: ['MKNOD'],
      SecurityOpt: ['no-new-privileges:true'],
      Devices: [
        { PathOnHost: '/dev/null', PathInContainer: '/dev/nothing', CgroupPermissions: 'rwm' },
        { PathOnHost: '/dev/zero', PathInContainer: '/dev/zero', CgroupPermissions: 'r' },
      ],
      Sysctls: { 'net.core.somaxconn': '1024' },
      Ulimits: [
        { Name: 'nofile', Soft: 1024, Hard: 2048 },
        { Name: 'nproc', Soft: 65535, Hard: 65535 },
      ],
      PidsLimit: 100,
      ShmSize: 67_108_864,
      Init: true,
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
      Dns: ['127.0.0.1'],
      DnsSearch: ['example.internal'],
      DnsOptions: ['ndots:1'],
      ExtraHosts: ['gateway:10.0.0.1'],
      Memory: 268_435_456,
      MemoryReservation: 134_217_728,
      MemorySwap: 536_870_912,
      NanoCpus: 500_000_000,
      CpuShares: 512,
      CpusetCpus: '0',
      ReadonlyRootfs: true,
      PidMode: 'host',
      IpcMode: 'shareable',
      GroupAdd: ['audio'],
      OomScoreAdj: 100,
      Links: ['proj-db-1:database'],
      VolumesFrom: ['proj-data-1:ro'],
    });
  });

  it('keeps zero values that are set (oom_score_adj 0, pids_limit 0)', () => {
    const host = create({ oomScoreAdj: 0, pidsLimit: 0, cpuShares: 0 }).HostConfig;
    expect(host).toMatchObject({ OomScoreAdj: 0, PidsLimit: 0, CpuShares: 0 });
  });

  it('logging options without a driver leave the driver to the daemon', () => {
    expect(create({ logging: { options: { tag: 'x' } } }).HostConfig.LogConfig).toEqual({
      Type: '',
      Config: { tag: 'x' },
    });
  });

  it('puts the platform in the query, not the body', () => {
    const spec = baseSpec({ platform: 'linux/amd64' });
    const options = { name: 'app', image: 'img', spec, labels: {} };
    expect(toCreateQuery(options)).toEqual({ name: 'app', platform: 'linux/amd64' });
    expect(JSON.stringify(toCreateBody(options))).not.toContain('amd64');
    expect(toCreateQuery({ ...options, spec: baseSpec() })).toEqual({ name: 'app' });
  });

  it('publishes hostPort 0 on a port the engine picks (empty HostPort)', () => {
    const body = create({
      ports: [{ containerPort: 80, protocol: 'tcp', hostPort: 0, hostIp: '127.0.0.1' }],
    });
    expect(body.HostConfig.PortBindings).toEqual({
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }],
    });
  });

  it('publishes a host port range for one container port as "FROM-TO" (the engine picks a free one)', () => {
    const body = create({
      ports: [
        {
          containerPort: 6000,
          protocol: 'tcp',
          hostPort: 25740,
          hostPortEnd: 25742,
          hostIp: '127.0.0.1',
        },
        { containerPort: 6001, protocol: 'udp', hostPort: 25743 },
      ],
    });
    expect(body.HostConfig.PortBindings).toEqual({
      '6000/tcp': [{ HostIp: '127.0.0.1', HostPort: '25740-25742' }],
      '6001/udp': [{ HostIp: '', HostPort: '25743' }],
    });
  });

  const mountCases: Array<{
    name: string;
    volumes: ContainerSpec['volumes'];
    bindSources?: Map<number, string>;
    binds?: string[];
    mounts?: unknown[];
  }> = [
    {
      name: 'bind with SELinux and propagation as Binds modes',
      volumes: [
        { type: 'bind', source: '/a', target: '/a', readOnly: true, selinux: 'z' },
        { type: 'bind', source: '/b', target: '/b', readOnly: false, selinux: 'Z' },
        { type: 'bind', source: '/c', target: '/c', readOnly: true, propagation: 'rshared' },
        {
          type: 'bind',
          source: '/d',
          target: '/d',
          readOnly: true,
          selinux: 'z',
          propagation: 'rslave',
        },
      ],
      binds: ['/a:/a:ro,z', '/b:/b:Z', '/c:/c:ro,rshared', '/d:/d:ro,z,rslave'],
    },
    {
      name: 'bind with create_host_path false as a Mounts bind',
      volumes: [
        { type: 'bind', source: '/e', target: '/e', readOnly: true, noCreateHostPath: true },
        {
          type: 'bind',
          source: '/f',
          target: '/f',
          readOnly: false,
          noCreateHostPath: true,
          propagation: 'shared',
        },
      ],
      mounts: [
        { Type: 'bind', Source: '/e', Target: '/e', ReadOnly: true },
        { Type: 'bind', Source: '/f', Target: '/f', BindOptions: { Propagation: 'shared' } },
      ],
    },
    {
      name: 'volume nocopy and subpath',
      volumes: [
        { type: 'volume', source: 'p_data', target: '/data', readOnly: false, noCopy: true },
        { type: 'volume', source: 'p_data', target: '/sub', readOnly: true, subpath: 'x/y' },
      ],
      mounts: [
        { Type: 'volume', Source: 'p_data', Target: '/data', VolumeOptions: { NoCopy: true } },
        {
          Type: 'volume',
          Source: 'p_data',
          Target: '/sub',
          ReadOnly: true,
          VolumeOptions: { Subpath: 'x/y' },
        },
      ],
    },
    {
      name: 'tmpfs size and mode',
      volumes: [
        { type: 'tmpfs', target: '/run', readOnly: false, tmpfsSize: 1_048_576, tmpfsMode: 0o1777 },
        { type: 'tmpfs', target: '/tmp', readOnly: false, tmpfsMode: 0o700 },
      ],
      mounts: [
        { Type: 'tmpfs', Target: '/run', TmpfsOptions: { SizeBytes: 1_048_576, Mode: 1023 } },
        { Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { Mode: 448 } },
      ],
    },
    {
      name: 'repo file and host data binds from bindSources',
      volumes: [
        { type: 'volume', source: 'v', target: '/v', readOnly: false },
        {
          type: 'bind',
          target: '/etc/nginx/nginx.conf',
          readOnly: true,
          repoFile: { path: 'hosts/h/p/nginx.conf', sha256: 'ab', kind: 'file' },
        },
        {
          type: 'bind',
          target: '/data',
          readOnly: false,
          hostData: { project: 'p', path: 'data' },
        },
      ],
      bindSources: new Map([
        [1, '/state/files/ab/content'],
        [2, '/state/projects/p/data'],
      ]),
      binds: ['/state/files/ab/content:/etc/nginx/nginx.conf:ro', '/state/projects/p/data:/data'],
      mounts: [{ Type: 'volume', Source: 'v', Target: '/v' }],
    },
    {
      name: 'a repo file is mounted read-only even when the service says rw (its copy is shared)',
      volumes: [
        {
          type: 'bind',
          target: '/etc/app.conf',
          readOnly: false,
          repoFile: { path: 'hosts/h/p/app.conf', sha256: 'ef', kind: 'file' },
        },
      ],
      bindSources: new Map([[0, '/state/files/ef/content']]),
      binds: ['/state/files/ef/content:/etc/app.conf:ro'],
    },
    {
      name: 'host data with an absolute source of its own',
      volumes: [
        {
          type: 'bind',
          source: '/opt/gitea/data',
          target: '/data',
          readOnly: false,
          hostData: { project: 'gitea', path: 'data' },
        },
      ],
      binds: ['/opt/gitea/data:/data'],
    },
  ];

  it.each(mountCases)('$name', ({ volumes, bindSources, binds, mounts }) => {
    const host = create({ volumes }, {}, bindSources).HostConfig;
    expect(host.Binds).toEqual(binds);
    expect(host.Mounts).toEqual(mounts);
  });

  it.each([
    [
      'repo file',
      {
        type: 'bind' as const,
        target: '/conf',
        readOnly: true,
        repoFile: { path: 'hosts/h/p/app.conf', sha256: 'cd', kind: 'file' as const },
      },
      'the repo file hosts/h/p/app.conf',
    ],
    [
      'host data',
      {
        type: 'bind' as const,
        target: '/data',
        readOnly: false,
        hostData: { project: 'p', path: 'data' },
      },
      'the host data data of project p',
    ],
  ])('refuses a %s bind without its host path', (_kind, volume, what) => {
    let thrown: unknown;
    try {
      create({ volumes: [volume] });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(GitdockError);
    expect((thrown as GitdockError).code).toBe('GITDOCK_E_ENGINE_REQUEST');
    expect((thrown as GitdockError).message).toContain(what);
    expect((thrown as GitdockError).data).toMatchObject({ volumeIndex: 0, target: volume.target });
  });

  it('refuses a bind that wants both an SELinux relabel and no host path creation', () => {
    expect(() =>
      create({
        volumes: [
          {
            type: 'bind',
            source: '/x',
            target: '/x',
            readOnly: true,
            selinux: 'Z',
            noCreateHostPath: true,
          },
        ],
      }),
    ).toThrow(/SELinux relabelling .* create_host_path: false/);
  });
});

describe('networks', () => {
  const networks: ContainerSpec['networks'] = [
    { name: 'p_back', aliases: ['db', 'database'], ipv4Address: '10.213.1.5' },
    { name: 'p_default' },
    {
      name: 'p_front',
      priority: 10,
      ipv6Address: 'fd00::5',
      linkLocalIps: ['169.254.1.1'],
      macAddress: '02:42:0a:00:00:09',
    },
    { name: 'p_a', priority: 10 },
  ];

  it('creates on the highest priority network, ties by name', () => {
    const body = create({ networks });
    expect(body.HostConfig.NetworkMode).toBe('p_a');
    expect(body.NetworkingConfig).toEqual({ EndpointsConfig: { p_a: {} } });
    expect(body).not.toHaveProperty('MacAddress');
  });

  it('connects the others after the create in priority order, with their endpoint settings', () => {
    expect(toNetworkConnects(baseSpec({ networks }))).toEqual([
      {
        network: 'p_front',
        endpoint: {
          IPAMConfig: { IPv6Address: 'fd00::5', LinkLocalIPs: ['169.254.1.1'] },
          MacAddress: '02:42:0a:00:00:09',
        },
      },
      {
        network: 'p_back',
        endpoint: { Aliases: ['db', 'database'], IPAMConfig: { IPv4Address: '10.213.1.5' } },
      },
      { network: 'p_default', endpoint: {} },
    ]);
  });

  it('puts the one network in the create with aliases, addresses and MAC', () => {
    const only: ContainerSpec['networks'] = [
      {
        name: 'p_back',
        aliases: ['db'],
        ipv4Address: '10.213.1.5',
        macAddress: '02:42:0a:d5:01:05',
      },
    ];
    const body = create({ networks: only });
    expect(body.HostConfig.NetworkMode).toBe('p_back');
    expect(body.NetworkingConfig).toEqual({
      EndpointsConfig: {
        p_back: {
          Aliases: ['db'],
          IPAMConfig: { IPv4Address: '10.213.1.5' },
          MacAddress: '02:42:0a:d5:01:05',
        },
      },
    });
    // API 1.41 takes the MAC address of the create's endpoint from the container config.
    expect(body.MacAddress).toBe('02:42:0a:d5:01:05');
    expect(toNetworkConnects(baseSpec({ networks: only }))).toEqual([]);
  });

  it('puts links on every endpoint too (dockerd drops HostConfig.Links on user networks)', () => {
    const spec = baseSpec({
      links: ['p-db-1:database'],
      networks: [{ name: 'p_default' }, { name: 'p_back', aliases: ['web'] }],
    });
    const body = toCreateBody({ name: 'x', image: 'i', spec, labels: {} });
    expect(body.HostConfig.Links).toEqual(['p-db-1:database']);
    expect(body.NetworkingConfig).toEqual({
      EndpointsConfig: { p_back: { Aliases: ['web'], Links: ['p-db-1:database'] } },
    });
    expect(toNetworkConnects(spec)).toEqual([
      { network: 'p_default', endpoint: { Links: ['p-db-1:database'] } },
    ]);
  });

  it('lets network_mode win and connects every other network (the engine then names the conflict)', () => {
    const spec = baseSpec({
      networkMode: 'host',
      networks: [{ name: 'p_default', macAddress: '02:42:0a:00:00:01' }],
    });
    const body = toCreateBody({ name: 'x', image: 'i', spec, labels: {} });
    expect(body.HostConfig.NetworkMode).toBe('host');
    expect(body).not.toHaveProperty('NetworkingConfig');
    expect(body).not.toHaveProperty('MacAddress');
    expect(toNetworkConnects(spec)).toEqual([
      { network: 'p_default', endpoint: { MacAddress: '02:42:0a:00:00:01' } },
    ]);
    expect(toNetworkConnects(baseSpec({ networkMode: 'host' }))).toEqual([]);
  });
});
