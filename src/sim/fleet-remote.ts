/**
 * The sim's side of git: the user's fleet repository is read (never
 * written), and the branch the agents follow lives in a bare repository of
 * the sim's own, `<dir>/remote/fleet.git`, which `sim push` moves to any
 * revision of the fleet repository (force: a PR branch or an older commit
 * can be rehearsed). Uses the git CLI, which the sim needs anyway for
 * `git http-backend`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { type Fleet, isFleetPath, loadFleet } from '../core/fleet.js';
import { SimError } from './sim-error.js';

const GIT_TIMEOUT_MS = 120_000;

function git(args: string[], what: string): string {
  const r = spawnSync('git', args, {
    encoding: 'utf8',
    timeout: GIT_TIMEOUT_MS,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new SimError(
      code === 'ENOENT'
        ? 'git is not installed: apt-get install git'
        : `${what}: ${r.error.message}`,
    );
  }
  if (r.status !== 0) throw new SimError(`${what}: ${r.stderr.trim() || `git exited ${r.status}`}`);
  return r.stdout.trim();
}

/** The full sha of `rev` in the fleet repository (bare or not). */
export function resolveFleetRev(repo: string, rev: string): string {
  if (!fs.existsSync(repo)) throw new SimError(`the fleet repository ${repo} does not exist`);
  return git(
    ['-C', repo, 'rev-parse', '--verify', '--quiet', `${rev}^{commit}`],
    `"${rev}" is not a commit of ${repo}`,
  );
}

/** The branch the fleet repository's HEAD is on, if any. */
export function currentBranch(repo: string): string | undefined {
  const r = spawnSync('git', ['-C', repo, 'symbolic-ref', '--quiet', '--short', 'HEAD'], {
    encoding: 'utf8',
    timeout: GIT_TIMEOUT_MS,
  });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
}

/**
 * Creates the sim's bare remote, its HEAD on `branch` (so `gitdock status`
 * on it shows the branch), taking pushes over smart HTTP (the agents'
 * --report-ref pushes their applied refs).
 */
export function createRemote(remote: string, branch: string): void {
  git(['init', '--quiet', '--bare', remote], `creating ${remote}`);
  git(['-C', remote, 'config', 'http.receivepack', 'true'], `configuring ${remote}`);
  git(['-C', remote, 'symbolic-ref', 'HEAD', `refs/heads/${branch}`], `configuring ${remote}`);
}

/** Moves the remote's `branch` to `commit` of the fleet repository (forced). */
export function pushToRemote(repo: string, commit: string, remote: string, branch: string): void {
  git(
    [
      '-C',
      repo,
      'push',
      '--quiet',
      '--force',
      '--no-verify',
      remote,
      `${commit}:refs/heads/${branch}`,
    ],
    `pushing ${commit.slice(0, 12)} to the sim's remote`,
  );
}

/** The fleet at `commit` (every manifest validated), or a SimError listing what is wrong. */
export async function readFleetAt(repo: string, commit: string): Promise<Fleet> {
  const { openGitSource } = await import('../adapters/git-source.js');
  const source = await openGitSource({ dir: repo });
  const loaded = loadFleet(await source.readFiles(commit, isFleetPath));
  if (!loaded.ok) {
    const lines = loaded.errors
      .slice(0, 20)
      .map(
        (e) =>
          `  ${[e.file, e.line, e.column].filter((x) => x !== undefined).join(':')}: ${e.message}`,
      );
    throw new SimError(
      `the fleet at ${commit.slice(0, 12)} has ${loaded.errors.length} error(s); fix them first (gitdock validate):\n${lines.join('\n')}`,
    );
  }
  return loaded.value;
}
