import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RepoConfig } from '../core/schema.js';
import type { ContainerSpec, ManifestError } from '../core/types.js';
import type { LoadedProject } from './contract.js';
import { normalizeProject } from './normalize-project.js';
import { splitImage } from './normalize-service.js';

const DIR = 'hosts/web-1/shop';
const FILE = `${DIR}/compose.yaml`;
const enc = new TextEncoder();
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

function loaded(model: Record<string, unknown>): LoadedProject {
  return {
    name: 'shop',
    host: 'web-1',
    dir: DIR,
    files: [FILE],
    model,
    locate: () => ({ file: FILE, line: 3, column: 5 }),
    secretValues: [],
  };
}

function run(
  model: Record<string, unknown>,
  files: Record<string, string> = {},
  config: RepoConfig = {},
) {
  return normalizeProject(loaded(model), {
    files: new Map(Object.entries(files).map(([p, t]) => [p, enc.encode(t)])),
    host: 'web-1',
    config,
  });
}

/** Normalizes `services.web` (image `app`) with `fields` added, and `top` top-level keys. */
function web(
  fields: Record<string, unknown>,
  top: Record<string, unknown> = {},
  files: Record<string, string> = {},
) {
  const result = run({ services: { web: { image: 'app', ...fields } }, ...top }, files);
  return { result, spec: result.services[0]?.spec };
}

const BASE: ContainerSpec = {
  image: 'app',
  tag: 'latest',
  environment: {},
  ports: [],
  volumes: [],
  restart: 'no',
  labels: {},
  stopGracePeriodMs: 10_000,
  networks: [{ name: 'shop_default', aliases: ['web'] }],
};

const messages = (errors: ManifestError[]) => errors.map((e) => e.message);

describe('splitImage', () => {
  it.each([
    ['redis', { image: 'redis', tag: 'latest' }],
    ['redis:7', { image: 'redis', tag: '7' }],
    ['127.0.0.1:5055/acme/app:2.0', { image: '127.0.0.1:5055/acme/app', tag: '2.0' }],
    ['localhost:5000/app', { image: 'localhost:5000/app', tag: 'latest' }],
    [`app@sha256:${'a'.repeat(64)}`, { image: 'app', digest: `sha256:${'a'.repeat(64)}` }],
    [
      `app:1@sha256:${'b'.repeat(64)}`,
      { image: 'app', tag: '1', digest: `sha256:${'b'.repeat(64)}` },
    ],
    ['ghcr.io/acme/app:v1.2.3-rc.1', { image: 'ghcr.io/acme/app', tag: 'v1.2.3-rc.1' }],
  ])('%s', (ref, expected) => {
    expect(splitImage(ref)).toEqual(expected);
  });
  it.each([['App'], ['app:'], ['app@sha256:xyz'], ['app:bad tag'], ['/app'], ['']])(
    'rejects %j',
    (ref) => {
      expect(splitImage(ref)).toBeUndefined();
    },
  );
});

