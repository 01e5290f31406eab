import type nodeFs from 'node:fs';
import path from 'node:path';

/**
 * Git's lock-and-rename ref update (`<ref>.lock`, then rename over the ref),
 * so a watcher or a concurrent `git pack-refs` never meets a half-written
 * ref. Like git, it fails when the lock file exists (another writer, or one
 * that died mid-way: remove the stale `.lock` by hand).
 */
export async function writeRefAtomic(
  fs: typeof nodeFs,
  gitdir: string,
  ref: string,
  oid: string,
): Promise<void> {
  const file = path.join(gitdir, ...ref.split('/'));
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const lock = `${file}.lock`;
  await fs.promises.writeFile(lock, `${oid}\n`, { flag: 'wx' });
  await fs.promises.rename(lock, file);
}
