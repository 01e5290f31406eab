// The fleet benchmark (issue 11, "Measure"): a generated fleet of 16 hosts
// run by `gitdock sim` (a private dockerd and a real agent per host), one
// fleet service on every host, its image served by a registry this bench
// starts with its access log on. Measures, in one run, repeated: a
// fleet-wide tag bump (image cached on every engine, and not), settle 0s
// and the default settle, against bench/fleet-baseline.sh (bare docker on
// the 16 engines in parallel); the same with waves [[1 host], [rest]];
// the bytes each host fetched from the registry; the sim's memory and CPU
// at idle. Then the single-host part (bench/compose.bench.ts --changed 10)
// and a CPU profile of a no-op `gitdock apply`. See bench/README.md.
// Run: `npx tsx bench/fleet.bench.ts [--runs N | --quick]` (`make bench-fleet`).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { medianBySource, type ProfileSummary, summarizeProfile } from './lib/cpu-profile.js';
import { benchServices, gitdockManifest } from './lib/fleet.js';
import { type Convergence, percentile, waitForFleet } from './lib/fleet-watch.js';
import { createBenchRepo } from './lib/git.js';
import { guardRun, parseRuns, parseWhole, type RunGuard, UsageError } from './lib/options.js';
import { check, checkAsync, run, runAsync } from './lib/proc.js';
import { type IdleCost, measureIdle } from './lib/proc-tree.js';
import {
  type BenchRegistry,
  type BlobTraffic,
  blobTraffic,
  manifestBlobs,
  parseAccessLog,
  startRegistry,
} from './lib/registry.js';
import { bringUpStack, COMPOSE, DOCKER, docker, listContainers, type Stack } from './lib/stack.js';
import { formatMs, median, roundMs, roundRatio } from './lib/stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'gitdock.js');
const BASELINE_SCRIPT = path.join(ROOT, 'bench', 'fleet-baseline.sh');
const DEFAULT_RUNS = 3;
const MAX_RUNS = 10;
const DEFAULT_HOSTS = 16;
const QUICK_HOSTS = 3;
const DEADLINE_MS = 60 * 60_000;
const QUICK_DEADLINE_MS = 12 * 60_000;
const DEFAULT_REGISTRY_PORT = 5074;
/** Short: containerd's sockets live under it (sim-plan.ts MAX_SIM_DIR_LENGTH). */
const DEFAULT_SIM_DIR = '/tmp/gdsim-bench';
const IMAGE_REPO = 'fleet/app';
const SERVICE = 'app';
/** The baseline's own container on each engine (no gitdock labels: the agents leave it alone). */
const BASELINE_CONTAINER = 'baseline-app';
const LAYER_BYTES = 4 * 1024 * 1024;
const POLL_MS = 100;
/** One bump, cold pulls included, on 2 busy cores. */
const CONVERGE_TIMEOUT_MS = 180_000;
/** The first deploy: 16 engines pull the base image at once. */
const FIRST_DEPLOY_TIMEOUT_MS = 300_000;
const IDLE_SECONDS = 20;
const QUICK_IDLE_SECONDS = 5;
/** The issue's goals. */
const BASELINE_RATIO_LIMIT = 1.3;
const WAVE_EXTRA_MS = 2000;
const BYTES_TOLERANCE = 0.05;
const NO_OP_RATIO_LIMIT = 0.3;
const CHANGED_RATIO_LIMIT = 1.0;
const SINGLE_HOST_CHANGED = 10;
const COMPOSE_TIMEOUT_MS = 50 * 60_000;

const USAGE = `Usage: npx tsx bench/fleet.bench.ts [--runs N | --quick] [--hosts N] [--out FILE]
       [--registry-port P] [--sim-dir DIR] [--idle SECONDS] [--no-single-host] [--no-fleet]

On a ${DEFAULT_HOSTS}-host \`gitdock sim\` of a generated fleet (one service on every
host, its image from a registry this bench starts on 127.0.0.1): fleet-wide
tag bumps (cached and uncached image, settle 0s and the default settle,
with and without waves [[1 host], [rest]]) against bare docker on the same
engines (bench/fleet-baseline.sh); bytes per host from the registry's
access log; the sim's memory and CPU at idle. Then the single-host part:
bench/compose.bench.ts --changed ${SINGLE_HOST_CHANGED} and a CPU profile of a no-op apply.
Needs root (the sim starts dockerds). Writes bench/results/fleet.json.

Options:
  --runs N            repetitions (default ${DEFAULT_RUNS}, at most ${MAX_RUNS})
  --quick             a smoke run: ${QUICK_HOSTS} hosts, 1 repetition, ${QUICK_IDLE_SECONDS} s idle, a small
                      single-host part; writes to a temp file unless --out is given
  --hosts N           hosts in the generated fleet (default ${DEFAULT_HOSTS}; 1 to 64)
  --registry-port P   the bench's own registry (default ${DEFAULT_REGISTRY_PORT})
  --sim-dir DIR       the sim directory (default ${DEFAULT_SIM_DIR}; must not exist)
  --idle SECONDS      the idle window (default ${IDLE_SECONDS})
  --no-single-host    skip the compose comparison and the profile
  --no-fleet          skip the sim (only the single-host part)
  --out FILE          where to write the JSON (default bench/results/fleet.json)
  -h, --help          show this help

Environment: GITDOCK_STACK_DIR, GITDOCK_REGISTRY_PORT choose the private engine
(scripts/stack.sh) the images are built on and the single-host part runs on.
`;

