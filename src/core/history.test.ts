import { describe, expect, it } from 'vitest';
import { isFleetPath } from './fleet.js';
import type { HostDiff, ServiceChange } from './fleet-diff.js';
import {
  type CommitHistory,
  type CommitInfo,
  checkServiceIdentity,
  commitSubject,
  filterHosts,
  fleetTreeKey,
  formatCommitDate,
  type HistoryFilter,
  type HistoryResult,
  matchesServiceIdentity,
  type RootTreeEntry,
  readHistory,
} from './history.js';
import { files, yaml } from './test-fixtures.js';

type Tree = Record<string, string>;

// --- an in-memory repository ---------------------------------------------

interface FakeCommit {
  oid: string;
  parents: string[];
  tree: Tree;
  message: string;
}

/**
 * Commits over inline trees, with the key of the fleet files computed the
 * way the adapter's root-tree oids behave: equal exactly when the fleet
 * files are equal. Counts what is read, so tests can assert that skipped
 * commits are never resolved and that no state is resolved twice.
 */
class FakeRepo {
  readonly commits = new Map<string, FakeCommit>();
  readonly fileReads: string[] = [];
  readonly commitReads: string[] = [];
  private tip: string | undefined;
  private tree: Tree = {};

  /** A commit on the current tip with some files replaced (`null` deletes). */
  commit(message: string, changes: Record<string, string | null>, extraParents: string[] = []) {
    const tree = { ...this.tree };
    for (const [path, content] of Object.entries(changes)) {
      if (content === null) delete tree[path];
      else tree[path] = content;
    }
    const oid = (this.commits.size + 1).toString(16).padStart(40, '0');
    const parents = [...(this.tip ? [this.tip] : []), ...extraParents];
    this.commits.set(oid, { oid, parents, tree, message });
    this.tip = oid;
    this.tree = tree;
    return oid;
  }

  /** A commit off the history, for the second parent of a merge. */
  sideCommit(parent: string, message: string, tree: Tree): string {
    const oid = `f${(this.commits.size + 1).toString(16).padStart(39, '0')}`;
    this.commits.set(oid, { oid, parents: [parent], tree, message });
    return oid;
  }

  readonly history: CommitHistory = {
    readCommit: async (oid) => {
      this.commitReads.push(oid);
      const c = this.commits.get(oid);
      if (!c) throw new Error(`no commit ${oid}`);
      const fleet = Object.entries(c.tree)
        .filter(
          ([p]) => p === 'gitdock.yaml' || p.startsWith('hosts/') || p.startsWith('services/'),
        )
        .sort(([a], [b]) => (a < b ? -1 : 1));
      const info: CommitInfo = {
        oid,
        parents: c.parents,
        author: {
          name: 'Alice',
          email: 'alice@example.com',
          timestamp: 1714564980,
          offsetMinutes: 120,
        },
        message: c.message,
        fleetKey: fleet.length === 0 ? '' : JSON.stringify(fleet),
      };
      return info;
    },
    readFleetFiles: async (oid) => {
      this.fileReads.push(oid);
      const tree = this.commits.get(oid)!.tree;
      return files(Object.fromEntries(Object.entries(tree).filter(([p]) => isFleetPath(p, false))));
    },
  };

  async read(
    options: { filter?: HistoryFilter; limit?: number; maxScan?: number; from?: string } = {},
  ): Promise<HistoryResult> {
    return readHistory({
      history: this.history,
      from: options.from ?? this.tip!,
      filter: options.filter ?? {},
      limit: options.limit ?? 20,
      maxScan: options.maxScan ?? 1000,
    });
  }
}

function app(tag: string, selector = '["web-*"]'): string {
  return yaml(`hosts: ${selector}`, 'image: registry.example.com/appserver', `tag: "${tag}"`);
}

function own(image: string, tag: string): string {
  return yaml(`image: registry.example.com/${image}`, `tag: "${tag}"`);
}

const CONFIG = yaml('hosts:', '  web-1: {}', '  web-2: {}', '  web-3: {}');

