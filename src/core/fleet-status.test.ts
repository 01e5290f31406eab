import { describe, expect, it } from 'vitest';
import { resolveHost } from './fleet.js';
import { resolveFleetState } from './fleet-state.js';
import {
  type AgentAnswer,
  type AgentReport,
  type AppliedRef,
  type DesiredAt,
  type FleetStatus,
  formatAge,
  imageLabel,
  mergeFleetStatus,
  parseAgentStatus,
  summarizeFleetStatus,
} from './fleet-status.js';
import { files, formatErrors, loadErrors, loadOk, yaml } from './test-fixtures.js';

const OLD = 'a'.repeat(40);
const HEAD = 'c'.repeat(40);
const UNKNOWN = 'e'.repeat(40);
const NOW = Date.parse('2026-01-01T12:00:00Z');

type Tree = Record<string, string>;

const app = (tag: string, extra: string[] = []) =>
  yaml('image: reg/app', `tag: "${tag}"`, ...extra);
const CONFIG = yaml(
  'hosts:',
  '  web-1: { agent: "http://127.0.0.1:9421" }',
  '  web-2: { agent: "http://127.0.0.1:9422" }',
);
/** web-1 runs app and cache; web-2 runs app. */
const TREE: Tree = {
  'gitdock.yaml': CONFIG,
  'hosts/web-1/app.yaml': app('1.1'),
  'hosts/web-1/cache.yaml': yaml('image: reg/cache', 'tag: "6"'),
  'hosts/web-2/app.yaml': app('1.1'),
};

/** A report as the agent serves it: every listed service Synced and Healthy unless told. */
function report(
  host: string,
  commit: string | null,
  services: Record<string, Partial<AgentReport['services'][number]> & { tag?: string }>,
  extra: Partial<AgentReport> = {},
): AgentAnswer {
  return {
    ok: true,
    report: {
      host,
      branch: 'main',
      desiredCommit: commit,
      servicesCommit: commit,
      lastAttemptedCommit: commit,
      lastAppliedCommit: commit,
      lastReconcile: {
        startedAt: '2026-01-01T11:59:00Z',
        finishedAt: '2026-01-01T11:59:30Z',
        result: 'success',
      },
      engine: { reachable: true },
      errors: [],
      services: Object.entries(services).map(([name, s]) => ({
        name,
        sync: 'Synced',
        health: 'Healthy',
        desiredImage: `reg/${name}:${s.tag ?? '1.1'}`,
        runningImage: `reg/${name}:${s.tag ?? '1.1'}`,
        commit: OLD,
        ...s,
      })),
      ...extra,
    },
  };
}

interface Case {
  head?: Tree;
  /** Trees of other commits, for the agents' and applied refs' commits. */
  others?: Record<string, Tree>;
  answers?: Record<string, AgentAnswer>;
  refs?: Record<string, string>;
  failedRefs?: Record<string, string>;
}

function status(c: Case): FleetStatus {
  const head = c.head ?? TREE;
  const fleet = loadOk(head);
  const resolved = resolveFleetState(fleet, files(head), HEAD);
  if (!resolved.ok) expect.fail(formatErrors(resolved.errors));
  const agents = new Map<string, string>();
  for (const [host, s] of Object.entries(fleet.config.hosts ?? {})) {
    if (s.agent) agents.set(host, s.agent);
  }
  const appliedRefs = new Map<string, AppliedRef>(
    Object.entries(c.refs ?? {}).map(([host, commit]) => [
      host,
      { ref: `refs/gitdock/applied/${host}`, commit, committedAt: NOW - 7_200_000 },
    ]),
  );
  const desiredAt = (host: string, commit: string): DesiredAt => {
    const tree = c.others?.[commit];
    if (!tree) return { ok: false, error: `${commit.slice(0, 12)} is not in this repository` };
    const r = resolveHost(loadOk(tree), host, commit);
    return r.ok ? { ok: true, services: r.value.services } : { ok: false, error: 'invalid' };
  };
  return mergeFleetStatus({
    rev: 'HEAD',
    commit: HEAD,
    branch: 'main',
    desired: resolved.value.hosts,
    agents,
    answers: new Map(Object.entries(c.answers ?? {})),
    appliedRefs,
    desiredAt,
    now: NOW,
    ...(fleet.rollout
      ? {
          rollout: { config: fleet.rollout, hosts: Object.keys(fleet.config.hosts ?? {}) },
          failedRefs: new Map(Object.entries(c.failedRefs ?? {})),
        }
      : {}),
  });
}

