/**
 * Symlinks in the fleet tree, read from real git repositories (built with
 * the git CLI in temp dirs): the reader passes them on, marked, and the
 * loader refuses them by name. Left out, a symlinked manifest made the plan
 * remove the service it stood for, and a symlinked gitdock.yaml turned the
 * policy off.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createRepo } from '../../test/support/git-fixture.js';
import { isFleetPath, isSymlinkBlob, loadFleet } from '../core/fleet.js';
import { openGitSource } from './git-source.js';

const APP = 'image: registry.example.com/app\ntag: "1.0"\n';
const PRIVILEGED = `${APP}privileged: true\n`;
const POLICY = 'policy:\n  deny_privileged: true\n';

async function readAt(dir: string, sha: string) {
  const source = await openGitSource({ dir });
  return source.readFiles(sha, isFleetPath);
}

describe('GitSource.readFiles: symlinks', () => {
  it('passes a symlinked manifest on, marked, and loadFleet refuses it by name', async () => {
    const repo = await createRepo({
      files: { 'hosts/web-1/app.yaml': APP, 'shared/db.yaml': APP },
    });
    onTestFinished(repo.cleanup);
    fs.symlinkSync('../../shared/db.yaml', path.join(repo.dir, 'hosts/web-1/db.yaml'));
    const sha = repo.commit({}, 'db as a symlink');

    const files = await readAt(repo.dir, sha);
    expect(isSymlinkBlob(files.get('hosts/web-1/db.yaml'))).toBe(true);
    // The link target, as git stores it: never read as the manifest.
    expect(Buffer.from(files.get('hosts/web-1/db.yaml')!).toString()).toBe('../../shared/db.yaml');
    expect(isSymlinkBlob(files.get('hosts/web-1/app.yaml'))).toBe(false);

    expect(loadFleet(files)).toEqual({
      ok: false,
      errors: [
        {
          file: 'hosts/web-1/db.yaml',
          path: '',
          message:
            '"hosts/web-1/db.yaml" is a symlink; gitdock reads regular files only (commit the file itself)',
        },
      ],
    });
  });

  it('a symlinked gitdock.yaml fails the revision instead of turning the policy off', async () => {
    const repo = await createRepo({
      bare: true,
      files: { 'policy.yaml': POLICY, 'hosts/web-1/app.yaml': PRIVILEGED },
    });
    onTestFinished(repo.cleanup);
    fs.symlinkSync('policy.yaml', path.join(repo.dir, 'gitdock.yaml'));
    const sha = repo.commit({}, 'policy through a symlink');

    const files = await readAt(repo.sourceDir, sha);
    const loaded = loadFleet(files);
    expect(loaded.ok).toBe(false);
    expect(loaded.ok ? [] : loaded.errors).toEqual([
      {
        file: 'gitdock.yaml',
        path: '',
        message:
          '"gitdock.yaml" is a symlink; gitdock reads regular files only (commit the file itself)',
      },
    ]);

    // The same policy as a regular file is applied: the privileged service fails it.
    const regular = repo.commit({ 'gitdock.yaml': null }, 'drop link');
    fs.copyFileSync(path.join(repo.dir, 'policy.yaml'), path.join(repo.dir, 'gitdock.yaml'));
    const withFile = repo.commit({}, 'policy as a file');
    expect(regular).not.toBe(withFile);
    const policed = loadFleet(await readAt(repo.sourceDir, withFile));
    expect(policed.ok ? [] : policed.errors.map((e) => e.message)).toEqual([
      'policy deny_privileged: privileged containers are not allowed (gitdock.yaml policy)',
    ]);
  });

  it('a symlinked host directory and a symlinked services/ are refused too', async () => {
    const repo = await createRepo({ files: { 'hosts/web-1/app.yaml': APP, 'fleet/x.yaml': APP } });
    onTestFinished(repo.cleanup);
    fs.symlinkSync('web-1', path.join(repo.dir, 'hosts/web-2'));
    fs.symlinkSync('fleet', path.join(repo.dir, 'services'));
    const sha = repo.commit({}, 'links to directories');
    const loaded = loadFleet(await readAt(repo.dir, sha));
    expect(loaded.ok ? [] : loaded.errors.map((e) => e.file)).toEqual(['hosts/web-2', 'services']);
  });

  it('leaves out symlinks the include function does not want', async () => {
    const repo = await createRepo({ files: { 'hosts/web-1/app.yaml': APP, 'docs/a.md': 'x\n' } });
    onTestFinished(repo.cleanup);
    fs.symlinkSync('a.md', path.join(repo.dir, 'docs/b.md'));
    const sha = repo.commit({}, 'doc link');
    expect([...(await readAt(repo.dir, sha)).keys()]).toEqual(['hosts/web-1/app.yaml']);
  });
});
