import { describe, expect, it } from 'vitest';
import { diffFleets } from './fleet-diff.js';
import {
  applyChanges,
  changedFiles,
  checkTree,
  type FileChanges,
  hostOverride,
  hostRollbackMessage,
  planHostRollback,
  planRevert,
  revertMessage,
  withoutHost,
} from './rollback.js';
import { files, loadOk, yaml } from './test-fixtures.js';

const decode = (b: Uint8Array | null | undefined) =>
  b === undefined ? undefined : b === null ? null : new TextDecoder().decode(b);

function text(changes: FileChanges): Record<string, string | null> {
  return Object.fromEntries([...changes].map(([p, b]) => [p, decode(b)!]));
}

const app = (tag: string, hosts?: string) =>
  yaml(...(hosts ? [`hosts: ${hosts}`] : []), 'image: app', `tag: "${tag}"`);

describe('changedFiles / applyChanges', () => {
  it('lists added, removed and modified paths, sorted', () => {
    const a = files({ x: '1', y: '2', z: '3' });
    const b = files({ y: '2', z: '4', w: '5' });
    expect(changedFiles(a, b)).toEqual(['w', 'x', 'z']);
    expect(changedFiles(a, a)).toEqual([]);
  });

  it('writes and deletes', () => {
    const out = applyChanges(
      files({ a: '1', b: '2' }),
      new Map([
        ['a', null],
        ['c', new TextEncoder().encode('3')],
      ]),
    );
    expect([...out.keys()]).toEqual(['b', 'c']);
  });
});

describe('planRevert', () => {
  const parent = files({ 'hosts/a/web.yaml': app('1'), 'hosts/a/db.yaml': app('9') });
  const commit = files({ 'hosts/a/web.yaml': app('2'), 'hosts/a/new.yaml': app('1') });

  it.each([
    {
      name: 'HEAD is the commit: every changed file goes back',
      head: commit,
      expected: {
        kind: 'revert',
        paths: ['hosts/a/db.yaml', 'hosts/a/new.yaml', 'hosts/a/web.yaml'],
        changes: {
          'hosts/a/db.yaml': app('9'),
          'hosts/a/new.yaml': null,
          'hosts/a/web.yaml': app('1'),
        },
      },
    },
    {
      name: 'a later commit touched other files only',
      head: new Map([...commit, ...files({ 'hosts/b/web.yaml': app('3') })]),
      expected: { kind: 'revert' },
    },
    {
      name: 'a later commit changed one of its files',
      head: new Map([...commit, ...files({ 'hosts/a/web.yaml': app('3') })]),
      expected: { kind: 'conflict', conflicts: ['hosts/a/web.yaml'] },
    },
    {
      name: 'a later commit deleted a file it added',
      head: files({ 'hosts/a/web.yaml': app('2') }),
      expected: { kind: 'conflict', conflicts: ['hosts/a/new.yaml'] },
    },
    {
      name: 'a later commit re-created a file it deleted',
      head: new Map([...commit, ...files({ 'hosts/a/db.yaml': app('10') })]),
      expected: { kind: 'conflict', conflicts: ['hosts/a/db.yaml'] },
    },
    {
      name: 'everything already undone',
      head: parent,
      expected: { kind: 'already-reverted' },
    },
  ])('$name', ({ head, expected }) => {
    const plan = planRevert({ parent, commit, head });
    const { changes, ...rest } = expected as { changes?: Record<string, string | null> };
    expect(plan).toMatchObject(rest);
    if (changes && plan.kind === 'revert') expect(text(plan.changes)).toEqual(changes);
  });

  it('a commit that changed no fleet file has nothing to revert', () => {
    expect(planRevert({ parent, commit: parent, head: parent })).toEqual({
      kind: 'no-fleet-change',
    });
  });

  it('a root commit reverts to nothing', () => {
    const plan = planRevert({ parent: new Map(), commit, head: commit });
    expect(plan.kind === 'revert' && text(plan.changes)).toEqual({
      'hosts/a/new.yaml': null,
      'hosts/a/web.yaml': null,
    });
  });
});

