// An agent on a FakeEngine and a FakeClock, fed by an in-memory branch: the
// agent's decisions over time, run in fake time (minutes per millisecond),
// for sequence and model-based tests. Nothing here touches disk, network or
// real time.
import { Agent, type HoldStore } from '../../src/agent/agent.js';
import type { Hold } from '../../src/agent/holds.js';
import type { BranchSource } from '../../src/agent/types.js';
import type { AgentStatus } from '../../src/core/agent-status.js';
import type { GitSource } from '../../src/core/git.js';
import { GitdockError } from '../../src/errors.js';
import type { Log } from '../../src/log.js';
import { FakeClock } from './fake-clock.js';
import { FakeEngine, type JournalEntry } from './fake-engine.js';

export const HOST = 'h1';
export const REGISTRY = '127.0.0.1:5999/t';
export const RESYNC_MS = 60_000;
/** Passes at one instant of fake time beyond which the agent is taken to spin. */
const RUNAWAY_PASSES = 50;

/** The services of the model and the images their tags name. */
export const SERVICES = ['web', 'cache'] as const;
export type ServiceName = (typeof SERVICES)[number];
/** `good` runs; `crash` exits at once with code 3; `missing` is not in the registry. */
export type Release = 'v1' | 'v2' | 'v3' | 'crash' | 'missing';

