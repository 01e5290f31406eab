import { describe, expect, it } from 'vitest';
import { describeSpecChanges, maskSecrets } from './spec-diff.js';
import { decodeSpecLabel, encodeSpecLabel, recordedSpec } from './spec-hash.js';
import { containerSpec } from './test-fixtures.js';
import type { ContainerSpec, Mount } from './types.js';

/** As planHost calls it: the running container's label against the commit's spec. */
function changes(before: Partial<ContainerSpec>, after: Partial<ContainerSpec>): string[] {
  const recorded = decodeSpecLabel(encodeSpecLabel(containerSpec(before)));
  if (!recorded) expect.fail('label did not round-trip');
  return describeSpecChanges(recorded, recordedSpec(containerSpec(after)));
}

const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;

describe('describeSpecChanges', () => {
  it.each<[string, Partial<ContainerSpec>, Partial<ContainerSpec>, string[]]>([
    ['nothing', {}, {}, []],
    ['tag', { tag: '1.4' }, { tag: '1.5' }, ['tag 1.4 -> 1.5']],
    [
      'image',
      { image: 'app' },
      { image: 'registry.example.com/app' },
      ['image app -> registry.example.com/app'],
    ],
    [
      'tag to digest',
      { tag: '1.4' },
      { tag: undefined, digest: DIGEST_A },
      ['tag 1.4 removed', `digest set to sha256:${'a'.repeat(12)}`],
    ],
    [
      'digest, shortened',
      { digest: DIGEST_A },
      { digest: DIGEST_B },
      [`digest sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb`],
    ],
    [
      'environment: changed, added, removed, never with values',
      { environment: { RAILS_ENV: 'staging', OLD: 'x', SAME: 's' } },
      { environment: { RAILS_ENV: 'production', NEW: 'y', SAME: 's' } },
      ['environment.NEW added', 'environment.OLD removed', 'environment.RAILS_ENV changed'],
    ],
    [
      'labels, with values',
      { labels: { tier: 'web', gone: 'g', same: 's' } },
      { labels: { tier: 'api', added: 'a', same: 's' } },
      ['labels.added added', 'labels.gone removed', 'labels.tier web -> api'],
    ],
    ['command', { command: ['serve'] }, { command: ['serve', '--debug'] }, ['command changed']],
    ['command set', {}, { command: ['serve'] }, ['command changed']],
    ['entrypoint', { entrypoint: ['/a'] }, { entrypoint: ['/b'] }, ['entrypoint changed']],
    [
      'ports',
      { ports: [{ containerPort: 80, protocol: 'tcp', hostPort: 8080 }] },
      { ports: [{ containerPort: 80, protocol: 'tcp', hostPort: 8081 }] },
      ['ports changed'],
    ],
    [
      'volumes',
      { volumes: [{ type: 'bind', source: '/a', target: '/a', readOnly: false }] },
      { volumes: [{ type: 'bind', source: '/a', target: '/a', readOnly: true }] },
      ['volumes changed'],
    ],
    [
      'healthcheck',
      { healthcheck: { test: ['CMD', 'true'] } },
      { healthcheck: { test: ['NONE'] } },
      ['healthcheck changed'],
    ],
    [
      'network_mode',
      { networkMode: 'none' },
      { networkMode: 'host' },
      ['network_mode none -> host'],
    ],
    ['network_mode set', {}, { networkMode: 'host' }, ['network_mode set to host']],
    ['privileged set', {}, { privileged: true }, ['privileged set to true']],
    ['privileged removed', { privileged: true }, {}, ['privileged true removed']],
    ['restart', { restart: 'no' }, { restart: 'unless-stopped' }, ['restart no -> unless-stopped']],
    ['user removed', { user: '1000:1000' }, {}, ['user 1000:1000 removed']],
    ['working_dir', { workingDir: '/a' }, { workingDir: '/b' }, ['working_dir /a -> /b']],
    [
      'stop_grace_period',
      { stopGracePeriodMs: 10_000 },
      { stopGracePeriodMs: 90_000 },
      ['stop_grace_period 10s -> 1m30s'],
    ],
    [
      'stop_grace_period, sub-second',
      { stopGracePeriodMs: 500 },
      { stopGracePeriodMs: 1500 },
      ['stop_grace_period 500ms -> 1.5s'],
    ],
    [
      'stop_grace_period, hours',
      { stopGracePeriodMs: 3_600_000 },
      { stopGracePeriodMs: 0 },
      ['stop_grace_period 1h -> 0s'],
    ],
    [
      'several fields, in a fixed order',
      { tag: '1', restart: 'no', environment: { A: '1' }, command: ['a'], labels: { x: '1' } },
      { tag: '2', restart: 'always', environment: { A: '2' }, command: ['b'], labels: { x: '2' } },
      [
        'tag 1 -> 2',
        'environment.A changed',
        'labels.x 1 -> 2',
        'command changed',
        'restart no -> always',
      ],
    ],
  ])('%s', (_name, before, after, reasons) => {
    expect(changes(before, after)).toEqual(reasons);
  });

  it('never puts an environment value, or its digest, into a reason', () => {
    const reasons = changes(
      { environment: { DB_PASSWORD: 'hunter2' } },
      { environment: { DB_PASSWORD: 'correct horse battery staple' } },
    );
    expect(reasons).toEqual(['environment.DB_PASSWORD changed']);
    expect(reasons.join('\n')).not.toMatch(/hunter2|horse|sha256/);
  });

  it('an old label missing fields reads them as unset', () => {
    const old = JSON.parse(encodeSpecLabel(containerSpec())) as Record<string, unknown>;
    delete old.labels;
    delete old.environment;
    const recorded = decodeSpecLabel(JSON.stringify(old))!;
    expect(
      describeSpecChanges(recorded, recordedSpec(containerSpec({ labels: { a: 'b' } }))),
    ).toEqual(['labels.a added']);
  });
});

