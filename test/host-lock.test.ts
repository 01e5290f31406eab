// One writer per host, against the real private dockerd: a real `gitdock
// agent` process holds host h1's lock (a network on the engine); `gitdock
// apply` and a second agent for h1 are refused while it runs; a SIGKILLed
// agent's lock is recovered; `gitdock unlock` removes a lock of another machine.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDockerEngine } from '../src/adapters/docker-engine.js';
import { isProcessRunning, readProcessIdentity } from '../src/adapters/process-identity.js';
import { type AgentProcess, startAgent, waitFor } from './support/agent-process.js';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import { containers, eventCursor, gitdock, mutationsSince } from './support/gitdock.js';
import { imageRef, removeAllContainers, stackEnv } from './support/stack.js';

const BIN = fileURLToPath(new URL('../bin/gitdock.js', import.meta.url));
const LOCK = 'gitdock-lock.h1';
const STACK_SH = fileURLToPath(new URL('../scripts/stack.sh', import.meta.url));
const REPO_OF = (name: string) => imageRef(name, 'x').replace(/:x$/, '');

function service(fields: Record<string, unknown>): string {
  return `${JSON.stringify({ network_mode: 'none', update: { settle: '500ms' }, ...fields }, null, 2)}\n`;
}

const WEB = (tag: string, more: Record<string, unknown> = {}) =>
  service({ image: REPO_OF('app'), tag, ...more });

/**
 * The engine adapter's lock calls: what the lock is made of on the engine is
 * the adapter's business (and test/docker-engine.test.ts's).
 */
function engine() {
  return createDockerEngine({ dockerHost: stackEnv().dockerHost });
}

/** The lock's labels, or undefined when there is no lock. */
async function lockLabels(): Promise<Record<string, string> | undefined> {
  return (await engine().findLock(LOCK))?.labels;
}

async function removeLock(): Promise<void> {
  const lock = await engine().findLock(LOCK);
  if (lock) await engine().removeLock(lock.id);
}

/** `gitdock <args>` as a child process of the built CLI; resolves with its exit and output. */
function run(args: string[]): {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, DOCKER_HOST: stackEnv().dockerHost, GITDOCK_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { proc, output: () => output, exited };
}

let repo: FixtureRepo;
let agent: AgentProcess | undefined;
const children: ChildProcess[] = [];

async function startH1Agent(): Promise<AgentProcess> {
  agent = await startAgent(['--host', 'h1', '--repo', repo.bareDir!, '--retry-max', '2s']);
  return agent;
}

async function converged(commit: string) {
  return waitFor(
    async () => {
      const s = await agent!.status();
      return s.lastAppliedCommit === commit && s.services.every((x) => x.sync === 'Synced') && s;
    },
    { timeoutMs: 30_000, what: `the agent to converge at ${commit.slice(0, 12)}` },
  );
}

beforeEach(async () => {
  removeAllContainers();
  await removeLock();
  repo = await createRepo({ bare: true, files: { 'hosts/h1/web.yaml': WEB('1.0') } });
});

afterEach(async () => {
  await agent?.stop('SIGTERM');
  agent = undefined;
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await repo.cleanup();
  removeAllContainers();
  await removeLock();
});

