import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type LocalGitSource, openGitSource } from '../src/adapters/git-source.js';
import { isSymlinkBlob } from '../src/core/fleet.js';
import type { ErrorCode } from '../src/errors.js';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';

const text = (bytes: Uint8Array | undefined) =>
  bytes === undefined ? undefined : new TextDecoder().decode(bytes);

async function expectCode(promise: Promise<unknown>, code: ErrorCode) {
  await expect(promise).rejects.toMatchObject({ name: 'GitdockError', code });
}

/**
 *   c1 ── c2 ──────── c3 ── m   main (HEAD)
 *          v1 \       v2   /
 *              └─ f1 ─────┘     feature
 *
 * v1 is a lightweight tag, v2 an annotated one.
 */
async function createHistory(bare: boolean) {
  const repo = await createRepo({
    bare,
    files: {
      'README.md': '# fleet\n',
      'docs/guide.md': 'guide\n',
      'hosts/a/web.yaml': 'image: web:1\n',
      'hosts/a/old.yaml': 'image: old:1\n',
    },
  });
  const c1 = repo.rev();
  const c2 = repo.commit(
    { 'hosts/a/web.yaml': 'image: web:2\n', 'hosts/b/deep/nested/db.yaml': 'image: db:1\n' },
    'web 2, add db',
  );
  repo.tag('v1');
  repo.git(['checkout', '-q', '-b', 'feature']);
  const f1 = repo.commit({ 'hosts/c/cache.yaml': 'image: cache:1\n' }, 'add cache');
  repo.git(['checkout', '-q', 'main']);
  const c3 = repo.commit(
    { 'hosts/a/old.yaml': null, 'hosts/a/web.yaml': 'image: web:3\n' },
    'web 3, remove old',
  );
  repo.tag('v2', true);
  repo.git(['merge', '-q', '--no-ff', '-m', 'merge feature', 'feature']);
  repo.push();
  const m = repo.rev();
  // A remote-tracking branch in the repo gitdock reads.
  repo.git(['update-ref', 'refs/remotes/origin/release', c1], repo.sourceDir);
  return { repo, shas: { c1, c2, f1, c3, m } };
}

type Shas = Awaited<ReturnType<typeof createHistory>>['shas'];

const REVISIONS: [rev: string | ((shas: Shas) => string), expected: keyof Shas][] = [
  ['HEAD', 'm'],
  ['@', 'm'],
  ['main', 'm'],
  ['refs/heads/main', 'm'],
  ['feature', 'f1'],
  ['origin/release', 'c1'],
  ['refs/remotes/origin/release', 'c1'],
  ['v1', 'c2'],
  ['v2', 'c3'],
  ['refs/tags/v2', 'c3'],
  ['v2^{}', 'c3'],
  [(s) => s.c2, 'c2'],
  [(s) => s.c2.toUpperCase(), 'c2'],
  [(s) => s.f1.slice(0, 7), 'f1'],
  [(s) => `${s.c3.slice(0, 10)}~1`, 'c2'],
  ['HEAD^', 'c3'],
  ['HEAD^0', 'm'],
  ['HEAD^1', 'c3'],
  ['HEAD^2', 'f1'],
  ['HEAD~2', 'c2'],
  ['HEAD~3', 'c1'],
  ['main~1^', 'c2'],
  ['HEAD^2^', 'c2'],
  ['v2^~1', 'c1'],
  ['feature~1~1', 'c1'],
];

const UNKNOWN_REVISIONS = [
  'nope',
  'v9',
  'origin/nope',
  'deadbeef',
  '0000000000000000000000000000000000000000',
  'HEAD~4',
  'HEAD^3',
  'v1^^^',
  '',
  '~1',
  'HEAD@{1}',
  'HEAD:README.md',
  'main..feature',
  '../config',
  '/etc/hostname',
];