describe('normalizeComposeService: fields map onto the ContainerSpec', () => {
  const cases: [string, Record<string, unknown>, Partial<ContainerSpec>][] = [
    ['nothing set', {}, {}],
    ['image with tag', { image: 'redis:7' }, { image: 'redis', tag: '7' }],
    ['command string', { command: `sh -c 'echo hi'` }, { command: ['sh', '-c', 'echo hi'] }],
    ['command list', { command: ['echo', '$HOME'] }, { command: ['echo', '$HOME'] }],
    ['entrypoint "" clears the image one', { entrypoint: '' }, { entrypoint: [] }],
    ['entrypoint [] clears the image one', { entrypoint: [] }, { entrypoint: [] }],
    [
      'environment as strings',
      { environment: { B: '123456789012345678', A: '' } },
      { environment: { A: '', B: '123456789012345678' } },
    ],
    ['labels', { labels: { 'com.example.x': 'y' } }, { labels: { 'com.example.x': 'y' } }],
    ['restart', { restart: 'unless-stopped' }, { restart: 'unless-stopped' }],
    ['restart on-failure:3', { restart: 'on-failure:3' }, { restart: 'on-failure:3' }],
    [
      'deploy.restart_policy when restart is unset',
      { deploy: { restart_policy: { condition: 'on-failure', max_attempts: 5 } } },
      { restart: 'on-failure:5' },
    ],
    [
      'deploy.restart_policy any',
      { deploy: { restart_policy: { condition: 'any' } } },
      { restart: 'always' },
    ],
    ['user', { user: '1000:1000' }, { user: '1000:1000' }],
    ['user as a number', { user: 1000 }, { user: '1000' }],
    ['group_add', { group_add: ['audio', 44] }, { groupAdd: ['audio', '44'] }],
    ['working_dir', { working_dir: '/srv' }, { workingDir: '/srv' }],
    [
      'hostname/domainname',
      { hostname: 'box', domainname: 'example.org' },
      { hostname: 'box', domainname: 'example.org' },
    ],
    ['container_name', { container_name: 'shop-web' }, { containerName: 'shop-web' }],
    [
      'cap_add/cap_drop',
      { cap_add: ['NET_ADMIN'], cap_drop: ['ALL'] },
      { capAdd: ['NET_ADMIN'], capDrop: ['ALL'] },
    ],
    ['empty cap_add is the default', { cap_add: [] }, {}],
    ['privileged', { privileged: true }, { privileged: true }],
    ['privileged false is the default', { privileged: false }, {}],
    [
      'security_opt',
      { security_opt: ['no-new-privileges:true'] },
      { securityOpt: ['no-new-privileges:true'] },
    ],
    [
      'devices short and long',
      {
        devices: [
          '/dev/fuse',
          '/dev/sda:/dev/xvda:r',
          '/dev/kvm:rwm',
          { source: '/dev/a', target: '/dev/b', permissions: 'rw' },
        ],
      },
      {
        devices: [
          { pathOnHost: '/dev/fuse', pathInContainer: '/dev/fuse' },
          { pathOnHost: '/dev/sda', pathInContainer: '/dev/xvda', cgroupPermissions: 'r' },
          { pathOnHost: '/dev/kvm', pathInContainer: '/dev/kvm' },
          { pathOnHost: '/dev/a', pathInContainer: '/dev/b', cgroupPermissions: 'rw' },
        ],
      },
    ],
    [
      'sysctls map',
      { sysctls: { 'net.core.somaxconn': 1024, 'net.ipv4.tcp_syncookies': 0 } },
      { sysctls: { 'net.core.somaxconn': '1024', 'net.ipv4.tcp_syncookies': '0' } },
    ],
    [
      'sysctls list',
      { sysctls: ['net.core.somaxconn=1024'] },
      { sysctls: { 'net.core.somaxconn': '1024' } },
    ],
    [
      'ulimits',
      { ulimits: { nproc: 65535, nofile: { soft: 20000, hard: 40000 } } },
      { ulimits: { nofile: { soft: 20000, hard: 40000 }, nproc: { soft: 65535, hard: 65535 } } },
    ],
    ['pids_limit', { pids_limit: 100 }, { pidsLimit: 100 }],
    ['shm_size', { shm_size: '256m' }, { shmSizeBytes: 256 * 1024 ** 2 }],
    [
      'init/tty/stdin_open/read_only',
      { init: true, tty: true, stdin_open: true, read_only: true },
      { init: true, tty: true, stdinOpen: true, readOnly: true },
    ],
    [
      'stop_signal/stop_grace_period',
      { stop_signal: 'SIGQUIT', stop_grace_period: '1m30s' },
      { stopSignal: 'SIGQUIT', stopGracePeriodMs: 90_000 },
    ],
    [
      'logging',
      { logging: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': 3 } } },
      { logging: { driver: 'json-file', options: { 'max-file': '3', 'max-size': '10m' } } },
    ],
    [
      'dns as a string',
      { dns: '10.0.0.2', dns_search: 'example.org', dns_opt: ['use-vc'] },
      { dns: ['10.0.0.2'], dnsSearch: ['example.org'], dnsOpt: ['use-vc'] },
    ],
    [
      'extra_hosts list forms',
      { extra_hosts: ['a:10.0.0.1', 'b=10.0.0.2', 'c=[::1]', 'd:::1'] },
      { extraHosts: ['a:10.0.0.1', 'b:10.0.0.2', 'c:::1', 'd:::1'] },
    ],
    [
      'extra_hosts map',
      { extra_hosts: { a: '10.0.0.1', b: ['10.0.0.2', '[fe80::1]'] } },
      { extraHosts: ['a:10.0.0.1', 'b:10.0.0.2', 'b:fe80::1'] },
    ],
    [
      'memory and cpus',
      {
        mem_limit: '512m',
        mem_reservation: '128m',
        memswap_limit: -1,
        cpus: 0.5,
        cpu_shares: 512,
        cpuset: '0-1',
      },
      {
        memLimitBytes: 512 * 1024 ** 2,
        memReservationBytes: 128 * 1024 ** 2,
        memSwapLimitBytes: -1,
        nanoCpus: 500_000_000,
        cpuShares: 512,
        cpusetCpus: '0-1',
      },
    ],
    [
      'deploy.resources',
      {
        deploy: {
          resources: {
            limits: { cpus: '1.5', memory: '1g', pids: 50 },
            reservations: { memory: '256m' },
          },
        },
      },
      {
        nanoCpus: 1_500_000_000,
        memLimitBytes: 1024 ** 3,
        pidsLimit: 50,
        memReservationBytes: 256 * 1024 ** 2,
      },
    ],
    [
      'equal mem_limit and deploy limit',
      { mem_limit: '1g', deploy: { resources: { limits: { memory: '1024m' } } } },
      { memLimitBytes: 1024 ** 3 },
    ],
    [
      'pid/ipc/platform/oom_score_adj/mac_address',
      {
        pid: 'host',
        ipc: 'shareable',
        platform: 'linux/amd64',
        oom_score_adj: -500,
        mac_address: '02:42:ac:11:00:02',
      },
      {
        pid: 'host',
        ipc: 'shareable',
        platform: 'linux/amd64',
        oomScoreAdj: -500,
        macAddress: '02:42:ac:11:00:02',
      },
    ],
    [
      'healthcheck string',
      {
        healthcheck: {
          test: 'curl -f http://localhost',
          interval: '30s',
          timeout: '5s',
          retries: 3,
          start_period: '1m',
        },
      },
      {
        healthcheck: {
          test: ['CMD-SHELL', 'curl -f http://localhost'],
          intervalMs: 30_000,
          timeoutMs: 5000,
          retries: 3,
          startPeriodMs: 60_000,
        },
      },
    ],
    [
      'healthcheck CMD list',
      { healthcheck: { test: ['CMD', 'true'] } },
      { healthcheck: { test: ['CMD', 'true'] } },
    ],
    [
      'healthcheck disable',
      { healthcheck: { disable: true } },
      { healthcheck: { test: ['NONE'] } },
    ],
    [
      'external_links',
      { external_links: ['redis', 'db:database'] },
      { links: ['redis:redis', 'db:database'] },
    ],
    ['network_mode host', { network_mode: 'host' }, { networkMode: 'host', networks: undefined }],
    ['network_mode none', { network_mode: 'none' }, { networkMode: 'none', networks: undefined }],
    [
      'platform-free tmpfs field',
      { tmpfs: ['/run', '/tmp:size=64m,mode=1777'] },
      {
        volumes: [
          { type: 'tmpfs', target: '/run', readOnly: false },
          {
            type: 'tmpfs',
            target: '/tmp',
            readOnly: false,
            tmpfsSize: 64 * 1024 ** 2,
            tmpfsMode: 0o1777,
          },
        ],
      },
    ],
    [
      'tmpfs as a string',
      { tmpfs: '/run' },
      { volumes: [{ type: 'tmpfs', target: '/run', readOnly: false }] },
    ],
    ['pull_policy does not change the spec', { pull_policy: 'always' }, {}],
  ];
  it.each(cases)('%s', (_title, fields, expected) => {
    const { result, spec } = web(fields);
    expect(messages(result.errors)).toEqual([]);
    const want = { ...BASE, ...expected };
    for (const k of Object.keys(want) as (keyof ContainerSpec)[])
      if (want[k] === undefined) delete want[k];
    expect(spec).toEqual(want);
  });
});

describe('ports and expose', () => {
  const cases: [string, unknown[], unknown[] | undefined, ContainerSpec['ports']][] = [
    [
      'container-only port is published on an ephemeral port',
      ['80'],
      undefined,
      [{ containerPort: 80, protocol: 'tcp', hostPort: 0 }],
    ],
    ['number', [80], undefined, [{ containerPort: 80, protocol: 'tcp', hostPort: 0 }]],
    [
      'host:container',
      ['8080:80'],
      undefined,
      [{ containerPort: 80, protocol: 'tcp', hostPort: 8080 }],
    ],
    ['udp', ['53:53/udp'], undefined, [{ containerPort: 53, protocol: 'udp', hostPort: 53 }]],
    [
      'ip:host:container',
      ['127.0.0.1:8080:80'],
      undefined,
      [{ containerPort: 80, protocol: 'tcp', hostPort: 8080, hostIp: '127.0.0.1' }],
    ],
    [
      'ip::container',
      ['127.0.0.1::80'],
      undefined,
      [{ containerPort: 80, protocol: 'tcp', hostPort: 0, hostIp: '127.0.0.1' }],
    ],
    [
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose interpolation
      'empty address is every interface, as "${BIND:-}:443:443" gives',
      [':443:443', '::80'],
      undefined,
      [
        { containerPort: 443, protocol: 'tcp', hostPort: 443 },
        { containerPort: 80, protocol: 'tcp', hostPort: 0 },
      ],
    ],
    [
      'IPv6 in brackets',
      ['[::1]:8080:80'],
      undefined,
      [{ containerPort: 80, protocol: 'tcp', hostPort: 8080, hostIp: '::1' }],
    ],
    [
      'ranges',
      ['8000-8002:80-82'],
      undefined,
      [
        { containerPort: 80, protocol: 'tcp', hostPort: 8000 },
        { containerPort: 81, protocol: 'tcp', hostPort: 8001 },
        { containerPort: 82, protocol: 'tcp', hostPort: 8002 },
      ],
    ],
    [
      'a host range for one container port (the engine picks a free port of it)',
      ['127.0.0.1:25740-25742:6000', '8000-8001:53/udp'],
      undefined,
      [
        {
          containerPort: 6000,
          protocol: 'tcp',
          hostPort: 25740,
          hostPortEnd: 25742,
          hostIp: '127.0.0.1',
        },
        { containerPort: 53, protocol: 'udp', hostPort: 8000, hostPortEnd: 8001 },
      ],
    ],
    [
      'long form with a published range',
      [{ target: 80, published: '9000-9005' }],
      undefined,
      [{ containerPort: 80, protocol: 'tcp', hostPort: 9000, hostPortEnd: 9005 }],
    ],
    [
      'container range only',
      ['3000-3001'],
      undefined,
      [
        { containerPort: 3000, protocol: 'tcp', hostPort: 0 },
        { containerPort: 3001, protocol: 'tcp', hostPort: 0 },
      ],
    ],
    [
      'long form',
      [
        {
          target: 80,
          published: '8080',
          host_ip: '127.0.0.1',
          protocol: 'udp',
          mode: 'host',
          name: 'web',
          app_protocol: 'http',
        },
      ],
      undefined,
      [{ containerPort: 80, protocol: 'udp', hostPort: 8080, hostIp: '127.0.0.1' }],
    ],
    [
      'long form without published',
      [{ target: 80 }],
      undefined,
      [{ containerPort: 80, protocol: 'tcp', hostPort: 0 }],
    ],
    [
      'long form IPv6',
      [{ target: 80, published: 8080, host_ip: '::' }],
      undefined,
      [{ containerPort: 80, protocol: 'tcp', hostPort: 8080, hostIp: '::' }],
    ],
    [
      'expose',
      [],
      ['3000', '53/udp', 9000],
      [
        { containerPort: 3000, protocol: 'tcp' },
        { containerPort: 53, protocol: 'udp' },
        { containerPort: 9000, protocol: 'tcp' },
      ],
    ],
    [
      'expose of a published port is not repeated',
      ['8080:80'],
      ['80'],
      [{ containerPort: 80, protocol: 'tcp', hostPort: 8080 }],
    ],
  ];
  it.each(cases)('%s', (_t, ports, expose, expected) => {
    const { result, spec } = web({ ports, ...(expose ? { expose } : {}) });
    expect(messages(result.errors)).toEqual([]);
    expect(spec?.ports).toEqual(expected);
  });

  it.each([
    ['70000:80', 'ports[0]'],
    ['8000-8001:80-82', 'must match'],
    ['::1:8080:80', 'brackets'],
    ['1.2.3:80:80', 'not an IPv4 address'],
    ['80/sctp', 'sctp'],
    [':80', 'ports[0]'],
  ])('rejects %j', (port, text) => {
    const { result } = web({ ports: [port] });
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]!.message).toContain(text);
    expect(result.errors[0]!.path).toBe('/services/web/ports/0');
  });
});