/** `host sync` and `host/service sync health [reason]`, one per line. */
function lines(s: FleetStatus): string[] {
  return s.hosts.flatMap((h) => [
    `${h.host} ${h.sync}${h.pending ? ' pending' : ''}`,
    ...h.services.map(
      (x) => `${h.host}/${x.service} ${x.sync} ${x.health}${x.reason ? ` [${x.reason}]` : ''}`,
    ),
  ]);
}

const BOTH_SYNCED = {
  'web-1': report('web-1', HEAD, { app: {}, cache: { tag: '6' } }),
  'web-2': report('web-2', HEAD, { app: {} }),
};

describe('mergeFleetStatus: Compose services by identity', () => {
  const shop = (appTag: string) =>
    yaml(
      'services:',
      '  app:',
      `    image: reg/app:${appTag}`,
      '    deploy: { replicas: 2 }',
      '  db:',
      '    image: reg/db:1',
    );
  const blog = yaml('services:', '  db:', '    image: reg/db:1');
  const compose = (appTag: string): Tree => ({
    'gitdock.yaml': CONFIG,
    'hosts/web-1/cache.yaml': yaml('image: reg/cache', 'tag: "6"'),
    'hosts/web-1/shop/compose.yaml': shop(appTag),
    'hosts/web-1/blog/compose.yaml': blog,
  });
  const running = {
    cache: { tag: '6' },
    'shop/app': {},
    'shop/app#2': {},
    'shop/db': {},
    'blog/db': {},
  };

  it("matches the agent's services by identity; two projects' db apart", () => {
    const s = status({ head: compose('2'), answers: { 'web-1': report('web-1', HEAD, running) } });
    expect(lines(s).filter((l) => l.startsWith('web-1'))).toEqual([
      'web-1 Synced',
      'web-1/blog/db Synced Healthy',
      'web-1/cache Synced Healthy',
      'web-1/shop/app Synced Healthy',
      'web-1/shop/app#2 Synced Healthy',
      'web-1/shop/db Synced Healthy',
    ]);
  });

  it('an agent behind on a commit that changes one Compose service: only its replicas are OutOfSync', () => {
    const s = status({
      head: compose('2'),
      others: { [OLD]: compose('1') },
      answers: { 'web-1': report('web-1', OLD, running) },
    });
    expect(lines(s).filter((l) => l.startsWith('web-1'))).toEqual([
      'web-1 OutOfSync pending',
      'web-1/blog/db Synced Healthy',
      'web-1/cache Synced Healthy',
      'web-1/shop/app OutOfSync Healthy [pending: image 1 -> 2]',
      'web-1/shop/app#2 OutOfSync Healthy [pending: image 1 -> 2]',
      'web-1/shop/db Synced Healthy',
    ]);
  });
});

