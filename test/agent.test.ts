// The agent's done-when list, against the real private dockerd, registry and
// git: a real `gitdock agent` process watching a real bare repository.
import { execFile, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent, waitConverged, waitFor } from './support/agent-process.js';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import { startGitHttpServer } from './support/git-http-server.js';
import { containers, eventCursor, mutationsSince } from './support/gitdock.js';
import { REPO_OF, service } from './support/services.js';
import {
  docker,
  imageRef,
  removeAllContainers,
  startRegistry,
  stopRegistry,
} from './support/stack.js';

const STACK_SH = fileURLToPath(new URL('../scripts/stack.sh', import.meta.url));

/**
 * `git` without blocking the event loop: the smart-HTTP server of these tests
 * runs in this process, so a synchronous `git ls-remote` against it would
 * wait forever for a server that cannot answer.
 */
async function gitAsync(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('git', args, { encoding: 'utf8' });
  return stdout;
}

const WEB = (tag: string) => service({ image: REPO_OF('app'), tag });
const FILES = {
  'hosts/h1/web.yaml': WEB('1.0'),
  'hosts/h1/cache.yaml': service({
    image: REPO_OF('app'),
    tag: '1.0',
    environment: { ROLE: 'cache' },
  }),
};

let repo: FixtureRepo;
let agent: AgentProcess | undefined;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

async function start(args: string[] = []): Promise<AgentProcess> {
  agent = await startAgent([
    '--host',
    'h1',
    '--repo',
    repo.bareDir!,
    '--retry-max',
    '2s',
    '--failed-retry',
    '30s',
    ...args,
  ]);
  return agent;
}

async function converged(commit: string, timeoutMs = 20_000) {
  return waitConverged(agent!, commit, { timeoutMs });
}

/**
 * Starts the agent, converges, pushes web 1.1 with a 3 s settle (so the
 * replacement stays in flight long enough to be caught mid-way), waits until
 * `reached` holds of the engine mutations since the push, and SIGKILLs the
 * agent there. Returns the pushed commit.
 */
async function killMidUpdate(reached: (mutations: string[]) => boolean): Promise<string> {
  await start();
  await converged(repo.rev());
  const cursor = eventCursor();
  const sha = repo.commit(
    {
      'hosts/h1/web.yaml': service({ image: REPO_OF('app'), tag: '1.1', update: { settle: '3s' } }),
    },
    'slow',
  );
  await waitFor(() => reached(mutationsSince(cursor)), {
    what: 'the update to reach the kill point',
  });
  await agent!.stop('SIGKILL');
  return sha;
}

beforeAll(() => removeAllContainers());

beforeEach(async () => {
  removeAllContainers();
  repo = await createRepo({ bare: true, files: FILES });
});

afterEach(async () => {
  await agent?.stop('SIGTERM');
  agent = undefined;
  for (const c of cleanups.splice(0)) await c();
  await repo.cleanup();
  removeAllContainers();
});

