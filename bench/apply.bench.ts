// The apply benchmark: the same ten services deployed by gitdock,
// docker-compose 1.29 and the bare docker CLI, on the same private engine,
// in three scenarios (first deploy, no-op, one changed service), plus the
// pieces of gitdock's cold start. See bench/README.md for what the numbers
// mean. Run: `npx tsx bench/apply.bench.ts [--runs N | --quick]` (`make bench`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { coldStartPieces, measureColdStart } from './lib/cold-start.js';
import {
  appRepository,
  BASE_TAG,
  benchServices,
  CHANGED_SERVICE,
  CHANGED_TAG,
  CLI_LABEL,
  COMPOSE_PROJECT,
  HOST,
} from './lib/fleet.js';
import { parseRuns, UsageError } from './lib/options.js';
import { check, run } from './lib/proc.js';
import { buildReport, formatReport, type Machine, type Measurement } from './lib/report.js';
import {
  bringUpStack,
  COMPOSE,
  type ContainerInfo,
  countMutations,
  DOCKER,
  docker,
  eventCursor,
  imageId,
  listContainers,
  removeContainers,
  type Stack,
} from './lib/stack.js';
import { formatMs } from './lib/stats.js';
import {
  composeTool,
  dockerCliTool,
  gitdockTool,
  SCENARIOS,
  type Tool,
  type ToolContext,
} from './lib/tools.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_RUNS = 5;
/**
 * Bounds the whole run: a repetition takes 30-80 s (four tools, three
 * scenarios, clearing the engine in between), so 20 fit the deadline even on
 * a busy machine.
 */
const MAX_RUNS = 20;
const DEADLINE_MS = 40 * 60_000;

const USAGE = `Usage: npx tsx bench/apply.bench.ts [--runs N | --quick] [--out FILE] [--clear]

Deploys the same 10 services with gitdock (default settle and settle 0s),
docker-compose 1.29 and the bare docker CLI on the private engine of
scripts/stack.sh (first deploy, no-op, one changed service), times each
N times, and prints medians, minimums, ratios and gitdock's cold-start
pieces. Writes the results as JSON.

Options:
  --runs N     repetitions per tool and scenario (default ${DEFAULT_RUNS}, at most ${MAX_RUNS})
  --quick      one repetition (a smoke run; the numbers mean little)
  --out FILE   where to write the JSON (default bench/results/apply.json)
  --clear      also remove containers the bench did not create (by default it
               refuses to run on an engine that holds any: it removes every
               container between tools)
  -h, --help   show this help

Environment: GITDOCK_STACK_DIR, GITDOCK_REGISTRY_PORT choose the stack, as for the tests.
`;

interface BenchOptions {
  runs: number;
  out: string;
  clear: boolean;
}

function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
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
  const out = values.out
    ? path.resolve(values.out)
    : path.join(ROOT, 'bench', 'results', 'apply.json');
  return { runs, out, clear: values.clear };
}

/** Everything the bench itself creates: gitdock's host, the compose project, the CLI script's label. */
function isBenchContainer(c: ContainerInfo): boolean {
  return (
    c.labels['io.gitdock.host'] === HOST ||
    c.labels['com.docker.compose.project'] === COMPOSE_PROJECT ||
    CLI_LABEL in c.labels
  );
}

/**
 * Empties the engine so each tool starts from nothing. Containers the bench
 * did not make mean someone else uses this engine: their work and these
 * numbers would spoil each other, so stop unless told to clear them too.
 */
function clearEngine(stack: Stack, clearForeign: boolean): void {
  const all = listContainers(stack);
  const foreign = all.filter((c) => !isBenchContainer(c));
  if (foreign.length > 0 && !clearForeign) {
    throw new Error(
      `the engine ${stack.dockerHost} holds ${foreign.length} container(s) the bench did not create ` +
        `(${foreign
          .slice(0, 5)
          .map((c) => c.name)
          .join(', ')}${foreign.length > 5 ? ', ...' : ''}). The bench removes every container ` +
        'between tools; run it on an idle engine (another stack: GITDOCK_STACK_DIR=/tmp/gd-bench ' +
        'GITDOCK_REGISTRY_PORT=5058), or pass --clear to remove them.',
    );
  }
  removeContainers(
    stack,
    all.map((c) => c.id),
  );
}