describe('revertMessage', () => {
  it('quotes the subject, names the sha, files and affected services', () => {
    const before = checkTree(files({ 'hosts/a/web.yaml': app('2') }), 'b');
    const after = checkTree(files({ 'hosts/a/web.yaml': app('1') }), 'a');
    if (!before.ok || !after.ok) throw new Error('fixture');
    expect(
      revertMessage({
        commit: 'c0ffee'.padEnd(40, '0'),
        message: 'web 2\n\nbody',
        paths: ['hosts/a/web.yaml'],
        diff: diffFleets(before.value, after.value),
      }),
    ).toBe(
      yaml(
        'Revert "web 2"',
        '',
        `This reverts commit ${'c0ffee'.padEnd(40, '0')}: its changes to the fleet files are undone.`,
        '',
        'Files:',
        '  hosts/a/web.yaml',
        '',
        'Hosts and services affected (1 host, 1 service):',
        '  a: web: tag 2 -> 1',
      ),
    );
  });
});

describe('hostOverride / withoutHost', () => {
  it('drops hosts:, keeps comments, rewrites env_file paths to the same files', () => {
    const out = hostOverride(
      new TextEncoder().encode(
        yaml(
          '# the app',
          'hosts: ["web-*"]',
          'image: app # pinned',
          'tag: "1"',
          'env_file: [common.env, ../hosts/shared/x.env]',
        ),
      ),
      'services/app.yaml',
      'web-2',
      'abcdef1234567',
    );
    expect(decode(out)).toBe(
      yaml(
        '# Rolled back by gitdock: services/app.yaml as at abcdef1, for web-2 only.',
        '# Remove this file to make web-2 follow services/app.yaml again.',
        '',
        '# the app',
        'image: app # pinned',
        'tag: "1"',
        'env_file: [ ../../services/common.env, ../shared/x.env ]',
      ),
    );
  });

  it('takes a literal host out of hosts:', () => {
    const out = withoutHost(
      new TextEncoder().encode(yaml('hosts: [web-1, web-3]', 'image: a', 'tag: "1"')),
      'web-1',
    );
    expect(decode(out)).toBe(yaml('hosts: [ web-3 ]', 'image: a', 'tag: "1"'));
  });
});

