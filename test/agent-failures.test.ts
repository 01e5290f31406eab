// Failure sequences of the agent, end to end: a real `gitdock agent` process,
// real git repositories, the real private dockerd and registry. Each test
// drives one sequence that went wrong before (a hot loop after a revert, a
// retry that stopped the serving container, a heal undone by an invalid
// commit, the agent chasing its own events, ...) and asserts what must
// happen instead. Waits are bounded; measured times are printed.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  type AgentStatusView,
  startAgent,
  waitConverged,
  waitFor,
} from './support/agent-process.js';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import {
  containerEventsSince,
  containers,
  eventCursor,
  mutationsSince,
} from './support/gitdock.js';
import { alive, startSecondEngine } from './support/second-engine.js';
import { REPO_OF, service } from './support/services.js';
import { docker, imageRef, removeAllContainers, removeImages, stackEnv } from './support/stack.js';

const BIN = fileURLToPath(new URL('../bin/gitdock.js', import.meta.url));

const WEB = (tag: string, extra: Record<string, unknown> = {}) =>
  service({ image: REPO_OF('app'), tag, ...extra });
const CACHE = (role = 'cache') =>
  service({ image: REPO_OF('app'), tag: '1.0', environment: { ROLE: role } });
const CRASH = service({ image: REPO_OF('crash'), tag: '1.0' });
const FILES = { 'hosts/h1/web.yaml': WEB('1.0'), 'hosts/h1/cache.yaml': CACHE() };

let repo: FixtureRepo;
let agent: AgentProcess | undefined;
let stateDir: string;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The agent for host h1 on the bare repo, with its own state dir (held specs
 * are saved there: nothing leaks between tests). No `--failed-retry` unless
 * a test passes one: the default is what operators get.
 */
async function start(args: string[] = [], env: Record<string, string> = {}) {
  agent = await startAgent(
    [
      '--host',
      'h1',
      '--repo',
      repo.bareDir!,
      '--retry-max',
      '2s',
      '--state-dir',
      stateDir,
      ...args,
    ],
    env,
  );
  return agent;
}

async function status(): Promise<AgentStatusView> {
  return agent!.status();
}

function svc(s: AgentStatusView, name: string) {
  return s.services.find((x) => x.name === name);
}

/** Every service Synced at `commit`, applied, and no pass in flight. */
async function converged(commit: string, timeoutMs = 20_000) {
  return waitConverged(agent!, commit, { timeoutMs, minServices: 1 });
}

/** The named services Synced and Healthy at `commit` with no pass in flight (others may fail). */
async function settled(commit: string, names: string[], timeoutMs = 20_000) {
  return waitFor(
    async () => {
      const s = await status();
      return (
        s.servicesCommit === commit &&
        !s.running &&
        names.every((n) => svc(s, n)?.sync === 'Synced' && svc(s, n)?.health === 'Healthy') &&
        s
      );
    },
    { timeoutMs, what: `${names.join(', ')} Synced and Healthy at ${commit.slice(0, 12)}` },
  );
}

async function failed(name: string, commit: string, timeoutMs = 20_000) {
  return waitFor(
    async () => {
      const s = await status();
      return s.lastAttemptedCommit === commit && svc(s, name)?.sync === 'Failed' && s;
    },
    { timeoutMs, what: `${name} to be Failed at ${commit.slice(0, 12)}` },
  );
}

/** The agent's "reconcile finished" log lines (every pass: the agent runs at debug level). */
function passes(a: AgentProcess, from = 0): Record<string, unknown>[] {
  return a.logs.slice(from).filter((l) => l.msg === 'reconcile finished');
}

async function metricsText(a: AgentProcess): Promise<string> {
  return (await fetch(`${a.url}/metrics`)).text();
}

/** Sum of gitdock_reconcile_total over every result. */
async function reconcileTotal(a: AgentProcess): Promise<number> {
  let sum = 0;
  for (const m of (await metricsText(a)).matchAll(/^gitdock_reconcile_total\{[^}]*\} (\S+)$/gm))
    sum += Number(m[1]);
  return sum;
}