interface Options {
  runs: number;
  quick: boolean;
  hosts: number;
  registryPort: number;
  simDir: string;
  idleSeconds: number;
  singleHost: boolean;
  fleet: boolean;
  out: string;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      hosts: { type: 'string' },
      'registry-port': { type: 'string' },
      'sim-dir': { type: 'string' },
      idle: { type: 'string' },
      'no-single-host': { type: 'boolean', default: false },
      'no-fleet': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  if (values.quick && values.runs !== undefined)
    throw new UsageError('--quick and --runs exclude each other');
  const quick = values.quick;
  const simDir = path.resolve(values['sim-dir'] ?? DEFAULT_SIM_DIR);
  if (simDir.length > 60)
    throw new UsageError(`--sim-dir must be at most 60 characters: ${simDir}`);
  return {
    runs: quick ? 1 : parseRuns(values.runs, DEFAULT_RUNS, MAX_RUNS),
    quick,
    hosts: parseWhole('hosts', values.hosts, quick ? QUICK_HOSTS : DEFAULT_HOSTS, 1, 64),
    registryPort: parseWhole(
      'registry-port',
      values['registry-port'],
      DEFAULT_REGISTRY_PORT,
      1024,
      65535,
    ),
    simDir,
    idleSeconds: parseWhole('idle', values.idle, quick ? QUICK_IDLE_SECONDS : IDLE_SECONDS, 1, 600),
    singleHost: !values['no-single-host'],
    fleet: !values['no-fleet'],
    out: values.out
      ? path.resolve(values.out)
      : quick
        ? path.join(os.tmpdir(), `gitdock-fleet-bench-${process.pid}.json`)
        : path.join(ROOT, 'bench', 'results', 'fleet.json'),
  };
}

const progress = (text: string) => process.stderr.write(`[bench] ${text}\n`);

// ---------------------------------------------------------------------------
// The sim, as `gitdock sim` runs it (src/sim/sim.ts).

/** What the bench reads of a simulated host. */
type SimHostView = Pick<
  import('../src/sim/sim-state.js').SimState['hosts'][number],
  'name' | 'address' | 'dockerHost' | 'agentUrl' | 'dir'
>;
type SimApi = Pick<typeof import('../src/sim/sim.js'), 'simUp' | 'simPush' | 'simDown'>;

async function loadSim(): Promise<SimApi> {
  return import('../src/sim/sim.js');
}

// ---------------------------------------------------------------------------
// Images: FROM the stack's busybox base, each bump adding one random 4 MB
// layer (and a VERSION file), built with --network none on the private
// engine and pushed to the bench's registry.

class ImageBuilder {
  private n = 0;
  constructor(
    private stack: Stack,
    private registry: string,
    private dir: string,
  ) {}

  ref(tag: string): string {
    return `${this.registry}/${IMAGE_REPO}:${tag}`;
  }

  /** Builds and pushes `tag`; `layer` adds the random 4 MB file. */
  async build(tag: string, layer: boolean): Promise<string> {
    const ctx = path.join(this.dir, `img-${++this.n}`);
    fs.mkdirSync(ctx, { recursive: true });
    const lines = ['FROM gitdock-test-base:local'];
    if (layer) {
      fs.writeFileSync(path.join(ctx, 'layer.bin'), randomBytes(LAYER_BYTES));
      lines.push('COPY layer.bin /layer.bin');
    }
    fs.writeFileSync(path.join(ctx, 'VERSION'), `fleet ${tag}\n`);
    lines.push('COPY VERSION /VERSION');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `${lines.join('\n')}\n`);
    const ref = this.ref(tag);
    const env = { ...this.stack.env, DOCKER_BUILDKIT: '0' };
    await checkAsync(DOCKER, ['build', '-q', '--network', 'none', '-t', ref, ctx], {
      env,
      timeoutMs: 300_000,
    });
    await checkAsync(DOCKER, ['push', ref], { env, timeoutMs: 300_000 });
    await checkAsync(DOCKER, ['rmi', ref], { env, timeoutMs: 60_000 });
    fs.rmSync(ctx, { recursive: true, force: true });
    return ref;
  }
}

// ---------------------------------------------------------------------------
// The fleet repo: gitdock.yaml naming the hosts (with or without waves),
// services/app.yaml on every host.

interface FleetState {
  tag: string;
  /** `update.settle`; undefined: gitdock's default. */
  settle: string | undefined;
  waves: boolean;
}

function hostNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `fleet-${String(i + 1).padStart(2, '0')}`);
}

function fleetFiles(hosts: string[], registry: string, s: FleetState): Record<string, string> {
  const config = ['hosts:', ...hosts.map((h) => `  ${h}: {}`)];
  if (s.waves && hosts.length > 1) {
    config.push('rollout:', `  waves: [[${hosts[0]}], ["fleet-*"]]`);
  }
  const service = [
    `image: ${registry}/${IMAGE_REPO}`,
    `tag: ${JSON.stringify(s.tag)}`,
    'hosts: ["fleet-*"]',
    'network_mode: none',
    'environment:',
    '  APP_ENV: bench',
  ];
  if (s.settle !== undefined) service.push('update:', `  settle: ${s.settle}`);
  return {
    'gitdock.yaml': `${config.join('\n')}\n`,
    [`services/${SERVICE}.yaml`]: `${service.join('\n')}\n`,
  };
}

// ---------------------------------------------------------------------------
// The scenarios of one repetition.

type ScenarioId =
  | 'gitdock-settle0-cached'
  | 'gitdock-settle0-uncached'
  | 'gitdock-default-cached'
  | 'gitdock-default-uncached'
  | 'waves-settle0-cached'
  | 'waves-settle0-uncached'
  | 'baseline-cached'
  | 'baseline-uncached';

interface Scenario {
  id: ScenarioId;
  label: string;
  tool: 'gitdock' | 'baseline';
  settle?: string;
  waves: boolean;
  cached: boolean;
}

const SCENARIOS: Scenario[] = [
  {
    id: 'gitdock-settle0-cached',
    label: 'gitdock, settle 0s, cached',
    tool: 'gitdock',
    settle: '0s',
    waves: false,
    cached: true,
  },
  {
    id: 'gitdock-settle0-uncached',
    label: 'gitdock, settle 0s, uncached',
    tool: 'gitdock',
    settle: '0s',
    waves: false,
    cached: false,
  },
  {
    id: 'gitdock-default-cached',
    label: 'gitdock, default settle, cached',
    tool: 'gitdock',
    waves: false,
    cached: true,
  },
  {
    id: 'gitdock-default-uncached',
    label: 'gitdock, default settle, uncached',
    tool: 'gitdock',
    waves: false,
    cached: false,
  },
  {
    id: 'waves-settle0-cached',
    label: 'gitdock, waves, settle 0s, cached',
    tool: 'gitdock',
    settle: '0s',
    waves: true,
    cached: true,
  },
  {
    id: 'waves-settle0-uncached',
    label: 'gitdock, waves, settle 0s, uncached',
    tool: 'gitdock',
    settle: '0s',
    waves: true,
    cached: false,
  },
  {
    id: 'baseline-cached',
    label: 'bare docker, cached',
    tool: 'baseline',
    waves: false,
    cached: true,
  },
  {
    id: 'baseline-uncached',
    label: 'bare docker, uncached',
    tool: 'baseline',
    waves: false,
    cached: false,
  },
];

