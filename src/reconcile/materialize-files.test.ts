import { createHash } from 'node:crypto';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containerSpec } from '../core/test-fixtures.js';
import type { DesiredService, Mount, RepoFile } from '../core/types.js';
import { GitdockError } from '../errors.js';
import {
  bindSourcesFor,
  materializeRepoFiles,
  pruneRepoFiles,
  repoFileHashes,
} from './materialize-files.js';

const enc = new TextEncoder();
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

function file(mountSha256: string, relativePath: string, text: string, mode = 0o644): RepoFile {
  return { mountSha256, relativePath, bytes: enc.encode(text), mode };
}

function service(volumes: Mount[]): DesiredService {
  const spec = { ...containerSpec(), volumes };
  return {
    name: 'shop/web',
    containerName: 'shop-web-1',
    project: 'shop',
    host: 'web-1',
    file: 'hosts/web-1/shop/compose.yaml',
    origin: 'host',
    spec,
    rollout: { order: 'stop-first', settleMs: 0, healthTimeoutMs: 0, pull: 'missing' },
    dependsOn: [],
    imageRef: 'app:1',
    specHash: 'h',
  };
}

let state: string;
beforeEach(async () => {
  state = await mkdtemp(path.join(tmpdir(), 'gitdock-files-'));
});
afterEach(async () => {
  // The content is read-only; the prune path knows how to remove it.
  await pruneRepoFiles(state, new Set());
  await rm(state, { recursive: true, force: true });
});

describe('materializeRepoFiles', () => {
  it('writes a single-file mount as <sha>/content and a directory mount as <sha>/<paths>', async () => {
    const one = sha('nginx');
    const dir = sha('conf.d');
    await materializeRepoFiles(state, [
      file(one, '', 'server {}\n'),
      file(dir, 'a.conf', 'a\n'),
      file(dir, 'sub/b.sh', '#!/bin/sh\n', 0o755),
    ]);
    const files = path.join(state, 'files');
    expect(await readFile(path.join(files, one, 'content'), 'utf8')).toBe('server {}\n');
    expect(await readFile(path.join(files, dir, 'a.conf'), 'utf8')).toBe('a\n');
    expect(await readFile(path.join(files, dir, 'sub', 'b.sh'), 'utf8')).toBe('#!/bin/sh\n');
    const mode = async (p: string) => (await stat(path.join(files, p))).mode & 0o7777;
    expect(await mode(`${one}/content`)).toBe(0o444);
    expect(await mode(one)).toBe(0o555);
    expect(await mode(`${dir}/a.conf`)).toBe(0o444);
    expect(await mode(`${dir}/sub/b.sh`)).toBe(0o555);
    expect(await mode(`${dir}/sub`)).toBe(0o555);
    expect(await mode(dir)).toBe(0o555);
    // Nothing temporary is left beside them.
    expect((await readdir(files)).sort()).toEqual([one, dir].sort());
  });

  it('leaves an existing content directory as it is', async () => {
    const one = sha('x');
    await materializeRepoFiles(state, [file(one, '', 'first')]);
    const before = await stat(path.join(state, 'files', one, 'content'));
    // Same hash, other bytes: never happens for real; shows the directory is not rewritten.
    await materializeRepoFiles(state, [file(one, '', 'second')]);
    expect(await readFile(path.join(state, 'files', one, 'content'), 'utf8')).toBe('first');
    expect((await stat(path.join(state, 'files', one, 'content'))).ino).toBe(before.ino);
  });

  it('writes a directory mounted twice (same hash, files listed twice) once', async () => {
    const d = sha('twice');
    const listed = [file(d, 'a.conf', 'a\n'), file(d, 'sub/b', 'b\n')];
    await materializeRepoFiles(state, [...listed, ...listed]);
    expect(await readFile(path.join(state, 'files', d, 'a.conf'), 'utf8')).toBe('a\n');
    expect(await readFile(path.join(state, 'files', d, 'sub', 'b'), 'utf8')).toBe('b\n');
    expect(await readdir(path.join(state, 'files'))).toEqual([d]);
  });

  it('lets concurrent writers of the same content all succeed, leaving one complete copy', async () => {
    const d = sha('race');
    const listed = [file(d, 'a', '1'), file(d, 'b/c', '2'), file(sha('s'), '', 'x')];
    await Promise.all([1, 2, 3, 4].map(() => materializeRepoFiles(state, listed)));
    expect(await readFile(path.join(state, 'files', d, 'b', 'c'), 'utf8')).toBe('2');
    expect((await readdir(path.join(state, 'files'))).sort()).toEqual([d, sha('s')].sort());
  });

  it('writes nothing for no files', async () => {
    await materializeRepoFiles(state, []);
    expect(await readdir(state)).toEqual([]);
  });

  it.each([
    ['a path with ..', [file(sha('d'), '../escape', 'x')], /would leave its directory/],
    ['an absolute path', [file(sha('d'), '/etc/passwd', 'x')], /would leave its directory/],
    ['an empty segment', [file(sha('d'), 'a//b', 'x')], /would leave its directory/],
    ['a hash that is not hex', [file('../../x', '', 'x')], /not a sha256 hex digest/],
    [
      'a single file and directory files under one hash',
      [file(sha('m'), '', 'x'), file(sha('m'), 'a', 'y')],
      /mixes a single file/,
    ],
    [
      'one path listed twice with different content',
      [file(sha('d'), 'a', '1'), file(sha('d'), 'a', '2')],
      /lists "a" twice with different content/,
    ],
  ])('refuses %s, writing nothing', async (_what, files, message) => {
    const err = await materializeRepoFiles(state, files).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GitdockError);
    expect((err as GitdockError).code).toBe('GITDOCK_E_STATE_DIR');
    expect((err as GitdockError).message).toMatch(message);
    expect(await readdir(state)).toEqual([]);
  });

  it('fails with GITDOCK_E_STATE_DIR and leaves no partial directory when a write fails', async () => {
    const d = sha('clash');
    // `a` as a file and as a directory: the second write fails after the first succeeded.
    const err = await materializeRepoFiles(state, [file(d, 'a', '1'), file(d, 'a/b', '2')]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as GitdockError).code).toBe('GITDOCK_E_STATE_DIR');
    expect(await readdir(path.join(state, 'files'))).toEqual([]);
  });
});

