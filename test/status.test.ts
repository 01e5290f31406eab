// `gitdock status` against the real thing: two `gitdock agent` processes on
// two private dockerds (the shared one of scripts/stack.sh and a second one
// started here), both watching one bare repository with --report-ref.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent, waitFor } from './support/agent-process.js';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import { type CliRun, gitdock } from './support/gitdock.js';
import { type SecondEngine, startSecondEngine } from './support/second-engine.js';
import { docker, dockerResult, imageRef, stackEnv } from './support/stack.js';

const H1 = 'st-h1';
const H2 = 'st-h2';
const APP = imageRef('app', 'x').replace(/:x$/, '');

interface StatusJson {
  commit: string;
  synced: boolean;
  summary: string;
  hosts: {
    host: string;
    reachable: boolean | null;
    error: string | null;
    source: string;
    sync: string;
    pending: boolean;
    agentCommit: string | null;
    appliedRef: { commit: string } | null;
    services: {
      service: string;
      sync: string;
      health: string;
      desiredImage: string | null;
      runningImage: string | null;
      reason: string | null;
    }[];
  }[];
}

function service(fields: Record<string, unknown>): string {
  return `${JSON.stringify({ network_mode: 'none', update: { settle: '300ms' }, ...fields }, null, 2)}\n`;
}

/** Free TCP ports on 127.0.0.1, found by listening on port 0. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => {
      const server = createServer();
      return new Promise<Server>((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
    }),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Removes this file's containers (labelled with its hosts) from the shared engine. */
function removeOwnContainers(run: (args: string[]) => string, host: string): void {
  const ids = run(['ps', '-aq', '--filter', `label=io.gitdock.host=${host}`])
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0) run(['rm', '-f', '-v', ...ids]);
}

async function statusJson(dir: string, extra: string[] = []) {
  const run = await gitdock(['status', '--repo', dir, '--output', 'json', ...extra]);
  if (run.code !== 0 && run.code !== 2) {
    throw new Error(`status exited ${run.code}: ${run.stderr}`);
  }
  return { code: run.code, json: JSON.parse(run.stdout) as StatusJson, stderr: run.stderr };
}

/**
 * `gitdock status` until `done` holds (bounded), then that run. Other test
 * files share the first engine and may remove every container on it; the
 * agent heals that, so a state the fleet is in "now" may take a moment.
 */
async function statusUntil(args: string[], done: (run: CliRun) => boolean): Promise<CliRun> {
  let last: CliRun | undefined;
  await waitFor(
    async () => {
      last = await gitdock(['status', ...args]);
      return done(last);
    },
    { timeoutMs: 30_000, what: () => `status to settle (last: ${JSON.stringify(last)})` },
  );
  return last!;
}