interface Sample {
  run: number;
  totalMs: number;
  lagMs: Record<string, number>;
  p50Ms: number;
  p95Ms: number;
  /** Blob GETs seen by the registry during the bump. */
  traffic: BlobTraffic;
  /** Bytes of the blobs the new image has and the old one had not. */
  newBlobBytes: number;
  newBlobs: number;
  /** Waves: the first-wave host converged before every other host. */
  waveOrderHeld?: boolean;
  /** Agents simPush could not poke (they fetch at their interval instead). */
  unreached?: string[];
}

interface FleetContext {
  sim: SimApi;
  simDir: string;
  hosts: SimHostView[];
  repo: ReturnType<typeof createBenchRepo>;
  hostNames: string[];
  registry: BenchRegistry;
  images: ImageBuilder;
  stack: Stack;
  guard: RunGuard;
  state: FleetState;
  /** The image the baseline containers run now. */
  baselineRef: string;
}

/** `docker -H <each engine> ...` side by side; throws if any fails. */
async function onEveryEngine(
  ctx: FleetContext,
  args: string[],
  timeoutMs = 120_000,
): Promise<void> {
  await Promise.all(
    ctx.hosts.map((h) =>
      checkAsync(DOCKER, ['-H', h.dockerHost, ...args], { env: ctx.stack.env, timeoutMs }),
    ),
  );
}

/** Commits the fleet state and moves the sim to it; waits (untimed) until every host converged. */
async function settleFleet(
  ctx: FleetContext,
  next: FleetState,
  why: string,
  timeoutMs = CONVERGE_TIMEOUT_MS,
): Promise<void> {
  const commit = ctx.repo.commit(fleetFiles(ctx.hostNames, ctx.registry.address, next), why);
  ctx.state = next;
  const startedAt = performance.now();
  await ctx.sim.simPush(ctx.simDir, commit);
  await waitForFleet(ctx.hosts, commit, {
    startedAt,
    intervalMs: 250,
    timeoutMs,
    shouldStop: () => ctx.guard.check(),
  });
}

async function newBlobsOf(
  ctx: FleetContext,
  fromTag: string,
  toTag: string,
): Promise<{ bytes: number; count: number }> {
  const before = await manifestBlobs(ctx.registry.address, IMAGE_REPO, fromTag);
  const after = await manifestBlobs(ctx.registry.address, IMAGE_REPO, toTag);
  let bytes = 0;
  let count = 0;
  for (const [digest, size] of after.blobs) {
    if (!before.blobs.has(digest)) {
      bytes += size;
      count++;
    }
  }
  return { bytes, count };
}

function lagStats(lagMs: Record<string, number>): { p50Ms: number; p95Ms: number } {
  const lags = Object.values(lagMs);
  return { p50Ms: roundMs(percentile(lags, 50)), p95Ms: roundMs(percentile(lags, 95)) };
}

async function runGitdockBump(
  ctx: FleetContext,
  sc: Scenario,
  run: number,
  newTag: string,
): Promise<Sample> {
  // Untimed: the settle and the waves in force before the bump (the rule of the running commit applies).
  if (ctx.state.settle !== sc.settle || ctx.state.waves !== sc.waves) {
    await settleFleet(
      ctx,
      { ...ctx.state, settle: sc.settle, waves: sc.waves },
      `bench: settle ${sc.settle ?? 'default'}, waves ${sc.waves}`,
    );
  }
  const newRef = ctx.images.ref(newTag);
  if (sc.cached) await onEveryEngine(ctx, ['pull', '-q', newRef]);
  const blobs = await newBlobsOf(ctx, ctx.state.tag, newTag);
  const commit = ctx.repo.commit(
    fleetFiles(ctx.hostNames, ctx.registry.address, { ...ctx.state, tag: newTag }),
    `bench: ${SERVICE} ${newTag}`,
  );
  const offset = ctx.registry.logOffset();
  const startedAt = performance.now();
  const pushed = await ctx.sim.simPush(ctx.simDir, commit);
  const conv: Convergence = await waitForFleet(ctx.hosts, commit, {
    startedAt,
    intervalMs: POLL_MS,
    timeoutMs: CONVERGE_TIMEOUT_MS,
    shouldStop: () => ctx.guard.check(),
  });
  ctx.state = { ...ctx.state, tag: newTag };
  await sleep(300); // the registry writes its access line as the response ends
  const traffic = blobTraffic(parseAccessLog(ctx.registry.readLogSince(offset)));
  const sample: Sample = {
    run,
    totalMs: roundMs(conv.totalMs),
    lagMs: Object.fromEntries(Object.entries(conv.lagMs).map(([h, ms]) => [h, roundMs(ms)])),
    ...lagStats(conv.lagMs),
    traffic,
    newBlobBytes: blobs.bytes,
    newBlobs: blobs.count,
  };
  if (pushed.unreached && pushed.unreached.length > 0) sample.unreached = pushed.unreached;
  if (sc.waves && ctx.hostNames.length > 1) {
    const first = conv.lagMs[ctx.hostNames[0]!]!;
    sample.waveOrderHeld = ctx.hostNames.slice(1).every((h) => conv.lagMs[h]! > first);
  }
  return sample;
}

