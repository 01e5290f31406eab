/**
 * Real git repositories in temp dirs for integration tests, built with the
 * `git` CLI (not isomorphic-git) so the code under test reads what real git
 * writes: loose and packed objects, packed-refs, annotated tags.
 *
 * ```ts
 * const repo = await createRepo({ bare: true, files: { 'hosts/a/web.yaml': '...' } });
 * onTestFinished(repo.cleanup);
 * const sha = repo.commit({ 'hosts/a/web.yaml': null }, 'remove web');
 * const source = await openGitSource({ dir: repo.sourceDir });
 * ```
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** File contents by repo-relative path (forward slashes); `null` deletes the file. */
export type FileTree = Record<string, string | null>;

export interface CreateRepoOptions {
  /**
   * Also create a bare repository that every commit and tag is pushed to,
   * like the repo an agent watches.
   */
  bare?: boolean;
  /** Committed as "initial" when given; without it the repo has no commits. */
  files?: Record<string, string>;
  /** Initial branch. Default `main`. */
  branch?: string;
}

export interface FixtureRepo {
  /** The working clone: edit and commit here. */
  readonly dir: string;
  /** The bare repository the clone pushes to; only with `bare: true`. */
  readonly bareDir: string | undefined;
  /** What gitdock should read: `bareDir` when there is one, else `dir`. */
  readonly sourceDir: string;
  /**
   * Write (or, for `null`, delete) files relative to the repo root, stage
   * everything, commit (empty commits allowed), push when bare; returns the
   * full sha of the new commit.
   */
  commit(files: FileTree, message: string): string;
  /** Run `git <args>` in `cwd` (default: the working clone); returns trimmed stdout. */
  git(args: string[], cwd?: string): string;
  /** Tag HEAD (annotated with message `name` when asked), push; returns the commit sha. */
  tag(name: string, annotated?: boolean): string;
  /** Full sha of a revision in the working clone (default HEAD). */
  rev(rev?: string): string;
  /**
   * Make the bare repo's branches and tags exactly those of the clone (force,
   * prune). `commit` and `tag` do this already; call it after running other
   * git commands (merge, reset, branch -D) through `git`.
   */
  push(): void;
  /** Remove the temp dir holding both repositories. */
  cleanup(): Promise<void>;
}

// Pin identity and signing, and ignore the machine's global and system git
// config (hooks, templates, init.defaultBranch, gpg), so every test machine
// builds the same repositories.
const GIT_CONFIG = [
  '-c',
  'user.name=test',
  '-c',
  'user.email=test@example.com',
  '-c',
  'commit.gpgsign=false',
  '-c',
  'tag.gpgsign=false',
  '-c',
  'core.autocrlf=false',
  '-c',
  'gc.auto=0',
];
const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_GLOBAL: os.devNull,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
};

function runGit(args: string[], cwd: string): string {
  return execFileSync('git', [...GIT_CONFIG, ...args], {
    cwd,
    env: GIT_ENV,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/**
 * Write `files` under `dir`, creating parent directories; `null` deletes a
 * file (missing is fine).
 */
export function writeTree(dir: string, files: FileTree): void {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, ...name.split('/'));
    if (content === null) {
      fs.rmSync(file, { force: true });
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
    }
  }
}

/** A fresh git repository (and optionally a bare one it pushes to) in a temp dir. */
export async function createRepo(options: CreateRepoOptions = {}): Promise<FixtureRepo> {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'gitdock-repo-'));
  const branch = options.branch ?? 'main';
  const dir = path.join(root, 'work');
  const bareDir = options.bare ? path.join(root, 'repo.git') : undefined;

  fs.mkdirSync(dir);
  runGit(['init', '-q', '-b', branch], dir);
  if (bareDir) {
    runGit(['init', '-q', '--bare', '-b', branch, bareDir], root);
    runGit(['remote', 'add', 'origin', bareDir], dir);
  }

  const push = () => {
    if (!bareDir) return;
    // Nothing to push before the first commit, and pushing an empty set of
    // refs with --prune would fail.
    if (runGit(['for-each-ref', '--count=1', 'refs/heads', 'refs/tags'], dir) === '') return;
    runGit(
      [
        'push',
        '-q',
        '--force',
        '--prune',
        'origin',
        'refs/heads/*:refs/heads/*',
        'refs/tags/*:refs/tags/*',
      ],
      dir,
    );
  };

  const repo: FixtureRepo = {
    dir,
    bareDir,
    sourceDir: bareDir ?? dir,
    commit(files, message) {
      writeTree(dir, files);
      runGit(['add', '-A'], dir);
      runGit(['commit', '-q', '--allow-empty', '--no-verify', '-m', message], dir);
      push();
      return runGit(['rev-parse', 'HEAD'], dir);
    },
    git: (args, cwd = dir) => runGit(args, cwd),
    tag(name, annotated = false) {
      runGit(annotated ? ['tag', '-a', '-m', name, name] : ['tag', name], dir);
      push();
      return runGit(['rev-parse', `${name}^{commit}`], dir);
    },
    rev: (rev = 'HEAD') => runGit(['rev-parse', '--verify', `${rev}^{commit}`], dir),
    push,
    cleanup: () => fs.promises.rm(root, { recursive: true, force: true }),
  };

  if (options.files) repo.commit(options.files, 'initial');
  return repo;
}
