// A registry that serves the manifest and then stalls a layer must hold up
// only the services of that image: the real agent, engine and git, and a
// registry stub on 127.0.0.1 (test/support/fake-registry.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent, waitFor } from './support/agent-process.js';
import { type FakeRegistry, startFakeRegistry } from './support/fake-registry.js';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import { containers } from './support/gitdock.js';
import { docker, imageRef, removeAllContainers } from './support/stack.js';

const REPO_OF = (name: string) => imageRef(name, 'x').replace(/:x$/, '');

function service(fields: Record<string, unknown>): string {
  return `${JSON.stringify({ network_mode: 'none', update: { settle: '500ms' }, ...fields }, null, 2)}\n`;
}

let repo: FixtureRepo;
let agent: AgentProcess | undefined;
let registry: FakeRegistry | undefined;

beforeEach(async () => {
  removeAllContainers();
  repo = await createRepo({
    bare: true,
    files: {
      'hosts/h1/web.yaml': service({ image: REPO_OF('app'), tag: '1.0' }),
      'hosts/h1/slow.yaml': service({
        image: REPO_OF('app'),
        tag: '1.0',
        environment: { ROLE: 'slow' },
      }),
    },
  });
  registry = await startFakeRegistry({ stallLayer: true });
});

afterEach(async () => {
  await agent?.stop('SIGTERM');
  agent = undefined;
  await registry?.close();
  await repo.cleanup();
  removeAllContainers();
});

async function converged(commit: string) {
  return waitFor(
    async () => {
      const s = await agent!.status();
      return (
        s.lastAppliedCommit === commit &&
        !s.running &&
        s.services.every((x) => x.sync === 'Synced') &&
        s
      );
    },
    { timeoutMs: 30_000, what: `convergence at ${commit.slice(0, 12)}` },
  );
}

describe('a stalled pull', () => {
  it('holds up only its own service: a heal of another, a fix commit and SIGTERM do not wait for it', async () => {
    agent = await startAgent(['--host', 'h1', '--repo', repo.bareDir!, '--retry-max', '2s']);
    await converged(repo.rev());
    const stalled = `127.0.0.1:${registry!.port}/gitdock-test/stall`;
    const slowOld = containers().get('slow')!.id;
    repo.commit(
      {
        'hosts/h1/slow.yaml': service({ image: stalled, tag: '1', environment: { ROLE: 'slow' } }),
      },
      'slow from a stalling registry',
    );
    // The pull is under way (and stalls): /status says so, and no pass is held up by it.
    const pulling = await waitFor(
      async () => {
        const s = await agent!.status();
        const slow = s.services.find((x) => x.name === 'slow');
        return slow?.reason?.includes('pulling') && !s.running && s;
      },
      { timeoutMs: 20_000, what: 'slow to show its pull under way' },
    );
    expect(pulling.services.find((x) => x.name === 'slow')?.sync).toBe('OutOfSync');

    // A hand stop of web is healed at once, the stalled pull notwithstanding.
    const stoppedAt = Date.now();
    docker(['stop', '-t', '1', 'web']);
    await waitFor(() => containers().get('web')?.state === 'running', {
      timeoutMs: 15_000,
      what: 'web started again while slow pulls',
    });
    const healMs = Date.now() - stoppedAt;
    console.log(`heal of web during a stalled pull: ${healMs} ms`);
    // The old slow container kept serving all along.
    expect(containers().get('slow')?.id).toBe(slowOld);
    expect(containers().get('slow')?.state).toBe('running');

    // A fix commit is applied without waiting for the stalled pull.
    const fixAt = Date.now();
    const fix = repo.commit(
      {
        'hosts/h1/slow.yaml': service({
          image: REPO_OF('app'),
          tag: '1.1',
          environment: { ROLE: 'slow' },
        }),
      },
      'fix',
    );
    await converged(fix);
    console.log(`fix applied during a stalled pull: ${Date.now() - fixAt} ms`);
    expect(
      agent.logs.some(
        (l) =>
          l.msg === 'image pull cut' ||
          (l.msg === 'image pull failed' && String(l.err).includes('cut')),
      ),
    ).toBe(true);

    // SIGTERM with a stalled pull in flight: the agent exits at once, exit 0.
    repo.commit(
      {
        'hosts/h1/slow.yaml': service({ image: stalled, tag: '2', environment: { ROLE: 'slow' } }),
      },
      'stall again',
    );
    await waitFor(
      async () =>
        (await agent!.status()).services
          .find((x) => x.name === 'slow')
          ?.reason?.includes('pulling'),
      { timeoutMs: 20_000, what: 'the second pull under way' },
    );
    const termAt = Date.now();
    expect(await agent.stop('SIGTERM')).toBe(0);
    const stopMs = Date.now() - termAt;
    console.log(`SIGTERM with a stalled pull: exited in ${stopMs} ms`);
    expect(stopMs).toBeLessThan(10_000);
    agent = undefined;
  });
});