/**
 * Waits until no pass has finished for `quietMs` and none runs: the tail of
 * what the last change set off (a late engine event) is over. A loop never
 * goes quiet, so this fails (bounded) on a hot loop too.
 */
async function quiet(quietMs = 2_000, timeoutMs = 20_000): Promise<void> {
  let count = passes(agent!).length;
  let since = Date.now();
  await waitFor(
    async () => {
      const n = passes(agent!).length;
      if (n !== count) {
        count = n;
        since = Date.now();
      }
      return Date.now() - since >= quietMs && !(await status()).running;
    },
    {
      timeoutMs,
      what: () =>
        `the agent to go quiet for ${quietMs} ms (last passes: ${JSON.stringify(passes(agent!).slice(-5))})`,
    },
  );
}

/** How often the container named `name` was stopped, killed or died since `cursor`. */
function stopsOf(cursor: string, name: string): { stop: number; kill: number; die: number } {
  const mine = mutationsSince(cursor).filter((m) => m.slice(m.indexOf(' ') + 1) === name);
  const count = (action: string) => mine.filter((m) => m.startsWith(`${action} `)).length;
  return { stop: count('stop'), kill: count('kill'), die: count('die') };
}

/** Pino's numeric levels. */
const INFO = 30;
const ERROR = 50;

beforeAll(() => removeAllContainers());

beforeEach(async () => {
  removeAllContainers();
  repo = await createRepo({ bare: true, files: FILES });
  stateDir = await mkdtemp(join(tmpdir(), 'gitdock-failures-state-'));
});

afterEach(async () => {
  await agent?.stop('SIGTERM');
  agent = undefined;
  for (const c of cleanups.splice(0).reverse()) await c();
  await repo.cleanup();
  await rm(stateDir, { recursive: true, force: true });
  removeAllContainers();
});