async function runBaselineBump(
  ctx: FleetContext,
  sc: Scenario,
  run: number,
  newTag: string,
): Promise<Sample> {
  const newRef = ctx.images.ref(newTag);
  if (sc.cached) await onEveryEngine(ctx, ['pull', '-q', newRef]);
  const fromTag = ctx.baselineRef.split(':').pop()!;
  const blobs = await newBlobsOf(ctx, fromTag, newTag);
  const offset = ctx.registry.logOffset();
  const r = await runAsync(
    'bash',
    [BASELINE_SCRIPT, newRef, BASELINE_CONTAINER, ...ctx.hosts.map((h) => h.dockerHost)],
    {
      env: ctx.stack.env,
      timeoutMs: CONVERGE_TIMEOUT_MS,
    },
  );
  if (r.status !== 0)
    throw new Error(`bench/fleet-baseline.sh failed (${r.status}): ${r.stderr.trim().slice(-600)}`);
  ctx.baselineRef = newRef;
  const lagMs: Record<string, number> = {};
  let totalMs = Number.NaN;
  for (const line of r.stdout.split('\n')) {
    const m = /^host (\d+) (\d+)$/.exec(line.trim());
    if (m) lagMs[ctx.hostNames[Number(m[1])]!] = Number(m[2]);
    const t = /^total (\d+)$/.exec(line.trim());
    if (t) totalMs = Number(t[1]);
  }
  if (Object.keys(lagMs).length !== ctx.hosts.length || !Number.isFinite(totalMs)) {
    throw new Error(
      `bench/fleet-baseline.sh printed no time for every host: ${r.stdout.slice(0, 400)}`,
    );
  }
  await sleep(300);
  const traffic = blobTraffic(parseAccessLog(ctx.registry.readLogSince(offset)));
  return {
    run,
    totalMs,
    lagMs,
    ...lagStats(lagMs),
    traffic,
    newBlobBytes: blobs.bytes,
    newBlobs: blobs.count,
  };
}

// ---------------------------------------------------------------------------

interface FleetReport {
  hosts: number;
  simDir: string;
  runs: number;
  runsAsked: number;
  pollMs: number;
  layerBytes: number;
  firstDeployMs: number;
  scenarios: {
    id: ScenarioId;
    label: string;
    cached: boolean;
    settle: string;
    waves: boolean;
    totalMs: { median: number; min: number; samples: number[] };
    p50LagMs: { median: number; samples: number[] };
    p95LagMs: { median: number; samples: number[] };
    samples: Sample[];
  }[];
  ratios: Record<string, number>;
  bytes: {
    attribution: string;
    newBlobBytes: number[];
    perHostBytes: Record<string, number>[];
    maxDeviation: number | null;
    fetchesPerBlob: Record<string, number>[];
    userAgents: string[];
  };
  idle: IdleCost | null;
  goals: Goal[];
}

interface Goal {
  goal: string;
  limit: number;
  value: number;
  met: boolean;
}

/**
 * Every agent URL answers as the host it should be. The sim's addresses are
 * fixed (127.0.1.N:9420), so a second sim on the machine (or anything else
 * on those ports) would answer in place of agents that could not listen.
 */
async function checkAgentsAreOurs(hosts: readonly SimHostView[]): Promise<void> {
  const wrong: string[] = [];
  await Promise.all(
    hosts.map(async (h) => {
      try {
        const res = await fetch(`${h.agentUrl}/status`, { signal: AbortSignal.timeout(5000) });
        const body = (await res.json()) as { host?: string };
        if (body.host !== h.name)
          wrong.push(`${h.agentUrl} answers as host "${body.host}", not ${h.name}`);
      } catch (err) {
        wrong.push(`${h.agentUrl}: ${(err as Error).message}`);
      }
    }),
  );
  if (wrong.length > 0) {
    throw new Error(
      `the sim's agents are not the ones answering (another sim on this machine holds 127.0.1.N:9420?): ${wrong.slice(0, 3).join('; ')}${wrong.length > 3 ? `; and ${wrong.length - 3} more` : ''}`,
    );
  }
}

/** Whether something already listens where the sim's agents will (127.0.1.N:9420). */
async function agentAddressesTaken(count: number): Promise<string[]> {
  const taken: string[] = [];
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const url = `http://127.0.1.${i + 1}:9420/status`;
      try {
        await fetch(url, { signal: AbortSignal.timeout(1000) });
        taken.push(`127.0.1.${i + 1}:9420`);
      } catch {
        // nothing there: free
      }
    }),
  );
  return taken.sort();
}