describe('spec label', () => {
  it('records environment values only as digests', () => {
    const label = encodeSpecLabel(containerSpec({ environment: { DB_PASSWORD: 'hunter2' } }));
    expect(label).not.toContain('hunter2');
    expect(decodeSpecLabel(label)?.environment.DB_PASSWORD).toMatch(/^sha256:[0-9a-f]{16}$/);
  });

  it('is canonical: key order does not matter', () => {
    const a = containerSpec({ labels: { a: '1', b: '2' } });
    const b = { ...containerSpec({ labels: { b: '2', a: '1' } }) };
    expect(encodeSpecLabel(a)).toBe(encodeSpecLabel(b));
  });

  it.each([undefined, '', 'not json', '[]', '{"tag":"1"}', 'null', '42'])(
    'decodes %j as absent',
    (label) => {
      expect(decodeSpecLabel(label)).toBeUndefined();
    },
  );
});

describe('describeSpecChanges: Compose fields', () => {
  const repoBind = (path: string, sha: string, target = '/etc/app.conf'): Mount => ({
    type: 'bind',
    target,
    readOnly: true,
    repoFile: { path, sha256: sha, kind: 'file' },
  });
  const A = 'a'.repeat(64);
  const B = 'b'.repeat(64);

  it.each<[string, Partial<ContainerSpec>, Partial<ContainerSpec>, string[]]>([
    ['container_name', { containerName: 'a' }, { containerName: 'b' }, ['container_name a -> b']],
    ['hostname set', {}, { hostname: 'db' }, ['hostname set to db']],
    ['cap_add', { capAdd: ['NET_ADMIN'] }, { capAdd: ['SYS_TIME'] }, ['cap_add changed']],
    [
      'sysctls, with values',
      { sysctls: { 'net.core.somaxconn': '1024' } },
      { sysctls: { 'net.core.somaxconn': '2048' } },
      ['sysctls.net.core.somaxconn 1024 -> 2048'],
    ],
    ['ulimits', {}, { ulimits: { nofile: { soft: 1, hard: 2 } } }, ['ulimits changed']],
    ['mem_limit', { memLimitBytes: 1 }, { memLimitBytes: 2 }, ['mem_limit 1 -> 2']],
    ['cpus', { nanoCpus: 500_000_000 }, { nanoCpus: 1_500_000_000 }, ['cpus 0.5 -> 1.5']],
    ['init removed', { init: true }, {}, ['init true removed']],
    ['logging', {}, { logging: { driver: 'local' } }, ['logging changed']],
    [
      'networks joined, left, changed',
      { networks: [{ name: 'p_a' }, { name: 'p_b', aliases: ['x'] }] },
      { networks: [{ name: 'p_b', aliases: ['y'] }, { name: 'p_c' }] },
      ['networks: leaves p_a', 'networks.p_b changed', 'networks: joins p_c'],
    ],
    [
      'a repo file changed: named relative to the project',
      { volumes: [repoBind('hosts/web-1/shop/nginx.conf', A)] },
      { volumes: [repoBind('hosts/web-1/shop/nginx.conf', B)] },
      ['file ./nginx.conf changed'],
    ],
    [
      'a repo file outside the project: its repo path',
      { volumes: [repoBind('stacks/common/app.conf', A)] },
      { volumes: [repoBind('stacks/common/app.conf', B)] },
      ['file stacks/common/app.conf changed'],
    ],
    [
      'a repo file changed and another mount too',
      {
        volumes: [
          repoBind('hosts/web-1/shop/nginx.conf', A),
          { type: 'volume', source: 'v', target: '/v', readOnly: false },
        ],
      },
      {
        volumes: [
          repoBind('hosts/web-1/shop/nginx.conf', B),
          { type: 'volume', source: 'v', target: '/v', readOnly: true },
        ],
      },
      ['file ./nginx.conf changed', 'volumes changed'],
    ],
    [
      'a repo file mounted elsewhere: volumes changed',
      { volumes: [repoBind('hosts/web-1/shop/nginx.conf', A, '/a')] },
      { volumes: [repoBind('hosts/web-1/shop/nginx.conf', A, '/b')] },
      ['volumes changed'],
    ],
  ])('%s', (_name, before, after, reasons) => {
    const recorded = decodeSpecLabel(encodeSpecLabel(containerSpec(before)))!;
    expect(
      describeSpecChanges(recorded, recordedSpec(containerSpec(after)), {
        projectDir: 'hosts/web-1/shop',
      }),
    ).toEqual(reasons);
  });

  it('masks values from the host-local env file wherever they would show', () => {
    const reasons = describeSpecChanges(
      recordedSpec(containerSpec({ labels: { dsn: 'pg://u:old-pw@db' }, hostname: 'old-pw-host' })),
      recordedSpec(containerSpec({ labels: { dsn: 'pg://u:new-pw@db' }, hostname: 'h' })),
      { secretValues: ['old-pw', 'new-pw', ''] },
    );
    // Masked alike, the label reads the same on both sides: its digest says it changed.
    expect(reasons).toEqual(['labels.dsn changed', 'hostname ***-host -> h']);
    expect(reasons.join('\n')).not.toMatch(/old-pw|new-pw/);
  });

  it('masks a secret that contains another whole', () => {
    expect(maskSecrets(['a hunter22 b'], ['hunter2', 'hunter22'])).toEqual(['a *** b']);
  });
});