describe('gitdock status with two agents on two engines', () => {
  let engine2: SecondEngine | undefined;
  let repo: FixtureRepo;
  let ports: number[];
  const agents = new Map<string, AgentProcess>();

  async function start(host: string): Promise<AgentProcess> {
    const port = ports[host === H1 ? 0 : 1]!;
    const dockerHost = host === H1 ? stackEnv().dockerHost : engine2!.dockerHost;
    // startAgent passes --listen 127.0.0.1:0 first; the later --listen wins.
    const agent = await startAgent(
      [
        '--host',
        host,
        '--repo',
        repo.bareDir!,
        '--listen',
        `127.0.0.1:${port}`,
        '--retry-max',
        '2s',
        '--report-ref',
      ],
      { DOCKER_HOST: dockerHost },
    );
    expect(agent.url).toBe(`http://127.0.0.1:${port}`);
    agents.set(host, agent);
    return agent;
  }

  async function converged(host: string, commit: string) {
    const agent = agents.get(host)!;
    await waitFor(
      async () => {
        const s = await agent.status();
        return (
          s.lastAppliedCommit === commit &&
          s.appliedRef?.reportedCommit === commit &&
          s.services.length > 0 &&
          s.services.every((x) => x.sync === 'Synced' && x.health === 'Healthy')
        );
      },
      { timeoutMs: 60_000, what: `${host} converged at ${commit.slice(0, 12)}` },
    );
  }

  beforeAll(async () => {
    // The agents are the built CLI (bin/gitdock.js runs dist/), which
    // `make test` builds before the suite, as for test/agent.test.ts.
    engine2 = await startSecondEngine();
    ports = await freePorts(2);
    repo = await createRepo({
      bare: true,
      files: {
        'gitdock.yaml': [
          'hosts:',
          `  ${H1}: { agent: "http://127.0.0.1:${ports[0]}" }`,
          `  ${H2}: { agent: "http://127.0.0.1:${ports[1]}/" }`,
          '',
        ].join('\n'),
        'services/stweb.yaml': service({ image: APP, tag: '1.0', hosts: [H1, H2] }),
        'hosts/st-h2/stcache.yaml': service({
          image: APP,
          tag: '1.0',
          environment: { ROLE: 'cache' },
        }),
      },
    });
  });

  afterEach(async () => {
    // Every test leaves both agents stopped; the next starts what it needs.
    for (const agent of agents.values()) await agent.stop('SIGTERM');
    agents.clear();
  });

  afterAll(async () => {
    for (const agent of agents.values()) await agent.stop('SIGTERM');
    try {
      removeOwnContainers((args) => docker(args), H1);
      if (engine2) removeOwnContainers((args) => engine2!.docker(args), H2);
    } finally {
      await engine2?.stop();
      await repo?.cleanup();
    }
  });

  it('shows both hosts Synced; an agent stopped is unreachable and shown from its applied ref; a push it has not applied exits 2', async () => {
    const first = repo.rev();
    await Promise.all([start(H1), start(H2)]);
    await Promise.all([converged(H1, first), converged(H2, first)]);
    // Each engine runs its own host's containers: the hosts really are two.
    expect(dockerResult(['inspect', 'stcache']).status).not.toBe(0);
    expect(engine2!.docker(['inspect', '-f', '{{.State.Running}}', 'stcache'])).toBe('true');

    // 1. Both agents answer, both hosts Synced: --exit-code 0.
    const text = await statusUntil(['--repo', repo.bareDir!, '--exit-code'], (r) => r.code === 0);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(
        `^${H1}\\s+stweb\\s+1\\.0\\s+1\\.0 ${first.slice(0, 12)}\\s+Synced\\s+Healthy\\s+\\d+s ago$`,
        'm',
      ),
    );
    expect(text.stdout).toMatch(
      new RegExp(
        `^${H2}\\s+stcache\\s+1\\.0\\s+1\\.0 ${first.slice(0, 12)}\\s+Synced\\s+Healthy\\s+\\d+s ago$`,
        'm',
      ),
    );
    expect(text.stdout).toContain('2 hosts, 3 services: 3 Synced\n');
    let { json } = await statusJson(repo.bareDir!);
    expect(json.synced).toBe(true);
    expect(json.hosts.map((h) => [h.host, h.source, h.sync, h.pending])).toEqual([
      [H1, 'agent', 'Synced', false],
      [H2, 'agent', 'Synced', false],
    ]);

    // 2. Agent 2 stops: unreachable, shown from refs/gitdock/applied/st-h2.
    await agents.get(H2)!.stop('SIGTERM');
    const started = Date.now();
    let run = await statusJson(repo.bareDir!, ['--exit-code', '--timeout', '2s']);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(run.code).toBe(2);
    const h2 = run.json.hosts.find((h) => h.host === H2)!;
    expect(h2).toMatchObject({
      reachable: false,
      source: 'applied-ref',
      sync: 'Unknown',
      appliedRef: { commit: first },
    });
    expect(h2.error).toMatch(/ECONNREFUSED/);
    expect(h2.services.map((s) => [s.service, s.sync, s.health])).toEqual([
      ['stcache', 'Synced', 'Unknown'],
      ['stweb', 'Synced', 'Unknown'],
    ]);
    const unreachableText = await gitdock(['status', '--repo', repo.bareDir!]);
    expect(unreachableText.code).toBe(0); // without --exit-code
    expect(unreachableText.stdout).toMatch(
      new RegExp(`^${H2}: unreachable \\(.*ECONNREFUSED.*\\)$`, 'm'),
    );
    expect(unreachableText.stdout).toContain(
      `shown from refs/gitdock/applied/${H2} at ${first.slice(0, 12)}`,
    );
    expect(unreachableText.stdout).toContain(
      '2 hosts, 3 services: 3 Synced; 1 agent unreachable\n',
    );

    // 3. A push that changes stweb on st-h2 only, while its agent is down.
    const second = repo.commit(
      { 'hosts/st-h2/stweb.yaml': service({ image: APP, tag: '1.1' }) },
      'stweb 1.1 on st-h2',
    );
    // Agent 1 reads it; it changes nothing on st-h1, so st-h1 stays Synced.
    // Until its pass at it has looked at the engine (servicesCommit), the
    // host is rightly shown pending: wait for that.
    await waitFor(
      async () => {
        const s = await agents.get(H1)!.status();
        return s.desiredCommit === second && s.servicesCommit === second;
      },
      { what: 'agent 1 to read the push and finish its pass at it' },
    );
    const settled = await statusUntil(
      ['--repo', repo.bareDir!, '--output', 'json', '--exit-code'],
      (r) => (JSON.parse(r.stdout) as StatusJson).hosts[0]?.sync === 'Synced',
    );
    run = {
      code: settled.code,
      json: JSON.parse(settled.stdout) as StatusJson,
      stderr: settled.stderr,
    };
    expect(run.code).toBe(2);
    expect(run.json.commit).toBe(second);
    const h1 = run.json.hosts.find((h) => h.host === H1)!;
    expect(h1).toMatchObject({ sync: 'Synced', pending: false, agentCommit: second });
    const h2After = run.json.hosts.find((h) => h.host === H2)!;
    expect(h2After.sync).toBe('OutOfSync');
    expect(h2After.services.find((s) => s.service === 'stweb')).toMatchObject({
      sync: 'OutOfSync',
      desiredImage: `${APP}:1.1`,
      runningImage: `${APP}:1.0`,
      reason: 'not applied: image 1.0 -> 1.1',
    });
    expect(h2After.services.find((s) => s.service === 'stcache')!.sync).toBe('Synced');
    expect(run.json.summary).toBe(
      '2 hosts, 3 services: 2 Synced, 1 OutOfSync; 1 agent unreachable',
    );

    // 4. Agent 2 comes back and applies it: everything Synced, exit 0 again.
    await start(H2);
    await converged(H2, second);
    expect(
      engine2!.docker(['inspect', '-f', '{{index .Config.Labels "io.gitdock.image"}}', 'stweb']),
    ).toBe(`${APP}:1.1`);
    const back = await statusUntil(['--repo', repo.bareDir!, '--exit-code'], (r) => r.code === 0);
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(
      new RegExp(`^\\s+stweb\\s+1\\.1\\s+1\\.1 ${second.slice(0, 12)}\\s+Synced\\s+Healthy`, 'm'),
    );
    ({ json } = await statusJson(repo.bareDir!));
    expect(json.hosts.map((h) => [h.host, h.sync])).toEqual([
      [H1, 'Synced'],
      [H2, 'Synced'],
    ]);

    // 5. A push to both hosts, and `status --wait` right after it: it returns
    // once both agents have applied it (never on their answers from before).
    const third = repo.commit(
      {
        'hosts/st-h1/stweb.yaml': service({ image: APP, tag: '1.1' }),
        'hosts/st-h2/stweb.yaml': service({ image: APP, tag: '1.0' }),
      },
      'stweb 1.1 on st-h1, 1.0 on st-h2',
    );
    const waited = await gitdock(['status', '--repo', repo.bareDir!, '--wait', '60s']);
    expect(waited.code, waited.stderr).toBe(0);
    for (const host of [H1, H2]) {
      const s = await agents.get(host)!.status();
      expect([s.desiredCommit, s.servicesCommit, s.lastAppliedCommit]).toEqual([
        third,
        third,
        third,
      ]);
    }
    expect(waited.stdout).toContain('2 hosts, 3 services: 3 Synced\n');
  });
});