describe.each([
  { kind: 'clone', bare: false },
  { kind: 'bare repo', bare: true },
])('openGitSource on a $kind', ({ bare }) => {
  let repo: FixtureRepo;
  let shas: Shas;
  let source: LocalGitSource;

  beforeAll(async () => {
    ({ repo, shas } = await createHistory(bare));
    source = await openGitSource({ dir: repo.sourceDir });
  });
  afterAll(() => repo?.cleanup());

  it('detects the layout', () => {
    expect(source.bare).toBe(bare);
    expect(source.gitdir).toBe(bare ? repo.bareDir : path.join(repo.dir, '.git'));
  });

  it('reports the current branch', async () => {
    await expect(source.currentBranch()).resolves.toBe('main');
  });

  it.each(REVISIONS)('resolves %s to %s', async (rev, expected) => {
    const name = typeof rev === 'string' ? rev : rev(shas);
    await expect(source.resolveRevision(name)).resolves.toBe(shas[expected]);
  });

  it('agrees with git rev-parse', async () => {
    for (const [rev] of REVISIONS) {
      const name = typeof rev === 'string' ? rev : rev(shas);
      const fromGit = repo.git(['rev-parse', '--verify', `${name}^{commit}`], repo.sourceDir);
      expect(await source.resolveRevision(name), name).toBe(fromGit);
    }
  });

  it.each(UNKNOWN_REVISIONS)('rejects %j with GITDOCK_E_GIT_REV_NOT_FOUND', async (rev) => {
    await expectCode(source.resolveRevision(rev), 'GITDOCK_E_GIT_REV_NOT_FOUND');
  });

  it('says what to try when a revision is unknown', async () => {
    await expect(source.resolveRevision('foo')).rejects.toThrow(
      `revision "foo" not found in ${repo.sourceDir} (try a branch, tag or commit sha)`,
    );
  });

  it('rejects a sha that names a tree or a blob', async () => {
    for (const rev of ['HEAD^{tree}', 'HEAD:README.md']) {
      const oid = repo.git(['rev-parse', rev]);
      const err = source.resolveRevision(oid);
      await expectCode(err, 'GITDOCK_E_GIT_REV_NOT_FOUND');
      await expect(err).rejects.toThrow('not a commit');
    }
  });

  it('reads the files of an old revision', async () => {
    const files = await source.readFiles(shas.c1, () => true);
    expect([...files.keys()]).toEqual([
      'README.md',
      'docs/guide.md',
      'hosts/a/old.yaml',
      'hosts/a/web.yaml',
    ]);
    expect(text(files.get('hosts/a/web.yaml'))).toBe('image: web:1\n');
    expect(text(files.get('hosts/a/old.yaml'))).toBe('image: old:1\n');
    expect(files.get('README.md')).toBeInstanceOf(Uint8Array);
  });

  it('reads the files of the head revision, changes and deletions applied', async () => {
    const files = await source.readFiles(await source.resolveRevision('HEAD'), () => true);
    expect([...files.keys()]).toEqual([
      'README.md',
      'docs/guide.md',
      'hosts/a/web.yaml',
      'hosts/b/deep/nested/db.yaml',
      'hosts/c/cache.yaml',
    ]);
    expect(text(files.get('hosts/a/web.yaml'))).toBe('image: web:3\n');
    expect(text(files.get('hosts/b/deep/nested/db.yaml'))).toBe('image: db:1\n');
  });

  it('offers directories to include and never looks inside a skipped one', async () => {
    const calls: [string, boolean][] = [];
    const files = await source.readFiles(shas.m, (p, isDir) => {
      calls.push([p, isDir]);
      return p !== 'docs' && p !== 'hosts/b/deep';
    });
    expect(calls).toContainEqual(['docs', true]);
    expect(calls).toContainEqual(['hosts', true]);
    expect(calls).toContainEqual(['hosts/b/deep', true]);
    expect(calls).toContainEqual(['hosts/a/web.yaml', false]);
    expect(calls.filter(([p]) => p.startsWith('docs/') || p.startsWith('hosts/b/deep/'))).toEqual(
      [],
    );
    expect([...files.keys()]).toEqual(['README.md', 'hosts/a/web.yaml', 'hosts/c/cache.yaml']);
  });

  it('leaves out files include rejects', async () => {
    const files = await source.readFiles(shas.m, (p, isDir) => isDir || p.endsWith('.yaml'));
    expect([...files.keys()]).toEqual([
      'hosts/a/web.yaml',
      'hosts/b/deep/nested/db.yaml',
      'hosts/c/cache.yaml',
    ]);
  });

  it('rejects readFiles of an unknown commit', async () => {
    await expectCode(
      source.readFiles('0123456789012345678901234567890123456789', () => true),
      'GITDOCK_E_GIT_REV_NOT_FOUND',
    );
  });
});