async function runFleet(
  opts: Options,
  stack: Stack,
  registry: BenchRegistry,
  images: ImageBuilder,
  guard: RunGuard,
  cleanups: (() => Promise<void>)[],
): Promise<FleetReport> {
  const sim = await loadSim();
  const names = hostNames(opts.hosts);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-fleet-repo-'));
  cleanups.push(async () => fs.rmSync(workDir, { recursive: true, force: true }));
  const repo = createBenchRepo(path.join(workDir, 'fleet'));
  progress('building the base image');
  await images.build('base', false);
  const state: FleetState = { tag: 'base', settle: '0s', waves: false };
  repo.commit(fleetFiles(names, registry.address, state), 'bench: the fleet at base');
  const taken = await agentAddressesTaken(opts.hosts);
  if (taken.length > 0) {
    throw new Error(
      `${taken.length} of the addresses the sim's agents listen on answer already (${taken.slice(0, 3).join(', ')}${taken.length > 3 ? ', ...' : ''}): another \`gitdock sim\` runs on this machine; wait for it to go down`,
    );
  }
  if (fs.existsSync(opts.simDir)) {
    throw new Error(
      `${opts.simDir} exists (a sim left behind?): \`gitdock sim down --dir ${opts.simDir}\`, or pass --sim-dir`,
    );
  }
  // Registered before simUp: a half-started sim is removed too (simDown is idempotent).
  cleanups.push(async () => {
    progress(`sim down ${opts.simDir}`);
    await sim.simDown(opts.simDir);
  });
  progress(`sim up: ${names.length} hosts in ${opts.simDir}`);
  const upStarted = performance.now();
  const simState = await sim.simUp({
    repo: repo.dir,
    dir: opts.simDir,
    branch: 'main',
    gitdockBin: BIN,
    onProgress: (line) => progress(line),
  });
  progress(`sim up in ${formatMs(performance.now() - upStarted)}`);
  const hosts = simState.hosts.map((h) => ({
    name: h.name,
    address: h.address,
    dockerHost: h.dockerHost,
    agentUrl: h.agentUrl,
    dir: h.dir,
  }));
  await checkAgentsAreOurs(hosts);
  if (hosts.length !== names.length)
    throw new Error(`the sim started ${hosts.length} hosts, not ${names.length}`);
  const ctx: FleetContext = {
    sim,
    simDir: opts.simDir,
    hosts,
    repo,
    hostNames: names,
    registry,
    images,
    stack,
    guard,
    state,
    baselineRef: images.ref('base'),
  };
  const headCommit = check('git', ['rev-parse', 'HEAD'], { cwd: repo.dir }).stdout.trim();
  const firstStarted = performance.now();
  await waitForFleet(hosts, headCommit, {
    startedAt: firstStarted,
    intervalMs: 250,
    timeoutMs: FIRST_DEPLOY_TIMEOUT_MS,
    shouldStop: () => guard.check(),
  });
  const firstDeployMs = roundMs(performance.now() - firstStarted);
  progress(`every host runs ${SERVICE}:base (${formatMs(firstDeployMs)} after the sim was up)`);
  // The baseline's own container on every engine, from the image gitdock pulled.
  await onEveryEngine(ctx, [
    'run',
    '-d',
    '--name',
    BASELINE_CONTAINER,
    '--network',
    'none',
    '--label',
    'gitdock-bench.baseline=1',
    ctx.baselineRef,
  ]);
  cleanups.push(async () => {
    await Promise.allSettled(
      hosts.map((h) =>
        runAsync(
          DOCKER,
          ['-H', h.dockerHost, 'rm', '-f', BASELINE_CONTAINER, `${BASELINE_CONTAINER}-next`],
          { env: stack.env, timeoutMs: 60_000 },
        ),
      ),
    );
  });

  const samples = new Map<ScenarioId, Sample[]>(SCENARIOS.map((s) => [s.id, []]));
  let runsDone = 0;
  for (let run = 1; run <= opts.runs; run++) {
    if (!guard.roomFor(runsDone)) {
      progress(`stopping after ${runsDone} of ${opts.runs} runs: another would pass the deadline`);
      break;
    }
    guard.check();
    progress(
      `run ${run}/${opts.runs}: building ${SCENARIOS.length} images (one new 4 MB layer each)`,
    );
    const tags = new Map<ScenarioId, string>();
    for (const sc of SCENARIOS) {
      const tag = `r${run}-${sc.id}`;
      await images.build(tag, true);
      tags.set(sc.id, tag);
    }
    // Rotate the order so no scenario always follows the same neighbour.
    const order = SCENARIOS.map((_, i) => SCENARIOS[(i + run - 1) % SCENARIOS.length]!);
    for (const sc of order) {
      guard.check();
      const sample =
        sc.tool === 'gitdock'
          ? await runGitdockBump(ctx, sc, run, tags.get(sc.id)!)
          : await runBaselineBump(ctx, sc, run, tags.get(sc.id)!);
      samples.get(sc.id)!.push(sample);
      const attributed = Object.keys(sample.traffic.bytesByHost).length;
      progress(
        `${sc.label.padEnd(38)} last host ${formatMs(sample.totalMs).padStart(8)}  p50 ${formatMs(sample.p50Ms)}  p95 ${formatMs(sample.p95Ms)}  ` +
          `blobs ${(sample.traffic.totalBytes / 1e6).toFixed(2)} MB (${attributed} hosts named)${sample.waveOrderHeld === false ? '  WAVE ORDER NOT HELD' : ''}`,
      );
    }
    runsDone = run;
  }

  // Idle: the baseline containers go first (they are not the sim's).
  await Promise.allSettled(
    hosts.map((h) =>
      runAsync(DOCKER, ['-H', h.dockerHost, 'rm', '-f', BASELINE_CONTAINER], {
        env: stack.env,
        timeoutMs: 60_000,
      }),
    ),
  );
  guard.check();
  progress(`idle: leaving the sim alone for ${opts.idleSeconds} s`);
  await sleep(3000);
  const idle = await measureIdle(opts.simDir, opts.idleSeconds);

  return summarizeFleet(opts, runsDone, firstDeployMs, samples, idle);
}

function summarizeFleet(
  opts: Options,
  runsDone: number,
  firstDeployMs: number,
  samples: Map<ScenarioId, Sample[]>,
  idle: IdleCost,
): FleetReport {
  const scenarios = SCENARIOS.map((sc) => {
    const s = samples.get(sc.id)!;
    const totals = s.map((x) => x.totalMs);
    return {
      id: sc.id,
      label: sc.label,
      cached: sc.cached,
      settle: sc.tool === 'baseline' ? 'none' : (sc.settle ?? 'default'),
      waves: sc.waves,
      totalMs: {
        median: roundMs(median(totals)),
        min: roundMs(Math.min(...totals)),
        samples: totals,
      },
      p50LagMs: { median: roundMs(median(s.map((x) => x.p50Ms))), samples: s.map((x) => x.p50Ms) },
      p95LagMs: { median: roundMs(median(s.map((x) => x.p95Ms))), samples: s.map((x) => x.p95Ms) },
      samples: s,
    };
  });
  const total = (id: ScenarioId) => scenarios.find((s) => s.id === id)!.totalMs.median;
  const p50 = (id: ScenarioId) => scenarios.find((s) => s.id === id)!.p50LagMs.median;
  const ratios: Record<string, number> = {};
  for (const c of ['cached', 'uncached'] as const) {
    ratios[`gitdock-settle0/baseline (${c})`] = roundRatio(
      total(`gitdock-settle0-${c}`) / total(`baseline-${c}`),
    );
    ratios[`gitdock-default/baseline (${c})`] = roundRatio(
      total(`gitdock-default-${c}`) / total(`baseline-${c}`),
    );
    ratios[`waves/no-waves, settle 0s (${c})`] = roundRatio(
      total(`waves-settle0-${c}`) / total(`gitdock-settle0-${c}`),
    );
  }
  const goals: Goal[] = [];
  for (const c of ['cached', 'uncached'] as const) {
    const r = ratios[`gitdock-settle0/baseline (${c})`]!;
    goals.push({
      goal: `tag bump (${c}), settle 0s: at most ${BASELINE_RATIO_LIMIT}x bare docker`,
      limit: BASELINE_RATIO_LIMIT,
      value: r,
      met: r <= BASELINE_RATIO_LIMIT,
    });
    // One host's replacement: the per-host p50 lag of the same bump without waves.
    const limit = roundMs(
      total(`gitdock-settle0-${c}`) + p50(`gitdock-settle0-${c}`) + WAVE_EXTRA_MS,
    );
    const v = total(`waves-settle0-${c}`);
    goals.push({
      goal: `waves [[1 host], [rest]] (${c}): at most no-wave time + one host's replacement (p50 lag) + 2 s, ms`,
      limit,
      value: v,
      met: v <= limit,
    });
  }
  // Bytes: every uncached gitdock bump, per host, against the new blobs.
  const uncached = SCENARIOS.filter((s) => s.tool === 'gitdock' && !s.cached).flatMap(
    (s) => samples.get(s.id)!,
  );
  const attributed = uncached.every(
    (s) => Object.keys(s.traffic.bytesByHost).length === opts.hosts,
  );
  let maxDeviation: number | null = null;
  for (const s of uncached) {
    const perHost = attributed
      ? Object.values(s.traffic.bytesByHost)
      : [s.traffic.totalBytes / opts.hosts];
    for (const b of perHost) {
      const d = Math.abs(b - s.newBlobBytes) / s.newBlobBytes;
      maxDeviation = Math.max(maxDeviation ?? 0, d);
    }
  }
  const bytes = {
    attribution: attributed
      ? 'per host, from the gitdock host named in the user agent (UpstreamClient(gitdock/<v> (host <name>)))'
      : 'NOT per host: the registry log names no gitdock host in some bumps (the engine adapter does not send its User-Agent yet); the figure is the total divided by the hosts, and fetchesPerBlob shows how often each blob was served',
    newBlobBytes: uncached.map((s) => s.newBlobBytes),
    perHostBytes: uncached.map((s) => s.traffic.bytesByHost),
    maxDeviation: maxDeviation === null ? null : Math.round(maxDeviation * 10000) / 10000,
    fetchesPerBlob: uncached.map((s) => s.traffic.getsByBlob),
    userAgents: [...new Set(uncached.flatMap((s) => s.traffic.userAgents))].slice(0, 5),
  };
  if (maxDeviation !== null) {
    goals.push({
      goal: `bytes of blob GETs per host within ${BYTES_TOLERANCE * 100}% of the new blobs (uncached bumps${attributed ? '' : '; total / hosts, not per host'})`,
      limit: BYTES_TOLERANCE,
      value: bytes.maxDeviation!,
      met: maxDeviation <= BYTES_TOLERANCE,
    });
  }
  return {
    hosts: opts.hosts,
    simDir: opts.simDir,
    runs: runsDone,
    runsAsked: opts.runs,
    pollMs: POLL_MS,
    layerBytes: LAYER_BYTES,
    firstDeployMs,
    scenarios,
    ratios,
    bytes,
    idle,
    goals,
  };
}