describe('planHostRollback', () => {
  const fleet = (tree: Record<string, string>) => ({
    files: files(tree),
    fleet: loadOk(tree),
  });
  const plan = (
    target: Record<string, string>,
    head: Record<string, string>,
    host: string,
    service?: string,
  ) =>
    planHostRollback({
      host,
      ...(service ? { service } : {}),
      target: { commit: 'a'.repeat(40), ...fleet(target) },
      head: { commit: 'b'.repeat(40), ...fleet(head) },
    });
  const changesOf = (p: ReturnType<typeof plan>) => {
    if (!p.ok) throw new Error(p.reasons.join('; '));
    return text(p.changes);
  };

  it('restores a changed host file', () => {
    const p = plan({ 'hosts/h/web.yaml': app('1') }, { 'hosts/h/web.yaml': app('2') }, 'h');
    expect(changesOf(p)).toEqual({ 'hosts/h/web.yaml': app('1') });
  });

  it('writes an override when the fleet file changed for everyone', () => {
    const p = plan(
      { 'services/web.yaml': app('1', '["h*"]'), 'hosts/h2/xx.yaml': app('1') },
      { 'services/web.yaml': app('2', '["h*"]'), 'hosts/h2/xx.yaml': app('1') },
      'h1',
      'web',
    );
    const c = changesOf(p);
    expect(Object.keys(c)).toEqual(['hosts/h1/web.yaml']);
    expect(c['hosts/h1/web.yaml']).toContain('tag: "1"');
    expect(c['hosts/h1/web.yaml']).not.toContain('hosts:');
    expect(p.ok && p.notes.map((n) => n.action)).toEqual(['override']);
  });

  it('removes a host override when the fleet file still gives the old service', () => {
    const p = plan(
      { 'services/web.yaml': app('1', '["h"]') },
      { 'services/web.yaml': app('1', '["h"]'), 'hosts/h/web.yaml': app('2') },
      'h',
    );
    expect(changesOf(p)).toEqual({ 'hosts/h/web.yaml': null });
  });

  it('restores a removed service and removes an added one', () => {
    const p = plan(
      { 'hosts/h/web.yaml': app('1') },
      { 'hosts/h/db.yaml': app('5'), 'hosts/g/web.yaml': app('1') },
      'h',
    );
    expect(changesOf(p)).toEqual({ 'hosts/h/web.yaml': app('1'), 'hosts/h/db.yaml': null });
  });

  it('with --service, other services of the host stay as at HEAD', () => {
    const p = plan(
      { 'hosts/h/web.yaml': app('1'), 'hosts/h/db.yaml': app('5') },
      { 'hosts/h/web.yaml': app('2'), 'hosts/h/db.yaml': app('6') },
      'h',
      'web',
    );
    expect(changesOf(p)).toEqual({ 'hosts/h/web.yaml': app('1') });
  });

  it('removes a fleet file that selects only this host, literally', () => {
    const p = plan(
      { 'hosts/h/db.yaml': app('5') },
      { 'hosts/h/db.yaml': app('5'), 'services/web.yaml': app('1', '[h]') },
      'h',
    );
    expect(changesOf(p)).toEqual({ 'services/web.yaml': null });
  });

  it('refuses to narrow a glob', () => {
    const p = plan(
      { 'hosts/h/db.yaml': app('5') },
      { 'hosts/h/db.yaml': app('5'), 'services/web.yaml': app('1', '["h*"]') },
      'h',
    );
    expect(p.ok).toBe(false);
    expect(!p.ok && p.reasons[0]).toMatch(
      /selects h through "h\*": a host cannot opt out of a glob/,
    );
  });

  it('refuses a result that does not validate (a dependency missing at HEAD)', () => {
    const p = plan(
      {
        'hosts/h/web.yaml': yaml('image: app', 'tag: "1"', 'depends_on: [db]'),
        'hosts/h/db.yaml': app('5'),
      },
      { 'hosts/h/web.yaml': app('2') },
      'h',
      'web',
    );
    expect(p.ok).toBe(false);
    expect(!p.ok && p.errors[0]?.message).toMatch(/depends on "db"/);
  });

  it('refuses when an env file outside the host changed since', () => {
    const web = yaml('image: app', 'tag: "1"', 'env_file: ../../services/common.env');
    const p = plan(
      { 'hosts/h/web.yaml': web, 'services/common.env': 'A=1\n' },
      { 'hosts/h/web.yaml': app('2'), 'services/common.env': 'A=2\n' },
      'h',
    );
    expect(!p.ok && p.reasons[0]).toMatch(
      /env files it reads changed since .*services\/common\.env/,
    );
  });

  it('restores the file as it was even when only a comment differs', () => {
    const p = plan(
      { 'hosts/h/web.yaml': app('1') },
      { 'hosts/h/web.yaml': `# note\n${app('1')}` },
      'h',
    );
    expect(changesOf(p)).toEqual({ 'hosts/h/web.yaml': app('1') });
  });

  it('has nothing to do when the host already has the target files', () => {
    const tree = { 'hosts/h/web.yaml': app('1'), 'services/db.yaml': app('2', '["h*"]') };
    expect(changesOf(plan(tree, { ...tree, 'hosts/g/xx.yaml': app('3') }, 'h'))).toEqual({});
  });

  it('refuses a service that runs on the host at neither revision', () => {
    const p = plan({ 'hosts/h/web.yaml': app('1') }, { 'hosts/h/web.yaml': app('1') }, 'h', 'nope');
    expect(!p.ok && p.reasons).toEqual([
      `service "nope" runs on h neither at ${'a'.repeat(12)} nor at HEAD`,
    ]);
  });

  it('message lists the service changes and the files', () => {
    const p = plan({ 'hosts/h/web.yaml': app('1') }, { 'hosts/h/web.yaml': app('2') }, 'h');
    if (!p.ok) throw new Error('plan');
    const head = checkTree(files({ 'hosts/h/web.yaml': app('2') }), 'b');
    if (!head.ok) throw new Error('fixture');
    expect(
      hostRollbackMessage({
        host: 'h',
        target: 'a'.repeat(40),
        targetMessage: 'web 1',
        notes: p.notes,
        diff: diffFleets(head.value, p.result),
      }),
    ).toBe(
      yaml(
        'Roll back h to aaaaaaa',
        '',
        `Restores the desired state of h as it was at ${'a'.repeat(40)}`,
        '("web 1"). Other hosts are unchanged.',
        '',
        'Service changes on h:',
        '  web: tag 2 -> 1',
        '',
        'Files:',
        `  hosts/h/web.yaml: restored, as at ${'a'.repeat(12)}`,
      ),
    );
  });
});