describe('gitdock agent', () => {
  it('a push to the watched bare repo converges the host with no other action', async () => {
    await start();
    await converged(repo.rev());
    const before = containers();
    const pushedAt = Date.now();
    const sha = repo.commit({ 'hosts/h1/web.yaml': WEB('1.1') }, 'web 1.1');
    const status = await converged(sha);
    const seconds = (Date.now() - pushedAt) / 1000;
    console.log(`push to converged (settle 0.5s included): ${seconds.toFixed(2)} s`);
    expect(status.lastAppliedCommit).toBe(sha);
    const after = containers();
    expect(after.get('web')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.1'));
    expect(after.get('cache')?.id).toBe(before.get('cache')?.id);
    const metrics = await (await fetch(`${agent!.url}/metrics`)).text();
    expect(metrics).toMatch(/gitdock_reconcile_total\{result="success"\} [1-9]/);
    expect((await fetch(`${agent!.url}/healthz`)).status).toBe(200);
  });

  it('heals docker stop and docker rm -f without a commit', async () => {
    await start();
    await converged(repo.rev());
    const id = containers().get('web')!.id;
    docker(['stop', '-t', '1', 'web']);
    await waitFor(() => containers().get('web')?.state === 'running', {
      what: 'web restarted after docker stop',
    });
    expect(containers().get('web')?.id).toBe(id);
    docker(['rm', '-f', 'cache']);
    await waitFor(() => containers().get('cache')?.state === 'running', {
      what: 'cache recreated after docker rm -f',
    });
    const s = await converged(repo.rev());
    expect(s.services.map((x) => x.health)).toEqual(['Healthy', 'Healthy']);
  });

  it('an invalid push changes nothing and is reported; the next valid push converges', async () => {
    await start();
    await converged(repo.rev());
    const cursor = eventCursor();
    const bad = repo.commit({ 'hosts/h1/web.yaml': 'image: a\ntag: "1"\nportz: []\n' }, 'typo');
    const status = await waitFor(
      async () => {
        const s = await agent!.status();
        return s.lastAttemptedCommit === bad && s.lastReconcile?.result === 'invalid' && s;
      },
      { what: 'the invalid commit to be reported' },
    );
    expect(status.errors[0]).toMatchObject({ file: 'hosts/h1/web.yaml', line: 3 });
    expect(status.errors[0]!.message).toContain('unknown field "portz"');
    expect(mutationsSince(cursor)).toEqual([]);
    const good = repo.commit({ 'hosts/h1/web.yaml': WEB('1.1') }, 'fix');
    await converged(good);
  });

  it('while the branch is on an invalid commit, drift is healed against the last valid one', async () => {
    await start();
    const first = repo.rev();
    await converged(first);
    const bad = repo.commit({ 'hosts/h1/web.yaml': 'image: a\ntag: "1"\nportz: []\n' }, 'typo');
    await waitFor(
      async () => {
        const s = await agent!.status();
        return s.lastAttemptedCommit === bad && s.lastReconcile?.result === 'invalid';
      },
      { what: 'the invalid commit to be reported' },
    );
    const id = containers().get('web')!.id;
    docker(['stop', '-t', '1', 'web']);
    await waitFor(() => containers().get('web')?.state === 'running', {
      what: 'web started again under the invalid commit',
    });
    expect(containers().get('web')?.id).toBe(id);
    const s = await waitFor(
      async () => {
        const st = await agent!.status();
        const done = Boolean(st.lastReconcile?.finishedAt);
        return done && st.services.find((x) => x.name === 'web')?.health === 'Healthy' && st;
      },
      { what: 'a finished pass that reports web healthy' },
    );
    // Healing applies nothing new: the commit stays refused and reported.
    expect(s.lastReconcile?.result).toBe('invalid');
    expect(s.lastAppliedCommit).toBe(first);
    expect(s.errors[0]).toMatchObject({ file: 'hosts/h1/web.yaml', line: 3 });
  });

  it.each([
    [
      'exits at once',
      { image: REPO_OF('crash'), tag: '1.0' },
      /exited with code 3/,
      ['boom: crash image'],
    ],
    [
      'never becomes healthy',
      { image: REPO_OF('unhealthy'), tag: '1.0', update: { health_timeout: '10s' } },
      /health check reports unhealthy/,
      ['ready: unhealthy 1.0'],
    ],
  ])(
    'a release that %s never takes over, is not retried in a loop, and a revert fixes it',
    async (_what, fields, reason, lastLogLines) => {
      await start();
      const first = repo.rev();
      await converged(first);
      const webId = containers().get('web')!.id;
      const cursor = eventCursor();
      const bad = repo.commit({ 'hosts/h1/web.yaml': service(fields) }, 'bad release');
      const failed = await waitFor(
        async () => {
          const s = await agent!.status();
          const web = s.services.find((x) => x.name === 'web');
          return s.lastAttemptedCommit === bad && web?.sync === 'Failed' && s;
        },
        { what: 'web to be Failed' },
      );
      const web = failed.services.find((x) => x.name === 'web')!;
      expect(web.reason).toMatch(reason);
      expect(web.lastLogLines).toEqual(lastLogLines);
      expect(containers().get('web')).toMatchObject({ id: webId, state: 'running' });
      // Nudge the agent with engine events and a resync's worth of time: it must hold the failed spec.
      docker(['stop', '-t', '1', 'cache']);
      await waitFor(() => containers().get('cache')?.state === 'running', { what: 'cache healed' });
      await new Promise((r) => setTimeout(r, 3000));
      const creates = mutationsSince(cursor).filter((m) => m.startsWith('create '));
      expect(creates).toEqual(['create web.gitdock-NEXT']);
      repo.git(['revert', '--no-edit', 'HEAD']);
      repo.push();
      await converged(repo.rev());
      expect(containers().get('web')?.id).toBe(webId);
    },
  );

  it('with the registry down, old containers keep running and the reason is shown; then it converges', async () => {
    await start();
    await converged(repo.rev());
    const before = containers();
    docker(['rmi', '-f', imageRef('app', '2.0')], { timeoutMs: 30_000 });
    stopRegistry();
    cleanups.push(() => startRegistry());
    const sha = repo.commit({ 'hosts/h1/web.yaml': WEB('2.0') }, 'web 2.0');
    const s = await waitFor(
      async () => {
        const st = await agent!.status();
        return (
          st.lastAttemptedCommit === sha &&
          st.errors.some((e) => e.message.includes('app:2.0')) &&
          st
        );
      },
      { what: 'the pull failure to be reported' },
    );
    expect(s.lastAppliedCommit).not.toBe(sha);
    expect(containers().get('web')).toMatchObject({ id: before.get('web')!.id, state: 'running' });
    startRegistry();
    // Backoff is capped at 2s (--retry-max): well within this wait.
    await converged(sha, 30_000);
    expect(containers().get('web')?.labels['io.gitdock.image']).toBe(imageRef('app', '2.0'));
  });

  it('survives its engine restarting, and converges again', async () => {
    await start();
    await converged(repo.rev());
    execFileSync('bash', [STACK_SH, 'engine-restart'], { stdio: 'ignore', timeout: 90_000 });
    // Containers without a restart policy come back stopped: the agent must start them.
    await waitFor(
      () => [...containers().values()].filter((c) => c.state === 'running').length === 2,
      { timeoutMs: 30_000, what: 'both services running after the engine restart' },
    );
    const s = await converged(repo.rev());
    expect(s.engine.reachable).toBe(true);
  });

  it.each([
    [
      'the replacement is created',
      (m: string[]) => m.some((x) => x.startsWith('create web.gitdock-NEXT')),
    ],
    ['the old container is stopped', (m: string[]) => m.some((x) => x.startsWith('stop web'))],
    [
      'the replacement is started',
      (m: string[]) => m.some((x) => x.startsWith('start web.gitdock-NEXT')),
    ],
  ])(
    'SIGKILL when %s: a restarted agent converges, one container per service',
    async (_when, reached) => {
      const sha = await killMidUpdate(reached);
      await start();
      await converged(sha, 30_000);
      const names = [...containers().keys()].sort();
      expect(names).toEqual(['cache', 'web']);
      expect(containers().get('web')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.1'));
    },
  );

  it('SIGKILL after the old container is removed: the restarted agent lets the replacement take the name', async () => {
    const sha = await killMidUpdate((m) => m.some((x) => x.startsWith('start web.gitdock-NEXT')));
    // The moment between removing the old container and the rename is too
    // short to hit with a kill: make it by hand, as the agent would have.
    docker(['rm', '-f', 'web']);
    const next = containers().get('web.gitdock-NEXT');
    expect(next?.state).toBe('running');
    await start();
    await converged(sha, 30_000);
    const after = containers();
    expect([...after.keys()].sort()).toEqual(['cache', 'web']);
    // The update was finished, not redone: the replacement itself took the name.
    expect(after.get('web')?.id).toBe(next!.id);
    expect(after.get('web')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.1'));
  });

  it('SIGKILL after the old container is stopped for a bad release: the restarted agent starts the old one again', async () => {
    await start();
    await converged(repo.rev());
    const cursor = eventCursor();
    // unhealthy:1.0 runs ~3 s before its health check fails: time to kill the
    // agent while the old web is stopped and the replacement is on trial.
    const bad = repo.commit(
      {
        'hosts/h1/web.yaml': service({
          image: REPO_OF('unhealthy'),
          tag: '1.0',
          update: { health_timeout: '10s' },
        }),
      },
      'bad release',
    );
    await waitFor(() => mutationsSince(cursor).some((x) => x.startsWith('stop web')), {
      what: 'the old web to be stopped',
    });
    await agent!.stop('SIGKILL');
    expect(containers().get('web')?.state).not.toBe('running');
    await start();
    const status = await waitFor(
      async () => {
        const s = await agent!.status();
        const web = s.services.find((x) => x.name === 'web');
        return s.lastAttemptedCommit === bad && web?.sync === 'Failed' && s;
      },
      { timeoutMs: 30_000, what: 'the bad release to fail after the restart' },
    );
    expect(status.services.find((x) => x.name === 'web')?.reason).toMatch(/unhealthy/);
    const after = containers();
    expect([...after.keys()].sort()).toEqual(['cache', 'web']);
    expect(after.get('web')?.state).toBe('running');
    expect(after.get('web')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.0'));
  });

  it('--report-ref moves refs/gitdock/applied/<host> to each applied commit, never a branch', async () => {
    await start(['--report-ref']);
    const first = repo.rev();
    await converged(first);
    const lsRemote = () => repo.git(['ls-remote', repo.bareDir!]);
    await waitFor(async () => (await lsRemote()).includes(`${first}\trefs/gitdock/applied/h1`), {
      what: 'the applied ref at the first commit',
    });
    const sha = repo.commit({ 'hosts/h1/web.yaml': WEB('1.1') }, 'web 1.1');
    await converged(sha);
    await waitFor(async () => (await lsRemote()).includes(`${sha}\trefs/gitdock/applied/h1`), {
      what: 'the applied ref to follow the push',
    });
    // A commit that does not converge is not recorded.
    const bad = repo.commit(
      { 'hosts/h1/web.yaml': service({ image: REPO_OF('crash'), tag: '1.0' }) },
      'crash',
    );
    await waitFor(async () => (await agent!.status()).lastAttemptedCommit === bad, {
      what: 'the crashing commit to be tried',
    });
    // ...but its failure is, for the hosts of later waves.
    await waitFor(async () => (await lsRemote()).includes(`${bad}\trefs/gitdock/failed/h1`), {
      what: 'the failed ref at the crashing commit',
    });
    const status = await agent!.status();
    expect(status.appliedRef).toEqual({ ref: 'refs/gitdock/applied/h1', reportedCommit: sha });
    const refs = lsRemote();
    expect(refs).toContain(`${sha}\trefs/gitdock/applied/h1`);
    expect(refs).toContain(`${bad}\trefs/heads/main`);
    expect(refs.split('\n').filter((l) => l.includes('refs/gitdock/'))).toEqual([
      `${sha}\trefs/gitdock/applied/h1`,
      `${bad}\trefs/gitdock/failed/h1`,
    ]);
  });

  it('SIGTERM finishes the service in hand, skips the one not begun, leaves no temporary container', async () => {
    await start();
    await converged(repo.rev());
    const cursor = eventCursor();
    // cache waits for web (depends_on): when SIGTERM comes during web's
    // replacement, web must finish and cache must not begin.
    const sha = repo.commit(
      {
        'hosts/h1/web.yaml': service({
          image: REPO_OF('app'),
          tag: '1.1',
          update: { settle: '2s' },
        }),
        'hosts/h1/cache.yaml': service({
          image: REPO_OF('app'),
          tag: '1.1',
          environment: { ROLE: 'cache' },
          depends_on: ['web'],
        }),
      },
      'slow web, then cache',
    );
    await waitFor(
      () => mutationsSince(cursor).some((x) => x.startsWith('start web.gitdock-NEXT')),
      { what: 'the replacement to start' },
    );
    expect(await agent!.stop('SIGTERM')).toBe(0);
    const after = containers();
    expect([...after.keys()].sort()).toEqual(['cache', 'web']);
    expect(after.get('web')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.1'));
    expect(after.get('cache')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.0'));
    expect(mutationsSince(cursor).some((x) => x.includes('cache.gitdock-NEXT'))).toBe(false);
    // The next start picks up what was skipped.
    await start();
    await converged(sha);
    expect(containers().get('cache')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.1'));
  });
});

describe('gitdock agent on an http remote', () => {
  it('a signed webhook converges well before the poll interval; a bad signature is refused, nothing fetched', async () => {
    const server = await startGitHttpServer({ root: join(repo.bareDir!, '..') });
    cleanups.push(() => server.close());
    const dir = await mkdtemp(join(tmpdir(), 'gitdock-agent-remote-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const secretFile = join(dir, 'secret');
    await writeFile(secretFile, 'hook-secret\n');
    const url = `${server.url}/${repo.bareDir!.split('/').at(-1)}`;
    agent = await startAgent([
      '--host',
      'h1',
      '--repo',
      url,
      '--interval',
      '1h',
      '--state-dir',
      join(dir, 'state'),
      '--webhook-secret-file',
      secretFile,
      '--retry-max',
      '2s',
    ]);
    await converged(repo.rev());
    const sha = repo.commit({ 'hosts/h1/web.yaml': WEB('1.1') }, 'web 1.1');
    const body = JSON.stringify({ ref: 'refs/heads/main', after: '0'.repeat(40) });

    const requestsBefore = server.requests;
    const unsigned = await fetch(`${agent.url}/hooks/git`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(unsigned.status).toBe(401);
    const wrong = await fetch(`${agent.url}/hooks/git`, {
      method: 'POST',
      body,
      headers: {
        'x-hub-signature-256': `sha256=${createHmac('sha256', 'wrong').update(body).digest('hex')}`,
      },
    });
    expect(wrong.status).toBe(401);
    await new Promise((r) => setTimeout(r, 500));
    expect(server.requests).toBe(requestsBefore);
    expect((await agent.status()).lastAppliedCommit).not.toBe(sha);

    const signed = await fetch(`${agent.url}/hooks/git`, {
      method: 'POST',
      body,
      headers: {
        'x-hub-signature-256': `sha256=${createHmac('sha256', 'hook-secret').update(body).digest('hex')}`,
      },
    });
    expect(signed.status).toBe(202);
    await converged(sha, 15_000);
    expect(containers().get('web')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.1'));
  });
});

describe('gitdock agent with its git server away', () => {
  it.each([
    ['on a valid commit', false],
    ['while the branch is on an invalid commit', true],
  ])(
    '%s: keeps the host as it is and says why; once the server is back, the retry fetches and converges',
    async (_when, invalidFirst) => {
      const server = await startGitHttpServer({ root: join(repo.bareDir!, '..') });
      cleanups.push(() => server.close());
      const dir = await mkdtemp(join(tmpdir(), 'gitdock-agent-gitdown-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const secretFile = join(dir, 'secret');
      await writeFile(secretFile, 'hook-secret\n');
      agent = await startAgent([
        '--host',
        'h1',
        '--repo',
        `${server.url}/${repo.bareDir!.split('/').at(-1)}`,
        // No periodic fetch within the test: only the webhook and the retries fetch.
        '--interval',
        '1h',
        '--state-dir',
        join(dir, 'state'),
        '--webhook-secret-file',
        secretFile,
        '--retry-max',
        '2s',
      ]);
      const hook = async () => {
        const body = JSON.stringify({ ref: 'refs/heads/main' });
        const res = await fetch(`${agent!.url}/hooks/git`, {
          method: 'POST',
          body,
          headers: {
            'x-hub-signature-256': `sha256=${createHmac('sha256', 'hook-secret').update(body).digest('hex')}`,
          },
        });
        expect(res.status).toBe(202);
      };
      await converged(repo.rev());
      if (invalidFirst) {
        const bad = repo.commit({ 'hosts/h1/web.yaml': 'image: a\ntag: "1"\nportz: []\n' }, 'typo');
        await hook();
        await waitFor(
          async () => {
            const st = await agent!.status();
            return st.lastAttemptedCommit === bad && st.lastReconcile?.result === 'invalid';
          },
          { what: 'the invalid commit to be reported' },
        );
      }
      const webId = containers().get('web')!.id;
      server.setDown(true);
      const sha = repo.commit({ 'hosts/h1/web.yaml': WEB('1.1') }, 'web 1.1');
      await hook();
      const away = await waitFor(
        async () => {
          const st = await agent!.status();
          return !st.git.reachable && st;
        },
        { what: 'git to be reported unreachable' },
      );
      expect(away.git.error).toMatch(/503/);
      expect(away.errors.map((e) => e.message).join('\n')).toMatch(/503/);
      expect(containers().get('web')?.id).toBe(webId);

      // Back: no webhook, no interval within reach; only the backoff's retries fetch.
      server.setDown(false);
      const back = await converged(sha, 15_000);
      expect(back.git.reachable).toBe(true);
      expect(containers().get('web')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.1'));
    },
  );
});

describe('gitdock agent --report-ref on an http remote', () => {
  it('pushes refs/gitdock/applied/<host> to the remote; git ls-remote shows it', async () => {
    // git http-backend takes pushes from an anonymous user only when the repo says so.
    repo.git(['config', 'http.receivepack', 'true'], repo.bareDir!);
    const server = await startGitHttpServer({ root: join(repo.bareDir!, '..') });
    cleanups.push(() => server.close());
    const dir = await mkdtemp(join(tmpdir(), 'gitdock-agent-report-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const url = `${server.url}/${repo.bareDir!.split('/').at(-1)}`;
    agent = await startAgent([
      '--host',
      'h1',
      '--repo',
      url,
      '--interval',
      '1s',
      '--state-dir',
      join(dir, 'state'),
      '--retry-max',
      '2s',
      '--report-ref',
    ]);
    const first = repo.rev();
    await converged(first);
    const lsRemote = () => gitAsync(['ls-remote', url]);
    await waitFor(async () => (await lsRemote()).includes(`${first}\trefs/gitdock/applied/h1`), {
      what: 'the applied ref on the remote',
    });
    const sha = repo.commit({ 'hosts/h1/web.yaml': WEB('1.1') }, 'web 1.1');
    await converged(sha, 20_000);
    await waitFor(async () => (await lsRemote()).includes(`${sha}\trefs/gitdock/applied/h1`), {
      what: 'the applied ref to move on the remote',
    });
    expect(await lsRemote()).toContain(`${sha}\trefs/heads/main`);
    // The report runs beside the loop: /status follows once the push is answered.
    await waitFor(
      async () => (await agent!.status()).appliedRef?.reportedCommit === sha || undefined,
      { what: '/status to show the reported commit' },
    );
    expect((await agent.status()).appliedRef).toEqual({
      ref: 'refs/gitdock/applied/h1',
      reportedCommit: sha,
    });
  });

  it('without push rights the host still converges; /status says why the ref is missing', async () => {
    const server = await startGitHttpServer({ root: join(repo.bareDir!, '..') });
    cleanups.push(() => server.close());
    const dir = await mkdtemp(join(tmpdir(), 'gitdock-agent-report-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const url = `${server.url}/${repo.bareDir!.split('/').at(-1)}`;
    agent = await startAgent([
      '--host',
      'h1',
      '--repo',
      url,
      '--state-dir',
      join(dir, 'state'),
      '--report-ref',
    ]);
    await converged(repo.rev());
    // The push is tried after the pass applied the commit: wait for its outcome.
    const status = await waitFor(
      async () => {
        const s = await agent!.status();
        return s.appliedRef?.error !== undefined && s;
      },
      { what: 'the failed report in /status' },
    );
    expect(status.appliedRef?.reportedCommit).toBeNull();
    expect(status.appliedRef?.error).toMatch(
      /^pushing refs\/gitdock\/applied\/h1 to http:\/\/127\.0\.0\.1:\d+\/.* failed: /,
    );
    expect(await gitAsync(['ls-remote', url])).not.toContain('refs/gitdock/');
  });
});
