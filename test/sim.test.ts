// `gitdock sim` end to end, with the built CLI: a 3-host fleet (waves [a],
// [b, c]) on three private dockerds and three real agents, a release, a
// release that fails on wave 1 and must reach no later host, a revert, and
// `sim down` leaving nothing behind. Every wait is bounded; the measured
// times are printed.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimState } from '../src/sim/sim-state.js';
import { type AgentStatusView, waitFor } from './support/agent-process.js';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import { REPO_OF } from './support/services.js';
import { DOCKER_BIN } from './support/stack.js';

const BIN = fileURLToPath(new URL('../bin/gitdock.js', import.meta.url));
const SIM_DIR = `/tmp/gdsim-t-${process.pid}`;
const HOSTS = ['a', 'b', 'c'];

const CONFIG = `${JSON.stringify({ hosts: { a: {}, b: {}, c: {} }, rollout: { waves: [['a'], ['b', 'c']] } }, null, 2)}\n`;
const WEB = (image: string, tag: string) =>
  `${JSON.stringify({ hosts: ['*'], image: REPO_OF(image), tag, network_mode: 'none', update: { settle: '0s' } }, null, 2)}\n`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The built CLI as a child process (the sim outlives it), bounded by `timeoutMs`. */
function gitdock(args: string[], timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}

let repo: FixtureRepo;
let sim: SimState;