describe('openGitSource', () => {
  it('rejects a directory that is not a repository', async () => {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'gitdock-empty-'));
    onTestFinished(() => fs.promises.rm(dir, { recursive: true, force: true }));
    const err = openGitSource({ dir });
    await expectCode(err, 'GITDOCK_E_GIT_REPO_NOT_FOUND');
    await expect(err).rejects.toThrow(`${dir} is not a git repository`);
  });

  it('rejects a path that does not exist', async () => {
    const dir = path.join(os.tmpdir(), 'gitdock-missing', String(process.pid));
    const err = openGitSource({ dir });
    await expectCode(err, 'GITDOCK_E_GIT_REPO_NOT_FOUND');
    await expect(err).rejects.toThrow('does not exist');
  });

  it('rejects HEAD of a repository with no commits', async () => {
    const repo = await createRepo({ bare: true });
    onTestFinished(repo.cleanup);
    for (const dir of [repo.dir, repo.sourceDir]) {
      const source = await openGitSource({ dir });
      await expectCode(source.resolveRevision('HEAD'), 'GITDOCK_E_GIT_REV_NOT_FOUND');
    }
  });

  it('resolves relative paths', async () => {
    const repo = await createRepo({ files: { 'a.txt': 'a' } });
    onTestFinished(repo.cleanup);
    const source = await openGitSource({ dir: path.relative(process.cwd(), repo.dir) });
    expect(source.gitdir).toBe(path.join(repo.dir, '.git'));
    await expect(source.resolveRevision('HEAD')).resolves.toBe(repo.rev());
  });

  it('rejects a tree with a missing object with GITDOCK_E_GIT_READ', async () => {
    const repo = await createRepo({ files: { 'a.txt': 'a\n', 'b.txt': 'b\n' } });
    onTestFinished(repo.cleanup);
    const blob = repo.git(['rev-parse', 'HEAD:b.txt']);
    fs.rmSync(path.join(repo.dir, '.git/objects', blob.slice(0, 2), blob.slice(2)));
    const source = await openGitSource({ dir: repo.dir });
    await expectCode(
      source.readFiles(repo.rev(), () => true),
      'GITDOCK_E_GIT_READ',
    );
    await expect(source.readFiles(repo.rev(), (p) => p === 'a.txt')).resolves.toHaveProperty(
      'size',
      1,
    );
  });

  it('passes symlinks on, marked, so the loader refuses them by name', async () => {
    const repo = await createRepo({ files: { 'hosts/a/web.yaml': 'image: web\n' } });
    onTestFinished(repo.cleanup);
    fs.symlinkSync('web.yaml', path.join(repo.dir, 'hosts/a/link.yaml'));
    const sha = repo.commit({}, 'add link');
    const source = await openGitSource({ dir: repo.dir });
    const files = await source.readFiles(sha, () => true);
    expect([...files.keys()].sort()).toEqual(['hosts/a/link.yaml', 'hosts/a/web.yaml']);
    expect(isSymlinkBlob(files.get('hosts/a/link.yaml'))).toBe(true);
    expect(isSymlinkBlob(files.get('hosts/a/web.yaml'))).toBe(false);
  });

  it.each([false, true])(
    'reads packed objects and packed-refs after git gc (bare: %s)',
    async (bare) => {
      const { repo, shas } = await createHistory(bare);
      onTestFinished(repo.cleanup);
      const before = await openGitSource({ dir: repo.sourceDir });
      const filesBefore = await before.readFiles(shas.m, () => true);

      repo.git(['gc', '-q', '--prune=now'], repo.sourceDir);
      const gitdir = before.gitdir;
      expect(fs.existsSync(path.join(gitdir, 'packed-refs'))).toBe(true);
      expect(fs.existsSync(path.join(gitdir, 'refs/heads/main'))).toBe(false);
      expect(fs.existsSync(path.join(gitdir, 'refs/tags/v2'))).toBe(false);
      const looseDirs = fs.readdirSync(path.join(gitdir, 'objects')).filter((d) => d.length === 2);
      expect(looseDirs).toEqual([]);

      // A fresh source, and the long-lived one whose cache predates the gc.
      const after = await openGitSource({ dir: repo.sourceDir });
      for (const source of [after, before]) {
        for (const [rev, expected] of REVISIONS) {
          const name = typeof rev === 'string' ? rev : rev(shas);
          expect(await source.resolveRevision(name), name).toBe(shas[expected]);
        }
        const old = await source.readFiles(shas.c1, () => true);
        expect(text(old.get('hosts/a/web.yaml'))).toBe('image: web:1\n');
        expect(await source.readFiles(shas.m, () => true)).toEqual(filesBefore);
      }
    },
  );

  it('reads 160 manifests from a packed bare repo (timing printed, not asserted)', async () => {
    const files: Record<string, string> = { 'README.md': '# fleet\n', 'docs/guide.md': 'guide\n' };
    for (let h = 0; h < 16; h++) {
      for (let s = 0; s < 10; s++) {
        const host = `host-${String(h).padStart(2, '0')}`;
        files[`hosts/${host}/svc-${s}.yaml`] =
          `name: svc-${s}\nimage: registry.local/svc-${s}:1.${h}\nports: ["80${s}0:80"]\nenv:\n  HOST: ${host}\n`;
      }
    }
    const repo = await createRepo({ bare: true, files });
    onTestFinished(repo.cleanup);
    repo.commit(
      { 'hosts/host-00/svc-0.yaml': 'name: svc-0\nimage: registry.local/svc-0:2\n' },
      'bump',
    );
    repo.git(['gc', '-q', '--prune=now'], repo.sourceDir);

    const include = (p: string, isDir: boolean) =>
      isDir ? p === 'hosts' || p.startsWith('hosts/') : p.endsWith('.yaml');
    const t0 = performance.now();
    const source = await openGitSource({ dir: repo.sourceDir });
    const sha = await source.resolveRevision('main');
    const cold = await source.readFiles(sha, include);
    const t1 = performance.now();
    const warm = await source.readFiles(await source.resolveRevision('main'), include);
    const t2 = performance.now();
    const previous = await source.readFiles(await source.resolveRevision('main~1'), include);
    const t3 = performance.now();

    expect(cold.size).toBe(160);
    expect(warm).toEqual(cold);
    expect(previous.size).toBe(160);
    console.log(
      `git-source timing, 160 manifests, packed bare repo: open+resolve+read cold ${(t1 - t0).toFixed(1)} ms, ` +
        `warm ${(t2 - t1).toFixed(1)} ms, previous commit ${(t3 - t2).toFixed(1)} ms`,
    );
  });
});