describe('volumes', () => {
  const files = {
    [`${DIR}/nginx.conf`]: 'server {}\n',
    [`${DIR}/conf.d/b.conf`]: 'b',
    [`${DIR}/conf.d/a.conf`]: 'a',
    [`${DIR}/data/.gitkeep`]: '',
  };
  const bind = (source: string, target: string, extra: Record<string, unknown> = {}) => ({
    type: 'bind',
    source,
    target,
    'x-gitdock-repo-path': true,
    ...extra,
  });

  it('mounts a repo file by content', () => {
    const { result, spec } = web(
      { volumes: [bind(`${DIR}/nginx.conf`, '/etc/nginx/nginx.conf', { read_only: true })] },
      {},
      files,
    );
    expect(messages(result.errors)).toEqual([]);
    const hash = sha('server {}\n');
    expect(spec?.volumes).toEqual([
      {
        type: 'bind',
        target: '/etc/nginx/nginx.conf',
        readOnly: true,
        repoFile: { path: `${DIR}/nginx.conf`, sha256: hash, kind: 'file' },
      },
    ]);
    expect(result.services[0]!.repoFiles).toEqual([
      { mountSha256: hash, relativePath: '', bytes: enc.encode('server {}\n'), mode: 0o644 },
    ]);
  });

  it('mounts a repo directory with a hash over sorted paths and contents', () => {
    const { result, spec } = web(
      { volumes: [bind(`${DIR}/conf.d`, '/etc/nginx/conf.d')] },
      {},
      files,
    );
    expect(messages(result.errors)).toEqual([]);
    const hash = createHash('sha256')
      .update('a.conf')
      .update('\u00001\u0000')
      .update('a')
      .update('b.conf')
      .update('\u00001\u0000')
      .update('b')
      .digest('hex');
    expect(spec?.volumes).toEqual([
      {
        type: 'bind',
        target: '/etc/nginx/conf.d',
        readOnly: false,
        repoFile: { path: `${DIR}/conf.d`, sha256: hash, kind: 'dir' },
      },
    ]);
    expect(result.services[0]!.repoFiles?.map((f) => [f.relativePath, f.mountSha256])).toEqual([
      ['a.conf', hash],
      ['b.conf', hash],
    ]);
  });

  it('a changed file changes the spec hash of the services that mount it, only', () => {
    const model = (svc: string) => ({ image: 'app', volumes: [bind(`${DIR}/${svc}`, '/x')] });
    const before = run({ services: { a: model('nginx.conf'), b: model('conf.d') } }, files);
    const after = run(
      { services: { a: model('nginx.conf'), b: model('conf.d') } },
      { ...files, [`${DIR}/nginx.conf`]: 'changed' },
    );
    expect(after.services[0]!.specHash).not.toBe(before.services[0]!.specHash);
    expect(after.services[1]!.specHash).toBe(before.services[1]!.specHash);
  });

  it.each([
    [
      'a path not in the repo',
      `${DIR}/data/pg`,
      { hostData: { project: 'shop', path: 'data/pg' } },
    ],
    [
      'a directory holding only .gitkeep',
      `${DIR}/data`,
      { hostData: { project: 'shop', path: 'data' } },
    ],
  ])('host data: %s', (_t, source, expected) => {
    const { result, spec } = web({ volumes: [bind(source, '/var/lib/data')] }, {}, files);
    expect(messages(result.errors)).toEqual([]);
    expect(spec?.volumes).toEqual([
      { type: 'bind', target: '/var/lib/data', readOnly: false, ...expected },
    ]);
  });

  it('host data goes under the project directory the host sets', () => {
    const result = run(
      { services: { web: { image: 'app', volumes: [bind(`${DIR}/data/pg`, '/data')] } } },
      files,
      { hosts: { 'web-1': { projects: { shop: { dir: '/opt/shop' } } } } },
    );
    expect(result.services[0]!.spec.volumes).toEqual([
      { type: 'bind', source: '/opt/shop/data/pg', target: '/data', readOnly: false },
    ]);
  });

  it('host data may not leave the project directory', () => {
    const { result } = web({ volumes: [bind('hosts/web-1/other', '/data')] });
    expect(messages(result.errors)).toEqual([
      `services.web.volumes[0]: "hosts/web-1/other" is not in the repo and is outside the project directory ${DIR}: host data must stay under the project's directory`,
    ]);
    expect(result.errors[0]).toMatchObject({
      file: FILE,
      line: 3,
      column: 5,
      path: '/services/web/volumes/0/source',
    });
  });

  const top = { volumes: { db: null, ext: { external: true }, named: { name: 'custom' } } };
  it.each([
    [
      'named volume',
      { type: 'volume', source: 'db', target: '/data' },
      { type: 'volume', source: 'shop_db', target: '/data', readOnly: false },
    ],
    [
      'named volume with name:',
      { type: 'volume', source: 'named', target: '/data' },
      { type: 'volume', source: 'custom', target: '/data', readOnly: false },
    ],
    [
      'external volume',
      { type: 'volume', source: 'ext', target: '/data' },
      { type: 'volume', source: 'ext', target: '/data', readOnly: false },
    ],
    [
      'anonymous volume',
      { type: 'volume', target: '/cache' },
      { type: 'volume', target: '/cache', readOnly: false },
    ],
    [
      'volume options',
      {
        type: 'volume',
        source: 'db',
        target: '/data',
        volume: { nocopy: true, subpath: 'sub/dir' },
      },
      {
        type: 'volume',
        source: 'shop_db',
        target: '/data',
        readOnly: false,
        noCopy: true,
        subpath: 'sub/dir',
      },
    ],
    [
      'absolute bind with options',
      {
        type: 'bind',
        source: '/srv/a',
        target: '/a',
        read_only: true,
        bind: { propagation: 'rshared', selinux: 'Z', create_host_path: false },
      },
      {
        type: 'bind',
        source: '/srv/a',
        target: '/a',
        readOnly: true,
        propagation: 'rshared',
        selinux: 'Z',
        noCreateHostPath: true,
      },
    ],
    [
      'rprivate is the default propagation',
      {
        type: 'bind',
        source: '/srv/a',
        target: '/a',
        bind: { propagation: 'rprivate', create_host_path: true },
      },
      { type: 'bind', source: '/srv/a', target: '/a', readOnly: false },
    ],
    [
      'tmpfs long form',
      { type: 'tmpfs', target: '/tmp', tmpfs: { size: '64m', mode: 0o1777 } },
      {
        type: 'tmpfs',
        target: '/tmp',
        readOnly: false,
        tmpfsSize: 64 * 1024 ** 2,
        tmpfsMode: 0o1777,
      },
    ],
  ])('%s', (_t, volume, expected) => {
    const { result, spec } = web({ volumes: [volume] }, top);
    expect(messages(result.errors)).toEqual([]);
    expect(spec?.volumes).toEqual([expected]);
  });

  it.each([
    [
      'an undeclared named volume',
      { type: 'volume', source: 'nope', target: '/d' },
      'named volume "nope" is not declared under the top-level volumes:',
    ],
    ['a relative target', { type: 'volume', target: 'data' }, 'target must be an absolute path'],
    ['an npipe', { type: 'npipe', source: '//./pipe/x', target: '/p' }, 'Windows named pipe'],
    [
      'bind options on a volume',
      { type: 'volume', target: '/d', bind: { propagation: 'shared' } },
      'bind options are only for type bind',
    ],
    [
      'a bad selinux flag',
      { type: 'bind', source: '/a', target: '/a', bind: { selinux: 'x' } },
      'bind.selinux: expected z',
    ],
    [
      'a relative bind the loader did not rebase',
      { type: 'bind', source: 'data', target: '/a' },
      'must be an absolute host path',
    ],
    ['a short form', './data:/data', 'expected the long form'],
  ])('rejects %s', (_t, volume, text) => {
    const { result } = web({ volumes: [volume] }, top);
    expect(messages(result.errors).join('\n')).toContain(text);
  });

  it('rejects two mounts on one target', () => {
    const { result } = web({ volumes: [{ type: 'volume', target: '/d' }], tmpfs: ['/d'] });
    expect(messages(result.errors)).toEqual([
      'services.web.volumes: two mounts target "/d" (the engine refuses duplicate mount points)',
    ]);
  });

  it('rejects tmpfs options it cannot carry', () => {
    const { result } = web({ tmpfs: ['/run:noexec'] });
    expect(messages(result.errors)).toEqual([
      'services.web.tmpfs: option "noexec" of "/run:noexec" is not supported (only size=, mode=, rw and ro are)',
    ]);
  });
});

