// `gitdock history` end to end: a real git repository (built with the git
// CLI), the CLI run in-process. DOCKER_HOST points at a socket that does not
// exist: history must never need an engine.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCommitHistory } from '../src/adapters/git-history.js';
import { openGitSource } from '../src/adapters/git-source.js';
import { main } from '../src/cli.js';
import { isFleetPath } from '../src/core/fleet.js';
import { createRepo, type FileTree, type FixtureRepo, writeTree } from './support/git-fixture.js';

const NO_ENGINE = { DOCKER_HOST: 'unix:///nonexistent/gitdock-history-test/docker.sock' };

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function gitdock(args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: { ...NO_ENGINE, GITDOCK_LOG_LEVEL: 'warn' },
    cwd: process.cwd(),
  });
  return { code, stdout, stderr };
}

function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

function appserver(tag: string): string {
  return yaml('hosts: ["web-*"]', 'image: registry.example.com/appserver', `tag: "${tag}"`);
}

function own(image: string, tag: string): string {
  return yaml(`image: registry.example.com/${image}`, `tag: "${tag}"`);
}

const FLEET = {
  'gitdock.yaml': yaml('hosts:', '  web-1: {}', '  web-2: {}', '  web-3: {}'),
  'services/appserver.yaml': appserver('1.4.2'),
  'hosts/web-1/memcached.yaml': own('memcached', '1.6'),
};

const short = (sha: string) => sha.slice(0, 12);

/**
 * Commit with a fixed author and date (the fixture's `commit` takes the
 * clock's), so dates and names can be asserted exactly.
 */
function commitAs(
  repo: FixtureRepo,
  files: FileTree,
  message: string,
  author: string,
  date: string,
): string {
  writeTree(repo.dir, files);
  repo.git(['add', '-A']);
  repo.git([
    'commit',
    '-q',
    '--allow-empty',
    '-m',
    message,
    `--author=${author}`,
    `--date=${date}`,
  ]);
  repo.push();
  return repo.rev();
}

const ALICE = 'Alice Example <alice@example.com>';
const BOB = 'Bob Builder <bob@example.com>';