describe('bindSourcesFor', () => {
  it('gives repo files their content path and host data its project directory, created', async () => {
    const one = sha('nginx');
    const dir = sha('conf.d');
    const desired = service([
      { type: 'volume', source: 'shop_db', target: '/db', readOnly: false },
      {
        type: 'bind',
        target: '/etc/nginx/nginx.conf',
        readOnly: true,
        repoFile: { path: 'hosts/web-1/shop/nginx.conf', sha256: one, kind: 'file' },
      },
      {
        type: 'bind',
        target: '/etc/nginx/conf.d',
        readOnly: true,
        repoFile: { path: 'hosts/web-1/shop/conf.d', sha256: dir, kind: 'dir' },
      },
      {
        type: 'bind',
        target: '/data',
        readOnly: false,
        hostData: { project: 'shop', path: 'data/pg' },
      },
      { type: 'bind', source: '/srv/plain', target: '/plain', readOnly: false },
    ]);
    const sources = bindSourcesFor(desired, { stateDir: state });
    expect([...sources.entries()]).toEqual([
      [1, path.join(state, 'files', one, 'content')],
      [2, path.join(state, 'files', dir)],
      [3, path.join(state, 'projects', 'shop', 'data', 'pg')],
    ]);
    expect((await stat(path.join(state, 'projects', 'shop', 'data', 'pg'))).isDirectory()).toBe(
      true,
    );
    // Calling again keeps what is there (host data is never emptied).
    await writeFile(path.join(state, 'projects', 'shop', 'data', 'pg', 'PG_VERSION'), '15');
    bindSourcesFor(desired, { stateDir: state });
    expect(
      await readFile(path.join(state, 'projects', 'shop', 'data', 'pg', 'PG_VERSION'), 'utf8'),
    ).toBe('15');
  });

  it('uses the absolute source the host set for the project, and creates nothing for create_host_path false', async () => {
    const own = path.join(state, 'opt', 'gitea');
    const desired = service([
      {
        type: 'bind',
        source: own,
        target: '/data',
        readOnly: false,
        hostData: { project: 'gitea', path: 'data' },
      },
      {
        type: 'bind',
        target: '/must-exist',
        readOnly: false,
        hostData: { project: 'gitea', path: 'missing' },
        noCreateHostPath: true,
      },
    ]);
    const sources = bindSourcesFor(desired, { stateDir: state });
    expect(sources.get(0)).toBe(own);
    expect(sources.get(1)).toBe(path.join(state, 'projects', 'gitea', 'missing'));
    expect((await stat(own)).isDirectory()).toBe(true);
    await expect(stat(path.join(state, 'projects', 'gitea', 'missing'))).rejects.toThrow();
  });

  it.each([
    [{ project: 'shop', path: '../other/data' }],
    [{ project: 'shop', path: 'a/../../x' }],
    [{ project: '..', path: 'data' }],
    [{ project: 'a/b', path: 'data' }],
  ])('refuses host data %o that would leave the project directory', (hostData) => {
    const desired = service([{ type: 'bind', target: '/x', readOnly: false, hostData }]);
    expect(() => bindSourcesFor(desired, { stateDir: state })).toThrow(GitdockError);
  });

  it('takes ./ in a host data path as the project directory itself', () => {
    const desired = service([
      { type: 'bind', target: '/x', readOnly: false, hostData: { project: 'shop', path: './' } },
    ]);
    expect(bindSourcesFor(desired, { stateDir: state }).get(0)).toBe(
      path.join(state, 'projects', 'shop'),
    );
  });
});

describe('pruneRepoFiles', () => {
  it('removes content no one uses and stale temporary directories, keeping the rest', async () => {
    const [a, b, c] = [sha('a'), sha('b'), sha('c')];
    await materializeRepoFiles(state, [file(a, '', 'a'), file(b, 'x/y', 'b'), file(c, '', 'c')]);
    const files = path.join(state, 'files');
    const fresh = path.join(files, `.tmp-${a}-fresh`);
    const stale = path.join(files, `.tmp-${b}-stale`);
    await mkdir(fresh);
    await mkdir(stale);
    await chmod(stale, 0o555);
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(stale, old, old);
    await mkdir(path.join(state, 'projects', 'shop'), { recursive: true });

    const removed = await pruneRepoFiles(state, new Set([a]));
    expect(removed.sort()).toEqual([b, c].sort());
    expect((await readdir(files)).sort()).toEqual([a, `.tmp-${a}-fresh`].sort());
    expect(await readdir(path.join(state, 'projects'))).toEqual(['shop']);
  });

  it('does nothing without a files directory', async () => {
    expect(await pruneRepoFiles(state, new Set())).toEqual([]);
  });

  it('keeps what the given specs mount', () => {
    const a = sha('a');
    const spec = {
      ...containerSpec(),
      volumes: [
        {
          type: 'bind' as const,
          target: '/a',
          readOnly: true,
          repoFile: { path: 'a', sha256: a, kind: 'file' as const },
        },
        { type: 'volume' as const, source: 'v', target: '/v', readOnly: false },
      ],
    };
    expect(repoFileHashes([spec, containerSpec()])).toEqual(new Set([a]));
  });
});