describe('describeSpecChanges: a host-local secret, as plan sees it', () => {
  // The running container's label was written with the secret of its day
  // masked; plan compares it with the commit's spec in recorded form
  // (environment digested, nothing else masked) and the secrets of today.
  const uses = (secret: string, extra: Partial<ContainerSpec> = {}): ContainerSpec =>
    containerSpec({
      environment: { DB_PASSWORD: secret, MODE: 'web' },
      command: ['sh', '-c', `connect --password '${secret}'`],
      healthcheck: { test: ['CMD-SHELL', `probe ${secret}`], intervalMs: 1000 },
      labels: { dsn: `pg://app:${secret}@db`, team: 'shop' },
      hostname: `db-${secret}`,
      ...extra,
    });
  const plan = (
    before: ContainerSpec,
    beforeSecret: string,
    after: ContainerSpec,
    secret: string,
  ) =>
    describeSpecChanges(
      decodeSpecLabel(encodeSpecLabel(before, [beforeSecret]))!,
      recordedSpec(after),
      { secretValues: [secret] },
    );

  it.each<[string, ContainerSpec, string, ContainerSpec, string, string[]]>([
    [
      'rotated: every field that uses it, named without the value',
      uses('old-Secret'),
      'old-Secret',
      uses('new-Secret'),
      'new-Secret',
      [
        'environment.DB_PASSWORD changed',
        'labels.dsn changed',
        'command changed',
        'healthcheck changed',
        'hostname changed',
      ],
    ],
    [
      'the same secret and another change: only that change',
      uses('same-Secret', { tag: '1.0' }),
      'same-Secret',
      uses('same-Secret', { tag: '1.1' }),
      'same-Secret',
      ['tag 1.0 -> 1.1'],
    ],
    [
      'the same secret, a changed label beside it: shown masked',
      uses('same-Secret'),
      'same-Secret',
      uses('same-Secret', { labels: { dsn: 'pg://app:same-Secret@db2', team: 'shop' } }),
      'same-Secret',
      ['labels.dsn pg://app:***@db -> pg://app:***@db2'],
    ],
    [
      'a secret newly used in command',
      containerSpec({ command: ['run'] }),
      'the-Secret',
      containerSpec({ command: ['run', 'the-Secret'] }),
      'the-Secret',
      ['command changed'],
    ],
  ])('%s', (_name, before, beforeSecret, after, secret, expected) => {
    const reasons = plan(before, beforeSecret, after, secret);
    expect(reasons).toEqual(expected);
    expect(reasons.join('\n')).not.toMatch(/Secret|sha256/);
  });

  it('a label written before masking existed: the value of today is still masked', () => {
    const reasons = describeSpecChanges(
      decodeSpecLabel(encodeSpecLabel(containerSpec({ labels: { dsn: 'x' } })))!,
      recordedSpec(containerSpec({ labels: { dsn: 'pg://app:new-Secret@db' } })),
      { secretValues: ['new-Secret'] },
    );
    expect(reasons).toEqual(['labels.dsn x -> pg://app:***@db']);
  });
});
