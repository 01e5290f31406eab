// The agent's change sources against real repositories: a local repository
// watched while the git CLI pushes into it, and a remote served over smart
// HTTP by `git http-backend` and fetched with isomorphic-git.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { openLocalSource } from '../src/agent/local-source.js';
import { openRemoteSource } from '../src/agent/remote-source.js';
import type { BranchSource } from '../src/agent/types.js';
import type { ErrorCode } from '../src/errors.js';
import { type CreateRepoOptions, createRepo, type FixtureRepo } from './support/git-fixture.js';
import { type GitHttpServer, startGitHttpServer } from './support/git-http-server.js';

const execFileAsync = promisify(execFile);

/** Polls `predicate` until it holds, failing after `timeoutMs`; no fixed sleeps. */
async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function repoFor(options: CreateRepoOptions): Promise<FixtureRepo> {
  const repo = await createRepo(options);
  onTestFinished(repo.cleanup);
  return repo;
}

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onTestFinished(() => fs.promises.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts watching; the returned `events` fills as `onChange` is called. */
async function watchEvents(source: BranchSource) {
  const events: { at: number; reason: string }[] = [];
  const stop = await source.watch((reason) => events.push({ at: Date.now(), reason }));
  onTestFinished(stop);
  return { events, stop };
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode) {
  await expect(promise).rejects.toMatchObject({ name: 'GitdockError', code });
}

/** The rejection of `promise` (which must reject) with how long it took. */
async function failureOf(
  promise: Promise<unknown>,
): Promise<{ err: Error & { code?: string; data?: unknown }; ms: number }> {
  const started = Date.now();
  try {
    await promise;
  } catch (err) {
    return { err: err as Error & { code?: string }, ms: Date.now() - started };
  }
  throw new Error('expected a rejection');
}

describe('local source', () => {
  it('a push into a bare repo fires watch within milliseconds; head() is the pushed commit', async () => {
    const repo = await repoFor({ bare: true });
    const source = await openLocalSource({ dir: repo.bareDir!, branch: 'main' });
    expect(source).toMatchObject({ description: repo.bareDir, branch: 'main', remote: false });
    // Nothing pushed yet: the branch file does not exist.
    await expect(source.head()).rejects.toMatchObject({
      code: 'GITDOCK_E_GIT_REV_NOT_FOUND',
      message: `branch "main" does not exist in ${repo.bareDir} (push it, or pick another branch)`,
    });
    await source.update();
    const { events } = await watchEvents(source);

    const first = repo.commit({ 'hosts/a/web.yaml': 'image: web:1\n' }, 'first');
    await waitFor('the first push', () => events.length > 0);
    expect(await source.head()).toBe(first);
    expect(events[0]!.reason).toMatch(/^refs\/heads\/main (add|change)$/);

    // Time the next one from a push that runs while the event loop is free.
    repo.git(['commit', '-q', '--allow-empty', '-m', 'second']);
    const second = repo.rev();
    events.length = 0;
    const pushStarted = Date.now();
    await execFileAsync('git', ['push', '-q', 'origin', 'main'], {
      cwd: repo.dir,
      env: { ...process.env, GIT_CONFIG_GLOBAL: os.devNull, GIT_CONFIG_NOSYSTEM: '1' },
    });
    const pushEnded = Date.now();
    await waitFor('the second push', () => events.length > 0);
    expect(await source.head()).toBe(second);
    // The ref file's mtime is when git renamed the new ref into place: the
    // moment the watcher could first have known.
    const refWritten = fs.statSync(path.join(repo.bareDir!, 'refs/heads/main')).mtimeMs;
    const latency = events[0]!.at - refWritten;
    console.info(
      `[local-source] push ran ${pushEnded - pushStarted} ms; onChange ${latency.toFixed(1)} ms after git wrote the ref`,
    );
    // inotify reports the rename at once; a generous bound for a loaded machine.
    expect(latency).toBeLessThan(500);
  });

  it('survives git gc: packed refs still resolve, and pushes after it still fire', async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    const bare = repo.bareDir!;
    const source = await openLocalSource({ dir: bare, branch: 'main' });
    const { events } = await watchEvents(source);

    repo.git(['gc', '-q'], bare);
    // gc packs the ref: packed-refs appears, refs/heads/main goes.
    expect(fs.existsSync(path.join(bare, 'refs/heads/main'))).toBe(false);
    expect(fs.readFileSync(path.join(bare, 'packed-refs'), 'utf8')).toContain('refs/heads/main');
    await waitFor('gc to be seen', () => events.some((e) => e.reason.startsWith('packed-refs')));
    expect(await source.head()).toBe(repo.rev());

    events.length = 0;
    const next = repo.commit({ 'a.txt': '2\n' }, 'after gc');
    await waitFor('a push after gc', () =>
      events.some((e) => e.reason.startsWith('refs/heads/main')),
    );
    expect(await source.head()).toBe(next);

    // A ref moved while only in packed-refs: pack-refs, then update it by hand.
    repo.git(['pack-refs', '--all'], bare);
    await waitFor('pack-refs', () => events.some((e) => e.reason.startsWith('packed-refs')));
    events.length = 0;
    repo.git(['update-ref', 'refs/heads/main', 'HEAD~1'], bare);
    await waitFor('update-ref', () => events.length > 0);
    expect(await source.head()).toBe(repo.rev('HEAD~1'));
  });

  it('stop() stops events; other branches never fire', async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    const main = await openLocalSource({ dir: repo.bareDir!, branch: 'main' });
    const other = await openLocalSource({ dir: repo.bareDir!, branch: 'other' });
    const mainWatch = await watchEvents(main);
    const otherWatch = await watchEvents(other);

    // A push to another branch: the watcher of `other` sees it, that of
    // `main` must not (waiting on the one that fires, not on a clock).
    repo.git(['branch', 'other']);
    repo.push();
    await waitFor('the push to other', () => otherWatch.events.length > 0);
    expect(mainWatch.events).toEqual([]);
    expect(await other.head()).toBe(repo.rev());

    // After stop(), a push to main fires a fresh watcher but not the stopped one.
    await mainWatch.stop();
    const control = await watchEvents(main);
    repo.commit({ 'a.txt': '2\n' }, 'after stop');
    await waitFor('the control watcher', () => control.events.length > 0);
    expect(mainWatch.events).toEqual([]);
    await mainWatch.stop(); // stopping twice is harmless
  });

  it('follows a branch with a slash whose directory does not exist yet', async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    const source = await openLocalSource({ dir: repo.bareDir!, branch: 'release/v1' });
    const { events } = await watchEvents(source);
    expect(fs.existsSync(path.join(repo.bareDir!, 'refs/heads/release'))).toBe(false);
    repo.git(['branch', 'release/v1']);
    repo.push();
    await waitFor('the new nested branch', () => events.length > 0);
    expect(events[0]!.reason).toMatch(/^refs\/heads\/release\/v1 (add|change)$/);
    expect(await source.head()).toBe(repo.rev());
  });

  it('a commit in a non-bare repository fires watch', async () => {
    const repo = await repoFor({ files: { 'hosts/a/web.yaml': 'image: web:1\n' } });
    const source = await openLocalSource({ dir: repo.dir, branch: 'main' });
    expect(await source.head()).toBe(repo.rev());
    const files = await source.git.readFiles(await source.head(), () => true);
    expect([...files.keys()]).toEqual(['hosts/a/web.yaml']);
    const { events } = await watchEvents(source);
    const next = repo.commit({ 'hosts/a/web.yaml': 'image: web:2\n' }, 'web 2');
    await waitFor('the commit', () => events.length > 0);
    expect(await source.head()).toBe(next);
  });

  it("readReports() reads the hosts' applied and failed refs, packed or loose, and skips a .lock beside one", async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    const source = await openLocalSource({ dir: repo.bareDir!, branch: 'main' });
    expect(await source.readReports!()).toEqual({ applied: new Map(), failed: new Map() });
    const first = repo.rev();
    await source.reportApplied('refs/gitdock/applied/h1', first);
    repo.git(['pack-refs', '--all'], repo.bareDir!);
    await source.reportApplied('refs/gitdock/failed/h2', first);
    fs.writeFileSync(path.join(repo.bareDir!, 'refs/gitdock/failed/h3.lock'), `${first}\n`);
    expect(await source.readReports!()).toEqual({
      applied: new Map([['h1', first]]),
      failed: new Map([['h2', first]]),
    });
  });

  it('refuses a bad branch name and a path that is not a repository', async () => {
    const repo = await repoFor({ bare: true, files: { 'a.txt': '1\n' } });
    for (const branch of ['', '../x', 'a..b', 'main.lock', 'a b', '/main', 'main/', 'HEAD']) {
      await expectCode(openLocalSource({ dir: repo.bareDir!, branch }), 'GITDOCK_E_USAGE');
    }
    await expectCode(
      openLocalSource({ dir: tempDir('gitdock-not-a-repo-'), branch: 'main' }),
      'GITDOCK_E_GIT_REPO_NOT_FOUND',
    );
  });
});