/** Each listed commit as `message: host ~ service reasons | ...`, to compare in one line. */
function summary(result: HistoryResult): string[] {
  return result.entries.map((e) => {
    const msg = e.commit.message;
    if (e.errors.length > 0) return `${msg}: INVALID ${e.errors.map((x) => x.file).join(', ')}`;
    const changes = e.hosts.flatMap((h) => [
      ...h.services.map(
        (s) =>
          `${h.host} ${{ added: '+', removed: '-', changed: '~' }[s.change]} ${s.service}${s.reasons.length ? ` ${s.reasons.join(', ')}` : ''}`,
      ),
      ...h.shadowed.map((o) => `${h.host} = ${o.service}`),
    ]);
    return `${msg}${e.validAgain ? ' (valid again)' : ''}: ${changes.join(' | ')}`;
  });
}

/** A small history touching every case: fleet file, host file, README, override. */
function standardRepo() {
  const repo = new FakeRepo();
  const shas = {
    init: repo.commit('init', {
      'gitdock.yaml': CONFIG,
      'services/appserver.yaml': app('1.4.2'),
      'hosts/web-1/memcached.yaml': own('memcached', '1.6'),
    }),
    readme: repo.commit('readme', { 'README.md': '# fleet\n' }),
    web1: repo.commit('web-1 only', { 'hosts/web-1/memcached.yaml': own('memcached', '1.7') }),
    bump: repo.commit('bump', { 'services/appserver.yaml': app('1.5.0') }),
    canary: repo.commit('canary on web-3', {
      'hosts/web-3/appserver.yaml': own('appserver', '1.6.0-rc1'),
    }),
    bump2: repo.commit('bump again', { 'services/appserver.yaml': app('1.5.1') }),
    comment: repo.commit('comment', {
      'services/appserver.yaml': `# the app\n${app('1.5.1')}`,
    }),
  };
  return { repo, shas };
}