describe('mergeFleetStatus', () => {
  it('every agent at the commit, every service Synced: synced', () => {
    const s = status({ answers: BOTH_SYNCED });
    expect(lines(s)).toEqual([
      'web-1 Synced',
      'web-1/app Synced Healthy',
      'web-1/cache Synced Healthy',
      'web-2 Synced',
      'web-2/app Synced Healthy',
    ]);
    expect(s.synced).toBe(true);
    expect(s.hosts[0]).toMatchObject({
      source: 'agent',
      reachable: true,
      lastReconcile: { result: 'success', ageMs: 30_000 },
    });
    expect(summarizeFleetStatus(s)).toBe('2 hosts, 3 services: 3 Synced');
  });

  it("takes the agent's verdicts and the worst of them for the host", () => {
    const s = status({
      answers: {
        ...BOTH_SYNCED,
        'web-1': report('web-1', HEAD, {
          app: { sync: 'Failed', reason: 'failed at cccc: exited', runningImage: 'reg/app:1.0' },
          cache: { tag: '6', sync: 'OutOfSync', health: 'Missing' },
        }),
      },
    });
    expect(lines(s).slice(0, 3)).toEqual([
      'web-1 Failed',
      'web-1/app Failed Healthy [failed at cccc: exited]',
      'web-1/cache OutOfSync Missing',
    ]);
    expect(s.synced).toBe(false);
  });

  it('an agent behind on a commit that does not change its host is pending but Synced', () => {
    // OLD differs from HEAD on web-2 only.
    const old = { ...TREE, 'hosts/web-2/app.yaml': app('1.0') };
    const s = status({
      others: { [OLD]: old },
      answers: { ...BOTH_SYNCED, 'web-1': report('web-1', OLD, { app: {}, cache: { tag: '6' } }) },
    });
    expect(lines(s).slice(0, 3)).toEqual([
      'web-1 Synced pending',
      'web-1/app Synced Healthy',
      'web-1/cache Synced Healthy',
    ]);
    expect(s.synced).toBe(true);
    expect(s.hosts[0]!.notes[0]).toMatch(
      /^pending: the agent is at aaaaaaaaaaaa, not cccccccccccc/,
    );
  });

  it('an agent behind on a commit that changes its host: the changed services are OutOfSync', () => {
    const old: Tree = {
      ...TREE,
      'hosts/web-2/app.yaml': app('1.0'),
      'hosts/web-2/gone.yaml': yaml('image: reg/gone', 'tag: "1"'),
    };
    const s = status({
      others: { [OLD]: old },
      answers: {
        ...BOTH_SYNCED,
        'web-2': report('web-2', OLD, { app: { tag: '1.0' }, gone: { tag: '1' } }),
      },
    });
    expect(lines(s).slice(3)).toEqual([
      'web-2 OutOfSync pending',
      'web-2/app OutOfSync Healthy [pending: image 1.0 -> 1.1]',
      `web-2/gone OutOfSync Healthy [pending: removed at ${HEAD.slice(0, 12)}]`,
    ]);
    const gone = s.hosts[1]!.services[1]!;
    expect(gone).toMatchObject({ desiredImage: null, runningImage: 'reg/gone:1' });
  });

  it('an agent still applying our commit: services its last verdicts predate are OutOfSync, not Synced', () => {
    const old: Tree = { ...TREE, 'hosts/web-2/app.yaml': app('1.0') };
    const applying = report(
      'web-2',
      HEAD,
      { app: { tag: '1.0' } },
      {
        servicesCommit: OLD,
        lastReconcile: { startedAt: '2026-01-01T11:59:50Z', finishedAt: null, result: 'running' },
      },
    );
    const s = status({ others: { [OLD]: old }, answers: { ...BOTH_SYNCED, 'web-2': applying } });
    expect(lines(s).slice(3)).toEqual([
      'web-2 OutOfSync pending',
      'web-2/app OutOfSync Healthy [pending: image 1.0 -> 1.1]',
    ]);
    expect(s.hosts[1]!.notes[0]).toMatch(
      /^pending: the agent is applying cccccccccccc; its service states are still those of aaaaaaaaaaaa/,
    );
  });

  it('an agent whose verdicts are of our commit is trusted, whatever its last pass', () => {
    const s = status({
      answers: {
        ...BOTH_SYNCED,
        'web-2': report('web-2', HEAD, { app: {} }, { servicesCommit: HEAD }),
      },
    });
    expect(lines(s).slice(3)).toEqual(['web-2 Synced', 'web-2/app Synced Healthy']);
  });

  it('a change to a spec other than the image is pending as "spec changed"', () => {
    const head = { ...TREE, 'hosts/web-2/app.yaml': app('1.1', ['environment: { A: "1" }']) };
    const s = status({
      head,
      others: { [OLD]: TREE },
      answers: { ...BOTH_SYNCED, 'web-2': report('web-2', OLD, { app: {} }) },
    });
    expect(lines(s).slice(3)).toEqual([
      'web-2 OutOfSync pending',
      'web-2/app OutOfSync Healthy [pending: spec changed]',
    ]);
  });

  it('an agent at a commit this repository lacks: Unknown, and says to fetch', () => {
    const s = status({
      answers: { ...BOTH_SYNCED, 'web-2': report('web-2', UNKNOWN, { app: {} }) },
    });
    expect(lines(s).slice(3)).toEqual([
      'web-2 Unknown pending',
      "web-2/app Unknown Healthy [the agent's commit cannot be compared]",
    ]);
    expect(s.hosts[1]!.notes[0]).toContain('is not in this repository');
    expect(s.synced).toBe(false);
  });

  it('an unreachable agent with an applied ref at HEAD: Synced services, host Unknown', () => {
    const s = status({
      answers: { ...BOTH_SYNCED, 'web-2': { ok: false, error: 'connect ECONNREFUSED' } },
      refs: { 'web-2': HEAD },
    });
    expect(lines(s).slice(3)).toEqual(['web-2 Unknown', 'web-2/app Synced Unknown']);
    expect(s.hosts[1]).toMatchObject({
      reachable: false,
      error: 'connect ECONNREFUSED',
      source: 'applied-ref',
      appliedRef: { commit: HEAD, committedAt: '2026-01-01T10:00:00.000Z', ageMs: 7_200_000 },
    });
    expect(s.hosts[1]!.notes).toEqual([
      `shown from refs/gitdock/applied/web-2 at ${HEAD.slice(0, 12)} (committed 2h ago); health unknown`,
    ]);
    expect(s.synced).toBe(false);
    expect(summarizeFleetStatus(s)).toBe('2 hosts, 3 services: 3 Synced; 1 agent unreachable');
  });

  it('an unreachable agent whose applied commit differs only elsewhere: still Synced services', () => {
    const old = { ...TREE, 'hosts/web-1/app.yaml': app('1.0') };
    const s = status({
      others: { [OLD]: old },
      answers: { ...BOTH_SYNCED, 'web-2': { ok: false, error: 'timeout' } },
      refs: { 'web-2': OLD },
    });
    expect(lines(s).slice(3)).toEqual(['web-2 Unknown', 'web-2/app Synced Unknown']);
    expect(s.hosts[1]!.services[0]!.runningCommit).toBe(OLD);
  });

  it('an unreachable agent whose applied commit runs something else: OutOfSync', () => {
    const old: Tree = {
      ...TREE,
      'hosts/web-2/app.yaml': app('1.0'),
      'hosts/web-2/gone.yaml': yaml('image: reg/gone', 'tag: "1"'),
    };
    const head = { ...TREE, 'hosts/web-2/new.yaml': yaml('image: reg/new', 'tag: "1"') };
    const s = status({
      head,
      others: { [OLD]: old },
      answers: { ...BOTH_SYNCED, 'web-2': { ok: false, error: 'timeout' } },
      refs: { 'web-2': OLD },
    });
    expect(lines(s).slice(3)).toEqual([
      'web-2 OutOfSync',
      'web-2/app OutOfSync Unknown [not applied: image 1.0 -> 1.1]',
      'web-2/gone OutOfSync Unknown [not applied: removed since aaaaaaaaaaaa]',
      'web-2/new OutOfSync Unknown [not applied: not in aaaaaaaaaaaa]',
    ]);
    expect(summarizeFleetStatus(s)).toBe(
      '2 hosts, 5 services: 2 Synced, 3 OutOfSync; 1 agent unreachable',
    );
  });

  it('no agent configured and no applied ref: Unknown, and says so', () => {
    const head = { ...TREE, 'gitdock.yaml': yaml('hosts:', '  web-1: { allow_empty: true }') };
    const s = status({ head });
    expect(lines(s)).toEqual([
      'web-1 Unknown',
      'web-1/app Unknown Unknown',
      'web-1/cache Unknown Unknown',
      'web-2 Unknown',
      'web-2/app Unknown Unknown',
    ]);
    expect(s.hosts[0]).toMatchObject({ reachable: null, agent: null, source: 'none' });
    expect(s.hosts[0]!.notes).toEqual([
      'no agent configured (hosts.<host>.agent in gitdock.yaml)',
      'no refs/gitdock/applied/web-1: what runs there is not known',
    ]);
    expect(summarizeFleetStatus(s)).toBe(
      '2 hosts, 3 services: 3 Unknown; 2 hosts without an agent',
    );
  });

  it('lists a host that only an applied ref names (removed from the repo)', () => {
    const old = { ...TREE, 'hosts/web-3/app.yaml': app('1.0') };
    const s = status({ answers: BOTH_SYNCED, others: { [OLD]: old }, refs: { 'web-3': OLD } });
    expect(lines(s).slice(-2)).toEqual([
      'web-3 OutOfSync',
      'web-3/app OutOfSync Unknown [not applied: removed since aaaaaaaaaaaa]',
    ]);
  });

  it('an unreachable engine makes the host Unknown; a refused pass makes it OutOfSync', () => {
    const s = status({
      answers: {
        'web-1': report(
          'web-1',
          HEAD,
          { app: {}, cache: { tag: '6' } },
          { engine: { reachable: false, error: 'connect ENOENT /var/run/docker.sock' } },
        ),
        'web-2': report(
          'web-2',
          HEAD,
          { app: {} },
          {
            lastReconcile: {
              startedAt: '2026-01-01T11:00:00Z',
              finishedAt: null,
              result: 'refused',
            },
            errors: [{ message: 'refusing to remove every service\nsecond line' }],
          },
        ),
      },
    });
    expect(s.hosts.map((h) => h.sync)).toEqual(['Unknown', 'OutOfSync']);
    expect(s.hosts[0]!.notes).toEqual(['engine unreachable: connect ENOENT /var/run/docker.sock']);
    expect(s.hosts[1]!.notes).toEqual([
      'last pass refused: the commit would remove every service of the host',
      'agent error: refusing to remove every service',
    ]);
    expect(s.hosts[1]!.lastReconcile).toEqual({
      result: 'refused',
      at: '2026-01-01T11:00:00Z',
      ageMs: 3_600_000,
    });
  });

  it('a desired service the agent does not list is OutOfSync', () => {
    const s = status({ answers: { ...BOTH_SYNCED, 'web-2': report('web-2', HEAD, {}) } });
    expect(lines(s).slice(3)).toEqual([
      'web-2 OutOfSync',
      'web-2/app OutOfSync Unknown [not reported by the agent (last pass: success)]',
    ]);
  });

  it('notes an agent that follows another branch', () => {
    const s = status({
      answers: {
        ...BOTH_SYNCED,
        'web-2': report('web-2', HEAD, { app: {} }, { branch: 'staging' }),
      },
    });
    expect(s.hosts[1]!.notes).toEqual([
      'the agent follows branch staging; this repository is on main',
    ]);
  });
});