describe('gitdock status: agents that do not answer as an agent should', () => {
  let repo: FixtureRepo;
  const servers: Server[] = [];

  /** An HTTP server on 127.0.0.1 with the given handler; its URL. */
  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await repo?.cleanup();
  });

  it('reports a timeout, an HTTP error, a wrong host and a redirect per host, bounded by --timeout', async () => {
    const silent = await serve(() => {}); // accepts, never answers
    const broken = await serve((_req, res) => res.writeHead(500).end('oops'));
    const other = await serve((_req, res) =>
      res
        .setHeader('content-type', 'application/json')
        .end(JSON.stringify({ host: 'web-9', services: [] })),
    );
    const redirect = await serve((_req, res) =>
      res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end(),
    );
    repo = await createRepo({
      files: {
        'gitdock.yaml': [
          'hosts:',
          `  st-a: { agent: "${silent}" }`,
          `  st-b: { agent: "${broken}" }`,
          `  st-c: { agent: "${other}" }`,
          `  st-d: { agent: "${redirect}" }`,
          '  st-e: { allow_empty: true }',
          '',
        ].join('\n'),
        'services/stweb.yaml': service({
          image: APP,
          tag: '1.0',
          hosts: ['st-a', 'st-b', 'st-c', 'st-d', 'st-e'],
        }),
      },
    });
    const started = Date.now();
    const run = await statusJson(repo.dir, ['--timeout', '500ms', '--exit-code']);
    const ms = Date.now() - started;
    expect(ms).toBeLessThan(5_000); // all at once, each bounded: not 4 x 500ms plus retries
    expect(run.code).toBe(2);
    expect(run.json.hosts.map((h) => [h.host, h.reachable, h.error])).toEqual([
      ['st-a', false, 'no answer in 500ms'],
      ['st-b', false, 'GET /status answered HTTP 500'],
      ['st-c', false, 'the agent there is for host "web-9", not "st-c"'],
      ['st-d', false, expect.stringMatching(/redirect/)],
      ['st-e', null, null],
    ]);
    const text = await gitdock(['status', '--repo', repo.dir, '--timeout', '500ms']);
    expect(text.stdout).toContain('st-e: no agent configured');
    expect(text.stdout).toContain(
      '5 hosts, 5 services: 5 Unknown; 4 agents unreachable, 1 host without an agent\n',
    );
  });

  it.each([
    [['--timeout', '10ms'], /--timeout must be from 100ms to 1m/],
    [['--timeout', 'soon'], /--timeout takes a duration/],
    [['--output', 'markdown'], /--output must be one of text, json/],
  ])('%j is a usage error (exit 64)', async (args, message) => {
    const run = await gitdock(['status', '--repo', '.', ...args]);
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(message);
  });

  it('--help teaches: an example, the gitdock.yaml snippet, the exit codes', async () => {
    const run = await gitdock(['status', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('web-1: { agent: "http://web-1.internal:9420" }');
    expect(run.stdout).toContain(
      "git fetch origin '+refs/gitdock/applied/*:refs/gitdock/applied/*'",
    );
    expect(run.stdout).toMatch(/Exit codes: 0 .*\n(.*\n)*.*2 with --exit-code/);
    expect(run.stdout).toContain('gitdock status --repo /srv/git/fleet.git --exit-code');
  });

  it('HEAD invalid: the errors, then the fleet against the last valid commit, which agents keep running (exit 1)', async () => {
    const commits = { valid: '', typo: '' };
    // An agent as one is under an invalid commit: it has read it, and still
    // reports its services against the last valid one.
    const agentUrl = await serve((_req, res) => {
      const now = new Date().toISOString();
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          host: 'st-x',
          branch: 'main',
          desiredCommit: commits.typo,
          servicesCommit: commits.valid,
          lastAttemptedCommit: commits.typo,
          lastAppliedCommit: commits.valid,
          lastReconcile: { startedAt: now, finishedAt: now, result: 'invalid' },
          engine: { reachable: true },
          errors: [{ message: 'unknown field "portz"' }],
          services: [
            {
              name: 'stweb',
              sync: 'Synced',
              health: 'Healthy',
              desiredImage: `${APP}:1.0`,
              runningImage: `${APP}:1.0`,
              commit: commits.valid,
            },
          ],
        }),
      );
    });
    const bad = await createRepo({
      files: {
        'gitdock.yaml': `hosts:\n  st-x: { agent: "${agentUrl}" }\n`,
        'hosts/st-x/stweb.yaml': service({ image: APP, tag: '1.0' }),
      },
    });
    try {
      commits.valid = bad.rev();
      commits.typo = bad.commit(
        { 'hosts/st-x/stweb.yaml': 'image: a\ntag: "1"\nportz: []\n' },
        'typo',
      );
      const run = await gitdock(['status', '--repo', bad.dir, '--output', 'json']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('hosts/st-x/stweb.yaml:3:1');
      expect(run.stderr).toContain(
        `showing the fleet against ${commits.valid.slice(0, 12)}, the last valid commit before HEAD`,
      );
      const json = JSON.parse(run.stdout) as StatusJson & { invalidRev: unknown };
      expect(json.invalidRev).toEqual({ rev: 'HEAD', commit: commits.typo });
      expect(json.commit).toBe(commits.valid);
      // Its services run what the last valid commit says; the host is not at
      // its branch (an invalid commit), so the host itself is OutOfSync.
      expect(json.hosts.map((h) => [h.host, h.reachable, h.sync])).toEqual([
        ['st-x', true, 'OutOfSync'],
      ]);
      const hosts = json.hosts as unknown as { services: { service: string; sync: string }[] }[];
      expect(hosts[0]!.services.map((x) => [x.service, x.sync])).toEqual([['stweb', 'Synced']]);
      const text = await gitdock(['status', '--repo', bad.dir]);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain(
        `the agent has read ${commits.typo.slice(0, 12)} (not applied yet, or invalid); its service states are of ${commits.valid.slice(0, 12)}`,
      );
    } finally {
      await bad.cleanup();
    }
  });

  it('an invalid gitdock.yaml agent URL fails with file and line (exit 1)', async () => {
    const bad = await createRepo({
      files: { 'gitdock.yaml': 'hosts:\n  st-a: { agent: "ftp://127.0.0.1:9" }\n' },
    });
    try {
      const run = await gitdock(['status', '--repo', bad.dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('gitdock.yaml:2:');
      expect(run.stderr).toContain('hosts.st-a.agent');
    } finally {
      await bad.cleanup();
    }
  });
});
