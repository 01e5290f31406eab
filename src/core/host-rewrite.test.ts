import { describe, expect, it } from 'vitest';
import { containerLabels } from '../reconcile/replace.js';
import { resolveHost } from './fleet.js';
import { rewriteHostState } from './host-rewrite.js';
import { hasChanges, planHost } from './plan.js';
import { hashSpec } from './spec-hash.js';
import { desiredService, hostState, loadOk, yaml } from './test-fixtures.js';
import {
  type ActualContainer,
  type DesiredService,
  type HostState,
  LABELS,
  type Mount,
  type PortBinding,
} from './types.js';

const ADDR = '127.0.1.3';
const ROOT = '/tmp/sim/hosts/web-1/root';

const port = (p: Partial<PortBinding> = {}): PortBinding => ({
  containerPort: 80,
  protocol: 'tcp',
  hostPort: 8080,
  ...p,
});

const one = (spec: Partial<DesiredService['spec']>) => hostState([desiredService('app', { spec })]);

describe('rewriteHostState: published ports', () => {
  const cases: {
    name: string;
    ports: PortBinding[];
    want: PortBinding[];
    warning?: RegExp;
  }[] = [
    {
      name: 'no host IP',
      ports: [port()],
      want: [port({ hostIp: ADDR })],
    },
    {
      name: '0.0.0.0',
      ports: [port({ hostIp: '0.0.0.0' })],
      want: [port({ hostIp: ADDR })],
    },
    {
      name: '127.0.0.1',
      ports: [port({ hostIp: '127.0.0.1' })],
      want: [port({ hostIp: ADDR })],
    },
    {
      name: 'an engine-picked port (hostPort 0)',
      ports: [port({ hostPort: 0 })],
      want: [port({ hostPort: 0, hostIp: ADDR })],
    },
    {
      name: 'a host port range, udp',
      ports: [port({ hostPort: 8000, hostPortEnd: 8002, protocol: 'udp' })],
      want: [port({ hostPort: 8000, hostPortEnd: 8002, protocol: 'udp', hostIp: ADDR })],
    },
    {
      name: 'the address itself',
      ports: [port({ hostIp: ADDR })],
      want: [port({ hostIp: ADDR })],
    },
    {
      name: 'IPv6 wildcard',
      ports: [port({ hostIp: '::' })],
      want: [port({ hostIp: ADDR })],
      warning:
        /^app publishes port 8080->80\/tcp on IPv6 address \[::\]: published on 127\.0\.1\.3/,
    },
    {
      name: 'IPv6 loopback',
      ports: [port({ hostIp: '::1' })],
      want: [port({ hostIp: ADDR })],
      warning: /IPv6 address \[::1\]/,
    },
    {
      name: 'another explicit address is kept',
      ports: [port({ hostIp: '10.1.2.3' })],
      want: [port({ hostIp: '10.1.2.3' })],
      warning: /^app publishes port 8080->80\/tcp on 10\.1\.2\.3, kept as written/,
    },
    {
      name: 'another loopback address is kept',
      ports: [port({ hostIp: '127.0.1.9' })],
      want: [port({ hostIp: '127.0.1.9' })],
      warning: /on 127\.0\.1\.9, kept as written/,
    },
    {
      name: 'exposed only (no host port): untouched',
      ports: [{ containerPort: 9000, protocol: 'tcp' }],
      want: [{ containerPort: 9000, protocol: 'tcp' }],
    },
    {
      name: 'IPv4 and IPv6 of one port become one binding',
      ports: [port({ hostIp: '0.0.0.0' }), port({ hostIp: '::' })],
      want: [port({ hostIp: ADDR })],
      warning: /both became 127\.0\.1\.3: published once/,
    },
  ];
  it.each(cases)('$name', ({ ports, want, warning }) => {
    const state = one({ ports });
    const { state: out, warnings } = rewriteHostState(state, { publishAddress: ADDR });
    expect(out.services[0]!.spec.ports).toEqual(want);
    if (warning) expect(warnings.join('\n')).toMatch(warning);
    else expect(warnings).toEqual([]);
  });

  it('says that network_mode: host cannot be kept apart', () => {
    const { warnings } = rewriteHostState(one({ networkMode: 'host' }), { publishAddress: ADDR });
    expect(warnings).toEqual([expect.stringMatching(/^app uses network_mode: host/)]);
  });
});