describe('agent failure sequences', () => {
  it.each([
    ['', false],
    [' with a name conflict on another service', true],
  ])(
    'after a failed release and its revert the agent goes idle%s: no pass for 10 s, web stays Synced/Healthy',
    async (variant, conflict) => {
      let handId: string | undefined;
      if (conflict) {
        repo.commit({ 'hosts/h1/side.yaml': CACHE('side') }, 'side service');
        // A container gitdock did not make holds the name of a desired service.
        handId = docker([
          'run',
          '-d',
          '--name',
          'side',
          '--network',
          'none',
          imageRef('app', '1.0'),
        ]);
      }
      // --failed-retry 2s: a hold whose retry time stayed in the past would loop at once.
      await start(['--failed-retry', '2s']);
      const first = repo.rev();
      if (conflict) await settled(first, ['web', 'cache']);
      else await converged(first);
      const webId = containers().get('web')!.id;

      const bad = repo.commit({ 'hosts/h1/web.yaml': CRASH }, 'crashing release');
      await failed('web', bad);
      repo.git(['revert', '--no-edit', 'HEAD']);
      repo.push();
      const reverted = repo.rev();
      if (conflict) await settled(reverted, ['web', 'cache'], 30_000);
      else await converged(reverted, 30_000);
      const atConvergence = passes(agent!).length;
      await quiet();
      const trailing = passes(agent!).slice(atConvergence);

      const before = agent!.logs.length;
      const metricBefore = await reconcileTotal(agent!);
      const startedAt = Date.now();
      const seen: string[] = [];
      while (Date.now() - startedAt < 10_000) {
        const s = await status();
        const web = svc(s, 'web');
        seen.push(`${web?.sync}/${web?.health}`);
        await sleep(500);
      }
      const during = passes(agent!, before);
      const metricAfter = await reconcileTotal(agent!);
      console.log(
        `hot loop check${variant}: ${trailing.length} trailing pass(es) after convergence ` +
          `(${trailing.map((p) => p.trigger).join(' | ')}); passes in the 10 s after: ${during.length}; ` +
          `gitdock_reconcile_total ${metricBefore} -> ${metricAfter}`,
      );
      expect(during.map((p) => p.trigger)).toEqual([]);
      expect(metricAfter).toBe(metricBefore);
      expect(new Set(seen)).toEqual(new Set(['Synced/Healthy']));
      expect(containers().get('web')).toMatchObject({ id: webId, state: 'running' });
      if (conflict) {
        const side = svc(await status(), 'side');
        expect(side).toMatchObject({ sync: 'Failed', code: 'GITDOCK_E_NAME_CONFLICT' });
        expect(containers().get('side')).toMatchObject({ id: handId, state: 'running' });
      }
    },
  );

  it('a held broken release is not retried by default: the old container is never stopped, the reason starts with GITDOCK_E_ROLLOUT_FAILED', async () => {
    await start();
    await converged(repo.rev());
    const webId = containers().get('web')!.id;
    const bad = repo.commit({ 'hosts/h1/web.yaml': CRASH }, 'crashing release');
    const s = await failed('web', bad);
    const cursor = eventCursor();
    const web = svc(s, 'web')!;
    expect(web.reason).toMatch(/^GITDOCK_E_ROLLOUT_FAILED/);
    expect(web.code).toBe('GITDOCK_E_ROLLOUT_FAILED');
    // Engine events (a heal of cache) and time: neither may retry the held spec.
    docker(['stop', '-t', '1', 'cache']);
    await waitFor(() => containers().get('cache')?.state === 'running', { what: 'cache healed' });
    const until = Date.now() + 8_000;
    while (Date.now() < until) {
      expect(containers().get('web')).toMatchObject({ id: webId, state: 'running' });
      await sleep(1_000);
    }
    const webEvents = mutationsSince(cursor).filter((m) => / web(\.gitdock-NEXT)?$/.test(m));
    expect(webEvents).toEqual([]);
    expect(stopsOf(cursor, 'web')).toEqual({ stop: 0, kill: 0, die: 0 });
    const after = svc(await status(), 'web')!;
    expect(after.sync).toBe('Failed');
    expect(after.reason).toMatch(/^GITDOCK_E_ROLLOUT_FAILED/);
  });

  it('with --failed-retry 1s a held broken release is retried start-first: a -NEXT is created and removed, the old container is never stopped', async () => {
    await start(['--failed-retry', '1s']);
    await converged(repo.rev());
    const webId = containers().get('web')!.id;
    const bad = repo.commit({ 'hosts/h1/web.yaml': CRASH }, 'crashing release');
    await failed('web', bad);
    const cursor = eventCursor();
    const retried = await waitFor(
      () => {
        const m = mutationsSince(cursor);
        return m.includes('create web.gitdock-NEXT') && m.includes('destroy web.gitdock-NEXT') && m;
      },
      { timeoutMs: 30_000, what: 'a retry that creates and removes web.gitdock-NEXT' },
    );
    console.log(`mutations of the retry: ${retried.join(', ')}`);
    expect(stopsOf(cursor, 'web')).toEqual({ stop: 0, kill: 0, die: 0 });
    expect(containers().get('web')).toMatchObject({ id: webId, state: 'running' });
    expect(agent!.logs.some((l) => l.msg === 'retrying a held spec' && l.startFirst === true)).toBe(
      true,
    );
    expect(svc(await status(), 'web')?.sync).toBe('Failed');
  });

  it('docker rm -f of a managed container heals as fast as docker stop: no Failed verdict, no hold', async () => {
    // web writes 20000 files into its writable layer: the engine then takes a
    // few hundred ms to remove it after it died (state "removing"), as a real
    // container would, and a pass may well see it half removed.
    repo.commit(
      {
        'hosts/h1/web.yaml': WEB('1.0', {
          command: [
            'sh',
            '-c',
            'mkdir /junk && cd /junk && seq 20000 | xargs touch && echo junk ready && exec /bin/idle',
          ],
        }),
      },
      'web with a big writable layer',
    );
    await start();
    await converged(repo.rev());
    await waitFor(() => docker(['logs', 'web']).includes('junk ready'), {
      timeoutMs: 30_000,
      what: 'web to fill its writable layer',
    });
    const verdicts = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const s = await status().catch(() => undefined);
        const web = s && svc(s, 'web');
        if (web) verdicts.add(web.sync);
        await sleep(100);
      }
    })();
    cleanups.push(async () => {
      watching = false;
      await watcher;
    });

    const stopId = containers().get('cache')!.id;
    let t0 = Date.now();
    docker(['stop', '-t', '1', 'cache']);
    await waitFor(() => containers().get('cache')?.state === 'running', {
      timeoutMs: 10_000,
      what: 'cache started again after docker stop',
    });
    const stopHeal = (Date.now() - t0) / 1000;
    expect(containers().get('cache')?.id).toBe(stopId);

    const fromLog = agent!.logs.length;
    const oldId = containers().get('web')!.id;
    t0 = Date.now();
    docker(['rm', '-f', 'web']);
    await waitFor(
      () => {
        const c = containers().get('web');
        return c !== undefined && c.id !== oldId && c.state === 'running';
      },
      { timeoutMs: 10_000, what: 'web running again after docker rm -f' },
    );
    const rmHeal = (Date.now() - t0) / 1000;
    console.log(
      `heal after docker stop: ${stopHeal.toFixed(2)} s; after docker rm -f: ${rmHeal.toFixed(2)} s`,
    );
    const s = await converged(repo.rev());
    watching = false;
    await watcher;
    const web = svc(s, 'web')!;
    expect(web).toMatchObject({ sync: 'Synced', health: 'Healthy' });
    expect(web.code).toBeUndefined();
    expect(verdicts.has('Failed')).toBe(false);
    const failures = agent!.logs
      .slice(fromLog)
      .filter(
        (l) => l.msg === 'service failed' || l.msg === 'new container failed; old container kept',
      );
    expect(failures).toEqual([]);
    expect(s.errors).toEqual([]);
  });

  it('an invalid commit pushed while a heal is in flight does not destroy the healed container', async () => {
    repo.commit(
      { 'hosts/h1/web.yaml': WEB('1.0', { update: { settle: '3s' } }) },
      'web: slow settle',
    );
    await start();
    await converged(repo.rev(), 30_000);
    const oldId = containers().get('web')!.id;
    const cursor = eventCursor();
    const fromLog = agent!.logs.length;
    docker(['rm', '-f', 'web']);
    const heal = await waitFor(
      () => containerEventsSince(cursor).find((e) => e.action === 'create' && e.name === 'web'),
      { what: 'the heal to create web' },
    );
    expect(heal.id).not.toBe(oldId);
    const bad = repo.commit({ 'hosts/h1/web.yaml': 'image: [unclosed\ntag: "1.0"\n' }, 'yaml typo');
    // The commit must land while the heal still waits out its 3 s settle.
    const convergedEarly = agent!.logs
      .slice(fromLog)
      .some((l) => l.msg === 'service converged' && l.service === 'web');
    expect(convergedEarly).toBe(false);

    const s = await waitFor(
      async () => {
        const st = await status();
        return st.lastAttemptedCommit === bad && st.lastReconcile?.result === 'invalid' && st;
      },
      { what: 'the invalid commit to be reported' },
    );
    // Past the settle time: web is up, the heal's container, never removed.
    await waitFor(
      async () => {
        const st = await status();
        return (
          !st.running && svc(st, 'web')?.health === 'Healthy' && svc(st, 'web')?.sync === 'Synced'
        );
      },
      { timeoutMs: 20_000, what: 'web Healthy and Synced under the invalid commit' },
    );
    await sleep(1_000);
    expect(containers().get('web')).toMatchObject({ id: heal.id, state: 'running' });
    const destroyed = containerEventsSince(cursor).filter(
      (e) => e.action === 'destroy' && e.id === heal.id,
    );
    expect(destroyed).toEqual([]);
    const creates = containerEventsSince(cursor).filter((e) => e.action === 'create');
    expect(creates.map((e) => e.name)).toEqual(['web']);
    const invalid = s.errors.find((e) => e.code === 'GITDOCK_E_INVALID_MANIFESTS');
    expect(invalid).toBeDefined();
    expect(invalid!.file).toBe('hosts/h1/web.yaml');
    const final = await status();
    expect(final.lastReconcile?.result).toBe('invalid');
    expect(final.errors.some((e) => e.code === 'GITDOCK_E_INVALID_MANIFESTS' && e.file)).toBe(true);
  });

  it('the agent does not chase its own events: one push, one pass, triggered by git (also for a revert)', async () => {
    // The image is local already: no background pull adds a pass of its own.
    docker(['pull', imageRef('app', '1.1')], { timeoutMs: 60_000 });
    await start();
    await converged(repo.rev());
    await quiet();

    for (const [label, act] of [
      ['push', () => repo.commit({ 'hosts/h1/web.yaml': WEB('1.1') }, 'web 1.1')],
      [
        'revert',
        () => {
          repo.git(['revert', '--no-edit', 'HEAD']);
          repo.push();
          return repo.rev();
        },
      ],
    ] as const) {
      const from = agent!.logs.length;
      const sha = act();
      const s = await converged(sha);
      await quiet(3_000);
      const ran = passes(agent!, from);
      console.log(
        `${label}: passes after it: ${ran.map((p) => `${p.result} <- ${p.trigger}`).join(' | ')}`,
      );
      expect(ran.filter((p) => p.result === 'success')).toHaveLength(1);
      expect(ran.filter((p) => String(p.trigger).includes('engine:'))).toEqual([]);
      expect(s.lastReconcile?.trigger).toMatch(/^git:/);
      expect((await status()).lastReconcile?.trigger).toMatch(/^git:/);
    }
  });
});