describe('configs and secrets', () => {
  const files = { [`${DIR}/app.conf`]: 'k=v\n', [`${DIR}/db_password.txt`]: 'hunter2' };
  const top = {
    configs: {
      app: { file: `${DIR}/app.conf` },
      inline: { content: 'hello' },
      host: { file: '/etc/hosts' },
    },
    secrets: { db_password: { file: `${DIR}/db_password.txt` } },
  };
  it('mounts them read-only at Compose default targets', () => {
    const { result, spec } = web(
      {
        configs: [
          'app',
          { source: 'inline', target: '/etc/inline.txt' },
          { source: 'host', target: 'hosts' },
        ],
        secrets: ['db_password', { source: 'db_password', target: 'pw' }],
      },
      top,
      files,
    );
    expect(messages(result.errors)).toEqual([]);
    const app = sha('k=v\n');
    const pw = sha('hunter2');
    expect(spec?.volumes).toEqual([
      {
        type: 'bind',
        target: '/app',
        readOnly: true,
        repoFile: { path: `${DIR}/app.conf`, sha256: app, kind: 'file' },
      },
      {
        type: 'bind',
        target: '/etc/inline.txt',
        readOnly: true,
        repoFile: { path: 'inline:inline', sha256: sha('hello'), kind: 'file' },
      },
      { type: 'bind', source: '/etc/hosts', target: '/hosts', readOnly: true },
      {
        type: 'bind',
        target: '/run/secrets/db_password',
        readOnly: true,
        repoFile: { path: `${DIR}/db_password.txt`, sha256: pw, kind: 'file' },
      },
      {
        type: 'bind',
        target: '/run/secrets/pw',
        readOnly: true,
        repoFile: { path: `${DIR}/db_password.txt`, sha256: pw, kind: 'file' },
      },
    ]);
    expect(result.services[0]!.repoFiles?.map((f) => new TextDecoder().decode(f.bytes))).toEqual([
      'k=v\n',
      'hello',
      'hunter2',
      'hunter2',
    ]);
  });

  it('warns that uid, gid and mode are ignored', () => {
    const { result } = web({ configs: [{ source: 'app', mode: 0o440 }] }, top, files);
    expect(messages(result.warnings)).toEqual([
      'services.web.configs[0]: uid, gid and mode are ignored without Swarm (as Compose ignores them): the file is mounted read-only as it is in the repo',
    ]);
  });

  it.each([
    [
      { configs: ['nope'] },
      top,
      'services.web.configs[0]: "nope" is not declared under the top-level configs:',
    ],
    [
      { configs: ['ext'] },
      { configs: { ext: { external: true } } },
      'configs.ext: external configs are Swarm objects',
    ],
    [
      { secrets: ['env'] },
      { secrets: { env: { environment: 'PW' } } },
      'secrets.env.environment is not supported yet',
    ],
    [
      { configs: ['gone'] },
      { configs: { gone: { file: `${DIR}/gone.conf` } } },
      `configs.gone.file "${DIR}/gone.conf" is not in the repo`,
    ],
  ])('%j', (fields, t, text) => {
    const { result } = web(fields, t, files);
    expect(messages(result.errors)).toHaveLength(1);
    expect(messages(result.errors)[0]).toContain(text);
  });
});