describe('parseAgentStatus', () => {
  const body = {
    host: 'web-1',
    branch: 'main',
    desiredCommit: HEAD,
    lastAppliedCommit: HEAD,
    lastReconcile: { startedAt: 'x', finishedAt: null, result: 'running', trigger: 'start' },
    engine: { reachable: true },
    errors: [],
    services: [
      {
        name: 'app',
        sync: 'Synced',
        health: 'Healthy',
        desiredImage: 'a:1',
        runningImage: 'a:1',
        commit: HEAD,
      },
    ],
  };

  it('reads the shape of this release: error codes and services, health Unknown, a pass running', () => {
    const answer = parseAgentStatus(
      {
        ...body,
        running: { startedAt: 'x', runningForMs: 1200, trigger: 'git: refs/heads/main change' },
        nextPassAt: null,
        engine: { reachable: false, error: 'connect ENOENT', since: 'x' },
        watch: { watching: true },
        lastReconcile: { ...body.lastReconcile, result: 'waiting', commit: HEAD },
        errors: [{ code: 'GITDOCK_E_ROLLOUT_FAILED', message: 'app: exited', service: 'app' }],
        services: [
          {
            ...body.services[0],
            sync: 'Failed',
            health: 'Unknown',
            code: 'GITDOCK_E_ROLLOUT_FAILED',
          },
        ],
      },
      'web-1',
    );
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    expect(answer.report.engine).toEqual({ reachable: false, error: 'connect ENOENT' });
    expect(answer.report.errors).toEqual([
      { code: 'GITDOCK_E_ROLLOUT_FAILED', message: 'app: exited', service: 'app' },
    ]);
    expect(answer.report.services[0]).toMatchObject({ sync: 'Failed', health: 'Unknown' });
    expect(answer.report.lastReconcile?.result).toBe('waiting');
  });

  it('reads the shape of earlier agents: errors without codes', () => {
    const answer = parseAgentStatus(
      { ...body, errors: [{ message: 'app: failed at 1a2b: exited' }] },
      'web-1',
    );
    expect(answer.ok && answer.report.errors).toEqual([{ message: 'app: failed at 1a2b: exited' }]);
  });

  it('takes a real agent status', () => {
    const answer = parseAgentStatus(body, 'web-1');
    expect(answer.ok).toBe(true);
    if (answer.ok) {
      expect(answer.report.services[0]).toEqual({
        name: 'app',
        sync: 'Synced',
        health: 'Healthy',
        desiredImage: 'a:1',
        runningImage: 'a:1',
        commit: HEAD,
      });
      expect(answer.report.lastReconcile).toEqual({
        startedAt: 'x',
        finishedAt: null,
        result: 'running',
      });
    }
  });

  it.each([
    [null, 'not a gitdock agent status: not a JSON object'],
    [[], 'not a gitdock agent status: not a JSON object'],
    [{ services: [] }, 'not a gitdock agent status: no "host"'],
    [{ host: 'web-1' }, 'not a gitdock agent status: no "services" list'],
    [
      { host: 'web-1', services: [{ name: 'a' }] },
      'not a gitdock agent status: a service without "name" or "sync"',
    ],
    [{ ...body, host: 'web-2' }, 'the agent there is for host "web-2", not "web-1"'],
  ])('refuses %j', (input, error) => {
    expect(parseAgentStatus(input, 'web-1')).toEqual({ ok: false, error });
  });
});

