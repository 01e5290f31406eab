// The agent benchmark: how long from `git push` returning to the changed
// containers running, for 1 and for 10 changed services (images cached),
// beside the bare Engine API operations of the same replacement, timed the
// same way in the same run; then the idle agent's CPU and RSS with 20
// services; the reconcile passes one push causes; how fast drift (`docker
// stop`, `docker rm -f`) is healed; and the agent's CPU, log lines and
// passes while idle after a failed release and its revert. See
// bench/README.md. Run: `npx tsx bench/agent.bench.ts [--runs N | --quick]`
// (`make bench`).
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  addPasses,
  containerState,
  cpuSeconds,
  type PassCounts,
  passesBetween,
  readPassCounts,
  rssMB,
  totalPasses,
  waitUntilRunning,
} from './lib/agent-probe.js';
import {
  apiCall,
  type EventWatch,
  type SeenEvent,
  socketPathOf,
  watchEvents,
} from './lib/engine-api.js';
import { appRepository, BASE_TAG, CHANGED_TAG } from './lib/fleet.js';
import { parseRuns, UsageError } from './lib/options.js';
import { check, run } from './lib/proc.js';
import {
  bringUpStack,
  DOCKER,
  docker,
  listContainers,
  removeContainers,
  type Stack,
} from './lib/stack.js';
import { formatMs, formatRange, median, roundMs } from './lib/stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HOST = 'bench-agent';

/**
 * The agent runs as the shipped systemd unit runs it: with the unit's
 * NODE_OPTIONS (a small V8 young generation), read from the unit file so
 * the two cannot drift apart.
 */
const UNIT_NODE_OPTIONS = unitNodeOptions(
  path.join(ROOT, 'examples', 'systemd', 'gitdock-agent.service'),
);

function unitNodeOptions(unitFile: string): string {
  const line = /^Environment=NODE_OPTIONS=(.*)$/m.exec(fs.readFileSync(unitFile, 'utf8'));
  if (!line) throw new Error(`${unitFile} sets no NODE_OPTIONS; the bench expects one`);
  return line[1]!.trim();
}
/** On every container of this bench, the agent's and the bare ones: what the event watch follows. */
const BENCH_LABEL = 'gitdock-bench.agent';
const CHANGED_COUNTS = [1, 10] as const;
const IDLE_SERVICES = 20;
const DEFAULT_RUNS = 10;
const MAX_RUNS = 50;
const DEFAULT_IDLE_SECONDS = 60;
const DEADLINE_MS = 45 * 60_000;
/** A bounded wait for one convergence: far above any sample, far below the deadline. */
const CONVERGE_TIMEOUT_MS = 60_000;
/**
 * A timed push comes at least this long after the one before: the agent
 * takes pushes less than 3 s apart for a burst of commits and waits for a
 * quiet second before its pass (src/agent/agent.ts, BURST_WINDOW_MS).
 */
const PUSH_GAP_MS = 3500;
/** The agent's periodic resync (`--interval`, its default, given explicitly). */
const AGENT_INTERVAL_SECONDS = 60;

/** Passes per push: this many pushes (at most; one per run), each changing one service. */
const PASS_PUSHES = 10;
/** Quiet time after a push has converged before the pass counter is read again. */
const PASS_QUIET_MS = 3000;
/** The tag a cold pull goes to: removed from the engine first, so the agent pulls it. */
const COLD_TAG = '2.0';

/** Drift healing: the service stopped or removed by hand, and its settle time. */
const HEAL_SERVICE = 'heal';
const HEAL_SETTLE = '500ms';
/** Heals of each kind (at most; two per run). */
const HEAL_SAMPLES = 20;
const HEAL_POLL_MS = 50;
const HEAL_TIMEOUT_MS = 30_000;
/** Quiet time (no pass finishing) before and after each heal, so passes are counted per heal. */
const HEAL_QUIET_MS = 1500;

/**
 * The idle window after a failed release and its revert. Shorter when
 * `--idle` is (5x it: `--quick` gives 50 s), and set outright by
 * GITDOCK_BENCH_AFTER_FAILURE_SECONDS (for a quick run).
 */
const AFTER_FAILURE_SECONDS = 300;
const AFTER_FAILURE_ENV = 'GITDOCK_BENCH_AFTER_FAILURE_SECONDS';

const GOALS = {
  pushToRunningOneMs: 1000,
  overheadPercent: 15,
  idleCpuPercent: 0.5,
  idleRssMB: 80,
  passesPerPush: 1,
  afterFailureCpuPercent: 1,
};

const USAGE = `Usage: npx tsx bench/agent.bench.ts [--runs N | --quick] [--idle SECONDS] [--out FILE] [--clear]

Runs \`gitdock agent\` against a local bare repo on the private engine of
scripts/stack.sh. For 1 and for 10 changed services (tag 1.0 <-> 1.1, both
images cached), times from \`git push\` returning to the last new container
started and to the last one renamed into place (converged), and the same
replacement done with bare Engine API calls (create, stop, start, remove,
rename; services in parallel, as the agent does). Then measures the idle
agent's CPU and RSS with ${IDLE_SERVICES} services; the reconcile passes per
push (one service changed, image on the host; and one cold pull); the time
to heal \`docker stop\` and \`docker rm -f\` of a service (settle ${HEAL_SETTLE});
and, after a release that crashes and its revert, the idle agent's CPU,
log lines and passes. Writes the results as JSON.

Options:
  --runs N        samples per scenario (default ${DEFAULT_RUNS}, at most ${MAX_RUNS}); also
                  min(${PASS_PUSHES}, N) pushes and min(${HEAL_SAMPLES}, 2N) heals of each kind
  --quick         2 samples and a 10 s idle window (a smoke run)
  --idle SECONDS  idle window (default ${DEFAULT_IDLE_SECONDS}); the window after the failed
                  release is ${AFTER_FAILURE_SECONDS} s, or 5x this when that is shorter
                  (${AFTER_FAILURE_ENV} sets it outright)
  --out FILE      where to write the JSON (default bench/results/agent.json)
  --clear         also remove containers the bench did not create
  -h, --help      show this help
`;