describe('gitdock history', () => {
  let repo: FixtureRepo;
  const s = {} as Record<
    | 'init'
    | 'readme'
    | 'web1'
    | 'bump'
    | 'canary'
    | 'bump2'
    | 'addCache'
    | 'dropCache'
    | 'broken'
    | 'fix',
    string
  >;

  beforeAll(async () => {
    repo = await createRepo({ bare: true });
    s.init = commitAs(repo, FLEET, 'Initial fleet', ALICE, '2024-04-29T09:00:00+02:00');
    s.readme = commitAs(
      repo,
      { 'README.md': '# fleet\n' },
      'Add a README',
      BOB,
      '2024-04-29T10:00:00+02:00',
    );
    s.web1 = commitAs(
      repo,
      { 'hosts/web-1/memcached.yaml': own('memcached', '1.7') },
      'memcached 1.7 on web-1',
      BOB,
      '2024-04-30T08:00:00+00:00',
    );
    s.bump = commitAs(
      repo,
      { 'services/appserver.yaml': appserver('1.5.0') },
      'Release appserver 1.5.0\n\nThe body is not the subject.',
      ALICE,
      '2024-05-01T14:03:00+02:00',
    );
    s.canary = commitAs(
      repo,
      { 'hosts/web-3/appserver.yaml': own('appserver', '1.6.0-rc1') },
      'Canary 1.6.0-rc1 on web-3',
      BOB,
      '2024-05-02T10:00:00-05:30',
    );
    s.bump2 = commitAs(
      repo,
      { 'services/appserver.yaml': appserver('1.5.1') },
      'Release appserver 1.5.1',
      ALICE,
      '2024-05-03T10:00:00+02:00',
    );
    s.addCache = commitAs(
      repo,
      { 'hosts/web-2/memcached.yaml': own('memcached', '1.6') },
      'memcached on web-2',
      BOB,
      '2024-05-04T10:00:00+02:00',
    );
    s.dropCache = commitAs(
      repo,
      { 'hosts/web-1/memcached.yaml': null },
      'No memcached on web-1',
      BOB,
      '2024-05-05T10:00:00+02:00',
    );
    s.broken = commitAs(
      repo,
      { 'hosts/web-1/worker.yaml': yaml('image: registry.example.com/worker') },
      'Add a worker (forgot the tag)',
      BOB,
      '2024-05-06T10:00:00+02:00',
    );
    s.fix = commitAs(
      repo,
      {
        'hosts/web-1/worker.yaml': own('worker', '2.0'),
        'services/appserver.yaml': appserver('1.6.0'),
      },
      'Fix the worker; release appserver 1.6.0',
      ALICE,
      '2024-05-07T10:00:00+02:00',
    );
  });
  afterAll(() => repo?.cleanup());

  const history = (...args: string[]) => gitdock(['history', '--repo', repo.dir, ...args]);

  it('--host web-2: fleet-file commits that selected web-2, not commits to web-1 alone', async () => {
    const run = await history('--host', 'web-2');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        `${short(s.fix)}  2024-05-07 10:00 +0200  Alice Example  Fix the worker; release appserver 1.6.0`,
        `  manifests valid again: agents apply from here; compared with ${short(s.dropCache)}, the last valid commit`,
        '  web-2: appserver tag 1.5.1 -> 1.6.0  (services/appserver.yaml)',
        '',
        `${short(s.broken)}  2024-05-06 10:00 +0200  Bob Builder  Add a worker (forgot the tag)`,
        '  ! invalid manifests (not applied by the agent): 1 error',
        '    hosts/web-1/worker.yaml:1:1: missing required field "tag" (or "digest")',
        '',
        `${short(s.addCache)}  2024-05-04 10:00 +0200  Bob Builder  memcached on web-2`,
        '  web-2: + memcached registry.example.com/memcached:1.6  (hosts/web-2/memcached.yaml)',
        '',
        `${short(s.bump2)}  2024-05-03 10:00 +0200  Alice Example  Release appserver 1.5.1`,
        '  web-2: appserver tag 1.5.0 -> 1.5.1  (services/appserver.yaml)',
        '',
        `${short(s.bump)}  2024-05-01 14:03 +0200  Alice Example  Release appserver 1.5.0`,
        '  web-2: appserver tag 1.4.2 -> 1.5.0  (services/appserver.yaml)',
        '',
        `${short(s.init)}  2024-04-29 09:00 +0200  Alice Example  Initial fleet`,
        '  web-2: + appserver registry.example.com/appserver:1.4.2  (services/appserver.yaml)',
        '',
      ].join('\n'),
    );
    // Spelled out: the web-1-only commit and the README commit are not there.
    expect(run.stdout).not.toContain(short(s.web1));
    expect(run.stdout).not.toContain(short(s.readme));
  });

  it('every host: each change per host, a shadowed override, no README commit', async () => {
    const run = await history();
    expect(run.code).toBe(0);
    const blocks = run.stdout.trimEnd().split('\n\n');
    expect(blocks.map((b) => b.slice(0, 12))).toEqual(
      [s.fix, s.broken, s.dropCache, s.addCache, s.bump2, s.canary, s.bump, s.web1, s.init].map(
        short,
      ),
    );
    expect(blocks[2]).toBe(
      [
        `${short(s.dropCache)}  2024-05-05 10:00 +0200  Bob Builder  No memcached on web-1`,
        '  web-1: - memcached registry.example.com/memcached:1.7  (hosts/web-1/memcached.yaml)',
      ].join('\n'),
    );
    expect(blocks[4]).toBe(
      [
        `${short(s.bump2)}  2024-05-03 10:00 +0200  Alice Example  Release appserver 1.5.1`,
        '  web-1: appserver tag 1.5.0 -> 1.5.1  (services/appserver.yaml)',
        '  web-2: appserver tag 1.5.0 -> 1.5.1  (services/appserver.yaml)',
        '  web-3: = appserver shadowed: hosts/web-3/appserver.yaml overrides services/appserver.yaml (fleet change not applied)',
      ].join('\n'),
    );
    expect(blocks[5]).toBe(
      [
        `${short(s.canary)}  2024-05-02 10:00 -0530  Bob Builder  Canary 1.6.0-rc1 on web-3`,
        '  web-3: appserver tag 1.5.0 -> 1.6.0-rc1  (now hosts/web-3/appserver.yaml, was services/appserver.yaml)',
      ].join('\n'),
    );
    // The fix is compared with the last valid commit, so the worker is new.
    expect(blocks[0]).toContain(
      '  web-1: + worker registry.example.com/worker:2.0  (hosts/web-1/worker.yaml)',
    );
  });

  it('--host web-3: the fleet release its override shadows is not listed', async () => {
    const run = await history('--host', 'web-3', '--output', 'json');
    expect(run.code).toBe(0);
    const shas = JSON.parse(run.stdout).commits.map((c: { sha: string }) => c.sha);
    expect(shas).toEqual([s.fix, s.broken, s.canary, s.bump, s.init]);
    expect(shas).not.toContain(s.bump2);
  });

  it('--service: that service on every host, or on one', async () => {
    const all = await history('--service', 'memcached');
    expect(all.code).toBe(0);
    expect(all.stdout).toBe(
      [
        `${short(s.fix)}  2024-05-07 10:00 +0200  Alice Example  Fix the worker; release appserver 1.6.0`,
        `  manifests valid again: agents apply from here; compared with ${short(s.dropCache)}, the last valid commit`,
        '',
        `${short(s.broken)}  2024-05-06 10:00 +0200  Bob Builder  Add a worker (forgot the tag)`,
        '  ! invalid manifests (not applied by the agent): 1 error',
        '    hosts/web-1/worker.yaml:1:1: missing required field "tag" (or "digest")',
        '',
        `${short(s.dropCache)}  2024-05-05 10:00 +0200  Bob Builder  No memcached on web-1`,
        '  web-1: - memcached registry.example.com/memcached:1.7  (hosts/web-1/memcached.yaml)',
        '',
        `${short(s.addCache)}  2024-05-04 10:00 +0200  Bob Builder  memcached on web-2`,
        '  web-2: + memcached registry.example.com/memcached:1.6  (hosts/web-2/memcached.yaml)',
        '',
        `${short(s.web1)}  2024-04-30 08:00 +0000  Bob Builder  memcached 1.7 on web-1`,
        '  web-1: memcached tag 1.6 -> 1.7  (hosts/web-1/memcached.yaml)',
        '',
        `${short(s.init)}  2024-04-29 09:00 +0200  Alice Example  Initial fleet`,
        '  web-1: + memcached registry.example.com/memcached:1.6  (hosts/web-1/memcached.yaml)',
        '',
      ].join('\n'),
    );

    const one = await history('--service', 'memcached', '--host', 'web-2', '-o', 'json');
    const commits = JSON.parse(one.stdout).commits as { sha: string; hosts: unknown[] }[];
    expect(commits.map((c) => c.sha)).toEqual([s.fix, s.broken, s.addCache]);
  });

  it('-n: the newest N listed commits', async () => {
    const run = await history('--host', 'web-2', '-n', '3', '--output', 'json');
    const doc = JSON.parse(run.stdout);
    expect(doc.commits.map((c: { sha: string }) => c.sha)).toEqual([s.fix, s.broken, s.addCache]);
    expect(doc.stoppedBy).toBe('limit');
    expect(doc.limit).toBe(3);

    const long = await history('--max-count', '1');
    expect(long.stdout.trimEnd().split('\n\n')).toHaveLength(1);
  });

  it('json: full shas, ISO dates in the author offset, the changes per host', async () => {
    const run = await history('--host', 'web-2', '--output', 'json');
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const doc = JSON.parse(run.stdout);
    expect(doc).toMatchObject({
      rev: 'HEAD',
      commit: s.fix,
      host: 'web-2',
      service: null,
      limit: 20,
      maxScan: 1000,
      scanned: 10,
      stoppedBy: 'start',
    });
    expect(doc.commits).toHaveLength(6);
    expect(doc.commits[4]).toEqual({
      sha: s.bump,
      date: '2024-05-01T14:03:00+02:00',
      author: { name: 'Alice Example', email: 'alice@example.com' },
      subject: 'Release appserver 1.5.0',
      parents: [s.web1],
      valid: true,
      errors: [],
      comparedWith: s.web1,
      validAgain: false,
      hosts: [
        {
          host: 'web-2',
          presence: 'both',
          refusedEmpty: false,
          services: [
            {
              service: 'appserver',
              change: 'changed',
              baseFile: 'services/appserver.yaml',
              headFile: 'services/appserver.yaml',
              image: 'registry.example.com/appserver:1.5.0',
              reasons: ['tag 1.4.2 -> 1.5.0'],
              recreate: true,
              files: ['services/appserver.yaml'],
            },
          ],
          shadowed: [],
        },
      ],
    });
    expect(doc.commits[1]).toMatchObject({
      sha: s.broken,
      valid: false,
      errors: [{ file: 'hosts/web-1/worker.yaml', line: 1, column: 1 }],
      comparedWith: null,
      hosts: [],
    });
    expect(doc.commits[0]).toMatchObject({
      sha: s.fix,
      valid: true,
      comparedWith: s.dropCache,
      validAgain: true,
    });
    expect(doc.commits[5]).toMatchObject({ sha: s.init, comparedWith: null, parents: [] });
  });

  it('--rev starts older; a bare repository reads the same as the clone', async () => {
    const run = await gitdock([
      'history',
      '--repo',
      repo.bareDir!,
      '--rev',
      `${short(s.bump2)}~1`,
      '--host',
      'web-2',
      '-o',
      'json',
    ]);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(doc.commit).toBe(s.canary);
    expect(doc.commits.map((c: { sha: string }) => c.sha)).toEqual([s.bump, s.init]);
  });

  it('reads a packed repository (after git gc) the same', async () => {
    const before = await history('--host', 'web-1');
    repo.git(['gc', '-q', '--aggressive'], repo.bareDir!);
    const after = await gitdock(['history', '--repo', repo.bareDir!, '--host', 'web-1']);
    expect(after.code).toBe(0);
    expect(after.stdout).toBe(before.stdout);
  });

  it('says when nothing matched', async () => {
    const run = await history('--host', 'web-9', '--rev', s.bump2);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `No commit changed the desired state of host web-9 in 6 commits read from ${s.bump2} (${short(s.bump2)}).\n`,
    );
  });

  it('stops at --max-scan and says so on stderr, with what it found', async () => {
    const run = await history('--max-scan', '3', '-o', 'json');
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(doc.scanned).toBe(3);
    expect(doc.stoppedBy).toBe('scan-limit');
    expect(doc.commits.map((c: { sha: string }) => c.sha)).toEqual([s.fix, s.broken]);
    expect(run.stderr).toBe(
      'gitdock: stopped after reading 3 commits (--max-scan 3); older commits were not searched: raise --max-scan to look further back\n',
    );
  });

  it.each([
    [['-n', '0'], '-n/--max-count takes a whole number of at least 1, not "0"'],
    [['--max-scan', 'lots'], '--max-scan takes a whole number of at least 1, not "lots"'],
    [['--host', '../etc'], '--host "../etc" is not a valid host name'],
    [['--service', 'App Server'], '--service "App Server" is not a service identity: use'],
    [['--service', 'shop/app#1'], 'replica 1 has no #1 suffix: use shop/app'],
    [['--output', 'markdown'], '--output must be one of text, json, not "markdown"'],
    [['--hots', 'web-2'], "Unknown option '--hots'"],
  ])('usage error %j', async (args, message) => {
    const run = await history(...args);
    expect(run.code).toBe(64);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(message);
  });

  it('an unknown revision or repository is an error', async () => {
    const rev = await history('--rev', 'no-such-branch');
    expect(rev.code).toBe(1);
    expect(rev.stderr).toContain('GITDOCK_E_GIT_REV_NOT_FOUND');
    const dir = await gitdock(['history', '--repo', '/nonexistent/fleet']);
    expect(dir.code).toBe(1);
    expect(dir.stderr).toContain('GITDOCK_E_GIT_REPO_NOT_FOUND');
  });

  it('--help teaches: what is listed, invalid commits, examples, exit codes', async () => {
    const run = await gitdock(['history', '--help']);
    expect(run.code).toBe(0);
    for (const part of [
      'Usage: gitdock history',
      'invalid manifests (not applied by the agent)',
      'last valid commit',
      'Examples:',
      'gitdock history --host web-2',
      'Exit codes: 0',
      '64 usage error',
    ]) {
      expect(run.stdout).toContain(part);
    }
    const top = await gitdock(['--help']);
    expect(top.stdout).toMatch(/^ {2}history {2,}List the commits/m);
  });
});