describe('remote source', () => {
  /** A bare repo served over HTTP; `url` is the repo's URL (no credentials). */
  async function servedRepo(auth?: { username: string; password: string }) {
    const repo = await repoFor({ bare: true, files: { 'hosts/a/web.yaml': 'image: web:1\n' } });
    const server = await startGitHttpServer({
      root: path.dirname(repo.bareDir!),
      ...(auth ? { auth } : {}),
    });
    onTestFinished(server.close);
    return { repo, server, url: `${server.url}/${path.basename(repo.bareDir!)}` };
  }

  /** Requests that fetches made since `from`, as `METHOD path status`. */
  const requestsSince = (server: GitHttpServer, from: number) =>
    server.log.slice(from).map((r) => `${r.method} ${r.url.replace(/\?.*/, '')} ${r.status}`);

  it('a --state-dir that cannot be made or written is GITDOCK_E_STATE_DIR, naming the directory', async () => {
    const dir = tempDir('gitdock-state-');
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, '');
    const url = 'http://127.0.0.1:9/never-contacted.git';
    const under = await failureOf(
      openRemoteSource({ url, branch: 'main', stateDir: path.join(file, 'sub') }),
    );
    expect(under.err).toMatchObject({ code: 'GITDOCK_E_STATE_DIR' });
    expect(under.err.message).toContain(`cannot use --state-dir ${path.join(file, 'sub')}`);
    expect(under.err.message).toContain('ENOTDIR');
  });

  it('update() fetches the branch into a bare cache; head() follows new pushes', async () => {
    const { repo, server, url } = await servedRepo();
    const stateDir = tempDir('gitdock-state-');
    const source = await openRemoteSource({ url, branch: 'main', stateDir });
    expect(source).toMatchObject({ description: url, branch: 'main', remote: true });
    // Nothing fetched yet, and opening does not touch the network.
    expect(server.requests).toBe(0);
    await expectCode(source.head(), 'GITDOCK_E_GIT_REV_NOT_FOUND');

    await source.update();
    expect(await source.head()).toBe(repo.rev());
    const files = await source.git.readFiles(await source.head(), () => true);
    expect(new TextDecoder().decode(files.get('hosts/a/web.yaml'))).toBe('image: web:1\n');
    const cacheDirs = fs.readdirSync(path.join(stateDir, 'cache'));
    expect(cacheDirs).toHaveLength(1);
    expect(cacheDirs[0]).toMatch(/^[0-9a-f]{32}\.git$/);
    const packDir = path.join(stateDir, 'cache', cacheDirs[0]!, 'objects', 'pack');
    const packsBefore = new Set(fs.readdirSync(packDir));

    const next = repo.commit({ 'hosts/a/web.yaml': 'image: web:2\n' }, 'web 2');
    await source.update();
    expect(await source.head()).toBe(next);
    // The fetch offered what the cache has, so the new pack holds only the new
    // commit, its tree... (commit, root tree, hosts/, hosts/a/, blob).
    const newIdx = fs.readdirSync(packDir).filter((f) => f.endsWith('.idx') && !packsBefore.has(f));
    expect(newIdx).toHaveLength(1);
    const { stdout } = await execFileAsync('git', [
      'verify-pack',
      '-v',
      path.join(packDir, newIdx[0]!),
    ]);
    expect(
      stdout.split('\n').filter((l) => /^[0-9a-f]{40} (commit|tree|blob)/.test(l)),
    ).toHaveLength(5);

    // A fetch with nothing new moves nothing and writes no pack.
    const packCount = fs.readdirSync(packDir).length;
    await source.update();
    expect(await source.head()).toBe(next);
    expect(fs.readdirSync(packDir)).toHaveLength(packCount);

    // A restarted agent reuses the cache: head() answers before any fetch.
    const again = await openRemoteSource({ url, branch: 'main', stateDir });
    const before = server.requests;
    expect(await again.head()).toBe(next);
    expect(server.requests).toBe(before);
    expect(await again.watch(() => {})).toBeTypeOf('function');
  });

  it("readReports() lists the hosts' applied and failed refs with ls-refs, fetching no object", async () => {
    const { repo, server, url } = await servedRepo();
    const source = await openRemoteSource({
      url,
      branch: 'main',
      stateDir: tempDir('gitdock-state-'),
    });
    expect(await source.readReports!()).toEqual({ applied: new Map(), failed: new Map() });
    await source.update();
    const first = repo.rev();
    // git http-backend takes a push from an anonymous client only when told to.
    repo.git(['config', 'http.receivepack', 'true'], repo.bareDir!);
    await source.reportApplied('refs/gitdock/applied/h1', first);
    await source.reportApplied('refs/gitdock/failed/h2', first);
    const from = server.log.length;
    expect(await source.readReports!()).toEqual({
      applied: new Map([['h1', first]]),
      failed: new Map([['h2', first]]),
    });
    // One ref advertisement and one ls-refs: no upload-pack of objects.
    expect(requestsSince(server, from)).toEqual([
      'GET /repo.git/info/refs 200',
      'POST /repo.git/git-upload-pack 200',
    ]);
    // A ref of any other name is never written.
    await expectCode(source.reportApplied('refs/heads/main', first), 'GITDOCK_E_GIT_REPORT');
  });

  it('concurrent update() calls share one fetch; a later call fetches again', async () => {
    const { repo, server, url } = await servedRepo();
    const source = await openRemoteSource({
      url,
      branch: 'main',
      stateDir: tempDir('gitdock-state-'),
    });
    await source.update();
    const next = repo.commit({ 'b.txt': 'b\n' }, 'b');

    const from = server.requests;
    await Promise.all([source.update(), source.update(), source.update(), source.update()]);
    expect(requestsSince(server, from)).toEqual([
      'GET /repo.git/info/refs 200',
      'POST /repo.git/git-upload-pack 200',
    ]);
    expect(await source.head()).toBe(next);

    const from2 = server.requests;
    await source.update();
    expect(requestsSince(server, from2)).toHaveLength(2);
  });

  it('a token file authenticates against a basic-auth server; a wrong token fails without showing it', async () => {
    const token = 'tok-3a9f1c7e5b2d4f60';
    const { repo, server, url } = await servedRepo({ username: 'x-access-token', password: token });
    const stateDir = tempDir('gitdock-state-');
    const tokenFile = path.join(stateDir, 'token');
    fs.writeFileSync(tokenFile, `${token}\n`);
    const source = await openRemoteSource({ url, branch: 'main', stateDir, tokenFile });
    await source.update();
    expect(await source.head()).toBe(repo.rev());
    // No credentials stored in the cache.
    const cacheDir = path.join(stateDir, 'cache', fs.readdirSync(path.join(stateDir, 'cache'))[0]!);
    expect(fs.readFileSync(path.join(cacheDir, 'config'), 'utf8')).not.toContain(token);

    // Rotated to a wrong token: read again on the next fetch, and refused.
    const wrong = 'tok-wrong-8c1d2e3f4a5b';
    fs.writeFileSync(tokenFile, wrong);
    const { err } = await failureOf(source.update());
    expect(err).toMatchObject({ name: 'GitdockError', code: 'GITDOCK_E_GIT_FETCH' });
    expect(err.message).toBe(
      `fetching branch "main" from ${url} failed: HTTP Error: 401 Unauthorized: the server refused the credentials (check the token file or the URL)`,
    );
    const everything = `${err.message} ${JSON.stringify(err.data)} ${String(err.cause)} ${err.stack}`;
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(token);

    // No token at all: the server's 401 is explained.
    const anonymous = await openRemoteSource({ url, branch: 'main', stateDir });
    const { err: anonErr } = await failureOf(anonymous.update());
    expect(anonErr).toMatchObject({ code: 'GITDOCK_E_GIT_FETCH' });
    expect(anonErr.message).toContain('the server wants credentials');

    // An empty token file is refused before any request.
    fs.writeFileSync(tokenFile, '\n');
    const from = server.requests;
    await expect(source.update()).rejects.toMatchObject({
      code: 'GITDOCK_E_GIT_FETCH',
      message: expect.stringContaining(`the token file ${tokenFile} is empty`),
    });
    expect(server.requests).toBe(from);
  });

  it('credentials in the URL work and never show in description or errors', async () => {
    const password = 'pw-6d0b9e1f27c4';
    const { repo, server, url } = await servedRepo({ username: 'deploy', password });
    const stateDir = tempDir('gitdock-state-');
    const withCredentials = url.replace('http://', `http://deploy:${password}@`);
    const source = await openRemoteSource({ url: withCredentials, branch: 'main', stateDir });
    expect(source.description).toBe(url);
    await source.update();
    expect(await source.head()).toBe(repo.rev());
    // Same repository, same cache, whatever the credentials.
    expect(fs.readdirSync(path.join(stateDir, 'cache'))).toHaveLength(1);

    const bad = url.replace('http://', `http://deploy:${password}-old@`);
    const { err } = await failureOf(
      (await openRemoteSource({ url: bad, branch: 'main', stateDir })).update(),
    );
    expect(err).toMatchObject({ code: 'GITDOCK_E_GIT_FETCH' });
    expect(err.message).toContain(url);
    expect(`${err.message} ${JSON.stringify(err.data)} ${String(err.cause)}`).not.toContain(
      password,
    );
    expect(server.requests).toBeGreaterThan(0);
  });

  it('a branch the remote does not have is a fetch error', async () => {
    const { url } = await servedRepo();
    const source = await openRemoteSource({
      url,
      branch: 'nope',
      stateDir: tempDir('gitdock-state-'),
    });
    await expect(source.update()).rejects.toMatchObject({
      code: 'GITDOCK_E_GIT_FETCH',
      message: `fetching branch "nope" from ${url} failed: the remote has no branch "nope"`,
    });
  });

  it('a server that is down fails fast with GITDOCK_E_GIT_FETCH', async () => {
    const { server, url } = await servedRepo();
    await server.close();
    const source = await openRemoteSource({
      url,
      branch: 'main',
      stateDir: tempDir('gitdock-state-'),
      fetchTimeoutMs: 5000,
    });
    const { err, ms } = await failureOf(source.update());
    expect(err).toMatchObject({ code: 'GITDOCK_E_GIT_FETCH' });
    expect(err.message).toMatch(
      new RegExp(`^fetching branch "main" from ${url} failed: .*ECONNREFUSED`),
    );
    expect(ms).toBeLessThan(5000);
  });

  /** A server that accepts connections and never answers. */
  async function startSilentServer() {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      // Read (and drop) what arrives, or the client's FIN is never seen.
      socket.resume();
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    );
    const { port } = server.address() as net.AddressInfo;
    return { url: `http://127.0.0.1:${port}/repo.git`, sockets };
  }

  it('a server that never answers fails with GITDOCK_E_GIT_FETCH at the timeout', async () => {
    const silent = await startSilentServer();
    const source = await openRemoteSource({
      url: silent.url,
      branch: 'main',
      stateDir: tempDir('gitdock-state-'),
      fetchTimeoutMs: 300,
    });
    const { err, ms } = await failureOf(source.update());
    expect(err).toMatchObject({
      code: 'GITDOCK_E_GIT_FETCH',
      message: `fetching branch "main" from ${silent.url} failed: not done within 300 ms (the fetch timeout)`,
    });
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(2000);
    // The request was aborted, not left hanging.
    await waitFor('the connection to close', () => silent.sockets.size === 0);
  });

  it('a push of the applied ref to a server that never answers fails at the timeout', async () => {
    const silent = await startSilentServer();
    const source = await openRemoteSource({
      url: silent.url,
      branch: 'main',
      stateDir: tempDir('gitdock-state-'),
      fetchTimeoutMs: 300,
    });
    const { err, ms } = await failureOf(
      source.reportApplied('refs/gitdock/applied/h1', 'a'.repeat(40)),
    );
    expect(err).toMatchObject({
      code: 'GITDOCK_E_GIT_REPORT',
      message: `pushing refs/gitdock/applied/h1 to ${silent.url} failed: not done within 300 ms`,
    });
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(2000);
    await waitFor('the connection to close', () => silent.sockets.size === 0);
  });

  it('the caller can abort update(); the fetch stops when nobody waits for it', async () => {
    const silent = await startSilentServer();
    const source = await openRemoteSource({
      url: silent.url,
      branch: 'main',
      stateDir: tempDir('gitdock-state-'),
      fetchTimeoutMs: 60_000,
    });
    await expect(source.update(AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
    const controller = new AbortController();
    const pending = source.update(controller.signal);
    await waitFor('the request to arrive', () => silent.sockets.size > 0);
    controller.abort();
    const { err, ms } = await failureOf(pending);
    expect(err.name).toBe('AbortError');
    expect(ms).toBeLessThan(1000);
    await waitFor('the connection to close', () => silent.sockets.size === 0);
  });

  it('refuses a URL that is not http(s)', async () => {
    for (const url of [
      '/srv/fleet.git',
      'ssh://git@example.com/fleet.git',
      'file:///srv/fleet.git',
    ]) {
      await expectCode(
        openRemoteSource({ url, branch: 'main', stateDir: tempDir('gitdock-state-') }),
        'GITDOCK_E_USAGE',
      );
    }
  });
});