interface Options {
  runs: number;
  idleSeconds: number;
  afterFailureSeconds: number;
  out: string;
  clear: boolean;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      idle: { type: 'string' },
      out: { type: 'string' },
      clear: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  if (values.quick && values.runs !== undefined)
    throw new UsageError('--quick and --runs exclude each other');
  const runs = values.quick ? 2 : parseRuns(values.runs, DEFAULT_RUNS, MAX_RUNS);
  const idleSeconds =
    values.idle !== undefined ? Number(values.idle) : values.quick ? 10 : DEFAULT_IDLE_SECONDS;
  if (!Number.isFinite(idleSeconds) || idleSeconds < 1 || idleSeconds > 600)
    throw new UsageError(`--idle must be a number of seconds from 1 to 600, not "${values.idle}"`);
  const fromEnv = process.env[AFTER_FAILURE_ENV];
  const afterFailureSeconds = fromEnv
    ? Number(fromEnv)
    : Math.min(AFTER_FAILURE_SECONDS, 5 * idleSeconds);
  if (
    !Number.isFinite(afterFailureSeconds) ||
    afterFailureSeconds < 1 ||
    afterFailureSeconds > 1800
  )
    throw new UsageError(
      `${AFTER_FAILURE_ENV} must be a number of seconds from 1 to 1800, not "${fromEnv}"`,
    );
  const out = values.out
    ? path.resolve(values.out)
    : path.join(ROOT, 'bench', 'results', 'agent.json');
  return { runs, idleSeconds, afterFailureSeconds, out, clear: values.clear };
}

const serviceName = (i: number) => `svc-${String(i + 1).padStart(2, '0')}`;

function manifest(repository: string, tag: string, settle = '0s'): string {
  return [
    `image: ${repository}`,
    `tag: "${tag}"`,
    'network_mode: none',
    'environment:',
    '  APP_ENV: bench',
    'labels:',
    `  ${BENCH_LABEL}: "1"`,
    // The time the agent waits before it calls a container up is a choice of
    // the manifest, not overhead; the bare operations do not wait either.
    'update:',
    `  settle: ${settle}`,
    '',
  ].join('\n');
}

/** A bare repo the agent watches, and a clone the bench commits in and pushes from. */
class PushRepo {
  readonly bare: string;
  private readonly clone: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(dir: string) {
    this.bare = path.join(dir, 'fleet.git');
    this.clone = path.join(dir, 'fleet');
    this.env = {
      ...process.env,
      GIT_CONFIG_GLOBAL: os.devNull,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
    };
    this.git(dir, ['init', '-q', '--bare', '-b', 'main', this.bare]);
    this.git(dir, ['init', '-q', '-b', 'main', this.clone]);
    this.git(this.clone, ['remote', 'add', 'origin', this.bare]);
  }

  private git(cwd: string, args: string[]): string {
    const config = [
      '-c',
      'user.name=gitdock bench',
      '-c',
      'user.email=bench@gitdock.invalid',
      '-c',
      'commit.gpgsign=false',
      '-c',
      'gc.auto=0',
    ];
    return check('git', [...config, ...args], {
      cwd,
      env: this.env,
      timeoutMs: 30_000,
    }).stdout.trim();
  }

  /** Writes the files, commits (not pushed); returns the sha. */
  commit(files: Record<string, string | null>, message: string): string {
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(this.clone, ...name.split('/'));
      if (content === null) fs.rmSync(file, { force: true });
      else {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, content);
      }
    }
    this.git(this.clone, ['add', '-A']);
    this.git(this.clone, ['commit', '-q', '--no-verify', '-m', message]);
    return this.git(this.clone, ['rev-parse', 'HEAD']);
  }

  /** `git revert` of the last commit (not pushed), as an operator undoes a release; returns the sha. */
  revert(): string {
    this.git(this.clone, ['revert', '--no-edit', 'HEAD']);
    return this.git(this.clone, ['rev-parse', 'HEAD']);
  }

  /** `git push`; returns when the push command has returned, as an operator sees it. */
  push(): void {
    this.git(this.clone, ['push', '-q', 'origin', 'main']);
    this.pushedAt = performance.now();
  }

  private pushedAt = Number.NEGATIVE_INFINITY;

  /** Waits until `ms` have passed since the last push. */
  async gapSinceLastPush(ms: number): Promise<void> {
    const left = this.pushedAt + ms - performance.now();
    if (left > 0) await sleep(left);
  }
}

interface AgentStatus {
  lastAppliedCommit: string | null;
  /** The commit `services` was computed against. */
  servicesCommit?: string | null;
  /** The last pass that did something a user caused (routine passes that find nothing are left out). */
  lastReconcile: { result: string; finishedAt: string | null } | null;
  /** The pass running now, if any. */
  running?: { startedAt: string; trigger: string } | null;
  services: { name: string; sync: string }[];
}

/** One line the agent wrote, stamped when it arrived here. */
interface LogLine {
  at: number;
  stream: 'stdout' | 'stderr';
  msg: string;
  /** For `reconcile finished`: `<result> <- <trigger>`. */
  pass?: string;
}