// ---------------------------------------------------------------------------
// The single host: bench/compose.bench.ts with --changed, and the profile of a no-op apply.

interface SingleHostReport {
  composeJson: string;
  services: number;
  changed: number;
  runs: number;
  rows: { tool: string; scenario: string; medianMs: number; minMs: number }[];
  goals: Goal[];
}

async function runSingleHost(
  opts: Options,
  stack: Stack,
  guard: RunGuard,
): Promise<SingleHostReport> {
  const services = opts.quick ? 10 : 50;
  const changed = opts.quick ? 2 : SINGLE_HOST_CHANGED;
  const out = opts.quick
    ? path.join(os.tmpdir(), `gitdock-fleet-compose-${process.pid}.json`)
    : path.join(ROOT, 'bench', 'results', `compose-${changed}-changed.json`);
  const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
  const args = [
    path.join(ROOT, 'bench', 'compose.bench.ts'),
    '--runs',
    String(opts.runs),
    '--services',
    String(services),
    '--changed',
    String(changed),
    '--out',
    out,
  ];
  progress(
    `single host: ${path.relative(ROOT, tsx)} ${args.map((a) => (path.relative(ROOT, a).startsWith('..') ? a : a.includes('/') ? path.relative(ROOT, a) : a)).join(' ')}`,
  );
  guard.check();
  // Its progress goes to our stderr; its report (stdout) is kept for the log.
  const r = await runAsync(tsx, args, { cwd: ROOT, env: stack.env, timeoutMs: COMPOSE_TIMEOUT_MS });
  process.stderr.write(
    r.stderr
      .split('\n')
      .slice(-8)
      .map((l) => `  ${l}`)
      .join('\n'),
  );
  process.stderr.write('\n');
  if (r.status !== 0)
    throw new Error(
      `bench/compose.bench.ts exited with ${r.status}: ${r.stderr.trim().split('\n').slice(-25).join(' | ')}`,
    );
  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as {
    runs: number;
    results: { tool: string; scenario: string; medianMs: number; minMs: number }[];
  };
  if (opts.quick) fs.rmSync(out, { force: true });
  const med = (tool: string, scenario: string) =>
    report.results.find((x) => x.tool === tool && x.scenario === scenario)?.medianMs ?? Number.NaN;
  const goals: Goal[] = [];
  const changedRatio = roundRatio(
    med('gitdock-settle-0s', 'one-changed') / med('compose', 'one-changed'),
  );
  goals.push({
    goal: `${changed} changed services: gitdock (settle 0s) at most ${CHANGED_RATIO_LIMIT}x docker-compose up -d`,
    limit: CHANGED_RATIO_LIMIT,
    value: changedRatio,
    met: changedRatio <= CHANGED_RATIO_LIMIT,
  });
  for (const tool of ['gitdock', 'gitdock-settle-0s']) {
    const v = roundRatio(med(tool, 'no-op') / med('compose', 'no-op'));
    goals.push({
      goal: `no-op ${tool === 'gitdock' ? 'gitdock' : 'gitdock (settle 0s)'} apply at most ${NO_OP_RATIO_LIMIT}x docker-compose up -d`,
      limit: NO_OP_RATIO_LIMIT,
      value: v,
      met: v <= NO_OP_RATIO_LIMIT,
    });
  }
  return {
    composeJson: opts.quick ? '(temporary, removed)' : path.relative(ROOT, out),
    services,
    changed,
    runs: report.runs,
    rows: report.results
      .filter((x) => ['gitdock', 'gitdock-settle-0s', 'compose'].includes(x.tool))
      .map((x) => ({ tool: x.tool, scenario: x.scenario, medianMs: x.medianMs, minMs: x.minMs })),
    goals,
  };
}

