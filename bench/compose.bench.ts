// The Compose benchmark: one 50-service Compose project (env, ports, named
// volumes, two networks, depends_on chains, a config file from the repo)
// deployed by `gitdock apply` and by `docker-compose up -d` (1.29) on the
// same private engine (first deploy, no-op, one changed service); what the
// networks and volumes cost a no-op; and `gitdock validate` / `plan` of the
// project in fresh processes, split into cold start and loading the
// project. See bench/README.md. Run: `npx tsx bench/compose.bench.ts
// [--runs N | --quick]` (`make bench`).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { coldStartPieces } from './lib/cold-start.js';
import {
  BASE_TAG,
  CHANGED_TAG,
  changedServiceNames,
  composeProjectFiles,
  maxChangedServices,
  PROJECT,
  resourceCounts,
  serviceNames,
} from './lib/compose-project.js';
import { apiRequest, socketPathOf } from './lib/engine-api.js';
import { appRepository, HOST } from './lib/fleet.js';
import { type BenchRepo, createBenchRepo } from './lib/git.js';
import { parseRuns, parseWhole, UsageError } from './lib/options.js';
import { check, run } from './lib/proc.js';
import type { Machine } from './lib/report.js';
import {
  bringUpStack,
  COMPOSE,
  type ContainerInfo,
  DOCKER,
  docker,
  eventCursor,
  imageId,
  listContainers,
  removeContainers,
  type Stack,
} from './lib/stack.js';
import { formatMs, formatRange, median, min, roundMs, roundRatio } from './lib/stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'gitdock.js');
const DEFAULT_RUNS = 5;
const MAX_RUNS = 20;
/** A repetition deploys the project five times (about 1-4 minutes on 2 busy cores). */
const DEADLINE_MS = 40 * 60_000;
const QUICK_DEADLINE_MS = 6 * 60_000;
/** --quick deploys a 5-service project: it checks the bench works, in a minute or so. */
const QUICK_SERVICES = 5;
/** Host ports 127.0.0.1:39100… (one per service); far from the ports the tests and demo use. */
const PORT_BASE = 39100;
/** One timed command; a first deploy of 50 services on a loaded machine takes up to a minute. */
const COMMAND_TIMEOUT_MS = 240_000;
/**
 * The bar for a no-op apply: gitdock/compose no worse than the
 * 0.43-0.51x of bench/results/apply.json (10 gitdock manifests, before
 * networks and volumes were listed).
 */
const NO_OP_RATIO_LIMIT = 0.51;
/** With `--changed N` (N > 1): gitdock (settle 0s) replacing N services, against docker-compose. */
const CHANGED_RATIO_LIMIT = 1.0;
/** How long after a command exits its last engine events are waited for (untimed). */
const EVENT_GRACE_MS = 300;
/** A network whose containers were just removed can report active endpoints for a moment. */
const NETWORK_REMOVE_TRIES = 20;

const USAGE = `Usage: npx tsx bench/compose.bench.ts [--runs N | --quick] [--services N] [--changed N] [--out FILE] [--clear]

Deploys one Compose project of 50 services (env, ports on 127.0.0.1, named
volumes, two networks, depends_on chains, a config file from the repo) with
gitdock (default settle and settle 0s) and docker-compose 1.29 on the
private engine of scripts/stack.sh: first deploy, no-op, one changed
service; then the no-op of the same services without networks and
volumes, the engine's list calls, and gitdock validate / plan of the
project in fresh processes. Prints medians, minimums and ratios; writes
the results as JSON.

Options:
  --runs N      repetitions (default ${DEFAULT_RUNS}, at most ${MAX_RUNS})
  --quick       one repetition of a ${QUICK_SERVICES}-service project (a smoke run; numbers mean little)
  --services N  services in the project (default 50; 5 to 99)
  --changed N   services the "changed" scenario moves from 1.0 to 1.1 (default 1:
                svc-05; N: the last service of each of the first N chains of
                five, svc-05, svc-10, ...; at most services / 5)
  --out FILE    where to write the JSON (default bench/results/compose.json)
  --clear       also remove containers the bench did not create (by default it
                refuses to run on an engine that holds any)
  -h, --help    show this help

Environment: GITDOCK_STACK_DIR, GITDOCK_REGISTRY_PORT choose the stack, as for the tests.
`;

interface BenchOptions {
  runs: number;
  services: number;
  /** How many services the changed scenario moves (`changedServiceNames`). */
  changed: number;
  quick: boolean;
  out: string;
  clear: boolean;
}

function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      services: { type: 'string' },
      changed: { type: 'string' },
      out: { type: 'string' },
      clear: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  if (values.quick && values.runs !== undefined)
    throw new UsageError('--quick and --runs exclude each other');
  const runs = values.quick ? 1 : parseRuns(values.runs, DEFAULT_RUNS, MAX_RUNS);
  // At least one chain of five (the changed service ends the first), at most two-digit names.
  const services = parseWhole(
    'services',
    values.services,
    values.quick ? QUICK_SERVICES : 50,
    5,
    99,
  );
  const changed = values.changed === undefined ? 1 : Number(values.changed);
  if (!Number.isInteger(changed) || changed < 1 || changed > maxChangedServices(services)) {
    throw new UsageError(
      `--changed must be a whole number from 1 to ${maxChangedServices(services)} (services / 5), not "${values.changed}"`,
    );
  }
  const out = values.out
    ? path.resolve(values.out)
    : path.join(ROOT, 'bench', 'results', 'compose.json');
  return { runs, services, changed, quick: values.quick, out, clear: values.clear };
}

// ---------------------------------------------------------------------------
// The tools: untimed preparation, then the one command an operator runs.

const SCENARIOS = [
  { id: 'first-deploy', label: 'first deploy' },
  { id: 'no-op', label: 'no-op' },
  // The id stays `one-changed` whatever --changed is (the JSON's readers key on it).
  { id: 'one-changed', label: 'one changed' },
] as const;
type ScenarioId = (typeof SCENARIOS)[number]['id'];

type ToolId =
  | 'gitdock'
  | 'gitdock-settle-0s'
  | 'compose'
  | 'gitdock-settle-0s-plain'
  | 'compose-plain';

interface Tool {
  id: ToolId;
  label: string;
  /** With networks, volumes, ports and the config file, or `network_mode: none` only. */
  resources: boolean;
  scenarios: readonly ScenarioId[];
  /** Untimed: the inputs say "every service at 1.0" (or the changed state), the tool's own state is fresh. */
  prepare(changed: boolean): void;
  /** Timed: wall time in ms; throws if the command fails. */
  run(): Promise<number>;
}