describe('readHistory', () => {
  it('lists every change on every host, newest first, and leaves out no-op commits', async () => {
    const { repo } = standardRepo();
    expect(summary(await repo.read())).toEqual([
      'bump again: web-1 ~ appserver tag 1.5.0 -> 1.5.1 | web-2 ~ appserver tag 1.5.0 -> 1.5.1 | web-3 = appserver',
      'canary on web-3: web-3 ~ appserver tag 1.5.0 -> 1.6.0-rc1',
      'bump: web-1 ~ appserver tag 1.4.2 -> 1.5.0 | web-2 ~ appserver tag 1.4.2 -> 1.5.0 | web-3 ~ appserver tag 1.4.2 -> 1.5.0',
      'web-1 only: web-1 ~ memcached tag 1.6 -> 1.7',
      'init: web-1 + appserver | web-1 + memcached | web-2 + appserver | web-3 + appserver',
    ]);
  });

  it('for one host: fleet-file commits that reach it, not commits to other hosts', async () => {
    const { repo } = standardRepo();
    expect(summary(await repo.read({ filter: { host: 'web-2' } }))).toEqual([
      'bump again: web-2 ~ appserver tag 1.5.0 -> 1.5.1',
      'bump: web-2 ~ appserver tag 1.4.2 -> 1.5.0',
      'init: web-2 + appserver',
    ]);
  });

  it('for an overridden host: the fleet change it shadows is not listed', async () => {
    const { repo } = standardRepo();
    expect(summary(await repo.read({ filter: { host: 'web-3' } }))).toEqual([
      'canary on web-3: web-3 ~ appserver tag 1.5.0 -> 1.6.0-rc1',
      'bump: web-3 ~ appserver tag 1.4.2 -> 1.5.0',
      'init: web-3 + appserver',
    ]);
  });

  it('for one service, on every host or on one', async () => {
    const { repo } = standardRepo();
    expect(summary(await repo.read({ filter: { service: 'memcached' } }))).toEqual([
      'web-1 only: web-1 ~ memcached tag 1.6 -> 1.7',
      'init: web-1 + memcached',
    ]);
    expect(summary(await repo.read({ filter: { host: 'web-1', service: 'appserver' } }))).toEqual([
      'bump again: web-1 ~ appserver tag 1.5.0 -> 1.5.1',
      'bump: web-1 ~ appserver tag 1.4.2 -> 1.5.0',
      'init: web-1 + appserver',
    ]);
  });

  it('compares each commit with its first parent, and says so', async () => {
    const { repo, shas } = standardRepo();
    const result = await repo.read();
    expect(result.entries.map((e) => [e.commit.oid, e.comparedWith])).toEqual([
      [shas.bump2, shas.canary],
      [shas.canary, shas.bump],
      [shas.bump, shas.web1],
      [shas.web1, shas.readme],
      [shas.init, undefined],
    ]);
    expect(result.stoppedBy).toBe('start');
    expect(result.scanned).toBe(7);
  });

  it('resolves each fleet state once, and never one a skipped commit alone would need', async () => {
    const { repo, shas } = standardRepo();
    await repo.read();
    // The README commit is read as web-1's parent, for its state, which it
    // shares with init: that state is resolved once, for whichever came first.
    expect(new Set(repo.fileReads).size).toBe(repo.fileReads.length);
    expect([...repo.fileReads].sort()).toEqual(
      [shas.readme, shas.web1, shas.bump, shas.canary, shas.bump2, shas.comment].sort(),
    );
  });

  it('skips commits that leave the fleet files alone without reading a file', async () => {
    const repo = new FakeRepo();
    const init = repo.commit('init', {
      'gitdock.yaml': CONFIG,
      'services/appserver.yaml': app('1'),
    });
    for (let i = 0; i < 5; i++) repo.commit(`docs ${i}`, { 'README.md': `${i}\n` });
    const result = await repo.read();
    expect(summary(result).map((s) => s.split(':')[0])).toEqual(['init']);
    expect(repo.fileReads).toEqual([init]);
    expect(result.scanned).toBe(6);
  });

  it('stops after -n listed commits, reading no further than needed', async () => {
    const { repo, shas } = standardRepo();
    const result = await repo.read({ limit: 2 });
    expect(summary(result).map((s) => s.split(':')[0])).toEqual(['bump again', 'canary on web-3']);
    expect(result.stoppedBy).toBe('limit');
    expect(repo.fileReads).not.toContain(shas.init);
  });

  it('stops at the scan limit and says so', async () => {
    const { repo } = standardRepo();
    const result = await repo.read({ maxScan: 4 });
    expect(result.stoppedBy).toBe('scan-limit');
    expect(result.scanned).toBe(4);
    expect(new Set(repo.commitReads).size).toBe(4);
    expect(summary(result).map((s) => s.split(':')[0])).toEqual(['bump again', 'canary on web-3']);
  });

  it('starts where it is told', async () => {
    const { repo, shas } = standardRepo();
    const result = await repo.read({ from: shas.bump, filter: { host: 'web-2' } });
    expect(summary(result).map((s) => s.split(':')[0])).toEqual(['bump', 'init']);
  });

  it('lists an invalid commit whatever the filter, and compares later ones with the last valid state', async () => {
    const repo = new FakeRepo();
    repo.commit('init', { 'gitdock.yaml': CONFIG, 'services/appserver.yaml': app('1.4.2') });
    const lastValid = repo.commit('web-1 cache', {
      'hosts/web-1/memcached.yaml': own('memcached', '1.6'),
    });
    repo.commit('broken', { 'hosts/web-1/bad.yaml': 'image: [\n' });
    repo.commit('readme while broken', { 'README.md': 'x\n' });
    repo.commit('bump while broken', { 'services/appserver.yaml': app('1.5.0') });
    const fix = repo.commit('fix', { 'hosts/web-1/bad.yaml': null });

    const result = await repo.read({ filter: { host: 'web-2' } });
    expect(summary(result)).toEqual([
      'fix (valid again): web-2 ~ appserver tag 1.4.2 -> 1.5.0',
      'bump while broken: INVALID hosts/web-1/bad.yaml',
      'broken: INVALID hosts/web-1/bad.yaml',
      'init: web-2 + appserver',
    ]);
    const fixEntry = result.entries.find((e) => e.commit.oid === fix)!;
    expect(fixEntry.comparedWith).toBe(lastValid);
    expect(result.entries[1]!.comparedWith).toBeUndefined();
  });

  it('lists the fix of an invalid commit even when it changes nothing for the filter', async () => {
    const repo = new FakeRepo();
    repo.commit('init', { 'gitdock.yaml': CONFIG, 'services/appserver.yaml': app('1.4.2') });
    repo.commit('broken', { 'hosts/web-1/bad.yaml': 'image: [\n' });
    repo.commit('fix', { 'hosts/web-1/bad.yaml': null });
    expect(summary(await repo.read({ filter: { service: 'appserver' } }))).toEqual([
      'fix (valid again): ',
      'broken: INVALID hosts/web-1/bad.yaml',
      'init: web-1 + appserver | web-2 + appserver | web-3 + appserver',
    ]);
  });

  it('compares with an empty repo when no earlier commit is valid', async () => {
    const repo = new FakeRepo();
    repo.commit('broken start', { 'gitdock.yaml': CONFIG, 'hosts/web-1/bad.yaml': 'image: [\n' });
    repo.commit('fix', {
      'hosts/web-1/bad.yaml': null,
      'hosts/web-1/memcached.yaml': own('memcached', '1.6'),
    });
    const result = await repo.read();
    expect(summary(result)).toEqual([
      'fix (valid again): web-1 + memcached',
      'broken start: INVALID hosts/web-1/bad.yaml',
    ]);
    expect(result.entries[0]!.comparedWith).toBeUndefined();
  });

  it('follows first parents only: a merge is one change against the branch before it', async () => {
    const repo = new FakeRepo();
    const init = repo.commit('init', {
      'gitdock.yaml': CONFIG,
      'services/appserver.yaml': app('1.4.2'),
    });
    const side1 = repo.sideCommit(init, 'side: bump', {
      'gitdock.yaml': CONFIG,
      'services/appserver.yaml': app('1.5.0'),
    });
    const side2 = repo.sideCommit(side1, 'side: cache', {
      'gitdock.yaml': CONFIG,
      'services/appserver.yaml': app('1.5.0'),
      'hosts/web-2/memcached.yaml': own('memcached', '1.6'),
    });
    repo.commit(
      'merge',
      {
        'services/appserver.yaml': app('1.5.0'),
        'hosts/web-2/memcached.yaml': own('memcached', '1.6'),
      },
      [side2],
    );
    expect(summary(await repo.read({ filter: { host: 'web-2' } }))).toEqual([
      'merge: web-2 ~ appserver tag 1.4.2 -> 1.5.0 | web-2 + memcached',
      'init: web-2 + appserver',
    ]);
    expect(repo.commitReads).not.toContain(side1);
  });

  it('lists a host removed from a fleet file selector as a removal', async () => {
    const repo = new FakeRepo();
    repo.commit('init', { 'gitdock.yaml': CONFIG, 'services/appserver.yaml': app('1.4.2') });
    repo.commit('narrow', { 'services/appserver.yaml': app('1.4.2', '[web-1, web-3]') });
    expect(summary(await repo.read({ filter: { host: 'web-2' }, limit: 1 }))).toEqual([
      'narrow: web-2 - appserver',
    ]);
  });
});