interface ProfileReport {
  services: number;
  runs: number;
  nodeMs: { median: number; samples: number[] };
  helpMs: { median: number; samples: number[] };
  applyNoOpMs: { median: number; samples: number[] };
  profiledApplyMs: { median: number; samples: number[] };
  /** Self time per source, median over the profiles. */
  bySource: { source: string; ms: number }[];
  topFunctions: ProfileSummary['topFunctions'];
}

const PROFILE_HOST = 'bench-prof';

/**
 * Ten services deployed by `gitdock apply` (settle 0s) on the private engine,
 * then the no-op apply in fresh processes: plain, and with `node --cpu-prof`,
 * summed by source. `node -e 0` and `gitdock --help` for the fixed cost.
 */
async function profileNoOp(stack: Stack, runs: number): Promise<ProfileReport> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-fleet-prof-'));
  const foreign = listContainers(stack).filter((c) => c.labels['io.gitdock.host'] !== PROFILE_HOST);
  if (foreign.length > 0)
    progress(
      `note: the engine runs ${foreign.length} other container(s); the no-op lists them too`,
    );
  try {
    const repo = createBenchRepo(path.join(workDir, 'repo'));
    const repository = `${stack.registry}/gitdock-test/app`;
    const svcs = benchServices();
    repo.commit(
      Object.fromEntries(
        svcs.map((s) => [
          `hosts/${PROFILE_HOST}/${s.name}.yaml`,
          gitdockManifest(s, repository, '1.0', '0s'),
        ]),
      ),
      'bench: profile',
    );
    const stateDir = path.join(workDir, 'state');
    const apply = ['apply', '--host', PROFILE_HOST, '--repo', repo.dir, '--state-dir', stateDir];
    const env = stack.env;
    check(process.execPath, [BIN, ...apply], { cwd: ROOT, env, timeoutMs: 180_000 });
    const profDir = path.join(workDir, 'prof');
    const node: number[] = [];
    const help: number[] = [];
    const plain: number[] = [];
    const profiled: number[] = [];
    const summaries: ProfileSummary[] = [];
    for (let i = 0; i < runs; i++) {
      node.push(check(process.execPath, ['-e', '0'], { env }).ms);
      help.push(check(process.execPath, [BIN, '--help'], { cwd: ROOT, env }).ms);
      plain.push(
        check(process.execPath, [BIN, ...apply], { cwd: ROOT, env, timeoutMs: 60_000 }).ms,
      );
      fs.rmSync(profDir, { recursive: true, force: true });
      profiled.push(
        check(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profDir, BIN, ...apply], {
          cwd: ROOT,
          env,
          timeoutMs: 60_000,
        }).ms,
      );
      const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error('node --cpu-prof wrote no profile');
      summaries.push(summarizeProfile(path.join(profDir, file), ROOT));
    }
    const m = (v: number[]) => ({ median: roundMs(median(v)), samples: v.map(roundMs) });
    return {
      services: svcs.length,
      runs,
      nodeMs: m(node),
      helpMs: m(help),
      applyNoOpMs: m(plain),
      profiledApplyMs: m(profiled),
      bySource: medianBySource(summaries).slice(0, 25),
      topFunctions: summaries[Math.floor(summaries.length / 2)]!.topFunctions,
    };
  } finally {
    const ours = listContainers(stack)
      .filter((c) => c.labels['io.gitdock.host'] === PROFILE_HOST)
      .map((c) => c.id);
    if (ours.length > 0) run(DOCKER, ['rm', '-f', ...ours], { env: stack.env });
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------

function machineInfo(stack: Stack, loadStart: number[]) {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    dockerd: docker(stack, ['version', '--format', '{{.Server.Version}}']),
    registry: run('/usr/bin/docker-registry', ['--version']).stdout.trim(),
    loadAverage: { start: loadStart, end: os.loadavg().map((x) => Math.round(x * 100) / 100) },
  };
}

