// Several agents, each on its own FakeEngine, sharing one FakeClock and one
// in-memory fleet repo that also holds the hosts' reports
// (refs/gitdock/applied|failed/<host>): releases by waves, run in fake time.
// Nothing here touches disk, network or real time.
import { Agent } from '../../src/agent/agent.js';
import type { BranchSource } from '../../src/agent/types.js';
import type { AgentStatus } from '../../src/core/agent-status.js';
import { reportsOf } from '../../src/core/rollout.js';
import { LABELS } from '../../src/core/types.js';
import { GitdockError } from '../../src/errors.js';
import type { Log } from '../../src/log.js';
import { memoryGit } from './agent-harness.js';
import { FakeClock } from './fake-clock.js';
import { FakeEngine } from './fake-engine.js';

export const FLEET_REGISTRY = '127.0.0.1:5999/t';
/** `crash` exits at once with code 3; `missing` is in no registry; the others run. */
export type FleetRelease = 'v1' | 'v2' | 'v3' | 'v4' | 'crash' | 'missing';
export const WAVE_POLL_MS = 2_000;

/** One write of a report ref, in fake time. */
export interface RefWrite {
  ref: string;
  commit: string;
  at: number;
}

/** The fleet repo: commits as file trees, the branch, and the report refs everyone reads. */
class FleetRepo {
  readonly commits = new Map<string, Map<string, Uint8Array>>();
  readonly refs = new Map<string, string>();
  readonly refLog: RefWrite[] = [];
  readonly releaseOf = new Map<string, FleetRelease>();
  tip = '';
  private n = 0;
  private readonly watchers = new Set<(reason: string) => void>();

  constructor(private readonly clock: FakeClock) {}

  push(files: Record<string, string>, release: FleetRelease): string {
    const id = (++this.n).toString(16).padStart(40, '0');
    const tree = new Map<string, Uint8Array>();
    for (const [p, text] of Object.entries(files)) tree.set(p, new TextEncoder().encode(text));
    this.commits.set(id, tree);
    this.releaseOf.set(id, release);
    this.tip = id;
    for (const w of this.watchers) w('refs/heads/main change');
    return id;
  }

  writeRef(ref: string, commit: string): void {
    this.refs.set(ref, commit);
    this.refLog.push({ ref, commit, at: this.clock.now() });
  }

  /** A host's view of the repo (each agent watches on its own). */
  sourceFor(host: string, down: () => boolean): BranchSource {
    const repo = this;
    const git = memoryGit(repo.commits, () => repo.tip);
    return {
      description: `memory://fleet (${host})`,
      branch: 'main',
      remote: false,
      git,
      async update() {},
      async head() {
        return repo.tip;
      },
      async watch(onChange) {
        repo.watchers.add(onChange);
        return async () => {
          repo.watchers.delete(onChange);
        };
      },
      async reportApplied(ref, commit) {
        if (down()) throw new GitdockError('GITDOCK_E_GIT_REPORT', 'the host is cut off');
        repo.writeRef(ref, commit);
      },
      async readReports() {
        return reportsOf(repo.refs);
      },
    };
  }
}

interface FleetHost {
  name: string;
  engine: FakeEngine;
  agent?: Agent;
  stop?: AbortController;
  running?: Promise<void>;
  passes: { result: string; at: number }[];
}

export interface FleetHarnessOptions {
  hosts: string[];
  /** The `rollout:` block of gitdock.yaml, as YAML (indented two spaces under `rollout:`). */
  rollout?: string;
}

/** Hosts, each an agent on a FakeEngine, fed by one in-memory fleet repo. */
export class FleetHarness {
  readonly clock = new FakeClock({ flushTurns: 4 });
  readonly repo = new FleetRepo(this.clock);
  readonly hosts = new Map<string, FleetHost>();
  readonly logs: { host: string; level: string; msg: string; fields: unknown }[] = [];
  private rollout: string | undefined;

  constructor(options: FleetHarnessOptions) {
    this.rollout = options.rollout;
    for (const name of options.hosts) {
      const engine = new FakeEngine(this.clock, { seed: `fleet-${name}` });
      for (const tag of ['v1', 'v2', 'v3', 'v4'])
        engine.pushImage(`${FLEET_REGISTRY}/app:${tag}`, {}, { pullMs: 300 });
      engine.pushImage(
        `${FLEET_REGISTRY}/app:crash`,
        { exitAfterMs: 0, exitCode: 3, logLines: ['boom'] },
        { pullMs: 300 },
      );
      this.hosts.set(name, { name, engine, passes: [] });
    }
  }

  /** Sets the rollout block the next pushes carry (undefined: none). */
  setRollout(rollout: string | undefined): void {
    this.rollout = rollout;
  }

