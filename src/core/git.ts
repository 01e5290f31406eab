/**
 * Read access to a fleet repo at any revision, straight from the object
 * store (no checkout). Implemented with isomorphic-git in
 * `adapters/git-source.ts`.
 */
export interface GitSource {
  /**
   * The full commit sha a revision names: a branch, a tag (annotated tags are
   * peeled), a full or abbreviated sha, `HEAD`, or any of these followed by
   * `~N` / `^` / `^N` suffixes (`HEAD~2`, `main^`).
   * Rejects with GITDOCK_E_GIT_REV_NOT_FOUND when it names nothing.
   */
  resolveRevision(rev: string): Promise<string>;
  /**
   * Every blob of the commit's tree whose repo-relative path (forward
   * slashes, no leading slash) is accepted by `include`. Directories are
   * offered to `include` too (with `isDir: true`) so whole subtrees can be
   * skipped without being read.
   */
  readFiles(
    commit: string,
    include: (path: string, isDir: boolean) => boolean,
  ): Promise<Map<string, Uint8Array>>;
}