function gitdockInfo() {
  const head = run('git', ['rev-parse', 'HEAD'], { cwd: ROOT });
  const status = run('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT });
  return {
    commit: head.status === 0 ? head.stdout.trim() : 'unknown',
    dirty: status.status === 0 && status.stdout.trim() !== '',
    distBuiltAt: fs.statSync(path.join(ROOT, 'dist', 'cli.js')).mtime.toISOString(),
  };
}

/** Why this machine cannot run the bench, or undefined. */
function preflight(opts: Options): string | undefined {
  if (process.platform !== 'linux')
    return 'the fleet bench needs Linux (the sim runs real dockerds)';
  if (process.getuid?.() !== 0)
    return 'the fleet bench must run as root: `gitdock sim` starts a dockerd per host (sudo make bench-fleet)';
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js')))
    return 'dist/cli.js is missing; run `make build` first (make bench-fleet does)';
  for (const bin of [
    '/usr/bin/docker-registry',
    DOCKER,
    '/usr/sbin/dockerd',
    ...(opts.singleHost ? [COMPOSE] : []),
  ]) {
    if (!fs.existsSync(bin)) return `${bin} is missing; \`bash scripts/stack.sh up\` installs it`;
  }
  return undefined;
}

// biome-ignore lint/suspicious/noExplicitAny: the report is plain JSON, built and printed here only.
type Report = Record<string, any>;

/**
 * A part skipped with --no-fleet / --no-single-host keeps its figures from
 * the file being replaced, marked with that run's date, so one file holds
 * the latest of each part.
 */
function carryOver(report: Report, opts: Options): void {
  let old: Report;
  try {
    old = JSON.parse(fs.readFileSync(opts.out, 'utf8')) as Report;
  } catch {
    return;
  }
  const keys = [
    ...(opts.fleet ? [] : ['fleet']),
    ...(opts.singleHost ? [] : ['singleHost', 'profile']),
  ];
  for (const key of keys) {
    if (old[key] && !old[key].error) {
      report[key] = {
        ...old[key],
        fromEarlierRun: old[key].fromEarlierRun ?? {
          date: old.date,
          machine: old.machine,
          gitdock: old.gitdock,
        },
      };
    }
  }
}

function formatSummary(report: Report): string {
  const out: string[] = [];
  const m = report.machine;
  out.push(
    `gitdock fleet bench, ${report.date}; ${m.cpus} CPUs, load ${m.loadAverage.start.join(' ')} -> ${m.loadAverage.end.join(' ')}`,
  );
  const f = report.fleet;
  if (f?.error) out.push(`fleet: FAILED: ${f.error}`);
  else if (f) {
    out.push(
      `fleet: ${f.hosts} hosts, ${f.runs} run(s); first deploy ${formatMs(f.firstDeployMs)}`,
    );
    out.push(
      '  scenario                                push -> last host (median, min)   per-host lag p50 / p95',
    );
    for (const s of f.scenarios) {
      out.push(
        `  ${s.label.padEnd(38)} ${formatMs(s.totalMs.median).padStart(9)} ${formatMs(s.totalMs.min).padStart(9)}      ${formatMs(s.p50LagMs.median).padStart(9)} / ${formatMs(s.p95LagMs.median)}`,
      );
    }
    for (const [k, v] of Object.entries(f.ratios)) out.push(`  ${k}: ${(v as number).toFixed(2)}x`);
    out.push(
      `  bytes: ${f.bytes.attribution}; max deviation from the new blobs ${f.bytes.maxDeviation === null ? '-' : `${(f.bytes.maxDeviation * 100).toFixed(2)}%`}`,
    );
    if (f.idle) {
      const i = f.idle as IdleCost;
      out.push(
        `  idle ${i.seconds} s: RSS ${i.rssMB.total} MB (dockerd ${i.rssMB.dockerd}, containerd ${i.rssMB.containerd}, shims ${i.rssMB.shim}, agents ${i.rssMB.agent}, git server ${i.rssMB.gitServer}, other ${i.rssMB.other}); CPU ${i.cpuPercent.total}% of a core (dockerd ${i.cpuPercent.dockerd}, containerd ${i.cpuPercent.containerd}, agents ${i.cpuPercent.agent})`,
      );
    }
  }
  const sh = report.singleHost;
  if (sh?.error) out.push(`single host: FAILED: ${sh.error}`);
  else if (sh) {
    out.push(`single host (${sh.services} services, ${sh.changed} changed; ${sh.composeJson}):`);
    for (const r of sh.rows)
      out.push(
        `  ${r.tool.padEnd(20)} ${r.scenario.padEnd(13)} ${formatMs(r.medianMs).padStart(9)} (min ${formatMs(r.minMs)})`,
      );
  }
  const p = report.profile;
  if (p?.error) out.push(`profile: FAILED: ${p.error}`);
  else if (p) {
    out.push(
      `no-op apply (${p.services} services): ${formatMs(p.applyNoOpMs.median)}; node -e 0 ${formatMs(p.nodeMs.median)}; gitdock --help ${formatMs(p.helpMs.median)}; self time by source (median of ${p.runs} profiles):`,
    );
    for (const e of p.bySource.slice(0, 12))
      out.push(`  ${String(e.ms).padStart(7)} ms  ${e.source}`);
  }
  out.push('goals:');
  for (const g of report.goals as Goal[])
    out.push(`  ${g.goal}: ${g.value} (limit ${g.limit}) -> ${g.met ? 'met' : 'MISSED'}`);
  return `${out.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  let opts: Options | undefined;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}`);
    return 64;
  }
  if (!opts) {
    process.stdout.write(USAGE);
    return 0;
  }
  const why = preflight(opts);
  if (why) {
    process.stderr.write(`bench: ${why}\n`);
    return 1;
  }
  const guard = guardRun(opts.quick ? QUICK_DEADLINE_MS : DEADLINE_MS, (signal) =>
    progress(`${signal}: stopping at the next step, then tearing everything down`),
  );
  const loadStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const cleanups: (() => Promise<void>)[] = [];
  const report: Report = {
    benchmark: 'fleet',
    date: new Date(guard.startedAt).toISOString(),
  };
  let failed = false;
  try {
    const stack = bringUpStack(ROOT);
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-fleet-bench-'));
    cleanups.push(async () => fs.rmSync(workDir, { recursive: true, force: true }));
    const registry = await startRegistry(path.join(workDir, 'registry'), opts.registryPort);
    cleanups.push(async () => {
      progress(`stopping the registry on ${registry.address}`);
      await registry.stop();
    });
    const images = new ImageBuilder(stack, registry.address, path.join(workDir, 'images'));
    report.gitdock = gitdockInfo();
    if (opts.fleet) {
      try {
        report.fleet = await runFleet(opts, stack, registry, images, guard, cleanups);
      } catch (err) {
        if (guard.interrupted) throw err;
        failed = true;
        report.fleet = { error: (err as Error).message };
        progress(`fleet part failed: ${(err as Error).message}`);
      }
    }
    // The sim's engines and agents go before the single-host part is timed.
    while (cleanups.length > 2)
      await cleanups.pop()!().catch((e: Error) => progress(`cleanup: ${e.message}`));
    if (opts.singleHost) {
      try {
        report.singleHost = await runSingleHost(opts, stack, guard);
      } catch (err) {
        if (guard.interrupted) throw err;
        failed = true;
        report.singleHost = { error: (err as Error).message };
        progress(`single-host part failed: ${(err as Error).message}`);
      }
      try {
        guard.check();
        progress('profiling a no-op gitdock apply');
        report.profile = await profileNoOp(stack, opts.quick ? 1 : Math.max(3, opts.runs));
      } catch (err) {
        if (guard.interrupted) throw err;
        failed = true;
        report.profile = { error: (err as Error).message };
      }
    }
    carryOver(report, opts);
    report.machine = machineInfo(stack, loadStart);
    report.goals = [...(report.fleet?.goals ?? []), ...(report.singleHost?.goals ?? [])];
    process.stdout.write(formatSummary(report));
    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    const tmp = `${opts.out}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${toJson(report)}\n`);
    fs.renameSync(tmp, opts.out);
    progress(
      `wrote ${path.relative(process.cwd(), opts.out) || opts.out} in ${formatMs(Date.now() - guard.startedAt)}`,
    );
    return failed ? 1 : 0;
  } finally {
    while (cleanups.length > 0) {
      try {
        await cleanups.pop()!();
      } catch (err) {
        progress(`cleanup: ${(err as Error).message}`);
      }
    }
    guard.dispose();
  }
}

/** Indented JSON with arrays of numbers on one line. */
function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /\[\s*(-?[0-9.e+-]+(?:,\s*-?[0-9.e+-]+)*)\s*\]/g,
    (_, items: string) => `[${items.split(/,\s*/).join(', ')}]`,
  );
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