function hostOf(name: string) {
  const h = sim.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no sim host ${name}`);
  return h;
}

async function agentStatus(name: string): Promise<AgentStatusView> {
  const res = await fetch(`${hostOf(name).agentUrl}/status`, { signal: AbortSignal.timeout(3000) });
  return (await res.json()) as AgentStatusView;
}

interface WebContainer {
  id: string;
  image: string;
  created: number;
  startedAt: number;
  running: boolean;
}

/** The `web` container on a host's own engine, read with the docker CLI. */
function webOn(name: string): WebContainer | undefined {
  const env = { ...process.env, DOCKER_HOST: hostOf(name).dockerHost };
  const r = spawnSync(DOCKER_BIN, ['inspect', 'web'], { env, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return undefined;
  const [c] = JSON.parse(r.stdout) as {
    Id: string;
    Created: string;
    Config: { Image: string };
    State: { Running: boolean; StartedAt: string };
  }[];
  return {
    id: c!.Id,
    image: c!.Config.Image,
    created: Date.parse(c!.Created),
    startedAt: Date.parse(c!.State.StartedAt),
    running: c!.State.Running,
  };
}

/** Every agent has applied `commit` with every service Synced and Healthy, no pass running. */
async function waitAllApplied(commit: string, timeoutMs = 60_000): Promise<void> {
  let last: AgentStatusView[] = [];
  await waitFor(
    async () => {
      last = await Promise.all(HOSTS.map(agentStatus));
      return last.every(
        (s) =>
          s.lastAppliedCommit === commit &&
          s.servicesCommit === commit &&
          !s.running &&
          s.services.length === 1 &&
          s.services.every((x) => x.sync === 'Synced' && x.health === 'Healthy'),
      );
    },
    {
      timeoutMs,
      what: () =>
        `all 3 hosts to apply ${commit.slice(0, 12)}; last seen: ${JSON.stringify(
          last.map((s) => ({
            host: s.host,
            applied: s.lastAppliedCommit?.slice(0, 12),
            services: s.services.map((x) => `${x.sync}/${x.health} ${x.reason ?? ''}`),
            rollout: s.rollout,
            errors: s.errors,
            git: s.git,
          })),
        )}`,
    },
  );
}

/** `git ls-remote` of the sim's remote: its refs by name. */
function remoteRefs(): Map<string, string> {
  const r = spawnSync(
    'git',
    ['--git-dir', sim.remote, 'for-each-ref', '--format=%(refname) %(objectname)'],
    {
      encoding: 'utf8',
      timeout: 10_000,
    },
  );
  return new Map(
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  );
}

/** Live processes whose command line names the sim directory. */
function simProcesses(): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd = '';
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (cmd.includes(SIM_DIR)) out.push(`${pid} ${cmd}`);
  }
  return out;
}

/** Whether `pid` runs (exists and is not a zombie). */
function liveProcess(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const elapsed = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

describe('gitdock sim', () => {
  beforeAll(async () => {
    if (!fs.existsSync(new URL('../dist/cli.js', import.meta.url))) {
      throw new Error('dist/ is missing: run `make build` first (the sim runs the built agents)');
    }
    repo = await createRepo({
      bare: true,
      files: { 'gitdock.yaml': CONFIG, 'services/web.yaml': WEB('app', '1.0') },
    });
  });

  afterAll(async () => {
    // Only when a test failed before `sim down`: never leave dockerds running.
    if (fs.existsSync(SIM_DIR)) await gitdock(['sim', 'down', '--dir', SIM_DIR]);
    await repo?.cleanup();
  });

  it('runs a 3-host fleet with waves end to end, and leaves nothing behind', async () => {
    // --- up ---------------------------------------------------------------
    let t0 = Date.now();
    const up = await gitdock([
      'sim',
      'up',
      '--repo',
      repo.bareDir!,
      '--dir',
      SIM_DIR,
      '--interval',
      '2s',
    ]);
    expect(up.stderr + up.stdout).not.toMatch(/unexpected error/);
    expect(up.code, up.stderr).toBe(0);
    console.log(`[sim] up in ${elapsed(t0)}`);
    sim = JSON.parse(fs.readFileSync(`${SIM_DIR}/sim.json`, 'utf8')) as SimState;
    // Slot 1 unless another sim runs on the machine meanwhile.
    const k = sim.slot;
    expect(sim.hosts.map((h) => [h.name, h.address, h.agentUrl])).toEqual([
      ['a', `127.0.${k}.1`, `http://127.0.${k}.1:9420`],
      ['b', `127.0.${k}.2`, `http://127.0.${k}.2:9420`],
      ['c', `127.0.${k}.3`, `http://127.0.${k}.3:9420`],
    ]);
    for (const h of sim.hosts) expect(up.stdout).toContain(h.dockerHost);
    const pids = [sim.gitPid, ...sim.hosts.flatMap((h) => [h.dockerdPid, h.agentPid])].filter(
      (p): p is number => typeof p === 'number',
    );
    expect(pids).toHaveLength(7);

    const again = await gitdock(['sim', 'up', '--repo', repo.bareDir!, '--dir', SIM_DIR]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/a sim already runs in/);

    t0 = Date.now();
    const c1 = repo.rev();
    await waitAllApplied(c1);
    console.log(`[sim] first commit applied on 3 hosts in ${elapsed(t0)}`);
    for (const h of HOSTS) expect(webOn(h)?.image).toBe(`${REPO_OF('app')}:1.0`);

    const statusJson = await gitdock(['sim', 'status', '--dir', SIM_DIR, '-o', 'json']);
    expect(statusJson.code, statusJson.stderr).toBe(0);
    const fleet = JSON.parse(statusJson.stdout) as {
      synced: boolean;
      commit: string;
      hosts: { host: string; sync: string }[];
    };
    expect(fleet.commit).toBe(c1);
    expect(fleet.hosts.map((h) => [h.host, h.sync])).toEqual(HOSTS.map((h) => [h, 'Synced']));
    const statusText = await gitdock(['sim', 'status', '--dir', SIM_DIR]);
    expect(statusText.stdout).toMatch(new RegExp(`^a +127\\.0\\.${k}\\.1 +unix://`, 'm'));
    expect(statusText.stdout).toMatch(/3 hosts, 3 services: 3 Synced/);

    // --- a release, in waves ------------------------------------------------
    const c2 = repo.commit({ 'services/web.yaml': WEB('app', '1.1') }, 'release 1.1');
    t0 = Date.now();
    const push2 = await gitdock(['sim', 'push', 'main', '--dir', SIM_DIR]);
    expect(push2.code, push2.stderr).toBe(0);
    expect(push2.stdout).toMatch(/3 of 3 agents told to fetch/);
    await waitAllApplied(c2);
    console.log(`[sim] release 1.1 on 3 hosts in ${elapsed(t0)}`);
    const released = new Map(HOSTS.map((h) => [h, webOn(h)!]));
    for (const [, c] of released) expect(c.image).toBe(`${REPO_OF('app')}:1.1`);
    // Wave 2 began only after wave 1's container was up.
    expect(released.get('b')!.created).toBeGreaterThanOrEqual(released.get('a')!.startedAt);
    expect(released.get('c')!.created).toBeGreaterThanOrEqual(released.get('a')!.startedAt);
    await waitFor(() => HOSTS.every((h) => remoteRefs().get(`refs/gitdock/applied/${h}`) === c2), {
      timeoutMs: 20_000,
      what: 'every applied ref at the release',
    });

    // --- a release that fails on wave 1 -------------------------------------
    const c3 = repo.commit({ 'services/web.yaml': WEB('unhealthy', '1.0') }, 'broken release');
    t0 = Date.now();
    expect((await gitdock(['sim', 'push', 'main', '--dir', SIM_DIR])).code).toBe(0);
    await waitFor(
      async () => {
        const s = await agentStatus('a');
        return s.lastAttemptedCommit === c3 && s.services[0]?.sync === 'Failed';
      },
      { timeoutMs: 60_000, what: 'a to fail at the broken release' },
    );
    console.log(`[sim] broken release failed on a in ${elapsed(t0)}`);
    // b and c say they are halted by a, and never try the commit.
    for (const h of ['b', 'c']) {
      const s = await waitFor(
        async () => {
          const st = await agentStatus(h);
          return st.rollout?.state === 'halted' && st;
        },
        { timeoutMs: 20_000, what: `${h} to report the release halted` },
      );
      expect(s.rollout?.commit).toBe(c3);
      expect(s.rollout?.blockers).toEqual([
        expect.objectContaining({ host: 'a', state: 'failed' }),
      ]);
      expect(s.lastAppliedCommit).toBe(c2);
      expect(s.lastAttemptedCommit).not.toBe(c3);
    }
    // Two more of their intervals: still untouched.
    await new Promise((r) => setTimeout(r, 4000));
    for (const h of HOSTS) {
      const now = webOn(h)!;
      expect(now.id, `${h}'s container`).toBe(released.get(h)!.id);
      expect(now.image).toBe(`${REPO_OF('app')}:1.1`);
      expect(now.running).toBe(true);
    }
    expect(remoteRefs().get('refs/gitdock/applied/b')).toBe(c2);
    expect(remoteRefs().get('refs/gitdock/applied/c')).toBe(c2);

    // --- the revert -----------------------------------------------------------
    repo.git([
      '-c',
      'user.name=test',
      '-c',
      'user.email=test@example.com',
      'revert',
      '--no-edit',
      'HEAD',
    ]);
    repo.push();
    const c4 = repo.rev();
    t0 = Date.now();
    const push4 = await gitdock(['sim', 'push', c4, '--dir', SIM_DIR]);
    expect(push4.code, push4.stderr).toBe(0);
    await waitAllApplied(c4);
    console.log(`[sim] revert applied on 3 hosts in ${elapsed(t0)}`);
    for (const h of HOSTS) {
      expect(webOn(h)?.image).toBe(`${REPO_OF('app')}:1.1`);
      expect((await agentStatus(h)).rollout ?? null).toBeNull();
    }

    // --- down: nothing left ----------------------------------------------------
    expect(simProcesses().length).toBeGreaterThanOrEqual(7);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).toContain(SIM_DIR);
    t0 = Date.now();
    const down = await gitdock(['sim', 'down', '--dir', SIM_DIR]);
    expect(down.code, down.stderr).toBe(0);
    console.log(`[sim] down in ${elapsed(t0)}`);
    expect(down.stdout).toMatch(/removed directory/);
    expect(simProcesses()).toEqual([]);
    // Gone, or a zombie its new parent has not reaped yet (it holds nothing but the pid).
    await waitFor(() => pids.every((pid) => !liveProcess(pid)), {
      timeoutMs: 5000,
      what: () => `pids ${pids.filter(liveProcess).join(', ')} of the sim to be gone`,
    });
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(SIM_DIR);
    expect(fs.existsSync(SIM_DIR)).toBe(false);
    const downAgain = await gitdock(['sim', 'down', '--dir', SIM_DIR]);
    expect(downAgain.code).toBe(0);
    expect(downAgain.stdout).toMatch(/nothing to remove/);
  });
});
