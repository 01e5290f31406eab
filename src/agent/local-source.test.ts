// The local source's watch when the repository goes away under it: moved
// away and back, deleted and recreated, replaced, a watcher error. Real git,
// real directories, real chokidar (wrapped only to see every watcher made).
import fs from 'node:fs';
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createRepo, type FixtureRepo } from '../../test/support/git-fixture.js';
import type { Log } from '../log.js';
import { openLocalSource } from './local-source.js';
import type { BranchSource, WatchState } from './types.js';

// Every chokidar watcher the source makes, to check that each is closed.
const created = vi.hoisted(() => [] as FSWatcher[]);
vi.mock('chokidar', async (importOriginal) => {
  const chokidar = await importOriginal<typeof import('chokidar')>();
  return {
    ...chokidar,
    watch: (...args: Parameters<typeof chokidar.watch>) => {
      const watcher = chokidar.watch(...args);
      created.push(watcher);
      return watcher;
    },
  };
});

/** Generous: recovery takes about a second; this only bounds a hang. */
const RECOVERY_MS = 10_000;

/** Polls `predicate` until it holds, failing after `timeoutMs`. */
async function waitFor(
  what: string,
  predicate: () => boolean,
  timeoutMs = RECOVERY_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function repoFor(options: Parameters<typeof createRepo>[0]): Promise<FixtureRepo> {
  const repo = await createRepo(options);
  onTestFinished(repo.cleanup);
  return repo;
}

interface Line {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  msg: string;
}

function captureLog(): { log: Log; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: Line['level']) => (fields: Record<string, unknown>, msg: string) => {
    lines.push({ level, fields, msg });
  };
  const log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log: log as unknown as Log, lines };
}

/** Native watch handles (fs.watch) of this thread. */
const watchHandles = () =>
  process.getActiveResourcesInfo().filter((resource) => resource === 'FSEventWrap').length;

/**
 * Starts watching `source`, recording `onChange` and `onState`; at the end
 * of the test, stops (twice) and checks that no watcher or handle is left.
 */
async function watchAll(source: BranchSource) {
  const handlesBefore = watchHandles();
  const createdBefore = created.length;
  const changes: { at: number; reason: string }[] = [];
  const states: WatchState[] = [];
  const stop = await source.watch(
    (reason) => changes.push({ at: Date.now(), reason }),
    (state) => states.push(state),
  );
  const mine = () => created.slice(createdBefore);
  const stopAndCheck = async () => {
    await stop();
    await stop(); // harmless the second time
    expect(mine().every((watcher) => watcher.closed)).toBe(true);
    // A closed fs.watch handle leaves the list once libuv has closed it.
    await waitFor('the native watches closed', () => watchHandles() === handlesBefore, 2000);
  };
  onTestFinished(stopAndCheck);
  return {
    handlesBefore,
    changes,
    states,
    stop,
    /** The watchers this watch made so far, oldest first. */
    watchers: mine,
    /** At most one watcher open at a time. */
    open: () => mine().filter((watcher) => !watcher.closed),
  };
}

const pushed = (reason: string) => /^refs\/heads\/main (add|change)$/.test(reason);