describe('networks', () => {
  it('joins <project>_default with the service name as alias when none are named', () => {
    expect(web({}).spec?.networks).toEqual([{ name: 'shop_default', aliases: ['web'] }]);
  });

  it('maps the list and map forms, sorted by engine name', () => {
    const { result, spec } = web(
      {
        networks: {
          front: {
            aliases: ['www', 'web'],
            ipv4_address: '172.20.0.5',
            ipv6_address: 'fd00::5',
            priority: 10,
            mac_address: '02:42:ac:14:00:05',
            link_local_ips: ['169.254.1.1'],
          },
          back: null,
          outside: {},
        },
      },
      { networks: { front: {}, back: { name: 'backnet' }, outside: { external: true } } },
    );
    expect(messages(result.errors)).toEqual([]);
    expect(spec?.networks).toEqual([
      { name: 'backnet', aliases: ['web'] },
      { name: 'outside', aliases: ['web'] },
      {
        name: 'shop_front',
        aliases: ['web', 'www'],
        ipv4Address: '172.20.0.5',
        ipv6Address: 'fd00::5',
        priority: 10,
        macAddress: '02:42:ac:14:00:05',
        linkLocalIps: ['169.254.1.1'],
      },
    ]);
  });

  it.each([
    [
      { networks: ['nope'] },
      'services.web.networks: "nope" is not declared under the top-level networks:',
    ],
    [
      { network_mode: 'host', networks: ['default'] },
      'services.web.networks: cannot be used with network_mode',
    ],
    [{ network_mode: 'mynet' }, 'network_mode: "mynet" is not supported'],
    [
      { network_mode: 'none', ports: ['80:80'] },
      'services.web.ports: with network_mode none there is no network to publish on',
    ],
    [
      { network_mode: 'container:x', hostname: 'h' },
      "services.web.hostname: cannot be set when the container shares another container's network",
    ],
    [
      { networks: { default: { driver_opts: { a: 'b' } } } },
      'services.web.networks.default.driver_opts',
    ],
  ])('%j', (fields, text) => {
    const { result } = web(fields);
    expect(messages(result.errors).join('\n')).toContain(text);
  });

  it('runs a deploy.mode global service once, with a warning (one engine is one node)', () => {
    const { result, spec } = web({ deploy: { mode: 'global' } });
    expect(messages(result.errors)).toEqual([]);
    expect(spec).toBeDefined();
    expect(messages(result.warnings)).toEqual([
      'services.web.deploy.mode: global is a Swarm mode (one container per node); on one engine the service runs once',
    ]);
  });

  it('warns that ports are ignored with network_mode host', () => {
    const { result } = web({ network_mode: 'host', ports: ['80:80'] });
    expect(messages(result.errors)).toEqual([]);
    expect(messages(result.warnings)).toEqual([
      'services.web.ports: ignored by the engine with network_mode host (the container uses the host ports directly)',
    ]);
  });
});