function stderrOf(log: readonly LogLine[]): string {
  return log
    .filter((l) => l.stream === 'stderr')
    .map((l) => l.msg)
    .join('\n');
}

class AgentUnderTest {
  private constructor(
    readonly proc: ChildProcess,
    readonly url: string,
    /** Every line the agent wrote, on stdout (pino JSON) and stderr. */
    readonly log: LogLine[],
  ) {}

  static async start(stack: Stack, repo: string, stateDir: string): Promise<AgentUnderTest> {
    const proc = spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin', 'gitdock.js'),
        'agent',
        '--host',
        HOST,
        '--repo',
        repo,
        '--listen',
        '127.0.0.1:0',
        '--interval',
        `${AGENT_INTERVAL_SECONDS}s`,
        '--state-dir',
        stateDir,
      ],
      {
        env: { ...stack.env, GITDOCK_LOG_LEVEL: 'info', NODE_OPTIONS: UNIT_NODE_OPTIONS },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const log: LogLine[] = [];
    const follow = (stream: 'stdout' | 'stderr', onLine?: (entry: unknown) => void) => {
      let buffer = '';
      proc[stream]!.setEncoding('utf8').on('data', (chunk: string) => {
        const at = performance.now();
        buffer += chunk;
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          const entry = safeJson(line) as
            | { msg?: unknown; result?: unknown; trigger?: unknown }
            | undefined;
          const msg = typeof entry?.msg === 'string' ? entry.msg : line;
          log.push({
            at,
            stream,
            msg,
            ...(msg === 'reconcile finished'
              ? { pass: `${String(entry?.result)} <- ${String(entry?.trigger)}` }
              : {}),
          });
          onLine?.(entry);
        }
      });
    };
    const stderr = () => stderrOf(log);
    follow('stderr');
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the agent did not listen: ${stderr()}`)),
        15_000,
      );
      follow('stdout', (line) => {
        const entry = line as { msg?: string; url?: string } | undefined;
        if (entry?.msg === 'agent listening' && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      });
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the agent exited with ${code}: ${stderr()}`));
      });
    });
    return new AgentUnderTest(proc, url, log);
  }

  private stderr(): string {
    return stderrOf(this.log);
  }

  async status(): Promise<AgentStatus> {
    const res = await fetch(`${this.url}/status`, { signal: AbortSignal.timeout(5000) });
    return (await res.json()) as AgentStatus;
  }

  /** Polls /status (every 100 ms, bounded) until `done` holds of it; returns that status. */
  async waitFor(
    what: string,
    done: (s: AgentStatus) => boolean,
    timeoutMs = CONVERGE_TIMEOUT_MS,
  ): Promise<AgentStatus> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`the agent exited: ${this.stderr()}`);
      const s = await this.status();
      if (done(s)) return s;
      await sleep(100);
    }
    throw new Error(`${what}: not within ${timeoutMs} ms`);
  }

  /**
   * Until every service is Synced at `commit`, no pass runs, and none has
   * finished for `quietMs` (a pass that acted, or any other news: routine
   * passes that find nothing do not move `lastReconcile`).
   */
  async settledAt(commit: string, quietMs = 600): Promise<void> {
    await this.waitFor(`the agent did not converge at ${commit.slice(0, 12)}`, (s) => {
      const finished = s.lastReconcile?.finishedAt ? Date.parse(s.lastReconcile.finishedAt) : 0;
      return (
        s.lastAppliedCommit === commit &&
        // An agent older than `servicesCommit` and `running` has neither.
        (s.servicesCommit === undefined || s.servicesCommit === commit) &&
        !s.running &&
        s.lastReconcile?.result !== 'running' &&
        s.services.every((x) => x.sync === 'Synced') &&
        Date.now() - finished > quietMs
      );
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    await Promise.race([
      new Promise((r) => this.proc.once('exit', r)),
      sleep(30_000).then(() => this.proc.kill('SIGKILL')),
    ]);
  }
}

/** Waits until `count` events of `action` for names in `names` arrived after `from`; returns the last one's time. */
async function lastEvent(
  watch: EventWatch,
  from: number,
  action: string,
  names: ReadonlySet<string>,
): Promise<number> {
  const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const seen = new Map<string, SeenEvent>();
    for (const e of watch.events) {
      if (e.at >= from && e.action === action && names.has(e.name)) seen.set(e.name, e);
    }
    if (seen.size === names.size) return Math.max(...[...seen.values()].map((e) => e.at));
    await sleep(5);
  }
  throw new Error(
    `no ${action} event for all of ${[...names].join(', ')} within ${CONVERGE_TIMEOUT_MS} ms`,
  );
}

interface Sample {
  /** To the last new container started. */
  runningMs: number;
  /** To the last new container renamed into place (old one gone): converged. */
  convergedMs: number;
}

/** The replacement the agent performs, as bare API calls: create, stop, start, remove, rename. */
async function bareReplace(socketPath: string, names: string[], image: string): Promise<void> {
  await Promise.all(
    names.map(async (name) => {
      const created = (await apiCall(socketPath, 'POST', `/containers/create?name=${name}.next`, {
        Image: image,
        Env: ['APP_ENV=bench'],
        Labels: { [BENCH_LABEL]: '1' },
        HostConfig: { NetworkMode: 'none' },
      })) as { Id: string };
      await apiCall(socketPath, 'POST', `/containers/${name}/stop?t=10`);
      await apiCall(socketPath, 'POST', `/containers/${created.Id}/start`);
      await apiCall(socketPath, 'DELETE', `/containers/${name}?v=1`);
      await apiCall(socketPath, 'POST', `/containers/${created.Id}/rename?name=${name}`);
    }),
  );
}