interface ToolContext {
  stack: Stack;
  workDir: string;
  services: number;
  /** How many services the changed state moves. */
  changed: number;
  /** The Compose project name of the next deployment (see `projectName`). */
  project(): string;
  /** gitdock's host of the next deployment (see `projectName`). */
  host(): string;
  /** The first host port of the next deployment (see `projectName`). */
  portBase(): number;
}

/**
 * \`bench50\`, then \`bench50g2\`, \`bench50g3\`… : dockerd 20.10, under load, has
 * left a network of this project that it refuses to remove ("has active
 * endpoints" with no container attached) until it is restarted. The bench
 * then goes on under the next name, so the stuck name is never needed again,
 * and reports the stuck networks. gitdock's host changes with it
 * (\`bench-g2\`…): gitdock would try to remove a stuck network its host owns;
 * and so do the host ports (+100 each time): the stuck network's
 * \`docker-proxy\` processes have kept their ports bound.
 */
function projectName(generation: number): string {
  return generation === 1 ? PROJECT : `${PROJECT}g${generation}`;
}

function hostName(generation: number): string {
  return generation === 1 ? HOST : `${HOST}-g${generation}`;
}

/**
 * gitdock: a fleet repo holding `hosts/bench/bench50/`, a commit per
 * change, `gitdock apply --state-dir` (the config file is written there).
 * `settle` goes in every service's `x-gitdock.update.settle`.
 */
function gitdockTool(
  ctx: ToolContext,
  options: { id: ToolId; label: string; settle?: string; resources: boolean },
): Tool {
  const repo = createBenchRepo(path.join(ctx.workDir, options.id, 'repo'));
  const stateDir = path.join(ctx.workDir, options.id, 'state');
  const files = (changed: boolean) =>
    projectFiles(ctx, { changed, settle: options.settle, resources: options.resources });
  repo.commit(files(false), `bench: ${ctx.services} services at ${BASE_TAG}`);
  let changed = false;
  let committedDir = `hosts/${ctx.host()}/${ctx.project()}`;
  return {
    id: options.id,
    label: options.label,
    resources: options.resources,
    scenarios: options.resources ? SCENARIOS.map((s) => s.id) : ['first-deploy', 'no-op'],
    prepare: (value) => {
      if (!value) fs.rmSync(stateDir, { recursive: true, force: true });
      fs.mkdirSync(stateDir, { recursive: true });
      const dir = `hosts/${ctx.host()}/${ctx.project()}`;
      if (committedDir !== dir) {
        fs.rmSync(path.join(repo.dir, 'hosts'), { recursive: true });
        repo.commit(files(value), `bench: project ${dir}`);
        committedDir = dir;
        changed = value;
      }
      if (changed !== value) {
        repo.commit(
          files(value),
          `${changedServiceNames(ctx.changed).join(', ')}: ${value ? CHANGED_TAG : BASE_TAG}`,
        );
        changed = value;
      }
    },
    run: () =>
      timedCommand(
        process.execPath,
        [BIN, 'apply', '--host', ctx.host(), '--repo', repo.dir, '--state-dir', stateDir],
        { cwd: ROOT, env: ctx.stack.env },
      ),
  };
}

/** docker-compose 1.29: the same compose.yaml (and app.conf) in a directory, `-p bench50 up -d`. */
function composeTool(
  ctx: ToolContext,
  options: { id: ToolId; label: string; resources: boolean },
): Tool {
  const dirOf = () => path.join(ctx.workDir, options.id, ctx.project());
  const write = (changed: boolean) => {
    const dir = dirOf();
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(
      projectFiles(ctx, { changed, resources: options.resources }),
    )) {
      fs.writeFileSync(path.join(dir, name.split('/').pop()!), text);
    }
  };
  return {
    id: options.id,
    label: options.label,
    resources: options.resources,
    scenarios: options.resources ? SCENARIOS.map((s) => s.id) : ['first-deploy', 'no-op'],
    prepare: write,
    run: () =>
      timedCommand(
        COMPOSE,
        ['-p', ctx.project(), '-f', path.join(dirOf(), 'compose.yaml'), 'up', '-d'],
        {
          cwd: dirOf(),
          env: ctx.stack.env,
        },
      ),
  };
}

/**
 * Runs a command to completion, timed from spawn to exit as lib/proc.ts
 * does, but without blocking this process: the engine's event stream is
 * read while it runs (see `openEventLog`). Rejects on a non-zero exit or
 * after COMMAND_TIMEOUT_MS.
 */
