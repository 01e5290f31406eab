// The rollback loop against the real thing: a `gitdock agent` process on the
// private dockerd watches a bare repo; a good release converges, a bad one
// (a new tag) converges, then `gitdock rollback <bad> --push` from a clone
// takes the host back to containers of the very same images.
// Host and service names are this file's own, and only its containers are
// removed, so it shares the engine with other tests without touching theirs.
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { type AgentProcess, startAgent, waitFor } from './support/agent-process.js';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import { containers } from './support/gitdock.js';
import { dockerResult, imageRef } from './support/stack.js';

const HOST = 'rollback-h1';
const SERVICES = ['rbweb', 'rbcache'];
const REPO_OF = (name: string) => imageRef(name, 'x').replace(/:x$/, '');

function service(fields: Record<string, unknown>): string {
  return `${JSON.stringify({ network_mode: 'none', update: { settle: '500ms' }, ...fields }, null, 2)}\n`;
}

const WEB = (tag: string) => service({ image: REPO_OF('app'), tag });
const CACHE = service({ image: REPO_OF('app'), tag: '1.0', environment: { ROLE: 'rbcache' } });

function removeOwnContainers(): void {
  const names = SERVICES.flatMap((s) => [s, `${s}.gitdock-NEXT`, `${s}.gitdock-OLD`]);
  const ids = names
    .map((n) => dockerResult(['ps', '-aq', '--filter', `name=^/${n.replace('.', '\\.')}$`]).stdout)
    .flatMap((out) => out.split('\n').filter(Boolean));
  if (ids.length > 0) dockerResult(['rm', '-f', '-v', ...ids]);
}

let repo: FixtureRepo | undefined;
let agent: AgentProcess | undefined;

afterEach(async () => {
  await agent?.stop('SIGTERM');
  agent = undefined;
  await repo?.cleanup();
  repo = undefined;
  removeOwnContainers();
});

async function converged(commit: string, timeoutMs = 30_000) {
  return waitFor(
    async () => {
      const s = await agent!.status();
      return (
        s.lastAppliedCommit === commit &&
        s.services.length === SERVICES.length &&
        s.services.every((x) => x.sync === 'Synced' && x.health === 'Healthy') &&
        s
      );
    },
    { timeoutMs, what: `${HOST} to converge at ${commit.slice(0, 12)}` },
  );
}

interface Running {
  id?: string;
  imageId?: string;
  image?: string;
  state?: string;
}

/** What runs for each service: container id, image id, image label. */
function running(): Record<string, Running> {
  const all = containers();
  return Object.fromEntries(
    SERVICES.map((s) => {
      const c = all.get(s);
      return [
        s,
        { id: c?.id, imageId: c?.imageId, image: c?.labels['io.gitdock.image'], state: c?.state },
      ];
    }),
  );
}

describe('gitdock rollback with a running agent', () => {
  it('a pushed rollback of a bad release brings the host back to the same images', async () => {
    removeOwnContainers();
    repo = await createRepo({
      bare: true,
      files: { [`hosts/${HOST}/rbweb.yaml`]: WEB('1.0'), [`hosts/${HOST}/rbcache.yaml`]: CACHE },
    });
    repo.git(['config', 'user.name', 'Rollback Tester']);
    repo.git(['config', 'user.email', 'rollback@example.com']);
    agent = await startAgent([
      '--host',
      HOST,
      '--repo',
      repo.bareDir!,
      '--retry-max',
      '2s',
      '--failed-retry',
      '30s',
    ]);

    await converged(repo.rev());
    const good = running() as Record<'rbweb' | 'rbcache', Running>;
    expect(good.rbweb).toMatchObject({ image: imageRef('app', '1.0'), state: 'running' });

    const bad = repo.commit({ [`hosts/${HOST}/rbweb.yaml`]: WEB('1.1') }, 'rbweb 1.1');
    await converged(bad);
    const broken = running() as Record<'rbweb' | 'rbcache', Running>;
    expect(broken.rbweb.image).toBe(imageRef('app', '1.1'));
    expect(broken.rbweb.imageId).not.toBe(good.rbweb.imageId);
    expect(broken.rbcache).toEqual(good.rbcache);

    let stdout = '';
    let stderr = '';
    const code = await main(['rollback', bad, '--push', '--repo', repo.dir], {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => (stderr += t) },
      env: { PATH: process.env.PATH, HOME: os.tmpdir(), GIT_CONFIG_GLOBAL: os.devNull },
      cwd: process.cwd(),
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const reverted = repo.rev();
    expect(stdout).toContain(`pushed main to origin (${repo.bareDir})`);
    expect(repo.git(['rev-parse', 'main'], repo.bareDir)).toBe(reverted);

    // The agent notices the push on its own (it watches the bare repo's refs).
    await converged(reverted);
    const back = running();
    expect(back.rbweb).toMatchObject({
      image: imageRef('app', '1.0'),
      imageId: good.rbweb.imageId,
      state: 'running',
    });
    // A service the bad commit did not touch was never touched.
    expect(back.rbcache).toEqual(good.rbcache);
  });
});