/** After each scenario: exactly the ten services, all running, each on the image it should be. */
function verifyDeployed(
  stack: Stack,
  tool: Tool,
  expectImage: (service: string) => string,
  what: string,
): void {
  const services = benchServices().map((s) => s.name);
  const found = listContainers(stack);
  const problems: string[] = [];
  const names = found.map((c) => c.name).sort();
  if (names.join(',') !== services.join(',')) {
    problems.push(`containers are [${names.join(', ')}]`);
  }
  for (const c of found) {
    if (!c.running) problems.push(`${c.name} is not running`);
    else if (services.includes(c.name) && c.imageId !== expectImage(c.name)) {
      problems.push(
        `${c.name} runs ${c.imageId.slice(0, 19)}, not ${expectImage(c.name).slice(0, 19)}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new Error(`${tool.label}, ${what}: ${problems.join('; ')}`);
  }
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

/** Indented JSON with arrays of numbers on one line (samples read better that way in a diff). */
function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /\[\s*(-?[0-9.e+-]+(?:,\s*-?[0-9.e+-]+)*)\s*\]/g,
    (_, items: string) => `[${items.split(/,\s*/).join(', ')}]`,
  );
}

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

async function main(argv: string[]): Promise<number> {
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
  const { runs, out, clear } = options;
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
  const loadStart = os.loadavg()[0] ?? 0;
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  const checkTime = () => {
    if (interrupted) throw new Error('interrupted');
    if (Date.now() - started > DEADLINE_MS) {
      throw new Error(`the bench ran longer than ${DEADLINE_MS / 60_000} minutes; stopped`);
    }
  };
  const progress = (text: string) => process.stderr.write(`[bench] ${text}\n`);

  const stack = bringUpStack(ROOT);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-bench-'));
  try {
    clearEngine(stack, clear);
    // Every tool finds both images already on the engine: image pulls are not what is compared.
    const repository = appRepository(stack.registry);
    const baseRef = `${repository}:${BASE_TAG}`;
    const changedRef = `${repository}:${CHANGED_TAG}`;
    for (const ref of [baseRef, changedRef]) docker(stack, ['pull', '-q', ref]);
    const baseId = imageId(stack, baseRef);
    const changedId = imageId(stack, changedRef);
    const expectImage = (changed: boolean) => (service: string) =>
      changed && service === CHANGED_SERVICE ? changedId : baseId;

    const ctx: ToolContext = { stack, workDir, services: benchServices() };
    const gitdock = gitdockTool(ctx, { id: 'gitdock', label: 'gitdock' });
    const tools: Tool[] = [
      gitdock,
      gitdockTool(ctx, { id: 'gitdock-settle-0s', label: 'gitdock (settle 0s)', settle: '0s' }),
      composeTool(ctx),
      dockerCliTool(ctx),
    ];
    const repoOf = (tool: Tool) => path.join(workDir, tool.id);

    // Warm the page cache for each tool's binaries and libraries: the first
    // sample should not be the only one paying for the disk.
    check(
      process.execPath,
      [path.join(ROOT, 'bin', 'gitdock.js'), 'validate', '--repo', repoOf(gitdock)],
      {
        cwd: ROOT,
        env: stack.env,
      },
    );
    check(COMPOSE, ['version'], { env: stack.env });
    check(DOCKER, ['version'], { env: stack.env });

    const measurements: Measurement[] = tools.flatMap((tool) =>
      SCENARIOS.map((s) => ({
        tool: tool.id,
        label: tool.label,
        scenario: s.id,
        samplesMs: [],
        mutations: [],
      })),
    );
    const record = (tool: Tool, scenario: (typeof SCENARIOS)[number]) => {
      checkTime();
      const since = eventCursor();
      const ms = tool.run(scenario.id);
      const mutations = countMutations(stack, since, eventCursor());
      const m = measurements.find((x) => x.tool === tool.id && x.scenario === scenario.id)!;
      m.samplesMs.push(ms);
      m.mutations.push(mutations);
      progress(
        `${tool.label.padEnd(20)} ${scenario.label.padEnd(13)} ${formatMs(ms).padStart(8)}  ${mutations} mutations`,
      );
    };

    for (let rep = 0; rep < runs; rep++) {
      progress(`run ${rep + 1}/${runs}`);
      // Rotate the order so no tool always runs right after the same neighbour.
      const order = tools.map((_, i) => tools[(i + rep) % tools.length]!);
      for (const tool of order) {
        const [first, noop, changed] = SCENARIOS;
        clearEngine(stack, clear);
        tool.prepareFirstDeploy();
        record(tool, first);
        verifyDeployed(stack, tool, expectImage(false), first.label);
        record(tool, noop);
        verifyDeployed(stack, tool, expectImage(false), noop.label);
        tool.prepareChange();
        record(tool, changed);
        verifyDeployed(stack, tool, expectImage(true), changed.label);
      }
    }

    // Cold start: against gitdock's ten services, deployed and in sync.
    progress('cold start pieces');
    clearEngine(stack, clear);
    gitdock.prepareFirstDeploy();
    gitdock.run('first-deploy');
    verifyDeployed(stack, gitdock, expectImage(false), 'deploy for the cold-start pieces');
    const coldStart = measureColdStart(
      stack,
      coldStartPieces(stack, repoOf(gitdock)),
      runs,
      checkTime,
    );

    const report = buildReport({
      date: new Date(started),
      runs,
      services: ctx.services.length,
      machine: machineInfo(stack, loadStart),
      gitdock: gitdockInfo(),
      measurements,
      coldStart,
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
      // Leave only what was there before: never someone else's containers (unless --clear).
      removeContainers(
        stack,
        listContainers(stack)
          .filter((c) => clear || isBenchContainer(c))
          .map((c) => c.id),
      );
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