describe('gitdock.yaml hosts.<host>.agent', () => {
  it.each(['http://127.0.0.1:9420', 'https://web-1.internal:9420/gitdock/', 'http://[::1]:9420'])(
    'accepts %s',
    (url) => {
      loadOk({ 'gitdock.yaml': yaml('hosts:', `  web-1: { agent: "${url}" }`) });
    },
  );

  it.each([
    'ftp://web-1:9420',
    'web-1:9420',
    'http://user:secret@web-1:9420',
    'http://web-1:9420/status?x=1',
    'http://',
  ])('refuses %s, naming the file and line', (url) => {
    const errors = loadErrors({ 'gitdock.yaml': yaml('hosts:', `  web-1: { agent: "${url}" }`) });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ file: 'gitdock.yaml', line: 2, path: '/hosts/web-1/agent' });
  });
});

describe('imageLabel and formatAge', () => {
  it.each([
    ['reg/app:1.1', '1.1'],
    ['127.0.0.1:5055/app:2', '2'],
    ['127.0.0.1:5055/app', 'latest'],
    [`reg/app@sha256:${'ab'.repeat(32)}`, 'sha256:abababababab'],
  ])('imageLabel(%s) = %s', (ref, label) => {
    expect(imageLabel(ref)).toBe(label);
  });

  it.each([
    [0, '0s'],
    [59_999, '59s'],
    [60_000, '1m'],
    [3_599_999, '59m'],
    [3_600_000, '1h'],
    [86_400_000 * 3, '3d'],
  ])('formatAge(%i) = %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });
});

describe('the release by waves', () => {
  const WAVES: Tree = {
    ...TREE,
    'gitdock.yaml': `${CONFIG}rollout:\n  waves: [[web-1], [web-2]]\n`,
  };

  it('is null without a rollout', () => {
    expect(status({}).waves).toBeNull();
  });

  it('shows each wave from the applied and failed refs', () => {
    expect(status({ head: WAVES, refs: { 'web-1': HEAD, 'web-2': OLD } }).waves).toEqual({
      waves: [
        { wave: 1, hosts: [{ host: 'web-1', state: 'applied' }] },
        { wave: 2, hosts: [{ host: 'web-2', state: 'pending' }] },
      ],
      haltedAt: null,
    });
  });

  it('says at which wave a release halted', () => {
    const s = status({ head: WAVES, refs: { 'web-1': OLD }, failedRefs: { 'web-1': HEAD } });
    expect(s.waves?.haltedAt).toBe(1);
    expect(s.waves?.waves[0]?.hosts).toEqual([{ host: 'web-1', state: 'failed' }]);
  });

  it('a failure at another commit does not halt this one', () => {
    const s = status({ head: WAVES, refs: { 'web-1': HEAD }, failedRefs: { 'web-1': OLD } });
    expect(s.waves?.haltedAt).toBeNull();
  });
});