describe('one writer per host', () => {
  it('while an agent manages h1, apply is refused and changes nothing, and so is a second agent', async () => {
    const first = repo.rev();
    const head = repo.commit({ 'hosts/h1/web.yaml': WEB('1.1') }, 'web 1.1');
    await startH1Agent();
    await converged(head);
    const pid = agent!.proc.pid!;
    expect(await lockLabels()).toMatchObject({
      'io.gitdock.lock.kind': 'agent',
      'io.gitdock.lock.host': 'h1',
      'io.gitdock.lock.pid': String(pid),
    });

    // An apply of the previous commit would recreate web: refused, nothing touched.
    const before = containers();
    const cursor = eventCursor();
    const applied = await gitdock([
      'apply',
      '--host',
      'h1',
      '--repo',
      repo.sourceDir,
      '--rev',
      first,
    ]);
    expect(applied.code).toBe(1);
    expect(applied.stdout).toBe('');
    expect(applied.stderr).toMatch(
      new RegExp(
        `^gitdock: host h1 is managed by the gitdock agent \\(pid ${pid} on machine .+, since .+\\): deploy by pushing to the branch it follows, or stop that agent first \\(GITDOCK_E_HOST_LOCKED\\)\\n$`,
      ),
    );
    expect(mutationsSince(cursor)).toEqual([]);
    expect(containers().get('web')?.id).toBe(before.get('web')?.id);
    expect(containers().get('web')?.labels['io.gitdock.image']).toBe(imageRef('app', '1.1'));

    // `plan` and `apply --dry-run` take no lock.
    expect(
      (await gitdock(['plan', '--host', 'h1', '--repo', repo.sourceDir, '--rev', first])).code,
    ).toBe(2);
    const dry = await gitdock([
      'apply',
      '--host',
      'h1',
      '--repo',
      repo.sourceDir,
      '--rev',
      first,
      '--dry-run',
    ]);
    expect(dry.stderr).not.toContain('GITDOCK_E_HOST_LOCKED');
    expect(dry.stdout).toMatch(/~ recreate\s+web\s+tag 1.1 -> 1.0/);

    // A second agent for h1 on the same engine: refused at start, exit 1.
    const second = run(['agent', '--host', 'h1', '--repo', repo.bareDir!, '--listen', 'off']);
    children.push(second.proc);
    const { code } = await second.exited;
    expect(code).toBe(1);
    expect(second.output()).toContain(
      `gitdock: host h1 is managed by the gitdock agent (pid ${pid} on machine `,
    );
    expect(second.output()).toContain('(GITDOCK_E_HOST_LOCKED)');
    expect(mutationsSince(cursor)).toEqual([]);

    // The first agent still holds the lock and still converges pushes.
    expect((await lockLabels())?.['io.gitdock.lock.pid']).toBe(String(pid));
    const next = repo.commit({ 'hosts/h1/web.yaml': WEB('1.0') }, 'web 1.0 again');
    await converged(next);
    // Stopped cleanly, it gives the lock back.
    expect(await agent!.stop('SIGTERM')).toBe(0);
    expect(await lockLabels()).toBeUndefined();
  });

  it('the lock survives an engine restart: apply is still refused, the agent still holds it', async () => {
    await startH1Agent();
    await converged(repo.rev());
    const pid = String(agent!.proc.pid);
    const before = await engine().findLock(LOCK);
    execFileSync('bash', [STACK_SH, 'engine-restart'], { stdio: 'ignore', timeout: 90_000 });
    // The first requests after the restart may meet the engine still starting.
    const after = await waitFor(async () => (await engine().findLock(LOCK)) ?? false, {
      what: 'the lock to be read after the engine restart',
    });
    expect(after).toEqual(before);
    expect(before?.labels['io.gitdock.lock.pid']).toBe(pid);
    const refused = await gitdock(['apply', '--host', 'h1', '--repo', repo.sourceDir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`managed by the gitdock agent (pid ${pid} on machine `);
    // The agent goes on (and heals the stopped containers), and gives the lock back at the end.
    const head = repo.commit({ 'hosts/h1/web.yaml': WEB('1.1') }, 'web 1.1');
    await converged(head);
    expect(await agent!.stop('SIGTERM')).toBe(0);
    expect(await lockLabels()).toBeUndefined();
  });

  it("a SIGKILLed agent's lock is recovered by the next apply, which converges and releases it", async () => {
    await startH1Agent();
    await converged(repo.rev());
    const pid = agent!.proc.pid!;
    await agent!.stop('SIGKILL');
    agent = undefined;
    // The lock is left behind, naming a process that no longer runs.
    expect((await lockLabels())?.['io.gitdock.lock.pid']).toBe(String(pid));

    const sha = repo.commit({ 'hosts/h1/web.yaml': WEB('1.1') }, 'web 1.1');
    const applied = await gitdock(['apply', '--host', 'h1', '--repo', repo.sourceDir]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/~ recreate\s+web\s+tag 1.0 -> 1.1/);
    const warning = applied.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warning).toEqual([
      expect.objectContaining({
        msg: 'removing a stale host lock',
        reason: `process ${pid} that took it is no longer running on this machine`,
        holder: expect.objectContaining({ kind: 'agent', pid }),
      }),
    ]);
    expect(containers().get('web')?.labels['io.gitdock.commit']).toBe(sha);
    expect(await lockLabels()).toBeUndefined();

    // And so does a new agent, after another SIGKILL.
    await startH1Agent();
    await converged(sha);
    await agent!.stop('SIGKILL');
    agent = undefined;
    await startH1Agent();
    await converged(sha);
    expect((await lockLabels())?.['io.gitdock.lock.pid']).toBe(String(agent!.proc.pid));
  });

  it('an apply holds the lock for its run: a second apply is refused; SIGINT gives it back', async () => {
    expect((await gitdock(['apply', '--host', 'h1', '--repo', repo.sourceDir])).code).toBe(0);
    expect(await lockLabels()).toBeUndefined();
    // A replacement with a 4 s settle keeps the next apply busy long enough to be met.
    repo.commit({ 'hosts/h1/web.yaml': WEB('1.1', { update: { settle: '4s' } }) }, 'slow 1.1');
    const first = run(['apply', '--host', 'h1', '--repo', repo.sourceDir]);
    children.push(first.proc);
    await waitFor(
      async () => (await lockLabels())?.['io.gitdock.lock.pid'] === String(first.proc.pid),
      {
        what: `the first apply to take the lock (output: ${first.output()})`,
      },
    );
    expect((await lockLabels())?.['io.gitdock.lock.kind']).toBe('apply');
    const second = await gitdock(['apply', '--host', 'h1', '--repo', repo.sourceDir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      new RegExp(
        `^gitdock: another gitdock apply for host h1 is running \\(pid ${first.proc.pid} on machine .+\\): wait until it has finished, then run again \\(GITDOCK_E_HOST_LOCKED\\)\\n$`,
      ),
    );
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(await lockLabels()).toBeUndefined();

    // Interrupted with SIGINT, an apply gives the lock back and ends by that signal.
    repo.commit({ 'hosts/h1/web.yaml': WEB('1.0', { update: { settle: '4s' } }) }, 'slow 1.0');
    const third = run(['apply', '--host', 'h1', '--repo', repo.sourceDir]);
    children.push(third.proc);
    await waitFor(
      async () => (await lockLabels())?.['io.gitdock.lock.pid'] === String(third.proc.pid),
      {
        what: 'the third apply to take the lock',
      },
    );
    third.proc.kill('SIGINT');
    expect(await third.exited).toEqual({ code: null, signal: 'SIGINT' });
    expect(await lockLabels()).toBeUndefined();
  });

  it('unlock removes a lock taken on another machine, which apply never breaks on its own', async () => {
    // As an agent on another machine would have left it.
    const made = await engine().createLock(LOCK, {
      'io.gitdock.lock.kind': 'agent',
      'io.gitdock.lock.host': 'h1',
      'io.gitdock.lock.pid': '99',
      'io.gitdock.lock.start-time': '12345',
      'io.gitdock.lock.machine-id': 'another-machine-id',
      'io.gitdock.lock.boot-id': 'another-boot',
      'io.gitdock.lock.hostname': 'far-away',
      'io.gitdock.lock.version': '0.1.0',
      'io.gitdock.lock.started-at': '2025-03-04T05:06:07.000Z',
    });
    expect(made.created).toBe(true);
    const refused = await gitdock(['apply', '--host', 'h1', '--repo', repo.sourceDir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'gitdock: host h1 is managed by the gitdock agent (pid 99 on machine far-away, since 2025-03-04T05:06:07.000Z): deploy by pushing to the branch it follows, or stop that agent first; it runs on another machine, so its lock is never taken over automatically: if it is gone for good, remove the lock with gitdock unlock --host h1 (GITDOCK_E_HOST_LOCKED)\n',
    );
    expect(containers().size).toBe(0);
    expect(await lockLabels()).toBeDefined();

    const unlocked = await gitdock(['unlock', '--host', 'h1']);
    expect(unlocked).toEqual({
      code: 0,
      stdout:
        'removed the lock of host h1, held by the gitdock agent (pid 99 on machine far-away, since 2025-03-04T05:06:07.000Z)\n',
      stderr: '',
    });
    expect(await lockLabels()).toBeUndefined();
    expect(await gitdock(['unlock', '--host', 'h1'])).toEqual({
      code: 0,
      stdout: 'host h1 is not locked (no gitdock-lock.h1 on the engine)\n',
      stderr: '',
    });
    expect((await gitdock(['apply', '--host', 'h1', '--repo', repo.sourceDir])).code).toBe(0);
    expect(containers().get('web')?.state).toBe('running');
  });

  it('unlock --output json shows the holder it removed, and null when there was none', async () => {
    await startH1Agent();
    await converged(repo.rev());
    const pid = agent!.proc.pid!;
    const json = await gitdock(['unlock', '--host', 'h1', '--output', 'json']);
    expect(json.code).toBe(0);
    // The holder runs here: a warning says it goes on without the lock.
    expect(json.stderr).toBe(
      `gitdock: warning: pid ${pid} still runs on this machine and goes on without the lock (the agent takes it again within 30s)\n`,
    );
    const me = await readProcessIdentity('0.1.0');
    expect(JSON.parse(json.stdout)).toEqual({
      host: 'h1',
      lock: LOCK,
      removed: true,
      holder: {
        kind: 'agent',
        host: 'h1',
        pid,
        startTime: expect.stringMatching(/^[0-9]+$/),
        machineId: me.machineId,
        bootId: me.bootId,
        pidNamespace: me.pidNamespace,
        hostname: me.hostname,
        version: '0.1.0',
        startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        lockId: expect.stringMatching(/./),
        lockName: LOCK,
        running: true,
      },
    });
    expect(await lockLabels()).toBeUndefined();
    await agent!.stop('SIGTERM');
    agent = undefined;
    expect(JSON.parse((await gitdock(['unlock', '--host', 'h1', '-o', 'json'])).stdout)).toEqual({
      host: 'h1',
      lock: LOCK,
      removed: false,
      holder: null,
    });
  });
});

describe('process identity (/proc)', () => {
  it('names this process by pid and start time, this machine and this boot', async () => {
    const me = await readProcessIdentity('9.9.9');
    expect(me.pid).toBe(process.pid);
    expect(me.startTime).toMatch(/^[0-9]+$/);
    expect(me.machineId).toBe(
      readFileSync('/etc/machine-id', 'utf8').trim() || (await import('node:os')).hostname(),
    );
    expect(me.bootId).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    expect(me.pidNamespace).toMatch(/^pid:\[\d+\]$/);
    expect(me.version).toBe('9.9.9');
    expect(await isProcessRunning(me.pid, me.startTime)).toBe(true);
    // The same pid with another start time is another process.
    expect(await isProcessRunning(me.pid, String(Number(me.startTime) + 1))).toBe(false);
  });

  it('a process that exited (and one never started) is not running', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((resolve) => child.on('exit', resolve));
    expect(await isProcessRunning(pid, '')).toBe(false);
    expect(await isProcessRunning(2 ** 22 + 7, '')).toBe(false);
  });
});