async function bareCreate(socketPath: string, names: string[], image: string): Promise<void> {
  for (const name of names) {
    const created = (await apiCall(socketPath, 'POST', `/containers/create?name=${name}`, {
      Image: image,
      Env: ['APP_ENV=bench'],
      Labels: { [BENCH_LABEL]: '1' },
      HostConfig: { NetworkMode: 'none' },
    })) as { Id: string };
    await apiCall(socketPath, 'POST', `/containers/${created.Id}/start`);
  }
}

interface IdleWindow {
  cpuPercent: number;
  rssMB: { median: number; max: number };
  /** Lines the agent wrote (stdout and stderr) during the window. */
  logLines: number;
  /** Those lines by message. */
  logMessages: Record<string, number>;
  /** Reconcile passes (all results) during the window. */
  passes: number;
  passesByResult: PassCounts;
}

/**
 * Leaves the agent alone for `seconds`: its CPU time over wall time (from
 * /proc/<pid>/stat), its RSS each second, the lines it wrote and the passes
 * it counted. The two /metrics reads are outside the CPU window.
 */
async function idleFor(agent: AgentUnderTest, seconds: number): Promise<IdleWindow> {
  const pid = agent.proc.pid!;
  const passes0 = await readPassCounts(agent.url);
  const lines0 = agent.log.length;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const rss: number[] = [];
  while (performance.now() - t0 < seconds * 1000) {
    await sleep(1000);
    if (agent.proc.exitCode !== null) throw new Error('the agent exited while idle');
    rss.push(rssMB(pid));
  }
  const cpuPercent = ((cpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
  const lines = agent.log.slice(lines0);
  const passes = passesBetween(passes0, await readPassCounts(agent.url));
  const logMessages: Record<string, number> = {};
  for (const l of lines) logMessages[l.msg] = (logMessages[l.msg] ?? 0) + 1;
  return {
    cpuPercent: Math.round(cpuPercent * 100) / 100,
    rssMB: {
      median: Math.round(median(rss) * 10) / 10,
      max: Math.round(Math.max(...rss) * 10) / 10,
    },
    logLines: lines.length,
    logMessages,
    passes: totalPasses(passes),
    passesByResult: passes,
  };
}

/** The ID of the container named `name`, if there is one. */
async function containerIdOf(socketPath: string, name: string): Promise<string | undefined> {
  return (await containerState(socketPath, name))?.id;
}

/** `success 1, waiting 1`, or `none`. */
function formatCounts(counts: PassCounts): string {
  const parts = Object.entries(counts).map(([k, n]) => `${k} ${n}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(samples: number[]) {
  return {
    medianMs: roundMs(median(samples)),
    p95Ms: roundMs(percentile(samples, 95)),
    samplesMs: samples.map(roundMs),
  };
}

function isBenchContainer(labels: Record<string, string>): boolean {
  return BENCH_LABEL in labels || labels['io.gitdock.host'] === HOST;
}

function clearEngine(stack: Stack, clearForeign: boolean): void {
  const all = listContainers(stack);
  const foreign = all.filter((c) => !isBenchContainer(c.labels));
  if (foreign.length > 0 && !clearForeign) {
    throw new Error(
      `the engine ${stack.dockerHost} holds ${foreign.length} container(s) the bench did not create ` +
        `(${foreign
          .slice(0, 5)
          .map((c) => c.name)
          .join(', ')}); run the bench on an idle engine, or pass --clear to remove them.`,
    );
  }
  removeContainers(
    stack,
    all.map((c) => c.id),
  );
}

async function main(argv: string[]): Promise<number> {
  let options: Options | undefined;
  try {
    options = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}`);
    return 64;
  }
  if (!options) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { runs, idleSeconds, afterFailureSeconds, out, clear } = options;
  const pushes = Math.min(PASS_PUSHES, runs);
  const heals = Math.min(HEAL_SAMPLES, 2 * runs);
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) {
    process.stderr.write(
      'bench: dist/cli.js is missing; run `npm run build` first (make bench does)\n',
    );
    return 1;
  }
  const started = Date.now();
  const checkTime = () => {
    if (Date.now() - started > DEADLINE_MS)
      throw new Error(`the bench ran longer than ${DEADLINE_MS / 60_000} minutes; stopped`);
  };
  const progress = (text: string) => process.stderr.write(`[bench] ${text}\n`);
  const loadStart = os.loadavg()[0] ?? 0;

  const stack = bringUpStack(ROOT);
  const socketPath = socketPathOf(stack.dockerHost);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-agent-bench-'));
  let agent: AgentUnderTest | undefined;
  let watch: EventWatch | undefined;
  // Interrupted: stop the agent and remove what the bench made before going. A Ctrl-C
  // arrives twice (from the terminal and relayed by tsx): the handler stays for both.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: cleaning up`);
    agent?.proc.kill('SIGKILL');
    removeBenchContainers(stack, clear, progress);
    fs.rmSync(workDir, { recursive: true, force: true });
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    clearEngine(stack, clear);
    const repository = appRepository(stack.registry);
    const crashRepository = `${stack.registry}/gitdock-test/crash`;
    const tags = [BASE_TAG, CHANGED_TAG];
    for (const tag of tags) docker(stack, ['pull', '-q', `${repository}:${tag}`]);
    docker(stack, ['pull', '-q', `${crashRepository}:1.0`]);

    const maxChanged = Math.max(...CHANGED_COUNTS);
    const names = Array.from({ length: maxChanged }, (_, i) => serviceName(i));
    const repo = new PushRepo(workDir);
    const fileOf = (name: string) => `hosts/${HOST}/${name}.yaml`;
    const filesAt = (tag: string, count: number) =>
      Object.fromEntries(names.slice(0, count).map((n) => [fileOf(n), manifest(repository, tag)]));
    let sha = repo.commit(filesAt(BASE_TAG, maxChanged), 'bench services');
    repo.push();

    watch = await watchEvents(socketPath, BENCH_LABEL);
    const measured = gitdockCommit();
    agent = await AgentUnderTest.start(stack, repo.bare, path.join(workDir, 'state'));
    await agent.settledAt(sha);
    progress(`agent up at ${agent.url}, ${maxChanged} services converged`);

    // The bare side works on its own containers (no io.gitdock labels: the agent ignores them).
    const bareNames = names.map((n) => `bare-${n}`);
    await bareCreate(socketPath, bareNames, `${repository}:${BASE_TAG}`);

    const agentSamples = new Map<number, Sample[]>(CHANGED_COUNTS.map((k) => [k, []]));
    const bareSamples = new Map<number, Sample[]>(CHANGED_COUNTS.map((k) => [k, []]));
    let agentTag = BASE_TAG;
    let bareTag = BASE_TAG;
    for (let rep = 0; rep < runs; rep++) {
      for (const k of CHANGED_COUNTS) {
        checkTime();
        // The agent: a commit flips the tag of the first k services; the rest stay.
        agentTag = agentTag === BASE_TAG ? CHANGED_TAG : BASE_TAG;
        const changed = names.slice(0, k);
        const files = Object.fromEntries(
          changed.map((n) => [fileOf(n), manifest(repository, agentTag)]),
        );
        sha = repo.commit(files, `${k} services to ${agentTag}`);
        // Pushes closer together are one burst to the agent, which then waits for a quiet moment.
        await repo.gapSinceLastPush(PUSH_GAP_MS);
        repo.push();
        const pushed = performance.now();
        const set = new Set(changed);
        const startedAt = await lastEvent(
          watch,
          pushed,
          'start',
          new Set(changed.map((n) => `${n}.gitdock-NEXT`)),
        );
        const renamedAt = await lastEvent(watch, pushed, 'rename', set);
        agentSamples
          .get(k)!
          .push({ runningMs: startedAt - pushed, convergedMs: renamedAt - pushed });
        await agent.settledAt(sha);
        // The tags of the services not changed now lag behind: bring them along, untimed.
        if (k < maxChanged) {
          sha = repo.commit(filesAt(agentTag, maxChanged), `all services to ${agentTag}`);
          repo.push();
          await agent.settledAt(sha);
        }

        // The same replacement with bare API calls.
        bareTag = bareTag === BASE_TAG ? CHANGED_TAG : BASE_TAG;
        const bareChanged = bareNames.slice(0, k);
        const t0 = performance.now();
        await bareReplace(socketPath, bareChanged, `${repository}:${bareTag}`);
        const bareStarted = await lastEvent(
          watch,
          t0,
          'start',
          new Set(bareChanged.map((n) => `${n}.next`)),
        );
        const bareRenamed = await lastEvent(watch, t0, 'rename', new Set(bareChanged));
        bareSamples.get(k)!.push({ runningMs: bareStarted - t0, convergedMs: bareRenamed - t0 });
        if (k < maxChanged) {
          await bareReplace(socketPath, bareNames.slice(k), `${repository}:${bareTag}`);
        }
        const a = agentSamples.get(k)!.at(-1)!;
        const b = bareSamples.get(k)!.at(-1)!;
        progress(
          `run ${rep + 1}/${runs}, ${String(k).padStart(2)} changed: agent ${formatMs(a.runningMs)} running, ` +
            `${formatMs(a.convergedMs)} converged; bare API ${formatMs(b.runningMs)}, ${formatMs(b.convergedMs)}`,
        );
      }
    }

    // Idle: 20 services converged, nothing changing, over the idle window.
    removeContainers(
      stack,
      listContainers(stack)
        .filter((c) => c.name.startsWith('bare-'))
        .map((c) => c.id),
    );
    const idleNames = Array.from({ length: IDLE_SERVICES }, (_, i) => serviceName(i));
    const tagOf = new Map(idleNames.map((n) => [n, agentTag]));
    sha = repo.commit(
      Object.fromEntries(idleNames.map((n) => [fileOf(n), manifest(repository, agentTag)])),
      `${IDLE_SERVICES} services`,
    );
    repo.push();
    await agent.settledAt(sha);
    await sleep(2000);
    progress(`idle: ${IDLE_SERVICES} services, ${idleSeconds} s`);
    const idleWindow = await idleFor(agent, idleSeconds);
    const finalStatus = await agent.status();
    if (
      !finalStatus.services.every((s) => s.sync === 'Synced') ||
      finalStatus.services.length !== IDLE_SERVICES
    ) {
      throw new Error('the idle agent is not in sync with 20 services');
    }

    // Passes per push: each push changes one service, to an image on the host.
    checkTime();
    progress(`passes per push: ${pushes} pushes of one changed service each`);
    await sleep(PASS_QUIET_MS);
    let counted = await readPassCounts(agent.url);
    const passesPerPush: number[] = [];
    const pushPassResults: PassCounts = {};
    for (let i = 0; i < pushes; i++) {
      checkTime();
      const name = idleNames[i % idleNames.length]!;
      const tag = tagOf.get(name) === BASE_TAG ? CHANGED_TAG : BASE_TAG;
      tagOf.set(name, tag);
      sha = repo.commit({ [fileOf(name)]: manifest(repository, tag) }, `${name} to ${tag}`);
      repo.push();
      await agent.settledAt(sha);
      await sleep(PASS_QUIET_MS);
      const now = await readPassCounts(agent.url);
      const passes = passesBetween(counted, now);
      counted = now;
      passesPerPush.push(totalPasses(passes));
      addPasses(pushPassResults, passes);
    }
    // And one push whose image is not on the host: the agent pulls it in the background.
    const coldRef = `${repository}:${COLD_TAG}`;
    run(DOCKER, ['image', 'rm', coldRef], { env: stack.env, timeoutMs: 60_000 });
    let coldPull: { image: string; passes: number; byResult: PassCounts } | null = null;
    if (run(DOCKER, ['image', 'inspect', coldRef], { env: stack.env }).status !== 0) {
      const name = idleNames[0]!;
      tagOf.set(name, COLD_TAG);
      sha = repo.commit({ [fileOf(name)]: manifest(repository, COLD_TAG) }, `${name} to 2.0`);
      repo.push();
      await agent.settledAt(sha);
      await sleep(PASS_QUIET_MS);
      const now = await readPassCounts(agent.url);
      const passes = passesBetween(counted, now);
      counted = now;
      coldPull = { image: coldRef, passes: totalPasses(passes), byResult: passes };
    } else {
      progress(`${coldRef} could not be removed from the engine: no cold-pull push`);
    }
    progress(
      `passes per push: ${passesPerPush.join(' ')}` +
        (coldPull ? `; cold pull: ${coldPull.passes}` : ''),
    );

    // Drift: `docker stop` and `docker rm -f` of a service, healed by the agent.
    checkTime();
    sha = repo.commit(
      { [fileOf(HEAL_SERVICE)]: manifest(repository, agentTag, HEAL_SETTLE) },
      `${HEAL_SERVICE} service, settle ${HEAL_SETTLE}`,
    );
    repo.push();
    await agent.settledAt(sha);
    progress(`heal: ${heals} x docker stop, ${heals} x docker rm -f of ${HEAL_SERVICE}`);
    const healKinds = [
      { id: 'stop', args: ['stop', HEAL_SERVICE] },
      { id: 'rm', args: ['rm', '-f', HEAL_SERVICE] },
    ] as const;
    const healMs = { stop: [] as number[], rm: [] as number[] };
    const healPasses = { stop: [] as number[], rm: [] as number[] };
    const healResults: Record<'stop' | 'rm', PassCounts> = { stop: {}, rm: {} };
    /** What the agent logged as each heal pass's result and trigger, counted. */
    const healLogged: Record<'stop' | 'rm', Record<string, number>> = { stop: {}, rm: {} };
    for (let i = 0; i < heals; i++) {
      for (const kind of healKinds) {
        checkTime();
        await agent.settledAt(sha, HEAL_QUIET_MS);
        const before = await readPassCounts(agent.url);
        const lines0 = agent.log.length;
        docker(stack, [...kind.args], 30_000);
        const returned = performance.now();
        const runningAt = await waitUntilRunning(socketPath, HEAL_SERVICE, {
          intervalMs: HEAL_POLL_MS,
          timeoutMs: HEAL_TIMEOUT_MS,
        });
        healMs[kind.id].push(runningAt - returned);
        await agent.settledAt(sha, HEAL_QUIET_MS);
        const passes = passesBetween(before, await readPassCounts(agent.url));
        healPasses[kind.id].push(totalPasses(passes));
        addPasses(healResults[kind.id], passes);
        for (const l of agent.log.slice(lines0)) {
          if (l.pass) healLogged[kind.id][l.pass] = (healLogged[kind.id][l.pass] ?? 0) + 1;
        }
      }
    }
    progress(
      `heal: docker stop median ${formatMs(median(healMs.stop))}, docker rm -f median ${formatMs(median(healMs.rm))}`,
    );

    // A release that crashes at once: held (Failed), the old container kept; then its revert.
    checkTime();
    const keptId = (await containerIdOf(socketPath, HEAL_SERVICE)) ?? '';
    const failSha = repo.commit(
      { [fileOf(HEAL_SERVICE)]: manifest(crashRepository, '1.0', HEAL_SETTLE) },
      `${HEAL_SERVICE}: a release that crashes`,
    );
    repo.push();
    const failPushed = performance.now();
    await agent.waitFor(
      `${HEAL_SERVICE} at ${failSha.slice(0, 12)} to show Failed`,
      (s) => s.services.some((x) => x.name === HEAL_SERVICE && x.sync === 'Failed') && !s.running,
    );
    const failedAfterMs = performance.now() - failPushed;
    const revertSha = repo.revert();
    repo.push();
    const revertPushed = performance.now();
    await agent.settledAt(revertSha);
    const afterRevertId = (await containerIdOf(socketPath, HEAL_SERVICE)) ?? '';
    await sleep(2000);
    progress(
      `after a failed release and its revert: ${IDLE_SERVICES + 1} services, ${afterFailureSeconds} s`,
    );
    const windowStart = performance.now();
    const afterWindow = await idleFor(agent, afterFailureSeconds);
    const nextStarts = (from: number, to: number) =>
      watch!.events.filter(
        (e) =>
          e.at >= from &&
          e.at < to &&
          e.action === 'start' &&
          e.name === `${HEAL_SERVICE}.gitdock-NEXT`,
      ).length;
    const afterStatus = await agent.status();
    const resyncsAtMost = Math.ceil(afterFailureSeconds / AGENT_INTERVAL_SECONDS);
    const afterFailure = {
      services: IDLE_SERVICES + 1,
      failedRelease: `${crashRepository}:1.0 for ${HEAL_SERVICE} (exits at once; settle ${HEAL_SETTLE})`,
      /** From the push to /status (polled every 100 ms) showing the service Failed. */
      pushToFailedMs: roundMs(failedAfterMs),
      /** Starts of a new container for the failed release: 1 is the one attempt. */
      attemptsOfFailedRelease: nextStarts(failPushed, revertPushed),
      /** The container the failed release was to replace is the one running after the revert. */
      oldContainerKept: keptId !== '' && keptId === afterRevertId,
      allSyncedAtEnd: afterStatus.services.every((s) => s.sync === 'Synced'),
      seconds: afterFailureSeconds,
      agentIntervalSeconds: AGENT_INTERVAL_SECONDS,
      cpuPercentOfOneCore: afterWindow.cpuPercent,
      rssMB: afterWindow.rssMB,
      logLines: afterWindow.logLines,
      logMessages: afterWindow.logMessages,
      passes: afterWindow.passes,
      passesByResult: afterWindow.passesByResult,
      resyncsAtMost,
      retriesInWindow: nextStarts(windowStart, Number.POSITIVE_INFINITY),
    };

    const results = CHANGED_COUNTS.map((k) => {
      const a = agentSamples.get(k)!;
      const b = bareSamples.get(k)!;
      const agentConverged = summary(a.map((s) => s.convergedMs));
      const bareConverged = summary(b.map((s) => s.convergedMs));
      return {
        changedServices: k,
        agent: { running: summary(a.map((s) => s.runningMs)), converged: agentConverged },
        bareApi: { running: summary(b.map((s) => s.runningMs)), converged: bareConverged },
        overheadMs: roundMs(agentConverged.medianMs - bareConverged.medianMs),
        overheadPercent:
          Math.round(
            ((agentConverged.medianMs - bareConverged.medianMs) / bareConverged.medianMs) * 1000,
          ) / 10,
      };
    });
    const one = results.find((r) => r.changedServices === 1)!;
    const idle = {
      services: IDLE_SERVICES,
      seconds: idleSeconds,
      cpuPercentOfOneCore: idleWindow.cpuPercent,
      rssMB: idleWindow.rssMB,
      logLines: idleWindow.logLines,
      logMessages: idleWindow.logMessages,
      passes: idleWindow.passes,
    };
    const healSummary = (kind: 'stop' | 'rm') => ({
      count: healMs[kind].length,
      medianMs: roundMs(median(healMs[kind])),
      maxMs: roundMs(Math.max(...healMs[kind])),
      samplesMs: healMs[kind].map(roundMs),
      /** Reconcile passes per heal, from the metric. */
      passes: healPasses[kind],
      passesByResult: healResults[kind],
      /** The passes the agent logged (`reconcile finished`): result <- trigger, counted. */
      loggedPasses: healLogged[kind],
    });
    const heal = {
      service: HEAL_SERVICE,
      settle: HEAL_SETTLE,
      pollMs: HEAL_POLL_MS,
      afterStop: healSummary('stop'),
      afterRemove: healSummary('rm'),
    };
    const pushPasses = {
      pushes,
      quietMs: PASS_QUIET_MS,
      perPush: passesPerPush,
      median: median(passesPerPush),
      max: Math.max(...passesPerPush),
      byResult: pushPassResults,
      coldPull,
    };
    const goals = [
      {
        goal: 'push to running, 1 service, cached image (median)',
        limit: `${GOALS.pushToRunningOneMs} ms`,
        value: `${one.agent.running.medianMs} ms`,
        met: one.agent.running.medianMs < GOALS.pushToRunningOneMs,
      },
      ...results.map((r) => ({
        goal: `overhead over the bare operations, ${r.changedServices} changed (median, converged)`,
        limit: `${GOALS.overheadPercent} %`,
        value: `${r.overheadPercent} % (${r.overheadMs} ms)`,
        met: r.overheadPercent < GOALS.overheadPercent,
      })),
      {
        goal: `idle CPU, ${IDLE_SERVICES} services`,
        limit: `${GOALS.idleCpuPercent} % of a core`,
        value: `${idle.cpuPercentOfOneCore} %`,
        met: idle.cpuPercentOfOneCore < GOALS.idleCpuPercent,
      },
      {
        goal: `idle RSS, ${IDLE_SERVICES} services (max)`,
        limit: `${GOALS.idleRssMB} MB`,
        value: `${idle.rssMB.max} MB`,
        met: idle.rssMB.max < GOALS.idleRssMB,
      },
    ];
    // The reconcile loop's goals, apart from `goals` (whose five entries readers rely on).
    const loopGoals = [
      {
        goal: 'reconcile passes per push, one service changed, image on the host (max)',
        limit: `${GOALS.passesPerPush}`,
        value: `${pushPasses.max} (median ${pushPasses.median}, ${pushes} pushes)`,
        met: pushPasses.max <= GOALS.passesPerPush,
      },
      {
        goal: `idle CPU after a failed release and its revert, ${afterFailureSeconds} s`,
        limit: `${GOALS.afterFailureCpuPercent} % of a core`,
        value: `${afterFailure.cpuPercentOfOneCore} %`,
        met: afterFailure.cpuPercentOfOneCore < GOALS.afterFailureCpuPercent,
      },
      {
        goal: `passes after a failed release and its revert, ${afterFailureSeconds} s: periodic resync only (--interval ${AGENT_INTERVAL_SECONDS}s)`,
        limit: `${resyncsAtMost}`,
        value: `${afterFailure.passes} (${formatCounts(afterFailure.passesByResult)})`,
        met: afterFailure.passes <= resyncsAtMost,
      },
    ];
    const report = {
      benchmark: 'agent',
      date: new Date(started).toISOString(),
      runs,
      method:
        'Times are from `git push` returning (agent) or the first API call (bare) to the engine event, ' +
        'as received by the bench, of the last new container starting (running) and of the last one ' +
        'renamed into place after the old one was removed (converged). Manifests use update.settle 0s. ' +
        'The agent runs with the NODE_OPTIONS of examples/systemd/gitdock-agent.service and ' +
        `--interval ${AGENT_INTERVAL_SECONDS}s. Passes are read from gitdock_reconcile_total (all results) ` +
        `${PASS_QUIET_MS / 1000} s after each push converged. Heal times are from \`docker stop\` or ` +
        `\`docker rm -f\` returning to the engine answering that the service's container runs ` +
        `(polled every ${HEAL_POLL_MS} ms; service settle ${HEAL_SETTLE}).`,
      agentNodeOptions: UNIT_NODE_OPTIONS,
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
        node: process.version,
        dockerd: docker(stack, ['version', '--format', '{{.Server.Version}}']),
        loadAverage: { start: loadStart, end: os.loadavg()[0] ?? 0 },
      },
      gitdock: measured,
      results,
      idle,
      goals,
      passesPerPush: pushPasses,
      heal,
      afterFailure,
      loopGoals,
    };
    for (const r of results) {
      process.stdout.write(
        `${String(r.changedServices).padStart(2)} changed  agent: running ${formatMs(r.agent.running.medianMs)} ` +
          `(p95 ${formatMs(r.agent.running.p95Ms)}), converged ${formatMs(r.agent.converged.medianMs)} ` +
          `(p95 ${formatMs(r.agent.converged.p95Ms)})  bare API: converged ${formatMs(r.bareApi.converged.medianMs)} ` +
          `(p95 ${formatMs(r.bareApi.converged.p95Ms)})  overhead ${r.overheadPercent} %\n`,
      );
    }
    process.stdout.write(
      `idle, ${IDLE_SERVICES} services, ${idleSeconds} s: CPU ${idle.cpuPercentOfOneCore} % of a core, RSS max ${idle.rssMB.max} MB, ` +
        `${idle.logLines} log lines, ${idle.passes} passes\n`,
    );
    process.stdout.write(
      `passes per push, ${pushes} pushes (image on the host): ${passesPerPush.join(' ')} ` +
        `(median ${pushPasses.median}, max ${pushPasses.max}; ${formatCounts(pushPassResults)})` +
        (coldPull
          ? `; a push needing a pull: ${coldPull.passes} (${formatCounts(coldPull.byResult)})`
          : '') +
        '\n',
    );
    for (const [label, h] of [
      ['docker stop', heal.afterStop],
      ['docker rm -f', heal.afterRemove],
    ] as const) {
      process.stdout.write(
        `heal after ${label} (settle ${HEAL_SETTLE}), ${h.count}: median ${formatMs(h.medianMs)}, ` +
          `max ${formatMs(h.maxMs)}; passes per heal ${formatRange(h.passes)} (${formatCounts(h.passesByResult)})\n`,
      );
    }
    process.stdout.write(
      `after a failed release (Failed ${formatMs(afterFailure.pushToFailedMs)} after the push, ` +
        `${afterFailure.attemptsOfFailedRelease} attempt, old container kept: ${afterFailure.oldContainerKept}) ` +
        `and its revert, ${afterFailure.services} services, ${afterFailureSeconds} s: ` +
        `CPU ${afterFailure.cpuPercentOfOneCore} % of a core, ${afterFailure.logLines} log lines, ` +
        `${afterFailure.passes} passes (${formatCounts(afterFailure.passesByResult)}), ` +
        `${afterFailure.retriesInWindow} retries\n`,
    );
    for (const g of [...goals, ...loopGoals])
      process.stdout.write(
        `goal ${g.met ? 'met   ' : 'MISSED'} ${g.goal}: ${g.value} (limit ${g.limit})\n`,
      );
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(report, null, 2)}\n`);
    fs.renameSync(tmp, out);
    progress(
      `wrote ${path.relative(process.cwd(), out) || out} in ${formatMs(Date.now() - started)}`,
    );
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await agent?.stop();
    watch?.close();
    removeBenchContainers(stack, clear, progress);
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/** Leaves only what was there before: never someone else's containers (unless --clear). */
function removeBenchContainers(stack: Stack, clear: boolean, progress: (text: string) => void) {
  try {
    removeContainers(
      stack,
      listContainers(stack)
        .filter((c) => clear || isBenchContainer(c.labels))
        .map((c) => c.id),
    );
  } catch (err) {
    progress(`could not clear the engine afterwards: ${(err as Error).message}`);
  }
}

/**
 * The checkout measured, read when the agent starts (it loads `dist/` then):
 * HEAD, whether tracked files differ from it, and when `dist/cli.js` was
 * last built (a build after a commit, or from a changed tree, is what runs).
 */
function gitdockCommit(): { commit: string; dirty: boolean; distBuiltAt: string } {
  const head = run('git', ['rev-parse', 'HEAD'], { cwd: ROOT });
  const status = run('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT });
  return {
    commit: head.status === 0 ? head.stdout.trim() : 'unknown',
    dirty: status.status === 0 && status.stdout.trim() !== '',
    distBuiltAt: fs.statSync(path.join(ROOT, 'dist', 'cli.js')).mtime.toISOString(),
  };
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