describe('local source watch recovers', { timeout: 60_000 }, () => {
  it('a bare repo moved away and back: says lost, then watching, and pushes fire again', async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    const bare = repo.bareDir!;
    const { log, lines } = captureLog();
    const source = await openLocalSource({ dir: bare, branch: 'main', log });
    const w = await watchAll(source);
    expect(watchHandles()).toBeGreaterThan(w.handlesBefore); // what the leak check looks at

    repo.commit({ 'a.txt': '2\n' }, 'before the move');
    await waitFor('a push before the move', () => w.changes.some((c) => pushed(c.reason)));

    fs.renameSync(bare, `${bare}.away`);
    await waitFor('the loss to be reported', () => w.states.length > 0);
    expect(w.states).toEqual([{ watching: false, error: `${bare} is missing` }]);
    fs.renameSync(`${bare}.away`, bare);
    // A push right after the move back: whether the new watcher sees it or
    // comes up after it, onChange follows and the branch reads as pushed.
    const pushedAt = Date.now();
    const afterMove = repo.commit({ 'a.txt': '3\n' }, 'after the move');
    await waitFor(
      'onChange after the push, and the watch restored',
      () => w.states.length === 2 && w.changes.some((c) => c.at >= pushedAt),
    );
    expect(w.states).toEqual([
      { watching: false, error: `${bare} is missing` },
      { watching: true },
    ]);
    expect(await source.head()).toBe(afterMove);
    expect(w.changes.map((c) => c.reason)).toContain('ref watcher restored');

    // And a real watcher again, not just the restore's own onChange.
    w.changes.length = 0;
    const next = repo.commit({ 'a.txt': '4\n' }, 'watched again');
    await waitFor('a push seen by the new watcher', () => w.changes.some((c) => pushed(c.reason)));
    expect(await source.head()).toBe(next);
    expect(w.open().length).toBe(1);
    expect(w.watchers().length).toBeGreaterThanOrEqual(2);

    const said = lines.filter((line) => line.level === 'warn' || line.level === 'info');
    expect(said).toEqual([
      {
        level: 'warn',
        msg: 'ref watcher lost',
        fields: { gitdir: bare, reason: `${bare} is missing` },
      },
      {
        level: 'info',
        msg: 'ref watcher restored',
        fields: { gitdir: bare, lostForMs: expect.any(Number), failures: expect.any(Number) },
      },
    ]);
  });

  it('the refs directory moved away and back', async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    const bare = repo.bareDir!;
    const refs = path.join(bare, 'refs');
    const source = await openLocalSource({ dir: bare, branch: 'main' });
    const w = await watchAll(source);

    fs.renameSync(refs, `${bare}.refs-away`);
    await waitFor('the loss to be reported', () => w.states.length > 0);
    expect(w.states[0]).toEqual({ watching: false, error: `${refs} is missing` });
    fs.renameSync(`${bare}.refs-away`, refs);
    await waitFor('the watch restored', () => w.states.length === 2);
    expect(w.states[1]).toEqual({ watching: true });

    w.changes.length = 0;
    const next = repo.commit({ 'a.txt': '2\n' }, 'after refs came back');
    await waitFor('a push after refs came back', () => w.changes.some((c) => pushed(c.reason)));
    expect(await source.head()).toBe(next);
    expect(w.open().length).toBe(1);
  });

  it('a bare repo deleted (rm -rf) and created again, then pushed to', async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    const bare = repo.bareDir!;
    const source = await openLocalSource({ dir: bare, branch: 'main' });
    const w = await watchAll(source);

    fs.rmSync(bare, { recursive: true, force: true });
    await waitFor('the loss to be reported', () => w.states.length > 0);
    expect(w.states).toEqual([{ watching: false, error: `${bare} is missing` }]);

    repo.git(['init', '-q', '--bare', '-b', 'main', bare]);
    await waitFor('the watch restored', () => w.states.length === 2);
    expect(w.states[1]).toEqual({ watching: true });
    expect(w.changes.map((c) => c.reason)).toContain('ref watcher restored');

    // The new repository is empty until the clone pushes into it.
    w.changes.length = 0;
    const next = repo.commit({ 'a.txt': '2\n' }, 'into the new repo');
    await waitFor('the push into the new repo', () => w.changes.some((c) => pushed(c.reason)));
    expect(await source.head()).toBe(next);
    expect(w.open().length).toBe(1);
  });

  it('a clone replaced by a copy of itself (no event at all) is caught by the periodic check', async () => {
    const repo = await repoFor({ files: { 'a.txt': '1\n' } });
    const gitdir = path.join(repo.dir, '.git');
    const source = await openLocalSource({ dir: repo.dir, branch: 'main' });
    const w = await watchAll(source);

    // The old .git keeps its inode (and the native watches on it) in its
    // new place, so nothing is reported: only its dev:ino at the path changed.
    fs.cpSync(repo.dir, `${repo.dir}.copy`, { recursive: true });
    fs.renameSync(repo.dir, `${repo.dir}.old`);
    fs.renameSync(`${repo.dir}.copy`, repo.dir);
    await waitFor('the watch replaced', () => w.states.length === 2);
    expect(w.states).toEqual([
      // "is missing" only should a check fall between the two renames.
      { watching: false, error: expect.stringMatching(/ (was replaced|is missing)$/) },
      { watching: true },
    ]);
    expect(w.states[0]!.error!.startsWith(gitdir)).toBe(true);

    w.changes.length = 0;
    const next = repo.commit({ 'a.txt': '2\n' }, 'in the copy');
    await waitFor('the commit in the copy', () => w.changes.some((c) => pushed(c.reason)));
    expect(await source.head()).toBe(next);
    expect(w.open().length).toBe(1);
  });

  it('a chokidar error replaces the watcher and reports the error', async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    const { log, lines } = captureLog();
    const source = await openLocalSource({ dir: repo.bareDir!, branch: 'main', log });
    const w = await watchAll(source);

    const first = w.watchers()[0]!;
    const boom = Object.assign(new Error('EMFILE: too many open files, watch'), {
      code: 'EMFILE',
    });
    first.emit('error', boom);
    await waitFor('the watch restored', () => w.states.length === 2);
    expect(w.states).toEqual([
      { watching: false, error: 'watcher error: EMFILE: too many open files, watch' },
      { watching: true },
    ]);
    expect(first.closed).toBe(true);
    expect(w.open().length).toBe(1);
    expect(lines.find((line) => line.msg === 'ref watcher lost')?.fields).toMatchObject({
      err: boom,
    });

    w.changes.length = 0;
    const next = repo.commit({ 'a.txt': '2\n' }, 'after the error');
    await waitFor('a push after the error', () => w.changes.some((c) => pushed(c.reason)));
    expect(await source.head()).toBe(next);
  });

  it('a repo away when watch starts: watch resolves, says so, and picks it up when it is back', async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    const bare = repo.bareDir!;
    const source = await openLocalSource({ dir: bare, branch: 'main' });
    fs.renameSync(bare, `${bare}.away`);
    const w = await watchAll(source);
    expect(w.states).toEqual([{ watching: false, error: `${bare} is missing` }]);
    expect(w.open().length).toBe(0);

    fs.renameSync(`${bare}.away`, bare);
    await waitFor('the watch established', () => w.states.length === 2);
    expect(w.states[1]).toEqual({ watching: true });
    w.changes.length = 0;
    repo.commit({ 'a.txt': '2\n' }, 'once back');
    await waitFor('a push once back', () => w.changes.some((c) => pushed(c.reason)));
  });

  it('git gc and pack-refs (the branch file goes away) are not a lost watch', async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    const bare = repo.bareDir!;
    const { log, lines } = captureLog();
    const source = await openLocalSource({ dir: bare, branch: 'main', log });
    const w = await watchAll(source);

    repo.git(['gc', '-q'], bare);
    expect(fs.existsSync(path.join(bare, 'refs/heads/main'))).toBe(false);
    await waitFor('gc to be seen', () => w.changes.some((c) => c.reason.startsWith('packed-refs')));
    const next = repo.commit({ 'a.txt': '2\n' }, 'after gc');
    await waitFor('a push after gc', () => w.changes.some((c) => pushed(c.reason)));
    repo.git(['pack-refs', '--all'], bare);
    // Past the check the unlink asked for and a periodic one.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(w.states).toEqual([]);
    expect(lines.filter((line) => line.level !== 'debug')).toEqual([]);
    expect(w.watchers().length).toBe(1);
    expect(await source.head()).toBe(next);
  });

  it('stop() while the repo is away ends the retries: nothing fires after it', async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    const bare = repo.bareDir!;
    const source = await openLocalSource({ dir: bare, branch: 'main' });
    const w = await watchAll(source);

    fs.renameSync(bare, `${bare}.away`);
    await waitFor('the loss to be reported', () => w.states.length > 0);
    const stopStarted = Date.now();
    await w.stop();
    // Not held up by a pending retry (the backoff sleeps are cut short).
    expect(Date.now() - stopStarted).toBeLessThan(1000);
    expect(w.open()).toEqual([]);
    const seen = {
      changes: w.changes.length,
      states: w.states.length,
      watchers: w.watchers().length,
    };

    fs.renameSync(`${bare}.away`, bare);
    repo.commit({ 'a.txt': '2\n' }, 'after stop');
    // Longer than a check interval and a few retries: none may come.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect({
      changes: w.changes.length,
      states: w.states.length,
      watchers: w.watchers().length,
    }).toEqual(seen);
  });
});