describe('agent failures in /status and in apply', () => {
  it('a rollout failure is listed in errors with code GITDOCK_E_ROLLOUT_FAILED and the service', async () => {
    await start();
    await converged(repo.rev());
    const from = agent!.logs.length;
    const bad = repo.commit({ 'hosts/h1/web.yaml': CRASH }, 'crashing release');
    const s = await failed('web', bad);
    const atVerdict = s.errors.find((e) => e.code === 'GITDOCK_E_ROLLOUT_FAILED');
    expect(atVerdict).toMatchObject({ code: 'GITDOCK_E_ROLLOUT_FAILED', service: 'web' });
    expect(atVerdict!.message).toMatch(/exited with code 3/);
    // Still listed once the passes that follow (the new container's own exit,
    // an engine event, a resync) are over: the failure still holds.
    docker(['stop', '-t', '1', 'cache']);
    await waitFor(() => containers().get('cache')?.state === 'running', { what: 'cache healed' });
    await quiet();
    const later = await status();
    console.log(
      `errors once quiet: ${JSON.stringify(later.errors)}; web: ${JSON.stringify(svc(later, 'web'))}; ` +
        `passes since the push: ${passes(agent!, from)
          .map((p) => `${p.result} <- ${p.trigger}`)
          .join(' | ')}`,
    );
    expect(svc(later, 'web')?.sync).toBe('Failed');
    expect(later.errors.find((e) => e.code === 'GITDOCK_E_ROLLOUT_FAILED')).toMatchObject({
      code: 'GITDOCK_E_ROLLOUT_FAILED',
      service: 'web',
    });
  });

  it('a tag missing from the registry makes the service Failed with GITDOCK_E_PULL_FAILED; the running container is untouched', async () => {
    await start();
    await converged(repo.rev());
    const webId = containers().get('web')!.id;
    const cursor = eventCursor();
    const bad = repo.commit({ 'hosts/h1/web.yaml': WEB('9.9.9-missing') }, 'web: no such tag');
    const s = await failed('web', bad, 30_000);
    const web = svc(s, 'web')!;
    expect(web.code).toBe('GITDOCK_E_PULL_FAILED');
    expect(web.reason).toMatch(/^GITDOCK_E_PULL_FAILED/);
    // It stays Failed (not OutOfSync) while it is retried with a backoff.
    const until = Date.now() + 6_000;
    const verdicts = new Set<string>();
    while (Date.now() < until) {
      verdicts.add(svc(await status(), 'web')!.sync);
      await sleep(250);
    }
    expect([...verdicts]).toEqual(['Failed']);
    expect(containers().get('web')).toMatchObject({ id: webId, state: 'running' });
    expect(mutationsSince(cursor).filter((m) => / web(\.gitdock-NEXT)?$/.test(m))).toEqual([]);
  });

  it('gitdock apply with a failing service prints the error once; no JSON log lines on stderr unless GITDOCK_LOG_LEVEL is set', async () => {
    const runApply = (env: Record<string, string>) => {
      const base: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: stackEnv().dockerHost };
      delete base.GITDOCK_LOG_LEVEL;
      return spawnSync(process.execPath, [BIN, 'apply', '--host', 'h1', '--repo', repo.bareDir!], {
        env: { ...base, ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
    };
    const jsonLines = (text: string) =>
      text.split('\n').filter((l) => {
        try {
          return typeof JSON.parse(l) === 'object';
        } catch {
          return false;
        }
      });
    expect(runApply({}).status).toBe(0);
    repo.commit({ 'hosts/h1/web.yaml': CRASH }, 'crashing release');
    const r = runApply({});
    console.log(`apply stdout:\n${r.stdout}\napply stderr:\n${r.stderr}`);
    expect(r.status).toBe(1);
    expect(jsonLines(r.stderr)).toEqual([]);
    const all = r.stdout + r.stderr;
    expect(all.match(/exited with code 3/g)).toHaveLength(1);
    // Asked for, the log is there (so the check above can see JSON lines).
    const logged = runApply({ GITDOCK_LOG_LEVEL: 'info' });
    expect(logged.status).toBe(1);
    expect(jsonLines(logged.stderr).length).toBeGreaterThan(0);
  });
});

describe('agent failures confined to one service', () => {
  it.each([
    // Failures only the engine can see (validate refuses what it can see):
    // a network this engine does not have (it fails the start)...
    ['a network the engine lacks', () => WEB('1.1', { network_mode: 'no-such-network' })],
    // ...and a user the image has no passwd entry for.
    ['a user the image lacks', () => WEB('1.1', { user: 'nosuchuser' })],
  ])(
    "one service's engine refusal (%s) fails that service only: a stopped service is healed, the engine stays reachable",
    async (_what, manifest) => {
      const refused = manifest();
      await start();
      await converged(repo.rev());
      const webId = containers().get('web')!.id;
      const cacheId = containers().get('cache')!.id;
      const unreachable: string[] = [];
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const s = await status().catch(() => undefined);
          if (s && !s.engine.reachable) unreachable.push(s.engine.error ?? '?');
          await sleep(100);
        }
      })();
      cleanups.push(async () => {
        watching = false;
        await watcher;
      });
      docker(['stop', '-t', '1', 'cache']);
      const bad = repo.commit({ 'hosts/h1/web.yaml': refused }, 'web: what the engine refuses');
      // Only the engine can tell: `gitdock validate` passes the commit.
      const valid = spawnSync(
        process.execPath,
        [BIN, 'validate', '--repo', repo.bareDir!, '--rev', bad],
        {
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(valid.status, valid.stdout + valid.stderr).toBe(0);
      const s = await waitFor(
        async () => {
          const st = await status();
          return (
            st.lastAttemptedCommit === bad &&
            svc(st, 'web')?.sync === 'Failed' &&
            svc(st, 'cache')?.sync === 'Synced' &&
            svc(st, 'cache')?.health === 'Healthy' &&
            st
          );
        },
        { timeoutMs: 30_000, what: 'web Failed and cache healed' },
      );
      watching = false;
      await watcher;
      const web = svc(s, 'web')!;
      console.log(`refused web: code ${web.code}, reason: ${web.reason}`);
      expect(web.code).toMatch(/^GITDOCK_E_/);
      expect(s.engine.reachable).toBe(true);
      expect(unreachable).toEqual([]);
      expect(await metricsText(agent!)).toMatch(/^gitdock_engine_reachable 1$/m);
      expect(containers().get('cache')).toMatchObject({ id: cacheId, state: 'running' });
      expect(containers().get('web')).toMatchObject({ id: webId, state: 'running' });
    },
  );

  it('a container run from a `docker commit` of a managed one is never removed, and under a service name it is a conflict', async () => {
    await start();
    const first = repo.rev();
    await converged(first);
    const image = `gitdock-test-committed:${Date.now()}`;
    cleanups.push(() => removeImages([image]));
    docker(['commit', 'web', image]);
    const copyId = docker(['run', '-d', '--name', 'copy', '--network', 'none', image]);
    const cursor = eventCursor();
    // Another push: a pass, and a resync of everything, with the copy there.
    const sha = repo.commit({ 'hosts/h1/cache.yaml': CACHE('cache-2') }, 'cache: new role');
    await converged(sha);
    await quiet();
    expect(containers().get('copy')).toMatchObject({ id: copyId, state: 'running' });
    expect(svc(await status(), 'copy')).toBeUndefined();

    // A copy under web's own name, after gitdock's web is removed: a conflict, never touched.
    await agent!.stop('SIGTERM');
    agent = undefined;
    docker(['rm', '-f', 'web']);
    const handId = docker(['run', '-d', '--name', 'web', '--network', 'none', image]);
    await start();
    const s = await waitFor(
      async () => {
        const st = await status();
        return st.servicesCommit === sha && !st.running && svc(st, 'web')?.sync === 'Failed' && st;
      },
      { what: 'web reported as a conflict' },
    );
    const web = svc(s, 'web')!;
    console.log(`conflict reason: ${web.reason}`);
    expect(web.code).toBe('GITDOCK_E_NAME_CONFLICT');
    expect(web.reason).toMatch(/docker commit/);
    await sleep(3_000);
    await quiet();
    expect(containers().get('web')).toMatchObject({ id: handId, state: 'running' });
    expect(containers().get('copy')).toMatchObject({ id: copyId, state: 'running' });
    const touched = containerEventsSince(cursor).filter(
      (e) =>
        (e.id === copyId || e.id === handId) &&
        ['destroy', 'stop', 'kill', 'rename'].includes(e.action),
    );
    expect(touched).toEqual([]);
  });

  it('a burst of 6 commits to 10 services converges on the last; each container stopped at most twice; preemption is not a failure', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `svc${i}`);
    const manifests = (v: number) =>
      Object.fromEntries(
        names.map((n) => [
          `hosts/h1/${n}.yaml`,
          service({
            image: REPO_OF('app'),
            tag: '1.0',
            environment: { V: String(v) },
            update: { settle: '1s' },
          }),
        ]),
      );
    repo.commit(
      { ...manifests(0), 'hosts/h1/web.yaml': null, 'hosts/h1/cache.yaml': null },
      '10 services',
    );
    await start();
    await converged(repo.rev(), 60_000);
    await quiet();
    const cursor = eventCursor();
    const from = agent!.logs.length;
    let last = '';
    for (let v = 1; v <= 6; v++) {
      last = repo.commit(manifests(v), `V=${v}`);
      if (v < 6) await sleep(700);
    }
    const s = await converged(last, 120_000);
    expect(s.services.map((x) => x.name).sort()).toEqual(names);
    const counts = Object.fromEntries(names.map((n) => [n, stopsOf(cursor, n)]));
    console.log(`stops per service during the burst: ${JSON.stringify(counts)}`);
    const logs = agent!.logs.slice(from);
    const preemptions = logs.filter((l) => String(l.msg).includes('preempt'));
    console.log(
      `preemption log lines: ${preemptions.length} (levels ${[...new Set(preemptions.map((l) => l.level))].join(',')}); ` +
        `passes: ${passes(agent!, from)
          .map((p) => p.result)
          .join(',')}`,
    );
    for (const n of names) {
      expect(containers().get(n)?.labels['io.gitdock.commit']).toBeDefined();
      expect(counts[n]!.stop, `docker stop events of ${n}`).toBeLessThanOrEqual(2);
      expect(counts[n]!.die, `die events of ${n}`).toBeLessThanOrEqual(2);
    }
    for (const l of preemptions) expect(l.level).toBe(INFO);
    const failedLines = logs.filter((l) => l.msg === 'service failed' && l.level === ERROR);
    expect(failedLines).toEqual([]);
  }, 240_000);
});

