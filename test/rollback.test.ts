// `gitdock rollback` end to end on real git repositories (built with the git
// CLI): the CLI runs in-process, and what it wrote is read back with real
// git (status, show, fsck) and with gitdock's own resolver, so a rollback is
// proven by the desired state it produces, not by the files alone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openGitSource } from '../src/adapters/git-source.js';
import { main } from '../src/cli.js';
import { isFleetPath, loadFleet } from '../src/core/fleet.js';
import { type FleetState, resolveFleetState } from '../src/core/fleet-state.js';
import type { DesiredService } from '../src/core/types.js';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import { startGitHttpServer } from './support/git-http-server.js';

const NO_ENGINE = { DOCKER_HOST: 'unix:///nonexistent/gitdock-rollback-test/docker.sock' };

function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

function appserver(tag: string, hosts: string[] | null = ['web-*']): string {
  return yaml(
    ...(hosts ? [`hosts: ${JSON.stringify(hosts)}`] : []),
    'image: registry.example.com/appserver',
    `tag: "${tag}"`,
    'environment:',
    '  RAILS_ENV: production',
  );
}

const MEMCACHED = (tag = '1.6') => yaml('image: registry.example.com/memcached', `tag: "${tag}"`);
const WORKER = yaml('image: registry.example.com/worker', 'tag: "2.0"');

const FLEET: Record<string, string> = {
  'gitdock.yaml': yaml('hosts:', '  web-1: {}', '  web-2: {}', '  web-3: {}'),
  'services/appserver.yaml': appserver('1.4.2'),
  'hosts/web-1/memcached.yaml': MEMCACHED(),
  'hosts/web-2/memcached.yaml': MEMCACHED(),
  'README.md': 'the fleet\n',
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const repos: FixtureRepo[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const r of repos.splice(0)) await r.cleanup();
});

/** A fleet repo whose clone has a commit identity in its own config (like a real one). */
async function fleet(options: { bare?: boolean; files?: Record<string, string> } = {}) {
  const repo = await createRepo({ bare: options.bare ?? false, files: options.files ?? FLEET });
  repos.push(repo);
  repo.git(['config', 'user.name', 'Rollback Tester']);
  repo.git(['config', 'user.email', 'rollback@example.com']);
  return repo;
}

/** `gitdock rollback ...` in-process, with no user git config and no engine. */
async function rollback(repo: FixtureRepo, args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(['rollback', '--repo', repo.dir, ...args], {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: {
      PATH: process.env.PATH,
      HOME: os.tmpdir(),
      GIT_CONFIG_GLOBAL: os.devNull,
      ...NO_ENGINE,
      ...env,
    },
    cwd: process.cwd(),
  });
  return { code, stdout, stderr } satisfies Run;
}

/** The resolved desired state of every named host at a revision of the clone. */
async function stateAt(repo: FixtureRepo, rev: string): Promise<FleetState> {
  const git = await openGitSource({ dir: repo.dir });
  const commit = await git.resolveRevision(rev);
  const files = await git.readFiles(commit, isFleetPath);
  const fleet = loadFleet(files);
  if (!fleet.ok) throw new Error(JSON.stringify(fleet.errors));
  const state = resolveFleetState(fleet.value, files, commit);
  if (!state.ok) throw new Error(JSON.stringify(state.errors));
  return state.value;
}

/** What a host runs, by service: spec, rollout and dependencies (not where it is written). */
function runs(state: FleetState, host: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of state.hosts.get(host)?.services ?? []) out[s.name] = comparable(s);
  return out;
}

function comparable(s: DesiredService) {
  return { spec: s.spec, rollout: s.rollout, dependsOn: s.dependsOn };
}

/** `git show REV:path`, or null when the file does not exist there. */
function show(repo: FixtureRepo, rev: string, file: string): string | null {
  try {
    return repo.git(['show', `${rev}:${file}`]);
  } catch {
    return null;
  }
}

function cleanStatus(repo: FixtureRepo): string {
  return repo.git(['status', '--porcelain', '--untracked-files=all']);
}