function timedCommand(
  cmd: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGTERM'), COMMAND_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (code === 0) resolve(ms);
      else {
        const tail = output.trim().split('\n').slice(-15).join('\n');
        reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}: ${tail}`));
      }
    });
  });
}

interface EngineEvent {
  type: string;
  action: string;
  /** Container or network ID, volume name. */
  id: string;
  /** Container or network name. */
  name: string;
  /** Unix seconds. */
  time: number;
}

interface EventLog {
  events: EngineEvent[];
  close(): void;
}

/**
 * Follows the engine's container, network and volume events from `since`
 * (a cursor of `eventCursor`). Read live rather than asked for afterwards
 * (`docker events --until`, as lib/stack.ts `countMutations` does): the
 * engine keeps only its last 256 events, fewer than one first deploy of
 * 50 services makes. Resolves once the stream is open; `since` replays
 * what happened before that.
 */
function openEventLog(socketPath: string, since: string): Promise<EventLog> {
  const filters = encodeURIComponent(JSON.stringify({ type: ['container', 'network', 'volume'] }));
  return new Promise((resolve, reject) => {
    const events: EngineEvent[] = [];
    const req = http.get(
      { socketPath, path: `/v1.41/events?since=${since}&filters=${filters}` },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`GET /events: ${res.statusCode}`));
          return;
        }
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const lines = (pending + chunk).split('\n');
          pending = lines.pop() ?? '';
          for (const line of lines) {
            if (!line.trim()) continue;
            const e = JSON.parse(line) as {
              Type: string;
              Action: string;
              Actor?: { ID?: string; Attributes?: Record<string, string> };
              timeNano: number;
            };
            events.push({
              type: e.Type,
              action: e.Action.replace(/:.*$/, ''),
              id: e.Actor?.ID ?? '',
              name: e.Actor?.Attributes?.name ?? '',
              time: e.timeNano / 1e9,
            });
          }
        });
        res.on('error', () => {});
        resolve({ events, close: () => req.destroy() });
      },
    );
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
  });
}

/** Container events that change something (as lib/stack.ts counts them). */
const MUTATING = new Set([
  'create',
  'start',
  'stop',
  'kill',
  'die',
  'destroy',
  'rename',
  'pause',
  'unpause',
  'restart',
  'update',
]);

/** The project's files as repo paths under `hosts/bench/bench50/`. */
function projectFiles(
  ctx: ToolContext,
  options: { changed: boolean; settle?: string; resources: boolean; services?: number },
): Record<string, string> {
  const files = composeProjectFiles({
    repository: appRepository(ctx.stack.registry),
    changed: options.changed,
    changedCount: ctx.changed,
    portBase: ctx.portBase(),
    settle: options.settle,
    resources: options.resources,
    services: options.services ?? ctx.services,
  });
  return Object.fromEntries(
    Object.entries(files).map(([name, text]) => [
      `hosts/${ctx.host()}/${ctx.project()}/${name}`,
      text,
    ]),
  );
}

// ---------------------------------------------------------------------------
// The engine: what the bench owns on it, emptied between tools, checked after each step.

/** `bench50-svc-01-1` (gitdock, as Compose v2) or `bench50_svc-01_1` (Compose 1.29). */
/** `bench50-svc-01-1` (gitdock, as Compose v2) or `bench50_svc-01_1` (Compose 1.29), any generation. */
const CONTAINER_NAME = new RegExp(`^${PROJECT}(?:g[0-9]+)?[-_](svc-[0-9]{2})[-_]1$`);
/** Networks and volumes of the project, any generation (`bench50_back`, `bench50g2_data-01`). */
const RESOURCE_NAME = new RegExp(`^${PROJECT}(?:g[0-9]+)?_`);

function isBenchContainer(c: ContainerInfo): boolean {
  return (
    new RegExp(`^${HOST}(-g[0-9]+)?$`).test(c.labels['io.gitdock.host'] ?? '') ||
    RESOURCE_NAME.test(`${c.labels['com.docker.compose.project'] ?? ''}_`) ||
    CONTAINER_NAME.test(c.name)
  );
}

/** The bench's networks: of every generation, or of one project. */
function benchNetworks(stack: Stack, project?: string): string[] {
  return docker(stack, ['network', 'ls', '--format', '{{.Name}}'])
    .split('\n')
    .filter((n) => (project ? n.startsWith(`${project}_`) : RESOURCE_NAME.test(n)));
}

function benchVolumes(stack: Stack, project?: string): string[] {
  return docker(stack, ['volume', 'ls', '--format', '{{.Name}}'])
    .split('\n')
    .filter((n) => (project ? n.startsWith(`${project}_`) : RESOURCE_NAME.test(n)));
}

/** Removes the project's containers, networks and volumes: each tool starts from nothing. */
function clearEngine(stack: Stack, clearForeign: boolean): string[] {
  const all = listContainers(stack);
  const foreign = all.filter((c) => !isBenchContainer(c));
  if (foreign.length > 0 && !clearForeign) {
    throw new Error(
      `the engine ${stack.dockerHost} holds ${foreign.length} container(s) the bench did not create ` +
        `(${foreign
          .slice(0, 5)
          .map((c) => c.name)
          .join(', ')}${foreign.length > 5 ? ', ...' : ''}). The bench removes every container ` +
        'between tools; run it on an idle engine (another stack: GITDOCK_STACK_DIR=/tmp/stack-bench ' +
        'GITDOCK_REGISTRY_PORT=5087), or pass --clear to remove them.',
    );
  }
  // Stopped before they are removed: a `docker rm -f` of fifty running containers on
  // networks has left dockerd 20.10 with a network it could not remove ("has active
  // endpoints" with no container attached) until it was restarted.
  const running = all.filter((c) => c.running).map((c) => c.id);
  if (running.length > 0) docker(stack, ['stop', '-t', '5', ...running]);
  removeContainers(
    stack,
    all.map((c) => c.id),
  );
  return removeResources(stack);
}

/**
 * Removes the project's networks and volumes. The engine releases a
 * removed container's endpoints a moment after `docker rm` returns, so a
 * network can still say "has active endpoints": try again, bounded.
 */
function removeResources(stack: Stack): string[] {
  let stuck: string[] = [];
  for (let attempt = 1; attempt <= NETWORK_REMOVE_TRIES; attempt++) {
    // One at a time: `docker network rm a b` stops at the first it cannot remove.
    stuck = benchNetworks(stack).filter(
      (n) => run(DOCKER, ['network', 'rm', n], { env: stack.env, timeoutMs: 60_000 }).status !== 0,
    );
    if (stuck.length === 0) break;
    pauseSync(500);
  }
  const volumes = benchVolumes(stack);
  if (volumes.length > 0) docker(stack, ['volume', 'rm', '-f', ...volumes]);
  return stuck;
}

/** A short blocking pause between two tries (the bench is sequential there). */
function pauseSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * After each step: exactly the project's services, all running, each on
 * the image it should be, and the project's networks and volumes (the
 * same work done by every tool).
 */
function verifyDeployed(
  stack: Stack,
  project: string,
  tool: Tool,
  services: number,
  expectImage: (service: string) => string,
  what: string,
): void {
  const expected = serviceNames(services);
  const found = listContainers(stack);
  const problems: string[] = [];
  const names = found.map((c) => CONTAINER_NAME.exec(c.name)?.[1] ?? c.name).sort();
  if (names.join(',') !== expected.join(',')) problems.push(`containers are [${names.join(', ')}]`);
  for (const c of found) {
    const service = CONTAINER_NAME.exec(c.name)?.[1] ?? '';
    if (!c.running) problems.push(`${c.name} is not running`);
    else if (service && c.imageId !== expectImage(service)) {
      problems.push(
        `${c.name} runs ${c.imageId.slice(0, 19)}, not ${expectImage(service).slice(0, 19)}`,
      );
    }
  }
  const counts = resourceCounts(services);
  const networks = benchNetworks(stack, project).length;
  const volumes = benchVolumes(stack, project).length;
  const want = tool.resources ? counts : { networks: 0, volumes: 0 };
  if (networks !== want.networks || volumes !== want.volumes) {
    problems.push(
      `${networks} networks and ${volumes} volumes of ${project}, not ${want.networks} and ${want.volumes}`,
    );
  }
  if (problems.length > 0) throw new Error(`${tool.label}, ${what}: ${problems.join('; ')}`);
}

/**
 * Networks and volumes created or removed during a command. The engine
 * sends a volume `create` event each time a container mounts an existing
 * named volume, so a volume counts as created only when its name was not
 * on the engine before (`volumesBefore`). gitdock's host lock (a volume,
 * taken and given back by every apply, also a no-op) is left out.
 */
function countResourceEvents(events: EngineEvent[], volumesBefore: ReadonlySet<string>): number {
  const changed = new Set<string>();
  for (const e of events) {
    if (e.type !== 'network' && e.type !== 'volume') continue;
    const resource = e.type === 'volume' ? e.id : e.name;
    if (!resource || resource.startsWith('gitdock-lock.')) continue;
    if (e.action === 'destroy') changed.add(`${e.type} ${resource} destroy`);
    else if (e.action === 'create' && (e.type === 'network' || !volumesBefore.has(resource))) {
      changed.add(`${e.type} ${resource} create`);
    }
  }
  return changed.size;
}

// ---------------------------------------------------------------------------
// What networks and volumes cost: the engine's list calls, timed in this process.

interface ListCallSample {
  id: string;
  label: string;
  samplesMs: number[];
}

/**
 * The calls gitdock's read of the engine makes (containers, networks
 * with a second container list, volumes), each alone and all at once as
 * gitdock issues them, round-robin. No client library, no process start:
 * the engine's own cost.
 */
async function measureListCalls(stack: Stack, rounds: number): Promise<ListCallSample[]> {
  const socket = socketPathOf(stack.dockerHost);
  const get = async (p: string) => {
    const r = await apiRequest(socket, 'GET', `/v1.41${p}`);
    if (r.status !== 200) throw new Error(`GET ${p}: ${r.status}`);
  };
  const calls: { id: string; label: string; fn: () => Promise<unknown> }[] = [
    {
      id: 'containers',
      label: 'GET /containers/json?all=1',
      fn: () => get('/containers/json?all=1'),
    },
    { id: 'networks', label: 'GET /networks', fn: () => get('/networks') },
    { id: 'volumes', label: 'GET /volumes', fn: () => get('/volumes') },
    {
      id: 'containers-only-read',
      label: 'read before networks and volumes: containers only',
      fn: () => get('/containers/json?all=1'),
    },
    {
      id: 'gitdock-read',
      label: "gitdock's read: the four at once",
      fn: () =>
        Promise.all([
          get('/containers/json?all=1'),
          get('/networks'),
          get('/containers/json?all=1'),
          get('/volumes'),
        ]),
    },
  ];
  const samples = calls.map((c) => ({ id: c.id, label: c.label, samplesMs: [] as number[] }));
  for (const c of calls) await c.fn(); // open the way (socket, engine caches) before timing
  for (let i = 0; i < rounds; i++) {
    for (const [k, c] of calls.entries()) {
      const started = performance.now();
      await c.fn();
      samples[k]!.samplesMs.push(performance.now() - started);
    }
  }
  return samples;
}

// ---------------------------------------------------------------------------
// gitdock validate / plan in fresh processes, and the load of the project in one.

interface CommandPiece {
  id: string;
  label: string;
  args: string[];
  /** plan exits 2 when changes are pending. */
  status: number;
}

/** Each piece `runs` times, round-robin; each must exit with its status. */
function measureCommands(
  stack: Stack,
  pieces: CommandPiece[],
  runs: number,
  beforeEach: () => void,
): { id: string; label: string; samplesMs: number[] }[] {
  const samples = pieces.map((p) => ({ id: p.id, label: p.label, samplesMs: [] as number[] }));
  for (let i = 0; i < runs; i++) {
    pieces.forEach((piece, k) => {
      beforeEach();
      const r = run(process.execPath, piece.args, { cwd: ROOT, env: stack.env, timeoutMs: 60_000 });
      if (r.status !== piece.status) {
        throw new Error(
          `${piece.label} exited with ${r.status}, expected ${piece.status}: ${r.stderr.trim().slice(-400) || r.stdout.trim().slice(-400)}`,
        );
      }
      samples[k]!.samplesMs.push(r.ms);
    });
  }
  return samples;
}

export interface LoadProbe {
  /** `loadFleet` of a 1-service Compose project, first call in the process: the Compose schema is compiled here. */
  firstOneServiceMs: number;
  /** The same again (warm). */
  warmOneServiceMs: number;
  /** `loadFleet` of the benchmark's project, after the above (warm). */
  fullProjectMs: number;
  /** `loadFleet` of the project when it is the first call: compile and load together. */
  firstFullProjectMs: number;
}

/**
 * Runs in a child (`--probe-load ONE FULL`): times `loadFleet` (what
 * `validate` runs after reading the revision) on file trees read from two
 * directories. Reads src/ through tsx, so the module load is not timed;
 * only the calls are.
 */
async function probeLoad(oneDir: string, fullDir: string, fullFirst: boolean): Promise<void> {
  const { loadFleet } = (await import(
    pathToFileURL(path.join(ROOT, 'src', 'core', 'fleet.ts')).href
  )) as { loadFleet: (files: Map<string, Uint8Array>) => { ok: boolean; errors?: unknown[] } };
  const readTree = (dir: string) => {
    const files = new Map<string, Uint8Array>();
    for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (!e.isFile()) continue;
      const abs = path.join(e.parentPath, e.name);
      files.set(path.relative(dir, abs).split(path.sep).join('/'), fs.readFileSync(abs));
    }
    return files;
  };
  const one = readTree(oneDir);
  const full = readTree(fullDir);
  const time = (files: Map<string, Uint8Array>) => {
    const started = performance.now();
    const r = loadFleet(files);
    const ms = performance.now() - started;
    if (!r.ok) throw new Error(`loadFleet failed: ${JSON.stringify(r.errors).slice(0, 400)}`);
    return ms;
  };
  const out: Partial<LoadProbe> = {};
  if (fullFirst) out.firstFullProjectMs = time(full);
  else {
    out.firstOneServiceMs = time(one);
    out.warmOneServiceMs = median([time(one), time(one), time(one)]);
    out.fullProjectMs = median([time(full), time(full), time(full)]);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Fresh children of the probe, `runs` of each kind; the medians, or the error if src/ would not run. */
function measureLoadProbe(
  oneDir: string,
  fullDir: string,
  runs: number,
): { medians: LoadProbe; samples: Partial<LoadProbe>[] } | { error: string } {
  const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
  const samples: Partial<LoadProbe>[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      for (const first of ['one', 'full']) {
        const r = check(
          tsx,
          [fileURLToPath(import.meta.url), '--probe-load', oneDir, fullDir, first],
          { cwd: ROOT, timeoutMs: 60_000 },
        );
        samples.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as Partial<LoadProbe>);
      }
    }
  } catch (err) {
    return { error: (err as Error).message.slice(0, 500) };
  }
  const med = (key: keyof LoadProbe) =>
    roundMs(median(samples.map((s) => s[key]).filter((v): v is number => v !== undefined)));
  return {
    medians: {
      firstOneServiceMs: med('firstOneServiceMs'),
      warmOneServiceMs: med('warmOneServiceMs'),
      fullProjectMs: med('fullProjectMs'),
      firstFullProjectMs: med('firstFullProjectMs'),
    },
    samples,
  };
}

// ---------------------------------------------------------------------------
// The report.

interface Measurement {
  tool: ToolId;
  label: string;
  scenario: ScenarioId;
  samplesMs: number[];
  /** Container-changing engine events during each sample. */
  mutations: number[];
  /** Networks and volumes created or removed during each sample (the host lock left out). */
  resourceEvents: number[];
}

function summary(samplesMs: number[]): { medianMs: number; minMs: number; samplesMs: number[] } {
  return {
    medianMs: roundMs(median(samplesMs)),
    minMs: roundMs(min(samplesMs)),
    samplesMs: samplesMs.map(roundMs),
  };
}

function machineInfo(stack: Stack, loadStart: number): Machine {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    dockerd: docker(stack, ['version', '--format', '{{.Server.Version}}']),
    dockerCompose: check(COMPOSE, ['version', '--short'], { env: stack.env }).stdout.trim(),
    git: check('git', ['--version'])
      .stdout.trim()
      .replace(/^git version /, ''),
    loadAverage: { start: loadStart, end: os.loadavg()[0] ?? 0 },
  };
}

function gitdockInfo(): { version: string; commit: string; dirty: boolean } {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  const head = run('git', ['rev-parse', 'HEAD'], { cwd: ROOT });
  const status = run('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT });
  return {
    version: pkg.version,
    commit: head.status === 0 ? head.stdout.trim() : 'unknown',
    dirty: status.status === 0 && status.stdout.trim() !== '',
  };
}

/** The no-op ratio of bench/results/apply.json (10 gitdock manifests), for comparison. */
function applyBaseline():
  | { commit: string; date: string; noOpRatio: number; noOpRatioSettle0s: number }
  | undefined {
  try {
    const r = JSON.parse(
      fs.readFileSync(path.join(ROOT, 'bench', 'results', 'apply.json'), 'utf8'),
    );
    return {
      commit: String(r.gitdock.commit),
      date: String(r.date),
      noOpRatio: r.ratios['gitdock/compose']['no-op'],
      noOpRatioSettle0s: r.ratios['gitdock-settle-0s/compose']['no-op'],
    };
  } catch {
    return undefined;
  }
}

/** Indented JSON with arrays of numbers on one line (samples read better that way in a diff). */
function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /\[\s*(-?[0-9.e+-]+(?:,\s*-?[0-9.e+-]+)*)\s*\]/g,
    (_, items: string) => `[${items.split(/,\s*/).join(', ')}]`,
  );
}

/** Columns padded to their widest cell; `right[i]` right-aligns column i. */
function table(rows: string[][], right: boolean[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (right[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

function formatRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? '-' : `${r.toFixed(2)}x`;
}

const RATIO_PAIRS: { key: string; tool: ToolId; versus: ToolId }[] = [
  { key: 'gitdock/compose', tool: 'gitdock', versus: 'compose' },
  { key: 'gitdock-settle-0s/compose', tool: 'gitdock-settle-0s', versus: 'compose' },
  {
    key: 'gitdock-settle-0s/compose, no networks or volumes',
    tool: 'gitdock-settle-0s-plain',
    versus: 'compose-plain',
  },
];

// biome-ignore lint/suspicious/noExplicitAny: the report is plain JSON, built and printed here only.
type Report = Record<string, any>;

function buildReport(input: {
  date: Date;
  runs: number;
  runsAsked: number;
  services: number;
  changed: number;
  machine: Machine;
  measurements: Measurement[];
  listCalls: ListCallSample[];
  commands: { id: string; label: string; samplesMs: number[] }[];
  loadProbe: ReturnType<typeof measureLoadProbe>;
  stuckNetworks: string[];
}): Report {
  const medianOf = (tool: ToolId, scenario: ScenarioId) =>
    median(
      input.measurements.find((m) => m.tool === tool && m.scenario === scenario)?.samplesMs ?? [],
    );
  const minOf = (tool: ToolId, scenario: ScenarioId) =>
    min(
      input.measurements.find((m) => m.tool === tool && m.scenario === scenario)?.samplesMs ?? [],
    );
  const ratios: Record<string, Partial<Record<ScenarioId, number>>> = {};
  for (const pair of RATIO_PAIRS) {
    ratios[pair.key] = {};
    for (const s of SCENARIOS) {
      const r = medianOf(pair.tool, s.id) / medianOf(pair.versus, s.id);
      if (Number.isFinite(r)) ratios[pair.key]![s.id] = roundRatio(r);
    }
  }
  const noOpGoals = (['gitdock', 'gitdock-settle-0s'] as const).map((tool) => {
    const ratio = roundRatio(medianOf(tool, 'no-op') / medianOf('compose', 'no-op'));
    return {
      goal: `no-op apply no worse than ${NO_OP_RATIO_LIMIT}x compose (0.43-0.51x for 10 gitdock manifests before networks and volumes)`,
      tool,
      versus: 'compose',
      scenario: 'no-op',
      limit: NO_OP_RATIO_LIMIT,
      ratio,
      met: ratio <= NO_OP_RATIO_LIMIT,
    };
  });
  // With several changed services (`--changed`), the issue asks gitdock without its
  // settle wait to replace them no slower than docker-compose.
  const changedGoals =
    input.changed > 1
      ? (['gitdock-settle-0s'] as const).map((tool) => {
          const ratio = roundRatio(
            medianOf(tool, 'one-changed') / medianOf('compose', 'one-changed'),
          );
          return {
            goal: `${input.changed} changed services at most ${CHANGED_RATIO_LIMIT}x compose`,
            tool,
            versus: 'compose',
            scenario: 'one-changed',
            limit: CHANGED_RATIO_LIMIT,
            ratio,
            met: ratio <= CHANGED_RATIO_LIMIT,
          };
        })
      : [];
  const goals = [...noOpGoals, ...changedGoals];
  const nodeMs = median(input.commands.find((c) => c.id === 'node')?.samplesMs ?? []);
  const commands = input.commands.map((c) => ({
    id: c.id,
    label: c.label,
    ...summary(c.samplesMs),
    overNodeMs: roundMs(median(c.samplesMs) - nodeMs),
  }));
  const cmd = (id: string) => median(input.commands.find((c) => c.id === id)?.samplesMs ?? []);
  const noOpCost = (withTool: ToolId, withoutTool: ToolId) => ({
    withMs: roundMs(medianOf(withTool, 'no-op')),
    withoutMs: roundMs(medianOf(withoutTool, 'no-op')),
    costMs: roundMs(medianOf(withTool, 'no-op') - medianOf(withoutTool, 'no-op')),
    costOfMinsMs: roundMs(minOf(withTool, 'no-op') - minOf(withoutTool, 'no-op')),
  });
  const list = (id: string) => median(input.listCalls.find((c) => c.id === id)?.samplesMs ?? []);
  return {
    benchmark: 'compose',
    date: input.date.toISOString(),
    runs: input.runs,
    runsAsked: input.runsAsked,
    services: input.services,
    changedServices: input.changed,
    project: {
      name: PROJECT,
      services: input.services,
      ...resourceCounts(input.services),
      dependsOnChains: Math.ceil(input.services / 5),
      changedService: changedServiceNames(1)[0],
      changedServices: changedServiceNames(input.changed),
    },
    /** Networks dockerd would not remove (see `projectName`): the bench went on under another project name. */
    stuckNetworks: input.stuckNetworks,
    machine: input.machine,
    gitdock: gitdockInfo(),
    results: input.measurements.map((m) => ({
      tool: m.tool,
      label: m.label,
      scenario: m.scenario,
      ...summary(m.samplesMs),
      mutations: m.mutations,
      resourceEvents: m.resourceEvents,
    })),
    ratios,
    goals,
    baseline: applyBaseline(),
    networksAndVolumes: {
      noOp: {
        gitdockSettle0s: noOpCost('gitdock-settle-0s', 'gitdock-settle-0s-plain'),
        compose: noOpCost('compose', 'compose-plain'),
      },
      listCalls: input.listCalls.map((c) => ({
        id: c.id,
        label: c.label,
        ...summary(c.samplesMs),
      })),
      readCostMs: roundMs(list('gitdock-read') - list('containers-only-read')),
    },
    commands,
    split: {
      validateLoadMs: roundMs(cmd('validate-50') - cmd('gitdock-validate-help')),
      validateFixedMs: roundMs(cmd('validate-1') - cmd('gitdock-validate-help')),
      validatePerProjectServicesMs: roundMs(cmd('validate-50') - cmd('validate-1')),
      planOverValidateMs: roundMs(cmd('plan-no-op') - cmd('validate-50')),
      loadProbe: input.loadProbe,
    },
  };
}

/** `one changed`, or `10 changed` with --changed 10. */
function scenarioLabel(id: ScenarioId, changed: number): string {
  const label = SCENARIOS.find((s) => s.id === id)!.label;
  return id === 'one-changed' && changed > 1 ? `${changed} changed` : label;
}

function formatReport(report: Report): string {
  const m = report.machine as Machine;
  const out: string[] = [
    `gitdock compose bench: one project of ${report.services} services (${report.project.networks} networks, ${report.project.volumes} volumes), ` +
      `${report.runs} run${report.runs === 1 ? '' : 's'}` +
      (report.runs === 1 ? ' (one run: a smoke test, not a measurement)' : ''),
    `${m.cpus} CPUs (${m.cpuModel}), node ${m.node}, dockerd ${m.dockerd}, docker-compose ${m.dockerCompose}; ` +
      `load average ${m.loadAverage.start.toFixed(2)} -> ${m.loadAverage.end.toFixed(2)}`,
    `gitdock ${report.gitdock.version} at ${String(report.gitdock.commit).slice(0, 12)}${report.gitdock.dirty ? ' (uncommitted changes)' : ''}`,
    '',
  ];
  const rows = [
    ['scenario', 'tool', 'median', 'min', 'container events', 'networks/volumes created, removed'],
  ];
  for (const s of SCENARIOS) {
    (report.results as Report[])
      .filter((r) => r.scenario === s.id)
      .forEach((r, i) => {
        rows.push([
          i === 0 ? scenarioLabel(s.id, report.changedServices) : '',
          r.label,
          formatMs(r.medianMs),
          formatMs(r.minMs),
          formatRange(r.mutations),
          formatRange(r.resourceEvents),
        ]);
      });
  }
  out.push(...table(rows, [false, false, true, true, true, true]), '');

  const ratioRows = [
    [
      'ratio (median / median)',
      ...SCENARIOS.map((s) => scenarioLabel(s.id, report.changedServices)),
    ],
  ];
  for (const [key, values] of Object.entries(
    report.ratios as Record<string, Record<string, number>>,
  )) {
    ratioRows.push([key, ...SCENARIOS.map((s) => formatRatio(values[s.id]))]);
  }
  out.push(...table(ratioRows, [false, true, true, true]), '');
  out.push('goals:');
  for (const g of report.goals as Report[]) {
    out.push(`  ${g.goal}: ${g.tool} ${formatRatio(g.ratio)} -> ${g.met ? 'met' : 'MISSED'}`);
  }
  if (report.baseline) {
    out.push(
      `  (bench/results/apply.json, ${String(report.baseline.commit).slice(0, 12)}: no-op ${formatRatio(report.baseline.noOpRatio)}, settle 0s ${formatRatio(report.baseline.noOpRatioSettle0s)})`,
    );
  }
  out.push('');

  const nv = report.networksAndVolumes;
  out.push('what networks and volumes cost a no-op (median with - median without):');
  out.push(
    `  gitdock (settle 0s): ${formatMs(nv.noOp.gitdockSettle0s.withMs)} - ${formatMs(nv.noOp.gitdockSettle0s.withoutMs)} = ${formatMs(nv.noOp.gitdockSettle0s.costMs)}`,
    `  docker-compose 1.29: ${formatMs(nv.noOp.compose.withMs)} - ${formatMs(nv.noOp.compose.withoutMs)} = ${formatMs(nv.noOp.compose.costMs)}`,
  );
  const listRows = [['engine list call (in-process, deployed project)', 'median', 'min']];
  for (const c of nv.listCalls as Report[])
    listRows.push([c.label, formatMs(c.medianMs), formatMs(c.minMs)]);
  out.push(...table(listRows, [false, true, true]).map((l) => `  ${l}`));
  out.push(`  networks and volumes added to the read: ${formatMs(nv.readCostMs)}`, '');

  const cmdRows = [
    [
      `gitdock commands (fresh process, ${report.runs} run${report.runs === 1 ? '' : 's'})`,
      'median',
      'min',
      'over node',
    ],
  ];
  for (const c of report.commands as Report[]) {
    cmdRows.push([
      c.label,
      formatMs(c.medianMs),
      formatMs(c.minMs),
      c.id === 'node' ? '' : `${c.overNodeMs < 0 ? '-' : '+'}${formatMs(Math.abs(c.overNodeMs))}`,
    ]);
  }
  out.push(...table(cmdRows, [false, true, true, true]), '');
  const sp = report.split;
  out.push(
    'split of validate:',
    `  validate - validate --help (reading the revision, loading the project): ${formatMs(sp.validateLoadMs)}`,
    `  of which a 1-service project costs ${formatMs(sp.validateFixedMs)}, the other ${report.services - 1} services ${formatMs(sp.validatePerProjectServicesMs)}`,
    `  plan (no-op) - validate: ${formatMs(sp.planOverValidateMs)}`,
  );
  if ('error' in sp.loadProbe) out.push(`  in-process load probe failed: ${sp.loadProbe.error}`);
  else {
    const p = sp.loadProbe.medians as LoadProbe;
    out.push(
      `  in process (loadFleet, no git): 1-service project first ${formatMs(p.firstOneServiceMs)}, again ${formatMs(p.warmOneServiceMs)} ` +
        `(first use, mostly compiling the Compose schema: ${formatMs(p.firstOneServiceMs - p.warmOneServiceMs)}); ` +
        `${report.services}-service project warm ${formatMs(p.fullProjectMs)}, as the first call ${formatMs(p.firstFullProjectMs)}`,
    );
  }
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------

/** The newest modification time of any file under `dir`, in ms. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return newest;
}

function writeTree(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, ...name.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--probe-load') {
    await probeLoad(argv[1]!, argv[2]!, argv[3] === 'full');
    return 0;
  }
  let options: BenchOptions | undefined;
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
  const { runs, services, changed, out, clear } = options;
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) {
    process.stderr.write(
      'bench: dist/cli.js is missing; run `npm run build` first (make bench does)\n',
    );
    return 1;
  }
  if (
    newestMtime(path.join(ROOT, 'src')) > fs.statSync(path.join(ROOT, 'dist', 'cli.js')).mtimeMs
  ) {
    process.stderr.write(
      'bench: warning: src/ changed after the last build; this measures dist/ as built\n',
    );
  }

  const started = Date.now();
  const deadline = options.quick ? QUICK_DEADLINE_MS : DEADLINE_MS;
  const loadStart = os.loadavg()[0] ?? 0;
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  const checkTime = () => {
    if (interrupted) throw new Error('interrupted');
    if (Date.now() - started > deadline) {
      throw new Error(`the bench ran longer than ${deadline / 60_000} minutes; stopped`);
    }
  };
  const progress = (text: string) => process.stderr.write(`[bench] ${text}\n`);

  const stack = bringUpStack(ROOT);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-compose-bench-'));
  let generation = 1;
  const stuckNetworks = new Set<string>();
  const clearAll = () => {
    for (const n of clearEngine(stack, clear)) {
      if (!stuckNetworks.has(n))
        progress(`dockerd will not remove network ${n}; going on without it`);
      stuckNetworks.add(n);
      if (n.startsWith(`${projectName(generation)}_`)) generation++;
    }
    // A stuck network of a later generation (from an earlier run) is skipped too.
    while ([...stuckNetworks].some((n) => n.startsWith(`${projectName(generation)}_`)))
      generation++;
  };
  try {
    clearAll();
    const repository = appRepository(stack.registry);
    const baseRef = `${repository}:${BASE_TAG}`;
    const changedRef = `${repository}:${CHANGED_TAG}`;
    // Image transfer is not what is compared: both tags are on the engine before anything is timed.
    for (const ref of [baseRef, changedRef]) docker(stack, ['pull', '-q', ref]);
    const baseId = imageId(stack, baseRef);
    const changedId = imageId(stack, changedRef);
    const changedOnes = new Set(changedServiceNames(options.changed));
    const expectImage = (changed: boolean) => (service: string) =>
      changed && changedOnes.has(service) ? changedId : baseId;

    const ctx: ToolContext = {
      stack,
      workDir,
      services,
      changed,
      project: () => projectName(generation),
      host: () => hostName(generation),
      portBase: () => PORT_BASE + (generation - 1) * 100,
    };
    const tools: Tool[] = [
      gitdockTool(ctx, { id: 'gitdock', label: 'gitdock', resources: true }),
      gitdockTool(ctx, {
        id: 'gitdock-settle-0s',
        label: 'gitdock (settle 0s)',
        settle: '0s',
        resources: true,
      }),
      composeTool(ctx, { id: 'compose', label: 'docker-compose 1.29', resources: true }),
      gitdockTool(ctx, {
        id: 'gitdock-settle-0s-plain',
        label: 'gitdock (settle 0s), no networks/volumes',
        settle: '0s',
        resources: false,
      }),
      composeTool(ctx, {
        id: 'compose-plain',
        label: 'docker-compose 1.29, no networks/volumes',
        resources: false,
      }),
    ];

    // Warm the page cache for each tool's binaries and libraries.
    check(process.execPath, [BIN, 'validate', '--repo', path.join(workDir, 'gitdock', 'repo')], {
      cwd: ROOT,
      env: stack.env,
    });
    check(COMPOSE, ['version'], { env: stack.env });

    const measurements: Measurement[] = tools.flatMap((tool) =>
      tool.scenarios.map((scenario) => ({
        tool: tool.id,
        label: tool.label,
        scenario,
        samplesMs: [],
        mutations: [],
        resourceEvents: [],
      })),
    );
    const socketPath = socketPathOf(stack.dockerHost);
    const record = async (tool: Tool, scenario: ScenarioId) => {
      checkTime();
      const volumesBefore = new Set(benchVolumes(stack));
      const since = eventCursor();
      const log = await openEventLog(socketPath, since);
      let ms: number;
      let until: number;
      try {
        ms = await tool.run();
        until = Date.now() / 1000;
        // The engine sends an event just after the call that caused it returns.
        await sleep(EVENT_GRACE_MS);
      } finally {
        log.close();
      }
      const inWindow = log.events.filter((e) => e.time >= Number(since) && e.time <= until);
      const mutations = inWindow.filter(
        (e) => e.type === 'container' && MUTATING.has(e.action),
      ).length;
      const events = countResourceEvents(inWindow, volumesBefore);
      const m = measurements.find((x) => x.tool === tool.id && x.scenario === scenario)!;
      m.samplesMs.push(ms);
      m.mutations.push(mutations);
      m.resourceEvents.push(events);
      progress(
        `${tool.label.padEnd(40)} ${scenario.padEnd(13)} ${formatMs(ms).padStart(8)}  ${mutations} container events, ${events} networks/volumes created or removed`,
      );
    };

    // Stop starting repetitions when one more would likely pass the deadline: the
    // commands, list calls and report still need time, and a run cut short writes nothing.
    let runsDone = 0;
    for (let rep = 0; rep < runs; rep++) {
      const elapsed = Date.now() - started;
      if (rep > 0 && elapsed + elapsed / rep > deadline * 0.8) {
        progress(`stopping after ${rep} of ${runs} runs: another would pass the deadline`);
        break;
      }
      progress(`run ${rep + 1}/${runs}`);
      // Rotate the order so no tool always runs right after the same neighbour.
      const order = tools.map((_, i) => tools[(i + rep) % tools.length]!);
      for (const tool of order) {
        checkTime();
        clearAll();
        tool.prepare(false);
        await record(tool, 'first-deploy');
        verifyDeployed(stack, ctx.project(), tool, services, expectImage(false), 'first deploy');
        await record(tool, 'no-op');
        verifyDeployed(stack, ctx.project(), tool, services, expectImage(false), 'no-op');
        if (tool.scenarios.includes('one-changed')) {
          tool.prepare(true);
          await record(tool, 'one-changed');
          verifyDeployed(
            stack,
            ctx.project(),
            tool,
            services,
            expectImage(true),
            scenarioLabel('one-changed', changed),
          );
        }
      }
      runsDone = rep + 1;
    }

    // validate / plan / apply in fresh processes, against the project deployed and in sync.
    progress('gitdock commands and the engine list calls');
    clearAll();
    const repo: BenchRepo = createBenchRepo(path.join(workDir, 'commands', 'repo'));
    const withSettle = (changed: boolean) =>
      projectFiles(ctx, { changed, settle: '0s', resources: true });
    const baseRev = repo.commit(withSettle(false), 'bench: base');
    const changedRev = repo.commit(withSettle(true), 'bench: one changed');
    const oneRepo = createBenchRepo(path.join(workDir, 'commands', 'one'));
    const oneFiles = projectFiles(ctx, {
      changed: false,
      settle: '0s',
      resources: true,
      services: 1,
    });
    oneRepo.commit(oneFiles, 'bench: one service');
    const stateDir = path.join(workDir, 'commands', 'state');
    check(
      process.execPath,
      [
        BIN,
        'apply',
        '--host',
        ctx.host(),
        '--repo',
        repo.dir,
        '--rev',
        baseRev,
        '--state-dir',
        stateDir,
      ],
      { cwd: ROOT, env: stack.env, timeoutMs: COMMAND_TIMEOUT_MS },
    );
    verifyDeployed(
      stack,
      ctx.project(),
      tools[1]!,
      services,
      expectImage(false),
      'deploy for the commands',
    );
    const help = new Map(coldStartPieces(stack, repo.dir).map((p) => [p.id, p]));
    const piece = (id: string): CommandPiece => ({ ...help.get(id)!, status: 0 });
    const target = ['--host', ctx.host(), '--repo', repo.dir];
    const pieces: CommandPiece[] = [
      piece('node'),
      piece('engine-list-raw'),
      piece('gitdock-help'),
      piece('gitdock-validate-help'),
      {
        id: 'validate-1',
        label: 'gitdock validate (1-service project)',
        args: [BIN, 'validate', '--repo', oneRepo.dir],
        status: 0,
      },
      {
        id: 'validate-50',
        label: `gitdock validate (${services} services)`,
        args: [BIN, 'validate', '--repo', repo.dir, '--rev', baseRev],
        status: 0,
      },
      {
        id: 'validate-50-changed',
        label: `gitdock validate (${services} services, ${scenarioLabel('one-changed', changed)})`,
        args: [BIN, 'validate', '--repo', repo.dir, '--rev', changedRev],
        status: 0,
      },
      piece('gitdock-plan-help'),
      {
        id: 'plan-no-op',
        label: 'gitdock plan (no-op)',
        args: [BIN, 'plan', ...target, '--rev', baseRev],
        status: 0,
      },
      {
        id: 'plan-one-changed',
        label: `gitdock plan (${scenarioLabel('one-changed', changed)})`,
        args: [BIN, 'plan', ...target, '--rev', changedRev],
        status: 2,
      },
      piece('gitdock-apply-help'),
      {
        id: 'apply-no-op',
        label: 'gitdock apply (no-op)',
        args: [BIN, 'apply', ...target, '--rev', baseRev, '--state-dir', stateDir],
        status: 0,
      },
    ];
    const commands = measureCommands(stack, pieces, runsDone, checkTime);
    const listCalls = await measureListCalls(stack, Math.max(10, runsDone * 4));

    progress('loading the project in process');
    checkTime();
    const oneDir = path.join(workDir, 'probe', 'one');
    const fullDir = path.join(workDir, 'probe', 'full');
    writeTree(oneDir, oneFiles);
    writeTree(fullDir, withSettle(false));
    const loadProbe = measureLoadProbe(oneDir, fullDir, Math.min(runsDone, 5));

    const report = buildReport({
      date: new Date(started),
      runs: runsDone,
      runsAsked: runs,
      services,
      changed,
      machine: machineInfo(stack, loadStart),
      measurements,
      listCalls,
      commands,
      loadProbe,
      stuckNetworks: [...stuckNetworks].sort(),
    });
    process.stdout.write(formatReport(report));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${toJson(report)}\n`);
    fs.renameSync(tmp, out);
    progress(
      `wrote ${path.relative(process.cwd(), out) || out} in ${formatMs(Date.now() - started)}`,
    );
    return 0;
  } finally {
    try {
      // Leave the engine as it was: the project's containers, networks and volumes go.
      removeContainers(
        stack,
        listContainers(stack)
          .filter((c) => clear || isBenchContainer(c))
          .map((c) => c.id),
      );
      for (const n of removeResources(stack)) stuckNetworks.add(n);
      if (stuckNetworks.size > 0) {
        progress(
          `left behind: ${[...stuckNetworks].join(', ')}, which dockerd will not remove (restart the stack: scripts/stack.sh down, then up)`,
        );
      }
    } catch (err) {
      progress(`could not clear the engine afterwards: ${(err as Error).message}`);
    }
    fs.rmSync(workDir, { recursive: true, force: true });
    process.off('SIGINT', onSigint);
  }
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