describe('rewriteHostState: bind sources', () => {
  const bind = (m: Partial<Mount> = {}): Mount => ({
    type: 'bind',
    source: '/srv/data',
    target: '/data',
    readOnly: false,
    ...m,
  });
  const SHA = 'a'.repeat(64);
  const cases: { name: string; mount: Mount; want: Mount; warning?: RegExp }[] = [
    { name: 'an absolute bind', mount: bind(), want: bind({ source: `${ROOT}/srv/data` }) },
    {
      name: 'options are kept',
      mount: bind({ readOnly: true, propagation: 'rshared', selinux: 'z' }),
      want: bind({
        source: `${ROOT}/srv/data`,
        readOnly: true,
        propagation: 'rshared',
        selinux: 'z',
      }),
    },
    {
      name: 'the root directory',
      mount: bind({ source: '/' }),
      want: bind({ source: ROOT }),
    },
    {
      name: 'a path with dots is normalised under the root, never above it',
      mount: bind({ source: '/srv/../../etc' }),
      want: bind({ source: `${ROOT}/etc` }),
    },
    {
      name: 'the docker socket, with a warning',
      mount: bind({ source: '/var/run/docker.sock', target: '/var/run/docker.sock' }),
      want: bind({ source: `${ROOT}/var/run/docker.sock`, target: '/var/run/docker.sock' }),
      warning: /^app mounts the socket \/var\/run\/docker\.sock: now \/tmp\/sim/,
    },
    {
      name: 'host data a project dir puts at an absolute path',
      mount: bind({ source: '/opt/shop/data', hostData: { project: 'shop', path: 'data' } }),
      want: bind({
        source: `${ROOT}/opt/shop/data`,
        hostData: { project: 'shop', path: 'data' },
      }),
    },
    {
      name: 'host data in its default place (under the state dir): untouched',
      mount: {
        type: 'bind',
        target: '/data',
        readOnly: false,
        hostData: { project: 's', path: 'd' },
      },
      want: {
        type: 'bind',
        target: '/data',
        readOnly: false,
        hostData: { project: 's', path: 'd' },
      },
    },
    {
      name: 'a repo file: untouched',
      mount: {
        type: 'bind',
        target: '/etc/app.conf',
        readOnly: true,
        repoFile: { path: 'hosts/web-1/shop/app.conf', sha256: SHA, kind: 'file' },
      },
      want: {
        type: 'bind',
        target: '/etc/app.conf',
        readOnly: true,
        repoFile: { path: 'hosts/web-1/shop/app.conf', sha256: SHA, kind: 'file' },
      },
    },
    {
      name: 'a named volume: untouched',
      mount: { type: 'volume', source: 'shop_data', target: '/data', readOnly: false },
      want: { type: 'volume', source: 'shop_data', target: '/data', readOnly: false },
    },
    {
      name: 'an anonymous volume: untouched',
      mount: { type: 'volume', target: '/cache', readOnly: false },
      want: { type: 'volume', target: '/cache', readOnly: false },
    },
    {
      name: 'tmpfs: untouched',
      mount: { type: 'tmpfs', target: '/tmp', readOnly: false, tmpfsSize: 1024 },
      want: { type: 'tmpfs', target: '/tmp', readOnly: false, tmpfsSize: 1024 },
    },
  ];
  it.each(cases)('$name', ({ mount, want, warning }) => {
    const { state, warnings } = rewriteHostState(one({ volumes: [mount] }), { bindRoot: ROOT });
    expect(state.services[0]!.spec.volumes).toEqual([want]);
    if (warning) expect(warnings.join('\n')).toMatch(warning);
    else expect(warnings).toEqual([]);
  });

  it('says that devices are the machine’s own', () => {
    const { warnings } = rewriteHostState(
      one({ devices: [{ pathOnHost: '/dev/fuse', pathInContainer: '/dev/fuse' }] }),
      { bindRoot: ROOT },
    );
    expect(warnings).toEqual([expect.stringMatching(/^app maps devices \(\/dev\/fuse\)/)]);
  });

  it('says that a named volume binding a host directory is shared', () => {
    const state: HostState = {
      ...one({}),
      volumes: [
        {
          name: 'shop_logs',
          project: 'shop',
          key: 'logs',
          external: false,
          driverOpts: { type: 'none', o: 'bind', device: '/var/log/shop' },
          labels: {},
        },
      ],
    };
    const { state: out, warnings } = rewriteHostState(state, { bindRoot: ROOT });
    expect(out.volumes).toEqual(state.volumes);
    expect(warnings).toEqual([
      expect.stringMatching(/^volume shop_logs binds the machine's \/var\/log\/shop/),
    ]);
  });
});

describe('rewriteHostState: the spec hash follows', () => {
  it('recomputes the hash of a changed service, keeps the others as they were', () => {
    const moved = desiredService('web', { spec: { ports: [port()] } });
    const still = desiredService('worker');
    const state = hostState([moved, still]);
    const { state: out } = rewriteHostState(state, { publishAddress: ADDR, bindRoot: ROOT });
    expect(out.services[0]!.specHash).toBe(hashSpec(out.services[0]!.spec));
    expect(out.services[0]!.specHash).not.toBe(moved.specHash);
    expect(out.services[1]).toBe(still);
  });

  it('returns the very same state when nothing moves, and never changes its input', () => {
    const state = hostState([
      desiredService('worker', { spec: { ports: [port({ hostIp: ADDR })] } }),
    ]);
    const copy = structuredClone(state);
    expect(rewriteHostState(state, { publishAddress: ADDR, bindRoot: ROOT }).state).toBe(state);
    const moving = one({
      ports: [port()],
      volumes: [{ type: 'bind', source: '/x', target: '/x', readOnly: false }],
    });
    const before = structuredClone(moving);
    rewriteHostState(moving, { publishAddress: ADDR, bindRoot: ROOT });
    expect(moving).toEqual(before);
    expect(state).toEqual(copy);
  });

  it('changes nothing without options', () => {
    const state = one({ ports: [port()] });
    expect(rewriteHostState(state, {})).toEqual({ state, warnings: [] });
  });
});

describe('rewriteHostState then plan (a Compose project and a manifest)', () => {
  const COMMIT = 'c0ffee0000000000000000000000000000000000';
  const rewritten = (): { before: HostState; after: HostState } => {
    const fleet = loadOk({
      'gitdock.yaml': yaml(
        'hosts:',
        '  web-1:',
        '    projects:',
        '      shop:',
        '        dir: /opt/shop',
      ),
      'hosts/web-1/api.yaml': yaml(
        'image: registry.example.com/api',
        'tag: "1.0"',
        'ports: ["8080:80", "127.0.0.1:9090:90"]',
        'volumes: ["/srv/api:/data", "/var/run/docker.sock:/var/run/docker.sock:ro"]',
      ),
      'hosts/web-1/shop/compose.yaml': yaml(
        'services:',
        '  app:',
        '    image: registry.example.com/app:1.0',
        '    ports: ["80:80", "[::]:443:443"]',
        '    volumes: [data:/data, ./app.conf:/etc/app.conf:ro, ./uploads:/uploads, /etc/ssl:/ssl:ro]',
        '    tmpfs: [/run]',
        'volumes:',
        '  data: {}',
      ),
      'hosts/web-1/shop/app.conf': 'x=1\n',
    });
    const resolved = resolveHost(fleet, 'web-1', COMMIT, { hostEnv: new Map() });
    if (!resolved.ok) expect.fail(JSON.stringify(resolved.errors));
    const before = resolved.value;
    return {
      before,
      after: rewriteHostState(before, { publishAddress: ADDR, bindRoot: ROOT }).state,
    };
  };
  const containersOf = (state: HostState): ActualContainer[] =>
    state.services.map((s) => ({
      id: s.name.replace(/\W/g, '').padEnd(64, '0'),
      name: s.containerName,
      // The hash as the engine state made from this spec has it, not the one the state carries.
      labels: {
        ...s.spec.labels,
        ...containerLabels(s, state.commit),
        [LABELS.specHash]: hashSpec(s.spec),
      },
      state: 'running',
      imageId: `sha256:${'1'.repeat(64)}`,
    }));

  it('rewrites the real normalizers’ output: binds under the root, repo files and volumes not', () => {
    const { after } = rewritten();
    const app = after.services.find((s) => s.name === 'shop/app')!;
    const api = after.services.find((s) => s.name === 'api')!;
    expect(api.spec.ports.map((p) => p.hostIp)).toEqual([ADDR, ADDR]);
    expect(app.spec.ports.map((p) => p.hostIp)).toEqual([ADDR, ADDR]);
    expect(api.spec.volumes.map((m) => m.source)).toEqual([
      `${ROOT}/srv/api`,
      `${ROOT}/var/run/docker.sock`,
    ]);
    const byTarget = new Map(app.spec.volumes.map((m) => [m.target, m]));
    expect(byTarget.get('/data')).toMatchObject({ type: 'volume', source: 'shop_data' });
    expect(byTarget.get('/etc/app.conf')?.source).toBeUndefined();
    expect(byTarget.get('/etc/app.conf')?.repoFile?.path).toBe('hosts/web-1/shop/app.conf');
    expect(byTarget.get('/uploads')?.source).toBe(`${ROOT}/opt/shop/uploads`);
    expect(byTarget.get('/ssl')?.source).toBe(`${ROOT}/etc/ssl`);
    expect(byTarget.get('/run')).toMatchObject({ type: 'tmpfs' });
    expect(app.repoFiles?.length).toBe(1);
  });

  it('is in sync with containers made from the rewritten state', () => {
    const { after } = rewritten();
    const plan = planHost({ desired: after, actual: containersOf(after) });
    expect(plan.actions.map((a) => a.type)).toEqual(after.services.map(() => 'in-sync'));
    expect(hasChanges(plan)).toBe(false);
  });

  it('is out of sync with containers made from the state before the rewrite, and says why', () => {
    const { before, after } = rewritten();
    const plan = planHost({ desired: after, actual: containersOf(before) });
    expect(plan.actions.map((a) => a.type)).toEqual(after.services.map(() => 'recreate'));
    const reasons = plan.actions.flatMap((a) => ('reasons' in a ? a.reasons : []));
    expect(reasons).toContain('ports changed');
    expect(reasons).toContain('volumes changed');
  });
});