  /** A commit running `release` on every host, with `extra` files (host manifests) beside. */
  push(release: FleetRelease, extra: Record<string, string> = {}): string {
    const hosts = [...this.hosts.keys()].map((h) => `  ${h}: {}`).join('\n');
    const rollout = this.rollout ? `rollout:\n${this.rollout}\n` : '';
    return this.repo.push(
      {
        'gitdock.yaml': `hosts:\n${hosts}\n${rollout}`,
        'services/web.yaml': serviceManifest(release, 'hosts: ["*"]\n'),
        ...extra,
      },
      release,
    );
  }

  start(name: string): void {
    const host = this.hosts.get(name)!;
    const log = this.logFor(name);
    host.stop = new AbortController();
    host.agent = new Agent({
      host: name,
      source: this.repo.sourceFor(name, () => host.stop?.signal.aborted ?? true),
      engine: host.engine,
      clock: this.clock,
      log,
      intervalMs: 60_000,
      retry: { baseMs: 1000, capMs: 30_000 },
      holdPolicy: { transient: { baseMs: 5000, capMs: 60_000 } },
      reportRef: true,
      wavePollMs: WAVE_POLL_MS,
      random: () => 0,
      observer: {
        onPass: (p) => host.passes.push({ result: p.result, at: this.clock.now() }),
      },
    });
    host.running = host.agent.run(host.stop.signal);
  }

  startAll(): void {
    for (const name of this.hosts.keys()) this.start(name);
  }

  /** The agent stops (SIGTERM) and stays down; its engine keeps running what it runs. */
  async stop(name: string): Promise<void> {
    const host = this.hosts.get(name)!;
    host.stop?.abort();
    let finished = false;
    void host.running?.then(() => {
      finished = true;
    });
    for (let i = 0; i < 200 && !finished; i++) await this.clock.advance(500);
    if (!finished) throw new Error(`the agent of ${name} did not stop within 100 s of fake time`);
    host.agent = undefined;
  }

  /** Called after every step of fake time (to check invariants as things happen). */
  onStep: (() => Promise<void>) | undefined;

  async advance(ms: number, step = 250): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      await this.clock.advance(Math.min(step, ms - t));
      await this.onStep?.();
    }
  }

  /** Advances (bounded) until `done` holds; returns the fake time it took, or throws. */
  async until(
    done: () => boolean | Promise<boolean>,
    maxMs: number,
    what: string,
  ): Promise<number> {
    const start = this.clock.now();
    for (let t = 0; t <= maxMs; t += 250) {
      if (await done()) return this.clock.now() - start;
      await this.clock.advance(250);
      await this.onStep?.();
    }
    throw new Error(`${what}: not within ${maxMs} ms of fake time`);
  }

  status(name: string): AgentStatus {
    const agent = this.hosts.get(name)!.agent;
    if (!agent) throw new Error(`${name} has no agent running`);
    return agent.status;
  }

  applied(name: string): string | undefined {
    return this.repo.refs.get(`refs/gitdock/applied/${name}`);
  }

  failed(name: string): string | undefined {
    return this.repo.refs.get(`refs/gitdock/failed/${name}`);
  }

  /** The tag the host's running `web` container runs, if any. */
  async runningTag(name: string): Promise<string | undefined> {
    const engine = this.hosts.get(name)!.engine;
    const containers = await engine.listContainers();
    const web = containers.find((c) => c.labels[LABELS.service] === 'web' && c.state === 'running');
    return web?.labels[LABELS.image]?.split(':').pop();
  }

  /** The tags of every `web` container on the host, whatever its state. */
  async tags(name: string, service = 'web'): Promise<string[]> {
    const engine = this.hosts.get(name)!.engine;
    const containers = await engine.listContainers();
    return containers
      .filter((c) => c.labels[LABELS.service] === service)
      .map((c) => c.labels[LABELS.image]?.split(':').pop() ?? '');
  }

  /** How many pulls the host's engine was asked for, failed ones included. */
  pullCalls(name: string): number {
    return this.hosts.get(name)!.engine.callCount('pullImage');
  }

  /** The image references the host's engine pulled, in order. */
  pulls(name: string): string[] {
    const engine = this.hosts.get(name)!.engine;
    return engine.journal.filter((e) => e.op === 'pull').map((e) => String(e.detail?.ref ?? ''));
  }

  private logFor(host: string): Log {
    const at =
      (level: string) =>
      (a: unknown, b?: unknown): void => {
        const [fields, msg] = typeof a === 'string' ? [{}, a] : [a ?? {}, String(b ?? '')];
        this.logs.push({ host, level, msg, fields });
      };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: () => this.logFor(host),
    } as unknown as Log;
  }
}

/** A manifest of the fleet's test image at `release` (a host file when `head` is empty). */
export function serviceManifest(release: FleetRelease, head = ''): string {
  return `${head}image: ${FLEET_REGISTRY}/app\ntag: "${release}"\nnetwork_mode: none\nrestart: unless-stopped\nupdate:\n  settle: 500ms\n`;
}