describe('planHostRollback: Compose projects', () => {
  const compose = (webTag: string, dbTag = '1') =>
    yaml(
      'services:',
      '  web:',
      `    image: app:${webTag}`,
      '    volumes: ["./web.conf:/etc/web.conf:ro"]',
      '  db:',
      `    image: db:${dbTag}`,
    );
  const tree = (t: Record<string, string>) => ({ files: files(t), fleet: loadOk(t) });
  const plan = (
    target: Record<string, string>,
    head: Record<string, string>,
    host: string,
    service?: string,
  ) =>
    planHostRollback({
      host,
      ...(service ? { service } : {}),
      target: { commit: 'a'.repeat(40), ...tree(target) },
      head: { commit: 'b'.repeat(40), ...tree(head) },
    });
  const changesOf = (p: ReturnType<typeof plan>) => {
    if (!p.ok) throw new Error(`${p.reasons.join('; ')} ${JSON.stringify(p.errors)}`);
    return text(p.changes);
  };
  const base = {
    'hosts/h/shop/compose.yaml': compose('1'),
    'hosts/h/shop/web.conf': 'v1\n',
    'hosts/h/shop/.env': 'A=1\n',
  };

  it.each<{
    name: string;
    head: Record<string, string>;
    service: string | undefined;
    expected: Record<string, string | null>;
  }>([
    {
      name: 'the compose file, restored',
      head: { ...base, 'hosts/h/shop/compose.yaml': compose('2') },
      service: undefined,
      expected: { 'hosts/h/shop/compose.yaml': compose('1') },
    },
    {
      name: 'a mounted file, restored for the service that mounts it',
      head: { ...base, 'hosts/h/shop/web.conf': 'v2\n' },
      service: 'shop/web',
      expected: { 'hosts/h/shop/web.conf': 'v1\n' },
    },
    {
      name: 'an override added since, removed; .env restored',
      head: {
        ...base,
        'hosts/h/shop/.env': 'A=2\n',
        'hosts/h/shop/compose.override.yaml': yaml('services:', '  db:', '    image: db:3'),
      },
      service: undefined,
      expected: { 'hosts/h/shop/.env': 'A=1\n', 'hosts/h/shop/compose.override.yaml': null },
    },
    {
      name: 'a project removed since: all its files come back',
      head: { 'hosts/h/web.yaml': app('1') },
      service: undefined,
      expected: { ...base, 'hosts/h/web.yaml': null },
    },
  ])('$name', ({ head, service, expected }) => {
    const p = plan(base, head, 'h', service);
    expect(changesOf(p)).toEqual(expected);
    if (p.ok) expect(p.notes.map((n) => n.file)).toEqual(Object.keys(expected).sort());
  });

  it('never writes a manifest override for a Compose service', () => {
    const p = plan(base, { ...base, 'hosts/h/shop/compose.yaml': compose('2') }, 'h', 'shop/web');
    expect(Object.keys(changesOf(p))).toEqual(['hosts/h/shop/compose.yaml']);
  });

  it('with --service, refuses when the project files would change another service', () => {
    const p = plan(
      base,
      { ...base, 'hosts/h/shop/compose.yaml': compose('2', '2') },
      'h',
      'shop/web',
    );
    expect(p.ok).toBe(false);
    expect(!p.ok && p.reasons).toEqual([
      `shop/db on h would differ from at HEAD`,
      expect.stringMatching(/rolled back with its project's files .* roll back the whole host/),
    ]);
  });

  it('refuses a stack changed since (shared with other hosts), names its files', () => {
    const stack = (tag: string) => yaml('x-gitdock:', '  hosts: [h, g]', compose(tag));
    const p = plan(
      { 'stacks/shop/compose.yaml': stack('1'), 'stacks/shop/web.conf': 'v1\n' },
      { 'stacks/shop/compose.yaml': stack('2'), 'stacks/shop/web.conf': 'v1\n' },
      'h',
    );
    expect(!p.ok && p.reasons).toEqual([
      expect.stringMatching(
        /^project shop on h reads files outside hosts\/h\/ that changed since a{12} \(stacks\/shop\/compose\.yaml\): they are shared with other hosts/,
      ),
    ]);
  });

  it("restores a stack's host override when the stack itself did not change", () => {
    const stack = yaml('x-gitdock:', '  hosts: [h, g]', compose('1'));
    const override = (tag: string) => yaml('services:', '  web:', `    image: app:${tag}`);
    const shared = { 'stacks/shop/compose.yaml': stack, 'stacks/shop/web.conf': 'v1\n' };
    const p = plan(
      { ...shared, 'hosts/h/shop/compose.override.yaml': override('5') },
      { ...shared, 'hosts/h/shop/compose.override.yaml': override('6') },
      'h',
      'shop/web',
    );
    expect(changesOf(p)).toEqual({ 'hosts/h/shop/compose.override.yaml': override('5') });
  });
});
