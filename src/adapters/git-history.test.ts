/**
 * `history` reads fleet files commit by commit through its own tree walk:
 * a symlink must reach the loader there too (a commit that symlinks a
 * manifest is listed as invalid, not as one that removed the service).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createRepo } from '../../test/support/git-fixture.js';
import { isFleetPath, isSymlinkBlob, loadFleet } from '../core/fleet.js';
import { openCommitHistory } from './git-history.js';
import { openGitSource } from './git-source.js';

const APP = 'image: registry.example.com/app\ntag: "1.0"\n';

describe('openCommitHistory: symlinks', () => {
  it('passes symlinks on as GitSource.readFiles does, and loadFleet refuses them', async () => {
    const repo = await createRepo({
      files: {
        'hosts/web-1/app.yaml': APP,
        'hosts/web-1/db.yaml': APP,
        'policy.yaml': 'policy: {}\n',
      },
    });
    onTestFinished(repo.cleanup);
    fs.rmSync(path.join(repo.dir, 'hosts/web-1/db.yaml'));
    fs.symlinkSync('app.yaml', path.join(repo.dir, 'hosts/web-1/db.yaml'));
    fs.symlinkSync('policy.yaml', path.join(repo.dir, 'gitdock.yaml'));
    const sha = repo.commit({}, 'symlinks');

    const source = await openGitSource({ dir: repo.dir });
    const history = openCommitHistory({ gitdir: source.gitdir, dir: repo.dir });
    const files = await history.readFleetFiles(sha);
    expect(isSymlinkBlob(files.get('hosts/web-1/db.yaml'))).toBe(true);
    expect(isSymlinkBlob(files.get('gitdock.yaml'))).toBe(true);
    expect(isSymlinkBlob(files.get('hosts/web-1/app.yaml'))).toBe(false);

    const plain = (m: ReadonlyMap<string, Uint8Array>) =>
      [...m].map(([p, b]) => [p, isSymlinkBlob(b), Buffer.from(b).toString('utf8')]);
    expect(plain(files)).toEqual(plain(await source.readFiles(sha, isFleetPath)));

    const loaded = loadFleet(files);
    expect(loaded.ok ? [] : loaded.errors.map((e) => e.file)).toEqual([
      'gitdock.yaml',
      'hosts/web-1/db.yaml',
    ]);
  });
});