describe('fleetTreeKey', () => {
  const entry = (path: string, type: string, oid: string, mode = '100644'): RootTreeEntry => ({
    path,
    type,
    oid,
    mode: type === 'tree' ? '040000' : mode,
  });
  const FLEET = [
    entry('gitdock.yaml', 'blob', 'a'.repeat(40)),
    entry('hosts', 'tree', 'b'.repeat(40)),
    entry('services', 'tree', 'c'.repeat(40)),
  ];

  it.each([
    ['a README is not a fleet file', [...FLEET, entry('README.md', 'blob', 'd'.repeat(40))], true],
    ['docs/ is not a fleet tree', [...FLEET, entry('docs', 'tree', 'e'.repeat(40))], true],
    [
      'a file named hosts is not a fleet tree',
      [...FLEET.slice(0, 1), ...FLEET.slice(2), entry('hosts', 'blob', 'b'.repeat(40))],
      false,
    ],
    ['entry order does not matter', [...FLEET].reverse(), true],
    [
      'a changed hosts/ tree',
      [FLEET[0]!, entry('hosts', 'tree', 'f'.repeat(40)), FLEET[2]!],
      false,
    ],
    [
      'a changed gitdock.yaml',
      [entry('gitdock.yaml', 'blob', '1'.repeat(40)), ...FLEET.slice(1)],
      false,
    ],
    [
      'gitdock.yaml turned executable',
      [entry('gitdock.yaml', 'blob', 'a'.repeat(40), '100755'), ...FLEET.slice(1)],
      false,
    ],
    ['services/ deleted', FLEET.slice(0, 2), false],
  ])('%s', (_name, entries, same) => {
    expect(fleetTreeKey(entries) === fleetTreeKey(FLEET)).toBe(same);
  });

  it('is empty for a tree without fleet files', () => {
    expect(fleetTreeKey([entry('README.md', 'blob', 'd'.repeat(40))])).toBe('');
  });
});