describe('errors and warnings name the field', () => {
  it.each([
    [{ build: '.', image: undefined }, 'services.web.build without image: gitdock deploys images'],
    [{ image: 'App:1' }, 'services.web.image: "App:1" is not a valid image reference'],
    [{ labels: { 'io.gitdock.host': 'x' } }, 'the io.gitdock. prefix is reserved'],
    [
      { labels: { 'com.docker.compose.project': 'x' } },
      'the com.docker.compose. prefix is reserved',
    ],
    [{ environment: { A: null } }, 'services.web.environment.A has no value'],
    [{ environment: { A: 'a\u0000b' } }, 'NUL character'],
    [{ command: 'echo "oops' }, 'services.web.command: unterminated quote'],
    [{ user: 'root; rm -rf' }, 'services.web.user: "root; rm -rf" is not a user'],
    [{ working_dir: 'srv' }, 'must be an absolute path in the container'],
    [{ restart: 'sometimes' }, 'services.web.restart: expected no, always'],
    [{ container_name: 'x' }, 'container_name: "x" is not a valid container name'],
    [{ runtime: 'runsc' }, 'services.web.runtime changes the container'],
    [{ userns_mode: 'host' }, 'services.web.userns_mode changes the container'],
    [{ cgroup_parent: 'x' }, 'services.web.cgroup_parent changes the container'],
    [{ credential_spec: { file: 'x' } }, 'services.web.credential_spec is Windows-only'],
    [{ bogus: 1 }, 'services.web.bogus: unknown field'],
    [
      { mem_limit: '1g', deploy: { resources: { limits: { memory: '2g' } } } },
      "can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory'",
    ],
    [
      { cpus: 1, deploy: { resources: { limits: { cpus: '2' } } } },
      "can't set distinct values on 'cpus'",
    ],
    [
      { deploy: { mode: 'global', replicas: 2 } },
      'services.web.deploy.mode: global runs one container per node',
    ],
    [{ deploy: { mode: 'global' }, scale: 3 }, 'cannot have replicas or scale other than 1'],
    [
      { deploy: { resources: { reservations: { devices: [{ capabilities: ['gpu'] }] } } } },
      'services.web.deploy.resources.reservations.devices',
    ],
    [{ healthcheck: { test: ['curl', 'x'] } }, 'healthcheck.test: a list must start with "CMD"'],
    [{ healthcheck: { test: ['CMD'] } }, 'healthcheck.test: a command must follow "CMD"'],
    [
      { healthcheck: { test: ['CMD-SHELL'] } },
      'healthcheck.test: a command must follow "CMD-SHELL"',
    ],
    [{ healthcheck: { interval: '30' } }, 'services.web.healthcheck.interval: expected a duration'],
    [{ pull_policy: 'never' }, 'services.web.pull_policy: never is not supported'],
    [{ pull_policy: 'build' }, 'services.web.pull_policy: build is not supported'],
    [{ shm_size: '1x' }, 'services.web.shm_size: expected a byte size'],
    [{ mem_limit: '1m' }, 'services.web.mem_limit: the engine refuses a memory limit under 6m'],
    [{ memswap_limit: '1g' }, 'services.web.memswap_limit: needs mem_limit too'],
    [
      { mem_limit: '1g', memswap_limit: '512m' },
      'services.web.memswap_limit: must be at least mem_limit',
    ],
    [
      { mem_limit: '64m', mem_reservation: '128m' },
      'services.web.mem_reservation: must not be above',
    ],
    [
      { restart: 'always', deploy: { restart_policy: { bogus: 1 } } },
      'services.web.deploy.restart_policy.bogus: unknown field',
    ],
    [{ devices: ['nvidia.com/gpu=all'] }, 'CDI device'],
    [{ ulimits: { nofile: { soft: 10, hard: 5 } } }, 'soft limit 10 is above hard limit 5'],
    [{ oom_score_adj: 2000 }, 'out of range'],
    [
      { 'x-gitdock': { update: { order: 'start-first' } }, ports: ['80:80'] },
      'start-first cannot work with a fixed host port',
    ],
    [{ 'x-gitdock': { pull: 'never' } }, 'x-gitdock.pull: expected missing or always'],
    [{ 'x-gitdock': { bogus: true } }, 'x-gitdock.bogus: unknown field'],
  ])('%j', (fields, text) => {
    const { result } = web(fields);
    expect(messages(result.errors).join('\n')).toContain(text);
  });

  it.each([
    [
      { deploy: { placement: { constraints: ['node.role==manager'] } } },
      'services.web.deploy.placement is a Swarm setting',
    ],
    [{ deploy: { labels: { a: 'b' } } }, 'services.web.deploy.labels is a Swarm setting'],
    [
      { healthcheck: { test: 'true', start_interval: '1s' } },
      'services.web.healthcheck.start_interval needs engine API 1.44',
    ],
    [{ develop: { watch: [] } }, 'services.web.develop (docker compose watch)'],
    [
      { deploy: { resources: { reservations: { cpus: '0.5' } } } },
      'services.web.deploy.resources.reservations.cpus has no engine setting',
    ],
    [
      { deploy: { restart_policy: { condition: 'any', delay: '5s' } } },
      'services.web.deploy.restart_policy.delay has no engine setting',
    ],
  ])('warns about %j', (fields, text) => {
    const { result } = web(fields);
    expect(messages(result.errors)).toEqual([]);
    expect(messages(result.warnings).join('\n')).toContain(text);
  });

  it('notes that a build with an image is deployed as CI built it', () => {
    const { result, spec } = web({ image: 'registry.example/app:1', build: { context: `${DIR}` } });
    expect(messages(result.errors)).toEqual([]);
    expect(spec?.image).toBe('registry.example/app');
    expect(messages(result.notes)).toEqual([
      'services.web.build is not run by gitdock: it deploys the image "registry.example/app:1" as CI built and pushed it',
    ]);
  });

  it('collects every error of a service at once, with positions and pointers', () => {
    const { result } = web({ user: '!', working_dir: 'x', runtime: 'runc' });
    expect(result.errors.map((e) => e.path)).toEqual([
      '/services/web/runtime',
      '/services/web/user',
      '/services/web/working_dir',
    ]);
    expect(result.errors.every((e) => e.file === FILE && e.line === 3 && e.column === 5)).toBe(
      true,
    );
  });
});