export function manifest(release: Release, extra = ''): string {
  const tag = release === 'crash' ? 'crash' : release;
  return `image: ${REGISTRY}/app\ntag: "${tag}"\nnetwork_mode: none\nrestart: unless-stopped\nupdate:\n  settle: 500ms\n${extra}`;
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

/** Reads commits kept in memory as file trees; `main` and `HEAD` are `tip()`. */
export function memoryGit(
  commits: ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>,
  tip: () => string,
): GitSource {
  return {
    resolveRevision: async (rev) => {
      const id = rev === 'HEAD' || rev === 'main' ? tip() : rev;
      if (!commits.has(id)) throw new GitdockError('GITDOCK_E_GIT_REV_NOT_FOUND', `no ${rev}`);
      return id;
    },
    readFiles: async (commit, include) => {
      const files = commits.get(commit);
      if (!files) throw new GitdockError('GITDOCK_E_GIT_REV_NOT_FOUND', `no ${commit}`);
      const out = new Map<string, Uint8Array>();
      for (const [path, data] of files) {
        const dirs = path.split('/').slice(0, -1);
        const ok = dirs.every((_, i) => include(dirs.slice(0, i + 1).join('/'), true));
        if (ok && include(path, false)) out.set(path, data);
      }
      return out;
    },
  };
}

/** A branch in memory: commits are file trees; `push` moves the branch and tells the watcher. */
class MemoryBranch implements BranchSource {
  readonly description = 'memory://fleet';
  readonly branch = 'main';
  readonly remote = false;
  readonly commits = new Map<string, Map<string, Uint8Array>>();
  tip = '';
  private onChange: ((reason: string) => void) | undefined;
  private n = 0;

  readonly git: GitSource = memoryGit(this.commits, () => this.tip);

  push(files: Record<string, string>): string {
    const id = (++this.n).toString(16).padStart(40, '0');
    const tree = new Map<string, Uint8Array>();
    for (const [p, text] of Object.entries(files)) tree.set(p, new TextEncoder().encode(text));
    this.commits.set(id, tree);
    this.tip = id;
    this.onChange?.('refs/heads/main change');
    return id;
  }

  async update(): Promise<void> {}
  async head(): Promise<string> {
    return this.tip;
  }
  async watch(onChange: (reason: string) => void) {
    this.onChange = onChange;
    return async () => {
      this.onChange = undefined;
    };
  }
  async reportApplied(): Promise<void> {}
}

export interface HarnessOptions {
  failedRetryMs?: number;
  seed?: string;
}

/** One fake host: engine, clock, branch, and an agent that can be stopped and started again. */
export class AgentHarness {
  readonly clock = new FakeClock({ flushTurns: 4 });
  readonly engine: FakeEngine;
  readonly branch = new MemoryBranch();
  readonly logs: LogLine[] = [];
  agent!: Agent;
  passes: { result: string; at: number; trigger: string }[] = [];
  /** Set when the agent ran passes in a loop without time passing (see RUNAWAY_PASSES). */
  runaway: string | undefined;
  private stopAgent: AbortController | undefined;
  private running: Promise<void> | undefined;
  private saved: Hold[] = [];
  /** The desired releases at the tip, when it is valid. */
  desired: Record<ServiceName, Release> = { web: 'v1', cache: 'v1' };

  constructor(private readonly options: HarnessOptions = {}) {
    this.engine = new FakeEngine(this.clock, { seed: options.seed ?? 'model' });
    for (const tag of ['v1', 'v2', 'v3'])
      this.engine.pushImage(`${REGISTRY}/app:${tag}`, {}, { pullMs: 300 });
    this.engine.pushImage(
      `${REGISTRY}/app:crash`,
      { exitAfterMs: 0, exitCode: 3, logLines: ['boom'] },
      { pullMs: 300 },
    );
  }

  readonly log: Log = (() => {
    const at =
      (level: LogLine['level']) =>
      (a: unknown, b?: unknown): void => {
        const [fields, msg] =
          typeof a === 'string' ? [{}, a] : [(a ?? {}) as Record<string, unknown>, String(b ?? '')];
        this.logs.push({ level, msg, fields });
      };
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
    } as unknown as Log;
  })();

  readonly holdStore: HoldStore = {
    load: async () => this.saved.map((h) => ({ ...h })),
    save: async (holds) => {
      this.saved = holds.map((h) => ({ ...h }));
    },
  };

  pushReleases(releases: Record<ServiceName, Release>): string {
    this.desired = { ...releases };
    return this.branch.push({
      'hosts/h1/web.yaml': manifest(releases.web),
      'hosts/h1/cache.yaml': manifest(releases.cache, 'environment:\n  ROLE: cache\n'),
    });
  }

  pushInvalid(): string {
    return this.branch.push({
      'hosts/h1/web.yaml': 'image: a\ntag: "1"\nportz: []\n',
      'hosts/h1/cache.yaml': manifest(this.desired.cache, 'environment:\n  ROLE: cache\n'),
    });
  }

  start(): void {
    this.agent = new Agent({
      host: HOST,
      source: this.branch,
      engine: this.engine,
      clock: this.clock,
      log: this.log,
      intervalMs: RESYNC_MS,
      retry: { baseMs: 1000, capMs: 30_000 },
      holdPolicy: {
        transient: { baseMs: 5000, capMs: 60_000 },
        ...(this.options.failedRetryMs
          ? {
              rollout: {
                baseMs: this.options.failedRetryMs,
                capMs: this.options.failedRetryMs * 16,
              },
            }
          : {}),
      },
      holdStore: this.holdStore,
      random: () => 0,
      observer: {
        onPass: (p) => {
          this.passes.push({ result: p.result, at: this.clock.now(), trigger: p.trigger });
          // A loop that runs pass after pass without time passing would spin
          // forever in fake time: stop it and fail the test instead.
          const sameInstant = this.passes.filter((x) => x.at === this.clock.now()).length;
          if (sameInstant > RUNAWAY_PASSES && !this.runaway) {
            this.runaway = `more than ${RUNAWAY_PASSES} passes at one instant; the last: ${p.trigger}`;
            this.stopAgent?.abort();
          }
        },
      },
    });
    this.stopAgent = new AbortController();
    this.running = this.agent.run(this.stopAgent.signal);
  }

  /** SIGTERM: the agent finishes what it has begun and returns. */
  async stop(): Promise<void> {
    this.stopAgent?.abort();
    const done = this.running;
    let finished = false;
    void done?.then(() => {
      finished = true;
    });
    for (let i = 0; i < 200 && !finished; i++) await this.clock.advance(500);
    if (!finished) throw new Error('the agent did not stop within 100 s of fake time');
  }

  /** Lets fake time pass in steps, so the agent reacts as it would. */
  async advance(ms: number, step = 250): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      await this.clock.advance(Math.min(step, ms - t));
      this.failOnRunaway();
    }
  }

  private failOnRunaway(): void {
    if (this.runaway) throw new Error(`the agent spins: ${this.runaway}`);
  }

  /** Advances until no pass runs and none is pending soon (bounded), then a little more. */
  async settle(maxMs = 120_000): Promise<void> {
    let quiet = 0;
    for (let t = 0; t < maxMs; t += 250) {
      await this.clock.advance(250);
      this.failOnRunaway();
      const s = this.status();
      quiet = s.running ? 0 : quiet + 250;
      if (quiet >= 3000) return;
    }
  }

  status(): AgentStatus {
    return this.agent.status;
  }

  journalSince(seq: number): JournalEntry[] {
    return this.engine.journal.filter((e) => e.seq > seq);
  }

  lastSeq(): number {
    return this.engine.journal.at(-1)?.seq ?? 0;
  }
}