describe('filterHosts', () => {
  const change = (service: string): ServiceChange => ({
    service,
    change: 'changed',
    image: `r/${service}:2`,
    reasons: ['tag 1 -> 2'],
    recreate: true,
    files: [`services/${service}.yaml`],
  });
  const host = (name: string, services: string[], shadowed: string[] = []): HostDiff => ({
    host: name,
    presence: 'both',
    services: services.map(change),
    shadowed: shadowed.map((s) => ({
      service: s,
      fleetFile: `services/${s}.yaml`,
      hostFile: `hosts/${name}/${s}.yaml`,
    })),
    refusedEmpty: false,
  });
  const HOSTS = [host('web-1', ['app', 'cache']), host('web-2', ['cache'], ['app'])];
  const names = (hosts: HostDiff[]) =>
    hosts.map(
      (h) =>
        `${h.host}:${h.services.map((s) => s.service).join(',')}/${h.shadowed.map((s) => s.service).join(',')}`,
    );

  it.each<[string, HistoryFilter, string[]]>([
    ['no filter', {}, ['web-1:app,cache/', 'web-2:cache/app']],
    ['a host', { host: 'web-2' }, ['web-2:cache/app']],
    ['a host with no change', { host: 'web-9' }, []],
    ['a service', { service: 'app' }, ['web-1:app/', 'web-2:/app']],
    ['a host and a service', { host: 'web-2', service: 'cache' }, ['web-2:cache/']],
    ['a service nobody changed', { service: 'db' }, []],
  ])('%s', (_name, filter, expected) => {
    expect(names(filterHosts(HOSTS, filter))).toEqual(expected);
  });

  const COMPOSE = [
    host('web-1', ['app', 'shop/app', 'shop/app#2', 'shop/db', 'blog/app']),
    host('web-2', ['shop/app#3']),
  ];
  it.each<[string, HistoryFilter, string[]]>([
    [
      'a Compose service: every replica',
      { service: 'shop/app' },
      ['web-1:shop/app,shop/app#2/', 'web-2:shop/app#3/'],
    ],
    ['one replica', { service: 'shop/app#2' }, ['web-1:shop/app#2/']],
    ['the bare name is the manifest only', { service: 'app' }, ['web-1:app/']],
    ['another project', { service: 'blog/app' }, ['web-1:blog/app/']],
  ])('%s', (_name, filter, expected) => {
    expect(names(filterHosts(COMPOSE, filter))).toEqual(expected);
  });
});

describe('checkServiceIdentity and matchesServiceIdentity', () => {
  it.each<[string, string | undefined]>([
    ['appserver', undefined],
    ['a', undefined],
    ['shop/app', undefined],
    ['shop/App.v2_x-y', undefined],
    ['shop/app#2', undefined],
    ['shop/app#12', undefined],
    ['shop/app#1', 'replica 1 has no #1 suffix: use shop/app'],
    ['shop/app#0', expect.stringMatching(/^use a manifest's service name/)],
    ['Shop/app', expect.stringMatching(/^use a manifest's service name/)],
    ['shop/', expect.stringMatching(/^use /)],
    ['/app', expect.stringMatching(/^use /)],
    ['shop/app/x', expect.stringMatching(/^use /)],
    ['shop/app#', expect.stringMatching(/^use /)],
    ['App', expect.stringMatching(/^use /)],
    ['../x', expect.stringMatching(/^use /)],
  ])('%s', (value, expected) => {
    expect(checkServiceIdentity(value)).toEqual(expected);
  });

  it.each<[string, string, boolean]>([
    ['shop/app', 'shop/app', true],
    ['shop/app#2', 'shop/app', true],
    ['shop/app#2', 'shop/app#2', true],
    ['shop/app', 'shop/app#2', false],
    ['shop/apple', 'shop/app', false],
    ['shop/app', 'app', false],
    ['app', 'app', true],
    ['app#2', 'app', false],
  ])('%s is %s: %s', (identity, wanted, expected) => {
    expect(matchesServiceIdentity(identity, wanted)).toBe(expected);
  });
});

describe('formatCommitDate and commitSubject', () => {
  it.each([
    [0, '2024-05-01T11:23:00+00:00'],
    [120, '2024-05-01T13:23:00+02:00'],
    [-330, '2024-05-01T05:53:00-05:30'],
  ])('offset %i minutes', (offsetMinutes, expected) => {
    expect(formatCommitDate({ timestamp: 1714562580, offsetMinutes })).toBe(expected);
  });

  it('takes the first line of a message', () => {
    expect(commitSubject('Bump appserver\n\nBecause.\n')).toBe('Bump appserver');
    expect(commitSubject('one line\n')).toBe('one line');
  });
});