describe('rollout', () => {
  it.each([
    [{}, { order: 'stop-first', settleMs: 2000, healthTimeoutMs: 60_000, pull: 'missing' }],
    [
      {
        'x-gitdock': {
          update: { order: 'start-first', settle: '5s', health_timeout: '2m' },
          pull: 'always',
        },
      },
      { order: 'start-first', settleMs: 5000, healthTimeoutMs: 120_000, pull: 'always' },
    ],
    [
      { pull_policy: 'always' },
      { order: 'stop-first', settleMs: 2000, healthTimeoutMs: 60_000, pull: 'always' },
    ],
    [
      { pull_policy: 'if_not_present' },
      { order: 'stop-first', settleMs: 2000, healthTimeoutMs: 60_000, pull: 'missing' },
    ],
    // A check every 90 s cannot pass in the default 60 s: the gate waits as long as it can take.
    [
      { healthcheck: { test: 'true', interval: '1m30s', timeout: '10s' } },
      { order: 'stop-first', settleMs: 2000, healthTimeoutMs: 300_000, pull: 'missing' },
    ],
    [
      { healthcheck: { test: 'true', interval: '2s', timeout: '1s', retries: 3 } },
      { order: 'stop-first', settleMs: 2000, healthTimeoutMs: 60_000, pull: 'missing' },
    ],
    [
      {
        healthcheck: { test: 'true', interval: '1m30s' },
        'x-gitdock': { update: { health_timeout: '30s' } },
      },
      { order: 'stop-first', settleMs: 2000, healthTimeoutMs: 30_000, pull: 'missing' },
    ],
  ])('%j', (fields, rollout) => {
    const { result } = web(fields);
    expect(messages(result.errors)).toEqual([]);
    expect(result.services[0]!.rollout).toEqual(rollout);
  });
});