describe('gitdock rollback <commit>', () => {
  it('reverts the fleet files of a commit, leaves other files and later commits alone', async () => {
    const repo = await fleet();
    const before = repo.rev();
    const bad = repo.commit(
      {
        'services/appserver.yaml': appserver('1.5.0'),
        'hosts/web-1/memcached.yaml': MEMCACHED('1.7'),
        'hosts/web-2/worker.yaml': WORKER,
        'README.md': 'the fleet, release 1.5.0\n',
      },
      'release 1.5.0\n\nWith a worker on web-2.',
    );
    const later = repo.commit({ 'hosts/web-3/worker.yaml': WORKER }, 'worker on web-3');

    const r = await rollback(repo, [bad.slice(0, 10)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const head = repo.rev();
    expect(repo.rev('HEAD~1')).toBe(later);
    expect(r.stdout).toContain(`committed ${head.slice(0, 12)} on main: Revert "release 1.5.0"`);

    // Every fleet file the commit changed is as before it; nothing else moved.
    for (const file of [
      'services/appserver.yaml',
      'hosts/web-1/memcached.yaml',
      'hosts/web-2/worker.yaml',
    ]) {
      expect(show(repo, 'HEAD', file), file).toBe(show(repo, before, file));
    }
    expect(show(repo, 'HEAD', 'README.md')).toBe('the fleet, release 1.5.0');
    expect(show(repo, 'HEAD', 'hosts/web-3/worker.yaml')).toBe(WORKER.trim());
    // Working tree and index agree with the commit, as real git sees them.
    expect(cleanStatus(repo)).toBe('');
    expect(fs.existsSync(path.join(repo.dir, 'hosts/web-2/worker.yaml'))).toBe(false);

    // The desired state of the affected services is the one before the commit.
    const [then, now] = [await stateAt(repo, before), await stateAt(repo, 'HEAD')];
    expect(runs(now, 'web-1')).toEqual(runs(then, 'web-1'));
    expect(runs(now, 'web-2')).toEqual(runs(then, 'web-2'));
    expect(Object.keys(runs(now, 'web-3'))).toEqual(['appserver', 'worker']);

    expect(repo.git(['log', '-1', '--format=%an <%ae>%n%B'])).toBe(
      [
        'Rollback Tester <rollback@example.com>',
        'Revert "release 1.5.0"',
        '',
        `This reverts commit ${bad}: its changes to the fleet files are undone.`,
        '',
        'Files:',
        '  hosts/web-1/memcached.yaml',
        '  hosts/web-2/worker.yaml',
        '  services/appserver.yaml',
        '',
        'Hosts and services affected (3 hosts, 5 services):',
        '  web-1: appserver: tag 1.5.0 -> 1.4.2',
        '  web-1: memcached: tag 1.7 -> 1.6',
        '  web-2: appserver: tag 1.5.0 -> 1.4.2',
        '  web-2: worker: removed',
        '  web-3: appserver: tag 1.5.0 -> 1.4.2',
      ].join('\n'),
    );
  });

  it('refuses, listing the files, when a later commit changed the same files', async () => {
    const repo = await fleet();
    const bad = repo.commit(
      {
        'services/appserver.yaml': appserver('1.5.0'),
        'hosts/web-1/memcached.yaml': MEMCACHED('1.7'),
        'hosts/web-2/memcached.yaml': MEMCACHED('1.7'),
      },
      'release 1.5.0',
    );
    repo.commit({ 'services/appserver.yaml': appserver('1.5.1') }, 'hotfix 1.5.1');
    repo.commit({ 'hosts/web-2/memcached.yaml': null }, 'no memcached on web-2');
    const head = repo.rev();

    const r = await rollback(repo, [bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      [
        `gitdock: cannot revert ${bad.slice(0, 12)} ("release 1.5.0"): later commits changed 2 files it changed, so the revert would not apply cleanly:`,
        '  hosts/web-2/memcached.yaml',
        '  services/appserver.yaml',
      ].join('\n'),
    );
    expect(r.stderr).toContain('(GITDOCK_E_ROLLBACK_CONFLICT)');
    expect(r.stderr).not.toContain('hosts/web-1/memcached.yaml');
    expect(repo.rev()).toBe(head);
    expect(cleanStatus(repo)).toBe('');
  });

  it('refuses on a dirty working tree and lists the files', async () => {
    const repo = await fleet();
    const bad = repo.commit({ 'services/appserver.yaml': appserver('1.5.0') }, 'release');
    const head = repo.rev();
    fs.writeFileSync(path.join(repo.dir, 'README.md'), 'edited\n');
    fs.mkdirSync(path.join(repo.dir, 'hosts/web-3'));
    fs.writeFileSync(path.join(repo.dir, 'hosts/web-3/new.yaml'), MEMCACHED());
    fs.writeFileSync(path.join(repo.dir, 'notes.txt'), 'untracked, outside the fleet\n');

    const r = await rollback(repo, [bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      [
        `gitdock: the working tree of ${repo.dir} has uncommitted changes; commit or stash them first:`,
        '  README.md (modified)',
        '  hosts/web-3/new.yaml (untracked) (GITDOCK_E_DIRTY_WORKTREE)',
      ].join('\n'),
    );
    expect(repo.rev()).toBe(head);
    expect(show(repo, 'HEAD', 'services/appserver.yaml')).toBe(appserver('1.5.0').trim());

    // An untracked file outside hosts/ and services/ alone does not block it.
    repo.git(['checkout', '--', 'README.md']);
    fs.rmSync(path.join(repo.dir, 'hosts/web-3'), { recursive: true });
    expect((await rollback(repo, [bad])).code).toBe(0);
    expect(fs.existsSync(path.join(repo.dir, 'notes.txt'))).toBe(true);
  });

  it('refuses to write over a file git ignores, and writes nothing', async () => {
    const repo = await fleet();
    repo.commit(
      {
        'hosts/web-1/memcached.yaml': yaml(
          'image: registry.example.com/memcached',
          'tag: "1.6"',
          'env_file: secret.env',
        ),
        'hosts/web-1/secret.env': 'PASSWORD=old\n',
      },
      'memcached with an env file in git',
    );
    // The env file leaves git and is ignored from now on; the operator keeps a local one.
    const out = repo.commit(
      {
        'hosts/web-1/memcached.yaml': MEMCACHED(),
        'hosts/web-1/secret.env': null,
        '.gitignore': '*.env\n',
      },
      'secret out of git',
    );
    const local = path.join(repo.dir, 'hosts/web-1/secret.env');
    fs.writeFileSync(local, 'PASSWORD=my-local-secret\n');
    expect(cleanStatus(repo)).toBe('');

    const r = await rollback(repo, [out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `gitdock: the rollback would overwrite files in ${repo.dir} that git does not track (ignored or untracked); move them away first:\n  hosts/web-1/secret.env`,
    );
    expect(r.stderr).toContain('(GITDOCK_E_DIRTY_WORKTREE)');
    expect(fs.readFileSync(local, 'utf8')).toBe('PASSWORD=my-local-secret\n');
    expect(repo.rev()).toBe(out);
    expect(show(repo, 'HEAD', 'hosts/web-1/memcached.yaml')).toBe(MEMCACHED().trim());
  });

  it('refuses a revert whose result does not validate, and says why', async () => {
    const repo = await fleet();
    const db = repo.commit(
      { 'hosts/web-1/db.yaml': yaml('image: registry.example.com/db', 'tag: "15"') },
      'db on web-1',
    );
    repo.commit(
      {
        'hosts/web-1/api.yaml': yaml(
          'image: registry.example.com/api',
          'tag: "1"',
          'depends_on: [db]',
        ),
      },
      'api on web-1, needs db',
    );
    const head = repo.rev();
    const r = await rollback(repo, [db]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `reverting ${db.slice(0, 12)} ("db on web-1") gives 1 manifest error`,
    );
    expect(r.stderr).toContain(
      'hosts/web-1/api.yaml:3:14: "api" depends on "db", which is not a service on host web-1',
    );
    expect(r.stderr).toContain('(GITDOCK_E_ROLLBACK_REFUSED)');
    expect(repo.rev()).toBe(head);
    expect(cleanStatus(repo)).toBe('');
  });

  it('reverts a merge against its first parent', async () => {
    const repo = await fleet();
    const before = repo.rev();
    repo.git(['switch', '-q', '-c', 'release']);
    repo.commit({ 'services/appserver.yaml': appserver('1.5.0') }, 'appserver 1.5.0');
    repo.commit({ 'hosts/web-2/worker.yaml': WORKER }, 'worker on web-2');
    repo.git(['switch', '-q', 'main']);
    repo.commit({ 'hosts/web-3/memcached.yaml': MEMCACHED() }, 'memcached on web-3');
    repo.git(['merge', '-q', '--no-ff', '-m', 'Merge release', 'release']);
    const merge = repo.rev();
    const mainline = repo.rev('HEAD^1');

    const r = await rollback(repo, [merge]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(show(repo, 'HEAD', 'services/appserver.yaml')).toBe(
      show(repo, before, 'services/appserver.yaml'),
    );
    expect(show(repo, 'HEAD', 'hosts/web-2/worker.yaml')).toBeNull();
    // What the main line had on its own stays.
    expect(show(repo, 'HEAD', 'hosts/web-3/memcached.yaml')).toBe(MEMCACHED().trim());
    expect(repo.git(['log', '-1', '--format=%B'])).toContain(
      `This reverts commit ${merge} (a merge, against its first parent ${mainline})`,
    );
  });

  it('says how to set the author when none is configured, and writes nothing', async () => {
    const repo = await fleet();
    repo.git(['config', '--unset', 'user.name']);
    repo.git(['config', '--unset', 'user.email']);
    const bad = repo.commit({ 'services/appserver.yaml': appserver('1.5.0') }, 'release');
    const r = await rollback(repo, [bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no commit author: user.name and user.email not set');
    expect(r.stderr).toContain(`git -C ${repo.dir} config user.name "Your Name"`);
    expect(r.stderr).toContain('(GITDOCK_E_GIT_IDENTITY)');
    expect(repo.rev()).toBe(bad);
    expect(cleanStatus(repo)).toBe('');
    // The environment is enough, as for git.
    const ok = await rollback(repo, [bad], {
      GIT_AUTHOR_NAME: 'From Env',
      GIT_AUTHOR_EMAIL: 'env@example.com',
    });
    expect(ok.code).toBe(0);
    expect(repo.git(['log', '-1', '--format=%an <%ae>'])).toBe('From Env <env@example.com>');
  });

  it('--dry-run prints the message and files and writes nothing', async () => {
    const repo = await fleet();
    const bad = repo.commit({ 'services/appserver.yaml': appserver('1.5.0') }, 'release 1.5.0');
    const r = await rollback(repo, [bad, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Would commit on main (dry run, nothing written):');
    expect(r.stdout).toContain('    Revert "release 1.5.0"');
    expect(r.stdout).toContain('  write  services/appserver.yaml');
    expect(repo.rev()).toBe(bad);
  });

  it('exits 0 with nothing to do when the commit is already undone', async () => {
    const repo = await fleet();
    const bad = repo.commit({ 'services/appserver.yaml': appserver('1.5.0') }, 'release');
    repo.commit({ 'services/appserver.yaml': appserver('1.4.2') }, 'back by hand');
    const head = repo.rev();
    const r = await rollback(repo, [bad]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nothing to roll back');
    expect(repo.rev()).toBe(head);
  });

  it.each([
    [[], 'rollback needs <commit>'],
    [['HEAD', '--host', 'web-1', '--to', 'HEAD~1'], 'give either <commit> or --host H --to'],
    [['--host', 'web-1'], '--host needs --to REV'],
    [['HEAD', '--service', 'x'], '--service needs --host NAME and --to REV'],
    [['HEAD', '--remote', 'origin'], '--remote and --token-file go with --push'],
    [['HEAD', '--bogus'], "Unknown option '--bogus'"],
  ])('usage error %j exits 64', async (args, message) => {
    const repo = await fleet();
    const r = await rollback(repo, args);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(message);
  });

  it('--help teaches with examples', async () => {
    const repo = await fleet();
    const r = await rollback(repo, ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'gitdock rollback --host web-2 --service appserver --to HEAD~3 --push',
    );
    expect(r.stdout).toContain('host override');
  });
});

describe('gitdock rollback --host H --to <commit>', () => {
  it('--service restores exactly that service with a host override when its fleet file moved on', async () => {
    const repo = await fleet();
    const good = repo.rev();
    repo.commit(
      {
        'services/appserver.yaml': appserver('1.5.0'),
        'hosts/web-2/memcached.yaml': MEMCACHED('1.7'),
      },
      'release 1.5.0',
    );
    const headBefore = await stateAt(repo, 'HEAD');

    const r = await rollback(repo, [
      '--host',
      'web-2',
      '--service',
      'appserver',
      '--to',
      good.slice(0, 8),
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const after = await stateAt(repo, 'HEAD');
    const then = await stateAt(repo, good);
    // appserver on web-2 as at `good`; its memcached as at HEAD; other hosts untouched.
    expect(runs(after, 'web-2').appserver).toEqual(runs(then, 'web-2').appserver);
    expect(runs(after, 'web-2').memcached).toEqual(runs(headBefore, 'web-2').memcached);
    expect(runs(after, 'web-2').memcached).not.toEqual(runs(then, 'web-2').memcached);
    for (const h of ['web-1', 'web-3']) expect(runs(after, h)).toEqual(runs(headBefore, h));

    // Written as an override; the fleet file itself is untouched.
    expect(repo.git(['show', '--name-status', '--format=', 'HEAD'])).toBe(
      'A\thosts/web-2/appserver.yaml',
    );
    const override = show(repo, 'HEAD', 'hosts/web-2/appserver.yaml')!;
    expect(override).not.toContain('hosts:');
    expect(override).toContain('# Rolled back by gitdock: services/appserver.yaml as at');
    expect(override).toContain('tag: "1.4.2"');
    expect(cleanStatus(repo)).toBe('');
    expect(repo.git(['log', '-1', '--format=%B'])).toBe(
      [
        `Roll back appserver on web-2 to ${good.slice(0, 7)}`,
        '',
        `Restores the desired state of appserver on web-2 as it was at ${good}`,
        '("initial"). Other services and hosts are unchanged.',
        '',
        'Service changes on web-2:',
        '  appserver: tag 1.5.0 -> 1.4.2',
        '',
        'Files:',
        `  hosts/web-2/appserver.yaml: override, new host override: services/appserver.yaml as at ${good.slice(0, 12)}, which has changed since for every host it selects; remove this file to follow services/appserver.yaml again`,
      ].join('\n'),
    );
  });

  it('restores a removed service and removes added ones, for that host only', async () => {
    const repo = await fleet();
    const good = repo.rev();
    repo.commit(
      {
        'hosts/web-1/memcached.yaml': null,
        'hosts/web-1/worker.yaml': WORKER,
        'hosts/web-2/worker.yaml': WORKER,
        // Named literally: web-1 can be taken out of the list.
        'services/cron.yaml': yaml(
          'hosts: [web-1, web-3]',
          'image: registry.example.com/cron',
          'tag: "1"',
        ),
      },
      'reshuffle',
    );
    const headBefore = await stateAt(repo, 'HEAD');
    const r = await rollback(repo, ['--host', 'web-1', '--to', good]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const after = await stateAt(repo, 'HEAD');
    const then = await stateAt(repo, good);
    expect(runs(after, 'web-1')).toEqual(runs(then, 'web-1'));
    expect(Object.keys(runs(after, 'web-1')).sort()).toEqual(['appserver', 'memcached']);
    for (const h of ['web-2', 'web-3']) expect(runs(after, h)).toEqual(runs(headBefore, h));
    expect(show(repo, 'HEAD', 'hosts/web-1/memcached.yaml')).toBe(MEMCACHED().trim());
    expect(show(repo, 'HEAD', 'hosts/web-1/worker.yaml')).toBeNull();
    expect(show(repo, 'HEAD', 'services/cron.yaml')).toContain('hosts: [ web-3 ]');
    expect(repo.git(['log', '-1', '--format=%s'])).toBe(`Roll back web-1 to ${good.slice(0, 7)}`);
    const body = repo.git(['log', '-1', '--format=%b']);
    expect(body).toContain('  cron: removed');
    expect(body).toContain('  memcached: added (registry.example.com/memcached:1.6)');
    expect(body).toContain('  worker: removed');
    expect(body).toContain('  services/cron.yaml: selector, web-1 taken out of its hosts: list');
    expect(cleanStatus(repo)).toBe('');
  });

  it('refuses when a glob selects the host for a service it did not run, and writes nothing', async () => {
    const repo = await fleet();
    const good = repo.rev();
    repo.commit(
      {
        'services/cron.yaml': yaml(
          'hosts: ["web-*"]',
          'image: registry.example.com/cron',
          'tag: "1"',
        ),
      },
      'cron everywhere',
    );
    const head = repo.rev();
    const r = await rollback(repo, ['--host', 'web-1', '--to', good]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `cron did not run on web-1 at ${good.slice(0, 12)}, and services/cron.yaml selects web-1 through "web-*": a host cannot opt out of a glob`,
    );
    expect(repo.rev()).toBe(head);
    expect(cleanStatus(repo)).toBe('');
    // Only one service asked for, another one left alone: fine.
    const one = await rollback(repo, ['--host', 'web-1', '--service', 'memcached', '--to', good]);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('nothing to roll back: memcached on web-1 already has');
  });
});

describe('gitdock rollback --push', () => {
  it('pushes to a local bare repository: objects complete, branch fast-forwarded', async () => {
    const repo = await fleet({ bare: true });
    repo.git(['gc', '-q'], repo.bareDir); // packed objects on the remote side too
    const bad = repo.commit({ 'services/appserver.yaml': appserver('1.5.0') }, 'release 1.5.0');
    const r = await rollback(repo, [bad, '--push']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const head = repo.rev();
    expect(r.stdout).toContain(
      `pushed main to origin (${repo.bareDir}): ${bad.slice(0, 12)}..${head.slice(0, 12)}`,
    );
    expect(repo.git(['rev-parse', 'main'], repo.bareDir)).toBe(head);
    expect(repo.git(['rev-parse', 'refs/remotes/origin/main'])).toBe(head);
    repo.git(['fsck', '--strict', '--no-dangling'], repo.bareDir);
    expect(repo.git(['show', 'main:services/appserver.yaml'], repo.bareDir)).toBe(
      appserver('1.4.2').trim(),
    );
    expect(fs.existsSync(path.join(repo.bareDir!, 'refs/heads/main.lock'))).toBe(false);
  });

  it('never forces: a remote that moved meanwhile is refused, the local commit stays', async () => {
    const repo = await fleet({ bare: true });
    const bad = repo.commit({ 'services/appserver.yaml': appserver('1.5.0') }, 'release 1.5.0');
    // Someone else pushes to the remote from another clone.
    const other = path.join(path.dirname(repo.bareDir!), 'other');
    repo.git(['clone', '-q', repo.bareDir!, other], path.dirname(repo.bareDir!));
    fs.writeFileSync(path.join(other, 'README.md'), 'changed elsewhere\n');
    repo.git(['commit', '-q', '-am', 'elsewhere'], other);
    repo.git(['push', '-q', 'origin', 'main'], other);
    const remoteHead = repo.git(['rev-parse', 'main'], repo.bareDir);

    const r = await rollback(repo, [bad, '--push']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the commit ${repo.rev().slice(0, 12)} is made on main, not pushed`);
    expect(r.stderr).toContain('someone pushed meanwhile');
    expect(r.stderr).toContain('(GITDOCK_E_GIT_PUSH)');
    expect(repo.git(['rev-parse', 'main'], repo.bareDir)).toBe(remoteHead);
    expect(repo.rev('HEAD~1')).toBe(bad);
  });

  it('pushes over http with the token from GITDOCK_GIT_TOKEN', async () => {
    const repo = await fleet({ bare: true });
    const server = await startGitHttpServer({
      root: path.dirname(repo.bareDir!),
      auth: { username: 'deployer', password: 's3cret-token' },
    });
    cleanups.push(server.close);
    const bad = repo.commit({ 'services/appserver.yaml': appserver('1.5.0') }, 'release 1.5.0');
    const port = new URL(server.url).port;
    repo.git(['remote', 'set-url', 'origin', `http://deployer@127.0.0.1:${port}/repo.git`]);

    const wrong = await rollback(repo, [bad, '--push'], { GITDOCK_GIT_TOKEN: 'wrong-token' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('the server refused the credentials');
    expect(wrong.stderr).not.toContain('wrong-token');
    expect(repo.git(['rev-parse', 'main'], repo.bareDir)).toBe(bad);
    // The commit is made; the retry only pushes.
    repo.git(['reset', '-q', '--hard', bad]);

    const r = await rollback(repo, [bad, '--push'], { GITDOCK_GIT_TOKEN: 's3cret-token' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(repo.git(['rev-parse', 'main'], repo.bareDir)).toBe(repo.rev());
    expect(server.log.some((l) => l.url.includes('git-receive-pack') && l.status === 200)).toBe(
      true,
    );
  });
});