describe('openCommitHistory', () => {
  it('reads the same fleet files as GitSource.readFiles, commit after commit', async () => {
    const repo = await createRepo({
      files: {
        ...FLEET,
        'hosts/web-1/app.env': 'A=1\n',
        'hosts/web-1/notes/deep.txt': 'not a manifest\n',
        'services/shared.env': 'B=2\n',
        'docs/hosts/web-1/x.yaml': 'not under hosts/\n',
        'hostsfile.yaml': 'not under hosts/ either\n',
      },
    });
    try {
      const shas = [repo.rev()];
      fs.symlinkSync('memcached.yaml', path.join(repo.dir, 'hosts/web-1/link.yaml'));
      shas.push(repo.commit({}, 'a symlink'));
      shas.push(repo.commit({ 'hosts/web-2/app.env': 'A=2\n' }, 'web-2 env'));
      shas.push(repo.commit({ 'services/appserver.yaml': appserver('2.0') }, 'bump'));
      // The same tree at two paths: files are named by their path.
      shas.push(repo.commit({ 'hosts/web-3/app.env': 'A=2\n' }, 'web-3 like web-2'));
      shas.push(repo.commit({ 'hosts/web-1/memcached.yaml': null }, 'drop'));

      const source = await openGitSource({ dir: repo.dir });
      const history = openCommitHistory({ gitdir: source.gitdir, dir: repo.dir });
      const plain = (m: ReadonlyMap<string, Uint8Array>) =>
        [...m].map(([p, b]) => [p, Buffer.from(b).toString('utf8')]);
      for (const sha of shas) {
        const expected = plain(await source.readFiles(sha, isFleetPath));
        expect(plain(await history.readFleetFiles(sha))).toEqual(expected);
        expect(expected.length).toBeGreaterThan(3);
      }
      const last = plain(await history.readFleetFiles(shas.at(-1)!)).map(([p]) => p);
      expect(last).toContain('hosts/web-3/app.env');
      // Passed on (marked as a symlink) so the loader can refuse it by name.
      expect(last).toContain('hosts/web-1/link.yaml');
      expect(last).not.toContain('hosts/web-1/memcached.yaml');
    } finally {
      await repo.cleanup();
    }
  });

  it('gives equal fleet keys exactly when the fleet files are equal', async () => {
    const repo = await createRepo({ files: FLEET });
    try {
      const init = repo.rev();
      const readme = repo.commit({ 'README.md': 'x\n' }, 'readme');
      const bump = repo.commit({ 'services/appserver.yaml': appserver('2.0') }, 'bump');
      const back = repo.commit({ 'services/appserver.yaml': appserver('1.4.2') }, 'back');
      const source = await openGitSource({ dir: repo.dir });
      const history = openCommitHistory({ gitdir: source.gitdir, dir: repo.dir });
      const key = async (sha: string) => (await history.readCommit(sha)).fleetKey;
      expect(await key(readme)).toBe(await key(init));
      expect(await key(bump)).not.toBe(await key(readme));
      expect(await key(back)).toBe(await key(init));
      const info = await history.readCommit(bump);
      expect(info.parents).toEqual([readme]);
      expect(info.message).toBe('bump\n');
    } finally {
      await repo.cleanup();
    }
  });
});