// -- an engine of the agent's own, stopped and started again -----------------------

describe('agent with its engine away', () => {
  it('reports the engine unreachable (health Unknown, metric 0) and converges once it answers again', async () => {
    const engine = await startSecondEngine();
    cleanups.push(() => engine.stop());
    const firstPid = engine.pid;
    await start(['--interval', '1h'], { DOCKER_HOST: engine.dockerHost });
    const first = repo.rev();
    await converged(first, 60_000);
    const running = () =>
      engine.docker(['ps', '--format', '{{.Names}}']).split('\n').filter(Boolean).sort();
    expect(running()).toEqual(['cache', 'web']);

    let t0 = Date.now();
    await engine.halt();
    expect(alive(firstPid)).toBe(false);
    const down = await waitFor(
      async () => {
        const s = await status();
        return (
          !s.engine.reachable &&
          s.services.length === 2 &&
          s.services.every((x) => x.health === 'Unknown') &&
          s
        );
      },
      { timeoutMs: 15_000, what: 'the engine reported unreachable, health Unknown' },
    );
    console.log(
      `engine stopped -> reported unreachable: ${((Date.now() - t0) / 1000).toFixed(2)} s`,
    );
    expect(down.engine.error).toBeTruthy();
    await waitFor(async () => /^gitdock_engine_reachable 0$/m.test(await metricsText(agent!)), {
      timeoutMs: 10_000,
      what: 'gitdock_engine_reachable 0',
    });
    expect((await fetch(`${agent!.url}/healthz`)).status).toBe(200);

    await engine.restart();
    t0 = Date.now();
    await waitFor(async () => (await status()).engine.reachable, {
      timeoutMs: 10_000,
      what: 'the engine reported reachable again',
    });
    await waitFor(async () => /^gitdock_engine_reachable 1$/m.test(await metricsText(agent!)), {
      timeoutMs: 10_000,
      what: 'gitdock_engine_reachable 1',
    });
    console.log(
      `engine answering -> reported reachable, metric 1: ${((Date.now() - t0) / 1000).toFixed(2)} s`,
    );
    let lastSeen: AgentStatusView | undefined;
    const back = await waitFor(
      async () => {
        const s = await status();
        lastSeen = s;
        const ok =
          s.engine.reachable &&
          !s.running &&
          s.services.length === 2 &&
          s.services.every((x) => x.sync === 'Synced' && x.health === 'Healthy');
        return ok && running().length === 2 && s;
      },
      {
        timeoutMs: 20_000,
        what: () =>
          `convergence after the engine came back (status: ${JSON.stringify(lastSeen)}; ` +
          `engine runs: ${running().join(',')}; agent log: ${JSON.stringify(agent!.logs.filter((l) => l.msg !== 'http request').slice(-40))})`,
      },
    );
    console.log(`engine answering -> converged: ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    expect(back.lastAppliedCommit).toBe(first);
    expect(running()).toEqual(['cache', 'web']);
    expect(await metricsText(agent!)).toMatch(/^gitdock_engine_reachable 1$/m);
    await agent!.stop('SIGTERM');
    agent = undefined;
    for (const id of engine.docker(['ps', '-aq']).split('\n').filter(Boolean))
      engine.docker(['rm', '-f', id]);
  }, 180_000);
});
